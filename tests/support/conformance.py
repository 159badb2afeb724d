"""The harness of the conformance battery (``tests/conformance/``; its self-checks: ``test_harness.py``).

The battery is organised like the well-known WebSocket conformance suites
(framing, pings, reserved bits, opcodes, fragmentation, UTF-8, limits,
closing and opening handshakes) and derived from RFC 6455 sections 5-7 and
10. Every case runs in both roles against the reference applications in
``examples/``:

* role ``"server"``: ``conformance_echo_server.py`` (started in-process) is
  driven by a hand-written raw client (masked frames);
* role ``"client"``: ``conformance_echo_client.py``'s ``run_echo`` is
  connected to a hand-written raw server (unmasked frames).

The raw side is the test: it writes exact bytes through a real loopback
socket (optionally in chunks) and checks exactly what comes back. The
expected UTF-8 verdicts come from an independent RFC 3629 automaton below,
not from the codec the applications use.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import sys
import zlib
from collections.abc import AsyncIterator, Sequence
from types import ModuleType
from typing import Any

from picows import WSMsgType
from support import REPO_ROOT, TIMEOUT
from support.frames import RawFrame, close_payload, read_frame
from support.net import QUIET_PERIOD, expect_silence
from support.raw_ws import RawPeer, raw_ws_client, raw_ws_server

EXAMPLES = REPO_ROOT / "examples"
ROLES = ["server", "client"]  # role of the picows reference application
HOST = "127.0.0.1"

TEXT, BINARY, CONT = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION
CLOSE, PING, PONG = WSMsgType.CLOSE, WSMsgType.PING, WSMsgType.PONG

#: Seconds the reference apps wait for our CLOSE after failing a connection.
#: Every test that expects a failure answers the CLOSE, so it never elapses;
#: it only bounds a test that goes wrong.
APP_CLOSE_TIMEOUT = 5.0


def load_example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` once, under its own name (as the client example does)."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def server_app() -> ModuleType:
    return load_example("conformance_echo_server")


def client_app() -> ModuleType:
    return load_example("conformance_echo_client")


# ----------------------------------------------------------------------------
# RFC 3629 automaton: the expected UTF-8 verdicts
# ----------------------------------------------------------------------------

_TAIL = range(0x80, 0xC0)


def _utf8_rules(lead: int) -> list[range] | None:
    """Allowed ranges of the bytes after ``lead`` (RFC 3629 section 4), or None if ``lead`` cannot start a character."""
    if lead <= 0x7F:
        return []
    if 0xC2 <= lead <= 0xDF:
        return [_TAIL]
    if lead == 0xE0:
        return [range(0xA0, 0xC0), _TAIL]
    if 0xE1 <= lead <= 0xEC or 0xEE <= lead <= 0xEF:
        return [_TAIL, _TAIL]
    if lead == 0xED:
        return [range(0x80, 0xA0), _TAIL]  # no surrogates
    if lead == 0xF0:
        return [range(0x90, 0xC0), _TAIL, _TAIL]
    if 0xF1 <= lead <= 0xF3:
        return [_TAIL, _TAIL, _TAIL]
    if lead == 0xF4:
        return [range(0x80, 0x90), _TAIL, _TAIL]  # nothing above U+10FFFF
    return None  # 0x80-0xC1 (continuation, overlong lead), 0xF5-0xFF


def utf8_fail_point(data: bytes) -> int | None:
    """Length of the shortest prefix of ``data`` that no continuation can make valid UTF-8.

    None if every prefix can still be completed (``data`` is valid, or valid
    but cut inside its last character). A fail-fast validator must reject the
    message as soon as it has seen this many bytes.
    """
    expect: list[range] = []
    for i, byte in enumerate(data):
        if expect:
            if byte not in expect.pop(0):
                return i + 1
            continue
        rules = _utf8_rules(byte)
        if rules is None:
            return i + 1
        expect = list(rules)
    return None


def utf8_valid(data: bytes) -> bool:
    """True if ``data`` is complete, valid UTF-8 (RFC 3629)."""
    if utf8_fail_point(data) is not None:
        return False
    # valid so far; complete only if the last character is finished
    return utf8_fail_point(data + b"\x00") is None


# ----------------------------------------------------------------------------
# The connection under test
# ----------------------------------------------------------------------------


class Conn:
    """A raw peer connected to a reference app running in ``role``."""

    def __init__(self, role: str, peer: RawPeer, task: asyncio.Task[Any] | None) -> None:
        self.role = role
        self.peer = peer
        self.task = task  # client role: the run_echo() task
        self.result: Any = None  # client role: its EchoResult, once finished
        # permessage-deflate agreed (see inflate_with): RSV1 allowed, compressed echoes inflated
        self.inflater: Any = None

    def inflate_with(self, wbits: int) -> None:
        """permessage-deflate was agreed: inflate the app's compressed messages with a ``wbits`` window.

        A window no larger than the agreed one proves the app kept to it: zlib
        refuses a distance beyond its window.
        """
        self.inflater = zlib.decompressobj(-wbits)

    # -- sending ---------------------------------------------------------------

    def frame(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
        """A frame as this raw peer sends it (masked towards the server)."""
        return self.peer.frame(opcode, payload, **kwargs)

    async def send(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> None:
        await self.peer.write(self.frame(opcode, payload, **kwargs))

    async def write(self, data: bytes, chunk_size: int | None = None) -> None:
        """Write ``data``, optionally as separate ``chunk_size`` pieces (each one settles first)."""
        if chunk_size is None:
            await self.peer.write(data)
            return
        for i in range(0, len(data), chunk_size):
            await self.write_settled(data[i : i + chunk_size])

    async def write_settled(self, data: bytes) -> None:
        """Write and give the in-process app a chance to read before the next write.

        The app runs in this event loop; a few loop iterations let it poll
        its socket, so consecutive writes usually reach it as separate reads.
        (Correctness never depends on it; only how the bytes are chunked.)
        """
        await self.peer.write(data)
        for _ in range(3):
            await asyncio.sleep(0)

    # -- receiving -------------------------------------------------------------

    async def read(self, timeout: float = TIMEOUT) -> RawFrame:
        """Next frame from the app, checked for what every frame must satisfy."""
        f = await read_frame(self.peer.reader, timeout)
        assert f.masked == (self.role == "client"), (
            f"mask bit {f.masked} in a frame from the {self.role}: {f!r}"
        )
        assert not ((f.rsv1 and self.inflater is None) or f.rsv2 or f.rsv3), f"reserved bit set by the app: {f!r}"
        assert not (f.rsv1 and (f.opcode == CONT or f.opcode >= CLOSE)), f"RSV1 on a continuation or control: {f!r}"
        n = len(f.payload)
        header = (2 if n < 126 else 4 if n < 65536 else 10) + (4 if f.masked else 0)
        assert f.wire_size == header + n, f"length not in its minimal encoding (RFC 6455 5.2): {f!r}"
        return f

    async def expect(self, *frames: tuple[int, bytes]) -> None:
        """The next frames are exactly ``frames`` ((opcode, payload), fin set)."""
        for opcode, payload in frames:
            f = await self.read()
            data = f.payload
            if f.rsv1:  # a whole message, compressed (the apps echo each message with one send)
                data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
            got = (f.opcode, f.fin, data)
            if got != (opcode, True, payload):
                raise AssertionError(
                    f"expected {WSMsgType(opcode).name} of {len(payload)} bytes {payload[:40]!r}, got {f!r}"
                )

    async def expect_close(self, code: int | None, reason: bytes | None = None) -> RawFrame:
        """The next frame is CLOSE with ``code`` (None: empty payload); answer it and check the connection ends.

        Afterwards nothing else may arrive: the app sends no bytes after its
        CLOSE, and the TCP connection is closed (in the client role by the
        raw server, after which the app must finish).
        """
        f = await self.read()
        assert f.opcode == CLOSE, f"expected CLOSE {code}, got {f!r}"
        assert f.close_code == code, f"expected CLOSE code {code}, got {f.close_code} ({f.close_message!r})"
        if code is not None and reason is not None:
            assert f.close_message == reason
        if code is not None:
            f.close_message.decode("utf-8")  # a reason must be valid UTF-8 (RFC 6455 5.5.1)
        await self.finish_closing(reply=f.payload)
        return f

    async def finish_closing(self, reply: bytes | None) -> None:
        """After the app's CLOSE: answer it with ``reply`` (None: it was the answer to ours); check the end.

        The app must send nothing after its CLOSE. A server app, or an app
        that gets the answer to its own CLOSE, then closes the TCP connection;
        a client app that answered our CLOSE waits for us (the raw server) to
        close first (RFC 6455 7.1.1).
        """
        if reply is not None:
            with contextlib.suppress(ConnectionError):
                await self.send(CLOSE, reply)
        elif self.role == "client":
            # Close TCP as the server should; the app sees EOF, closes too, and
            # we still see every byte it sent before.
            self.peer.writer.write_eof()
        rest = await self.read_until_eof()
        assert rest == b"", f"bytes after the CLOSE: {rest[:40]!r}"
        if self.role == "client":
            self.peer.close()
            await self.wait_app()

    async def clean_close(self, code: int | None = 1000, reason: bytes = b"") -> None:
        """The raw peer starts the closing handshake; the app echoes the CLOSE and the connection ends."""
        payload = b"" if code is None else close_payload(code, reason)
        await self.send(CLOSE, payload)
        f = await self.read()
        assert (f.opcode, f.payload) == (CLOSE, payload), f"CLOSE not echoed: {f!r}"
        await self.finish_closing(reply=None)

    async def read_until_eof(self, timeout: float = TIMEOUT) -> bytes:
        """Everything that arrives until the app closes the connection (a reset counts as closed)."""

        async def drain() -> bytes:
            data = b""
            for _ in range(100_000):
                try:
                    chunk = await self.peer.reader.read(65536)
                except ConnectionError:
                    return data
                if not chunk:
                    return data
                data += chunk
            raise AssertionError("the app keeps sending instead of closing")

        return await asyncio.wait_for(drain(), timeout)

    async def wait_app(self) -> Any:
        """Client role: wait for run_echo() to return (bounded) and keep its result."""
        if self.task is not None and self.result is None:
            self.result = await asyncio.wait_for(self.task, TIMEOUT)
        return self.result

    async def expect_silence(self, period: float = QUIET_PERIOD) -> None:
        await expect_silence(self.peer.reader, period)


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@contextlib.asynccontextmanager
async def app(role: str, peer_headers: bytes = b"", **options: Any) -> AsyncIterator[Conn]:
    """A reference app in ``role`` with a connected raw peer (handshake done).

    ``options`` go to ``start_server`` / ``run_echo`` (``max_message_size``,
    ``check_fragment_order``, ``permessage_deflate``, ...); ``peer_headers``
    go into the raw peer's upgrade request or 101 answer.
    """
    options.setdefault("close_timeout", APP_CLOSE_TIMEOUT)
    if role == "server":
        server = await server_app().start_server(HOST, 0, **options)
        try:
            port = server.sockets[0].getsockname()[1]
            async with raw_ws_client(port, headers=peer_headers) as peer:
                _nodelay(peer.writer)
                yield Conn(role, peer, None)
        finally:
            server.close()
            await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    else:
        assert role == "client", role
        async with raw_ws_server(headers=peer_headers) as srv:
            task = asyncio.ensure_future(client_app().run_echo(srv.url, **options))
            try:
                peer = await srv.accept()
                _nodelay(peer.writer)
                yield Conn(role, peer, task)
            finally:
                if not task.done():
                    srv_peers = srv.all_peers
                    for p in srv_peers:
                        p.close()
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(task, TIMEOUT)


async def fails_with(
    role: str,
    data: bytes | Sequence[bytes],
    code: int,
    *,
    echoes: Sequence[tuple[int, bytes]] = (),
    **options: Any,
) -> Conn:
    """Send ``data`` (one write, or one write per item); expect ``echoes``, then CLOSE(code) and the end."""
    async with app(role, **options) as conn:
        if isinstance(data, (bytes, bytearray)):
            await conn.write(bytes(data))
        else:
            for item in data:
                await conn.write_settled(item)
        await conn.expect(*echoes)
        await conn.expect_close(code)
    return conn
