"""Hypothesis fuzzing of the connection objects: arbitrary bytes, arbitrary chunking, after a valid handshake.

Two drivers, one oracle:

* ``test_protocol_object_*``: the backend's ``WSProtocol`` (the asyncio
  protocol object that ``ws_connect``/``ws_create_server`` create) is driven
  directly through ``get_buffer``/``buffer_updated`` with a fake transport,
  so every chunk boundary is exact and thousands of streams run in seconds;
* ``test_real_sockets``: the same kind of streams through real loopback
  sockets to a real picows server / from a raw server to a real picows
  client (fewer examples).

The oracle is an independent model of SPEC "Protocol rules" written here
from RFC 6455: it tells which frames must reach ``on_ws_frame`` (an echo
listener sends data frames back), which PINGs must be answered, and, for the
first violation, which CLOSE codes are acceptable. Checked for every stream:
no exception escapes (the fake transport raises straight into the test; the
event loop's exception handler fails it), the bytes written by picows are
exactly the expected echoes/pongs followed by the right CLOSE and nothing
after it, ``on_ws_disconnected`` runs once, the client's
``wait_disconnected`` raises ``WSError`` with that code, and the receive
buffer stays bounded by what actually arrived.

``PICOWS_FUZZ_EXAMPLES`` (default 150) scales the number of examples.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import picows
from picows import WSCloseCode, WSError, WSListener, WSMsgType
from support import TIMEOUT
from support.backends import cython_module
from support.frames import apply_mask, close_payload, encode_frame, frame_for
from support.http import accept_key
from support.internals import ClientUpgrade, ConnectionOptions, new_protocol, parse_url, parser_of
from support.net import expect_eof
from support.raw_ws import raw_ws_client, raw_ws_server
from support.servers import connect, picows_server, wait_disconnected_any

try:
    import uvloop
except ImportError:  # PyPy
    uvloop = None

EXAMPLES = int(os.environ.get("PICOWS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # no wall-clock limits: the machine is shared
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
REAL_FUZZ = settings(FUZZ, max_examples=max(10, EXAMPLES // 8))

PROTOCOL_ERROR, INVALID_TEXT, MESSAGE_TOO_BIG = 1002, 1007, 1009

# ----------------------------------------------------------------------------
# The oracle
# ----------------------------------------------------------------------------


def _close_code_ok(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


@dataclass
class Expected:
    frames: list[tuple[int, bool, bool, bytes]] = field(default_factory=list)  # delivered to on_ws_frame
    replies: list[tuple[int, bytes]] = field(default_factory=list)  # what picows sends back (echo, pong)
    codes: frozenset[int] | None = None  # violation: acceptable CLOSE codes
    peer_closed: bool = False  # a valid CLOSE was received (nothing after it is parsed)
    buffered: int = 0  # bytes of an incomplete frame at the end


def model(data: bytes, *, server: bool, max_frame_size: int, check_fragment_order: bool) -> Expected:
    """What picows must do with ``data`` received after the handshake (RFC 6455 5.2-5.5, 7.4, SPEC)."""
    exp = Expected()
    pos = 0
    in_message = False
    while True:
        avail = len(data) - pos
        if avail < 2:
            exp.buffered = avail
            return exp
        b0, b1 = data[pos], data[pos + 1]
        opcode, fin, masked, n = b0 & 0x0F, bool(b0 & 0x80), bool(b1 & 0x80), b1 & 0x7F
        codes: set[int] = set()
        # RSV bits are passed through to the application (picows 2.x), whatever their value.
        if opcode not in (0, 1, 2, 8, 9, 10):
            codes.add(PROTOCOL_ERROR)
        if opcode >= 8 and (not fin or n > 125):
            codes.add(PROTOCOL_ERROR)
        if masked != server:
            codes.add(PROTOCOL_ERROR)  # clients mask, servers do not
        if check_fragment_order and opcode < 3 and (opcode == 0) != in_message:
            codes.add(PROTOCOL_ERROR)
        header = 2
        if n == 126:
            header = 4
        elif n == 127:
            header = 10
        if avail < header:
            if codes:
                exp.codes = frozenset(codes)
            else:
                exp.buffered = avail
            return exp
        if n == 126:
            n = struct.unpack_from("!H", data, pos + 2)[0]
            if n < 126:
                codes.add(PROTOCOL_ERROR)  # RFC 6455 5.2: the minimal length encoding MUST be used
        elif n == 127:
            n = struct.unpack_from("!Q", data, pos + 2)[0]
            if n >> 63 or n < 65536:
                codes.add(PROTOCOL_ERROR)
        if n > max_frame_size and opcode < 8:  # max_frame_size limits data frames only
            codes.add(MESSAGE_TOO_BIG)
        if codes:
            exp.codes = frozenset(codes)
            return exp
        header += 4 if masked else 0
        if avail < header + n:
            exp.buffered = avail
            return exp
        payload = data[pos + header : pos + header + n]
        if masked:
            payload = apply_mask(payload, data[pos + header - 4 : pos + header])
        pos += header + n
        if opcode == 8:
            if n == 1 or (n >= 2 and not _close_code_ok(struct.unpack_from("!H", payload)[0])):
                exp.codes = frozenset({PROTOCOL_ERROR})
                return exp
            if n > 2:
                try:
                    payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    exp.codes = frozenset({INVALID_TEXT})
                    return exp
            exp.frames.append((opcode, fin, bool(b0 & 0x40), payload))
            exp.peer_closed = True
            return exp
        if opcode < 3:
            if opcode != 0:
                in_message = not fin
            elif fin:
                in_message = False
        if opcode == 9:  # auto-pong, not delivered
            exp.replies.append((10, payload))
            continue
        exp.frames.append((opcode, fin, bool(b0 & 0x40), payload))
        if opcode != 10:  # the echo listener sends data frames back as they came
            exp.replies.append((opcode, payload))


# ----------------------------------------------------------------------------
# Strategies: streams that look like WebSocket traffic, with mistakes
# ----------------------------------------------------------------------------

VALID_CLOSE_CODES = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    3999,
    4000,
    4999,
]
INVALID_CLOSE_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]
MAX_FRAME_SIZES = [10 * 1024 * 1024, 65536, 1000, 126, 125, 1, 0]  # hypothesis favours the first
BIG_SIZES = [125, 126, 127, 1000, 65535, 65536, 70000]
MISTAKES = [
    "reserved-opcode", "non-minimal-length", "control-fin0", "control-too-long", "wrong-mask", "hostile-length",
    "stray-continuation", "message-inside-message", "close-1-byte", "close-bad-code", "close-bad-utf8",
    "garbage", "truncate",
]  # fmt: skip


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 5:  # sometimes large: every length encoding
        return bytes([draw(st.integers(0, 255))]) * draw(st.sampled_from(BIG_SIZES))
    return draw(st.binary(max_size=40))


@st.composite
def valid_frames(draw: st.DrawFn) -> list[tuple[int, bytes, bool]]:
    """A valid conversation as (opcode, payload, fin): messages in 1-3 fragments, control frames in between."""
    frames: list[tuple[int, bytes, bool]] = []
    for _ in range(draw(st.integers(0, 6))):
        n = draw(st.integers(1, 3))
        for i in range(n):
            frames.append((draw(st.sampled_from([1, 2])) if i == 0 else 0, draw(payloads()), i == n - 1))
            if draw(st.integers(0, 3)) == 2:
                frames.append((draw(st.sampled_from([9, 10])), draw(st.binary(max_size=125)), True))
    if draw(st.booleans()):  # most conversations end with a CLOSE
        if draw(st.integers(0, 4)) == 2:
            frames.append((8, b"", True))
        else:
            reason = draw(st.text(max_size=30)).encode("utf-8", "surrogatepass")[:123]
            frames.append((8, struct.pack("!H", draw(st.sampled_from(VALID_CLOSE_CODES))) + reason, True))
    return frames


@st.composite
def streams(draw: st.DrawFn, *, sender_masks: bool) -> bytes:
    """A valid conversation, or one with a single mistake injected somewhere (the model says what follows)."""
    frames = draw(valid_frames())
    encoded = [encode_frame(op, p, fin=fin, masked=sender_masks) for op, p, fin in frames]
    if not draw(st.booleans()):
        return b"".join(encoded)
    mistake = draw(st.sampled_from(MISTAKES))
    at = draw(st.integers(0, len(encoded)))

    def frame(op: int, payload: bytes = b"x", **kw: Any) -> bytes:
        return encode_frame(op, payload, masked=kw.pop("masked", sender_masks), **kw)

    if mistake == "reserved-opcode":
        bad = frame(draw(st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])), draw(payloads()))
    elif mistake == "non-minimal-length":
        form, size = draw(st.sampled_from([("16", 0), ("16", 125), ("64", 5), ("64", 65535)]))
        bad = frame(draw(st.sampled_from([1, 2])), b"z" * size, length_form=form)
    elif mistake == "control-fin0":
        bad = frame(draw(st.sampled_from([8, 9, 10])), fin=False)
    elif mistake == "control-too-long":
        bad = frame(
            draw(st.sampled_from([8, 9, 10])), b"\x03\xe8" + b"y" * draw(st.sampled_from([124, 200, 70000]))
        )
    elif mistake == "wrong-mask":
        bad = frame(draw(st.sampled_from([1, 2, 8, 9])), masked=not sender_masks)
    elif mistake == "hostile-length":
        n = draw(st.sampled_from([126, 65536, 10 * 1024 * 1024 + 1, 2**32, 2**62, 2**63, 2**64 - 1]))
        bad = frame(2, b"", length_override=n)  # the 64-bit form from 65536 on, as encode_frame does
    elif mistake == "stray-continuation":
        bad = frame(0, fin=draw(st.booleans()))
    elif mistake == "message-inside-message":
        bad = frame(1, fin=False) + frame(draw(st.sampled_from([1, 2])))
    elif mistake == "close-1-byte":
        bad = frame(8, draw(st.binary(min_size=1, max_size=1)))
    elif mistake == "close-bad-code":
        bad = frame(8, struct.pack("!H", draw(st.sampled_from(INVALID_CLOSE_CODES))) + b"r")
    elif mistake == "close-bad-utf8":
        bad = frame(8, struct.pack("!H", draw(st.sampled_from(VALID_CLOSE_CODES)))
                    + draw(st.sampled_from([b"\xff", b"ok\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"])))  # fmt: skip
    elif mistake == "garbage":
        bad = draw(st.binary(min_size=1, max_size=30))
    else:
        data = b"".join(encoded)
        return data[: draw(st.integers(0, len(data)))]  # the peer stops anywhere, mid-frame included
    return b"".join(encoded[:at]) + bad + b"".join(encoded[at:])


def chunkings(size: int) -> st.SearchStrategy[list[int]]:
    """Sorted cut points into ``size`` bytes (each chunk is one read)."""
    return st.lists(st.integers(0, size), max_size=12).map(sorted)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


# ----------------------------------------------------------------------------
# Checking what picows wrote
# ----------------------------------------------------------------------------


def decode_all(data: bytes, *, masked: bool) -> list[tuple[int, bytes]]:
    frames = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 2, f"truncated frame from picows: {data[pos:]!r}"
        b0, b1 = data[pos], data[pos + 1]
        assert bool(b1 & 0x80) == masked, "wrong mask bit from picows"
        assert b0 & 0x80 or (b0 & 0x0F) < 8
        n, pos = b1 & 0x7F, pos + 2
        if n == 126:
            (n,), pos = struct.unpack_from("!H", data, pos), pos + 2
        elif n == 127:
            (n,), pos = struct.unpack_from("!Q", data, pos), pos + 8
        key = data[pos : pos + 4] if masked else b""
        pos += len(key)
        payload = data[pos : pos + n]
        assert len(payload) == n, "truncated frame from picows"
        frames.append((b0 & 0x0F, apply_mask(payload, key) if masked else payload))
        pos += n
    return frames


def check_output(written: bytes, exp: Expected, *, masked: bool) -> int | None:
    """The frames picows sent: the expected replies, then a CLOSE iff there was a violation. Returns its code."""
    frames = decode_all(written, masked=masked)
    replies = [f for f in frames if f[0] != 8]
    closes = [f for f in frames if f[0] == 8]
    assert replies == exp.replies, "echoes/pongs differ from the model"
    if exp.codes is None:
        assert closes == [], f"unexpected CLOSE {closes}"
        return None
    assert len(closes) == 1 and frames[-1][0] == 8, f"expected one final CLOSE, got {frames[-3:]}"
    code = struct.unpack("!H", closes[0][1][:2])[0]
    assert code in exp.codes, f"CLOSE code {code}, expected one of {sorted(exp.codes)}"
    closes[0][1][2:].decode("utf-8")
    return int(code)


class RecordingEcho(WSListener):
    """Echoes data frames as they came and records everything (frames are only valid inside the callback)."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bool, bool, bytes]] = []
        self.events: list[str] = []

    def on_ws_connected(self, transport: Any) -> None:
        self.events.append("connected")

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        self.frames.append((int(frame.msg_type), frame.fin, frame.rsv1, frame.get_payload_as_bytes()))
        if frame.msg_type in (WSMsgType.CONTINUATION, WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin, frame.rsv1)

    def on_ws_disconnected(self, transport: Any) -> None:
        self.events.append("disconnected")


# ----------------------------------------------------------------------------
# Driver 1: the protocol object with a fake transport
# ----------------------------------------------------------------------------


class FakeTransport(asyncio.Transport):
    """Records writes; close()/abort() report connection_lost on the next loop iteration, like asyncio."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: Any) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol
        self.written = bytearray()
        self.closing = False
        self.eof_written = False
        self.lost = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default  # no socket, no TLS

    def write(self, data: Any) -> None:
        assert not self.eof_written, "write after write_eof"
        assert not self.lost, "write after connection_lost"
        self.written += data

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closing

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def close(self) -> None:
        self._lose()

    def abort(self) -> None:
        self._lose()

    def _lose(self) -> None:
        if not self.closing:
            self.closing = True
            self._loop.call_soon(self.connection_lost)

    def connection_lost(self) -> None:
        if not self.lost:
            self.lost = True
            self._protocol.connection_lost(None)


def _options(max_frame_size: int, check_fragment_order: bool) -> Any:
    return ConnectionOptions(
        disconnect_on_exception=True, websocket_handshake_timeout=5, logger=logging.getLogger("picows.fuzz"),
        enable_auto_ping=False, auto_ping_idle_timeout=10, auto_ping_reply_timeout=10,
        auto_ping_strategy=picows.WSAutoPingStrategy.PING_WHEN_IDLE, enable_auto_pong=True,
        max_frame_size=max_frame_size, check_fragment_order=check_fragment_order,
    )  # fmt: skip


def feed(protocol: Any, chunk: bytes) -> None:
    """One read, as asyncio's buffered-protocol loop does it (a read may be shorter than the buffer)."""
    view = memoryview(chunk)
    while view:
        buf = protocol.get_buffer(len(view))
        n = min(len(buf), len(view))
        assert n > 0, "get_buffer returned an empty buffer"
        buf[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


def _request() -> tuple[bytes, bytes]:
    key = base64.b64encode(os.urandom(16))
    req = (
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n"
    )
    return req, key


async def drive_protocol(role: str, data: bytes, points: list[int], max_frame_size: int, order: bool) -> None:
    loop = asyncio.get_running_loop()
    listener = RecordingEcho()
    options = _options(max_frame_size, order)
    if role == "server":
        protocol = new_protocol(False, options, lambda request: listener)
        prefix, _ = _request()
    else:
        upgrade = ClientUpgrade(parse_url("ws://127.0.0.1:9/"), None)
        protocol = new_protocol(True, options, lambda: listener, upgrade)
        prefix = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(upgrade.key.encode()) + b"\r\n\r\n"
        )
    transport = FakeTransport(loop, protocol)
    protocol.connection_made(transport)
    if role == "client":
        transport.written.clear()  # the upgrade request
    # the handshake and the frames form one byte stream, cut anywhere
    stream = prefix + data
    fed = 0
    ws_transport = protocol.transport
    for chunk in cut(stream, [len(prefix) // 2] + [p + len(prefix) for p in points]):
        if transport.lost:
            break
        feed(protocol, chunk)
        fed += len(chunk)
        if fed >= len(prefix):
            # the 16 KiB request limit and the buffer policy bound memory by what arrived
            assert parser_of(ws_transport).buffer_size <= 2 * (fed + 256 * 1024 + 1024) + 4096
    exp = model(data, server=(role == "server"), max_frame_size=max_frame_size, check_fragment_order=order)
    event(_outcome(exp))
    assert listener.frames == exp.frames
    written = bytes(transport.written)
    if role == "server":
        head, sep, written = written.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101") and sep
    code = check_output(written, exp, masked=(role == "client"))
    if code is not None:
        assert transport.eof_written or transport.closing, "no FIN/close after the CLOSE"
    for _ in range(3):  # let scheduled callbacks run
        await asyncio.sleep(0)
    transport.connection_lost()  # the peer goes away (if picows has not closed yet)
    await asyncio.sleep(0)
    assert listener.events == ["connected", "disconnected"]
    try:
        await asyncio.wait_for(ws_transport.wait_disconnected(), TIMEOUT)
        error = None
    except WSError as exc:
        error = exc
    if role == "client" and code is not None:
        assert error is not None and int(error.close_code) == code
    else:
        assert error is None


def _outcome(exp: Expected) -> str:
    if exp.codes is not None:
        return f"violation {sorted(exp.codes)} after {len(exp.frames)} frame(s)"
    return "peer CLOSE" if exp.peer_closed else f"open, {len(exp.frames) > 0 and 'some' or 'no'} frames"


def run_in_loop(coro_factory: Any, loop_kind: str = "asyncio") -> None:
    """Run one example in a fresh loop; anything reaching the loop's exception handler fails it."""
    loop = uvloop.new_event_loop() if loop_kind == "uvloop" else asyncio.new_event_loop()
    errors: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        loop.run_until_complete(asyncio.wait_for(coro_factory(), TIMEOUT * 3))
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    assert not errors, f"exception(s) escaped into the event loop: {errors}"


def _example(role: str) -> st.SearchStrategy[tuple[bytes, list[int], int, bool]]:
    return streams(sender_masks=(role == "server")).flatmap(
        lambda data: st.tuples(
            st.just(data), chunkings(len(data)), st.sampled_from(MAX_FRAME_SIZES), st.booleans()
        )  # check_fragment_order
    )


@FUZZ
@given(example=_example("server"))
def test_protocol_object_server(example: tuple[bytes, list[int], int, bool]) -> None:
    run_in_loop(lambda: drive_protocol("server", *example))


@FUZZ
@given(example=_example("client"))
def test_protocol_object_client(example: tuple[bytes, list[int], int, bool]) -> None:
    run_in_loop(lambda: drive_protocol("client", *example))


@FUZZ
@given(data=st.binary(max_size=200), points=st.lists(st.integers(0, 200), max_size=8).map(sorted),
       role=st.sampled_from(["server", "client"]))  # fmt: skip
def test_protocol_object_random_bytes(data: bytes, points: list[int], role: str) -> None:
    """Pure noise after the handshake (hardly ever a valid frame): still no escape, still the right CLOSE."""
    run_in_loop(lambda: drive_protocol(role, data, [p for p in points if p <= len(data)], 1000, False))


# ----------------------------------------------------------------------------
# Driver 2: real sockets
# ----------------------------------------------------------------------------


async def drive_sockets(role: str, data: bytes, points: list[int], max_frame_size: int, order: bool) -> None:
    listeners: list[RecordingEcho] = []

    def make_listener(*_args: Any) -> RecordingEcho:
        listeners.append(RecordingEcho())
        return listeners[-1]

    options = {"max_frame_size": max_frame_size, "check_fragment_order": order}
    exp = model(data, server=(role == "server"), max_frame_size=max_frame_size, check_fragment_order=order)
    event(_outcome(exp))
    async with contextlib.AsyncExitStack() as stack:
        if role == "server":
            srv = await stack.enter_async_context(picows_server(make_listener, **options))
            peer = await stack.enter_async_context(raw_ws_client(srv.port))
            transport = None
        else:
            raw = await stack.enter_async_context(raw_ws_server())
            transport, _ = await connect(make_listener, raw.url, **options)
            peer = await raw.accept()
        for chunk in cut(data, points):
            try:
                await peer.write(chunk)
            except ConnectionError:
                break  # picows may already have closed after a violation
            for _ in range(3):
                await asyncio.sleep(0)
        if exp.codes is None:
            # no violation: picows answers everything; then we end the TCP connection
            expected_size = sum(
                len(frame_for("client" if role == "client" else "server", op, p)) for op, p in exp.replies
            )
            got = b""
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                got = await asyncio.wait_for(peer.reader.readexactly(expected_size), TIMEOUT)
            peer.writer.write_eof()
        got_rest = b""
        with contextlib.suppress(ConnectionError):
            got_rest = await expect_eof(peer.reader)  # after a violation picows closes by itself
        written = (got if exp.codes is None else b"") + got_rest
        code = check_output(written, exp, masked=(role == "client"))
        peer.close()
        if transport is not None:
            error = await wait_disconnected_any(transport)
            if code is None:
                assert error is None, error
            else:
                assert isinstance(error, WSError) and int(error.close_code) == code
        else:
            lst = listeners[0]
            for _ in range(1000):
                if "disconnected" in lst.events:
                    break
                await asyncio.sleep(0.001)
        (lst,) = listeners
        assert lst.frames == exp.frames
        assert lst.events == ["connected", "disconnected"]


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize(
    "loop_kind",
    [
        "asyncio",
        pytest.param("uvloop", marks=pytest.mark.skipif(uvloop is None, reason="uvloop is not installed")),
    ],
)
def test_real_sockets(role: str, loop_kind: str) -> None:
    @REAL_FUZZ
    @given(example=_example(role))
    def run(example: tuple[bytes, list[int], int, bool]) -> None:
        run_in_loop(lambda: drive_sockets(role, *example), loop_kind)

    run()


def test_model_examples() -> None:
    """The oracle on a few hand-checked streams."""
    text = encode_frame(1, b"hi", masked=True)
    assert model(text, server=True, max_frame_size=10, check_fragment_order=False).replies == [(1, b"hi")]
    assert model(text, server=False, max_frame_size=10, check_fragment_order=False).codes == {1002}
    assert model(text, server=True, max_frame_size=1, check_fragment_order=False).codes == {1009}
    big = encode_frame(2, b"", masked=True, length_override=2**63)
    assert model(big, server=True, max_frame_size=10, check_fragment_order=False).codes == {1002, 1009}
    close = encode_frame(8, close_payload(1000, b"\xff"), masked=True)
    assert model(close + text, server=True, max_frame_size=10, check_fragment_order=False).codes == {1007}
    close = encode_frame(8, close_payload(1000), masked=True)
    exp = model(close + b"garbage", server=True, max_frame_size=10, check_fragment_order=False)
    assert exp.peer_closed and exp.codes is None
    cont = encode_frame(0, b"x", masked=True)
    assert model(cont, server=True, max_frame_size=10, check_fragment_order=True).codes == {1002}
    assert model(text[:3], server=True, max_frame_size=10, check_fragment_order=False).buffered == 3
    assert int(WSCloseCode.PROTOCOL_ERROR) == PROTOCOL_ERROR


# ----------------------------------------------------------------------------
# The coverage-guided target in tests/fuzz/ (run by nox -s fuzz-parser): keep it working
# ----------------------------------------------------------------------------


@functools.cache
def _load_fuzz_target() -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent / "fuzz" / "fuzz_parser.py"
    spec = importlib.util.spec_from_file_location("picows_fuzz_parser", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fuzz_target() -> Any:
    cython_module("frames")  # skips (or fails under PICOWS_TEST_BACKEND=cython) without the compiled backend
    return _load_fuzz_target()


def test_atheris_target_seeds() -> None:
    target = _fuzz_target()
    seeds = list(target.seeds())
    assert len(seeds) >= 6
    for seed in seeds:
        target.check_one(seed)


@FUZZ
@given(data=st.binary(max_size=600))
def test_atheris_target_random_inputs(data: bytes) -> None:
    _fuzz_target().check_one(data)
