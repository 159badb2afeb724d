"""Receive-buffer policy of the frame parser, on both backends and on a real connection.

The policy (constants in ``picows._pure.frames``, mirrored by the compiled
parser): no buffer until the first ``get_buffer``, which allocates
INITIAL_BUFFER_SIZE; ``get_buffer`` hands out
at least MIN_FREE_SPACE and at most MAX_READ_SIZE bytes; the buffer grows with
the received data of the frame being parsed (and no more than about twice
that). ``shrink_if_idle()`` returns it to INITIAL_BUFFER_SIZE when nothing is
buffered; the protocol calls it SHRINK_DELAY seconds after the buffer grew
beyond KEEP_BUFFER_SIZE (and again until it succeeds), so a connection
streaming large frames keeps its buffer while an idle one goes back to a few
KiB. A buffer that grew only up to KEEP_BUFFER_SIZE is kept (no timer). A
connection that only carries small frames keeps a buffer of a few KiB.

The parser tests run on both backends; the connection tests run on the
backend under test (the suite runs once per backend).
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport
from support import TIMEOUT
from support.backends import backend_module, cython_module, pure_module
from support.frames import encode_frame
from support.internals import limits, parser_of
from support.servers import ws_server

# The policy is defined once, in picows._limits, for both backends.
INITIAL_BUFFER_SIZE: int = limits.INITIAL_BUFFER_SIZE
MIN_FREE_SPACE: int = limits.MIN_FREE_SPACE
MAX_READ_SIZE: int = limits.MAX_READ_SIZE
KEEP_BUFFER_SIZE: int = limits.KEEP_BUFFER_SIZE
SHRINK_DELAY: float = limits.SHRINK_DELAY

MIB = 1 << 20


def test_policy_constants() -> None:
    assert INITIAL_BUFFER_SIZE == 4096
    assert MIN_FREE_SPACE == 1024
    assert MAX_READ_SIZE == 256 * 1024
    assert KEEP_BUFFER_SIZE == 32 * 1024
    assert MIN_FREE_SPACE < INITIAL_BUFFER_SIZE < KEEP_BUFFER_SIZE < MAX_READ_SIZE
    assert 0 < SHRINK_DELAY <= 5




def read_like_asyncio(parser: Any, data: bytes, trace: list[tuple[int, int]], frames: list[bytes]) -> None:
    """Deliver ``data`` the way a socket read loop does: get_buffer, fill it completely, buffer_updated, parse."""
    view = memoryview(data)
    for _ in range(len(data) + 1):
        if not view:
            return
        buf = parser.get_buffer(-1)
        trace.append((len(buf), parser.buffer_size))
        assert MIN_FREE_SPACE <= len(buf) <= MAX_READ_SIZE
        n = min(len(buf), len(view))
        buf[:n] = view[:n]
        parser.buffer_updated(n)
        view = view[n:]
        for _ in range(n):
            frame = parser.get_next_frame()
            if frame is None:
                break
            frames.append(frame.get_payload_as_bytes())
    raise AssertionError("read loop did not finish")


def test_starts_small(backend: str) -> None:  # noqa: F811
    frames = backend_module(backend, "frames")
    for is_client_side in (True, False):
        parser = frames.FrameParser(is_client_side, 10 * MIB)
        assert parser.buffer_size == 0  # nothing allocated before the first read
        assert parser.shrink_if_idle() is True
        assert parser.buffer_size == 0
        assert parser.buffered == 0
        buf = parser.get_buffer(-1)
        assert parser.buffer_size == INITIAL_BUFFER_SIZE
        assert len(buf) == INITIAL_BUFFER_SIZE
        assert parser.get_buffer(10 * MIB).nbytes == INITIAL_BUFFER_SIZE  # sizehint does not grow it


@pytest.mark.parametrize("is_client_side", [True, False])
def test_grows_for_1mib_frame_then_shrinks(backend: str, is_client_side: bool) -> None:  # noqa: F811
    frames = backend_module(backend, "frames")
    parser = frames.FrameParser(is_client_side, 10 * MIB)
    payload = bytes(range(256)) * (MIB // 256)
    mask = None if is_client_side else b"\x9a\x0b\x5c\x21"
    big = encode_frame(0x2, payload, mask=mask)
    trace: list[tuple[int, int]] = []
    got: list[bytes] = []
    read_like_asyncio(parser, big, trace, got)
    assert got == [payload]
    peak = max(size for _, size in trace)
    assert len(big) <= peak <= 2 * len(big)  # fits the frame, without wild over-allocation
    # Growth follows the bytes actually received, never the announced length alone:
    # at every read the capacity is at most twice what had arrived plus one read.
    received = 0
    for n, size in trace:
        assert size <= max(INITIAL_BUFFER_SIZE, 2 * (received + MAX_READ_SIZE)), trace
        received += n
    sizes = [size for _, size in trace]
    assert sizes == sorted(sizes), trace  # geometric growth, no shrinking mid-frame
    assert max(n for n, _ in trace) == MAX_READ_SIZE  # big reads, but never more than MAX_READ_SIZE

    # Consumed: the grown buffer is kept for the next frame (no churn while busy) ...
    small = encode_frame(0x1, b"after", mask=mask)
    read_like_asyncio(parser, small, [], got)
    assert got[-1] == b"after"
    assert parser.buffer_size == peak
    # ... until the protocol finds it idle: then it is small again.
    assert parser.shrink_if_idle() is True
    assert parser.buffer_size == INITIAL_BUFFER_SIZE


def test_shrinks_only_once_the_buffer_is_empty(backend: str) -> None:  # noqa: F811
    frames = backend_module(backend, "frames")
    parser = frames.FrameParser(True, 10 * MIB)
    payload = b"\x5a" * MIB
    tail_frame = encode_frame(0x1, b"0123456789")
    got: list[bytes] = []
    # The big frame and half of the next one arrive together.
    read_like_asyncio(parser, encode_frame(0x2, payload) + tail_frame[:5], [], got)
    assert got == [payload]
    assert parser.buffered == 5
    assert parser.shrink_if_idle() is False  # live bytes: no shrink ...
    assert parser.buffer_size > INITIAL_BUFFER_SIZE
    buf = parser.get_buffer(-1)  # ... and they must survive compaction
    assert len(buf) >= MIN_FREE_SPACE
    read_like_asyncio(parser, tail_frame[5:], [], got)
    assert got[-1] == b"0123456789"
    assert parser.buffered == 0
    assert parser.shrink_if_idle() is True
    assert parser.buffer_size == INITIAL_BUFFER_SIZE


def test_repeated_frames_do_not_thrash(backend: str) -> None:  # noqa: F811
    """Between shrink checks the grown buffer is kept (no reallocation per message)."""
    frames = backend_module(backend, "frames")
    parser = frames.FrameParser(True, 10 * MIB)
    msg = encode_frame(0x2, b"m" * 20000)
    trace: list[tuple[int, int]] = []
    got: list[bytes] = []
    for _ in range(5):
        read_like_asyncio(parser, msg, trace, got)
    assert got == [b"m" * 20000] * 5
    sizes = [size for _, size in trace]
    assert max(sizes) <= 2 * (20000 + MAX_READ_SIZE)
    assert sizes[-1] == max(sizes)  # grown once, then kept


def test_small_frames_keep_a_small_buffer(backend: str) -> None:  # noqa: F811
    """Lots of small frames split across reads at every possible offset: the buffer never grows."""
    frames = backend_module(backend, "frames")
    parser = frames.FrameParser(True, 10 * MIB)
    payloads = [bytes([i % 256]) * (i % 300) for i in range(1500)]
    stream = b"".join(encode_frame(0x2, p) for p in payloads)
    trace: list[tuple[int, int]] = []
    got: list[bytes] = []
    read_like_asyncio(parser, stream, trace, got)
    assert got == payloads
    assert {size for _, size in trace} == {INITIAL_BUFFER_SIZE}


def test_same_buffer_decisions_on_both_backends() -> None:
    compiled = cython_module("frames")
    stream = b"".join(
        encode_frame(0x2, bytes([n % 256]) * n) for n in (0, 5000, 70000, 10, MIB + 3, 1, 300000, 2)
    )
    traces = []
    for frames in (pure_module("frames"), compiled):
        parser = frames.FrameParser(True, 10 * MIB)
        trace: list[tuple[int, int]] = []
        got: list[bytes] = []
        read_like_asyncio(parser, stream, trace, got)
        traces.append((trace, [len(p) for p in got], parser.buffer_size))
    assert traces[0] == traces[1]


# -- a real connection --------------------------------------------------------------------------


class RecordingListener(WSListener):
    """Records (payload size, parser buffer size) at every frame; runs a small scripted exchange."""

    def __init__(self, server: bool) -> None:
        super().__init__()
        self.server = server
        self.transport: WSTransport | None = None
        self.seen: list[tuple[int, int]] = []
        self.texts: asyncio.Queue[bytes] = asyncio.Queue()
        self.big_payload: bytes | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        parser = parser_of(transport)
        self.seen.append((len(frame.get_payload_as_memoryview()), parser.buffer_size))
        if frame.msg_type == WSMsgType.BINARY:
            self.big_payload = frame.get_payload_as_bytes()
            if self.server:  # echo the big frame, then say we are done
                transport.send(WSMsgType.BINARY, self.big_payload)
                transport.send(WSMsgType.TEXT, b"done")
        elif frame.msg_type == WSMsgType.TEXT:
            text = frame.get_payload_as_bytes()
            if self.server and text.startswith(b"small"):
                transport.send(WSMsgType.TEXT, b"ack " + text)
            self.texts.put_nowait(text)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


def recording_server_factory(created: list[RecordingListener]) -> Callable[[Any], RecordingListener]:
    """A server listener factory that also appends every listener it makes to ``created``."""

    def factory(request: Any) -> RecordingListener:
        listener = RecordingListener(server=True)
        created.append(listener)
        return listener

    return factory


async def test_connection_buffers_grow_and_shrink() -> None:
    server_listeners: list[RecordingListener] = []
    factory = recording_server_factory(server_listeners)

    payload = bytes(range(251)) * (MIB // 251 + 1)
    payload = payload[:MIB]
    async with ws_server(factory) as url:
        transport, client = await asyncio.wait_for(
            picows.ws_connect(lambda: RecordingListener(server=False), url), TIMEOUT
        )
        assert isinstance(client, RecordingListener)
        server = server_listeners[0]
        assert server.transport is not None
        client_parser = parser_of(transport)
        server_parser = parser_of(server.transport)
        # Fresh connections hold no receive buffer yet (the first read allocates it).
        assert client_parser.buffer_size == 0
        assert server_parser.buffer_size == 0

        # Idle traffic of small frames keeps it that way.
        for i in range(20):
            transport.send(WSMsgType.TEXT, b"small %d" % i)
            assert await asyncio.wait_for(client.texts.get(), TIMEOUT) == b"ack small %d" % i
        assert {size for _, size in client.seen} == {INITIAL_BUFFER_SIZE}
        assert {size for _, size in server.seen} == {INITIAL_BUFFER_SIZE}

        # A 1 MiB frame each way: both parsers grow to fit it ...
        transport.send(WSMsgType.BINARY, payload)
        assert await asyncio.wait_for(client.texts.get(), TIMEOUT) == b"done"
        assert server.big_payload == payload
        assert client.big_payload == payload
        server_big = [size for n, size in server.seen if n == MIB]
        client_big = [size for n, size in client.seen if n == MIB]
        assert len(server_big) == 1 and MIB + 14 <= server_big[0] <= 2 * (MIB + 14)
        assert len(client_big) == 1 and MIB + 10 <= client_big[0] <= 2 * (MIB + 14)

        # ... and give the memory back once the connection is idle (after SHRINK_DELAY).
        deadline = asyncio.get_running_loop().time() + SHRINK_DELAY * 2 + TIMEOUT
        while client_parser.buffer_size != INITIAL_BUFFER_SIZE or server_parser.buffer_size != INITIAL_BUFFER_SIZE:
            assert asyncio.get_running_loop().time() < deadline, "buffers did not shrink"
            await asyncio.sleep(0.05)
        transport.send(WSMsgType.TEXT, b"small after")
        assert await asyncio.wait_for(client.texts.get(), TIMEOUT) == b"ack small after"
        assert server.seen[-1] == (len(b"small after"), INITIAL_BUFFER_SIZE)
        assert client.seen[-1] == (len(b"ack small after"), INITIAL_BUFFER_SIZE)

        transport.send_close(picows.WSCloseCode.OK)
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_idle_connection_holds_a_few_kib() -> None:
    server_listeners: list[RecordingListener] = []
    factory = recording_server_factory(server_listeners)

    async with ws_server(factory) as url:
        transports = []
        for _ in range(5):
            transport, _client = await asyncio.wait_for(
                picows.ws_connect(lambda: RecordingListener(server=False), url), TIMEOUT
            )
            transports.append(transport)
        await asyncio.sleep(0.05)
        for transport in transports + [s.transport for s in server_listeners]:
            assert parser_of(transport).buffer_size == 0  # no frame received yet: nothing allocated
        for transport in transports:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_moderately_grown_buffer_is_kept_without_a_timer() -> None:
    """Up to KEEP_BUFFER_SIZE a grown buffer stays (a connection with medium frames does not regrow it)."""
    server_listeners: list[RecordingListener] = []
    factory = recording_server_factory(server_listeners)

    payload = bytes(range(256)) * 40  # 10 KiB: grows the 4 KiB buffer, stays under KEEP_BUFFER_SIZE
    async with ws_server(factory) as url:
        transport, client = await asyncio.wait_for(
            picows.ws_connect(lambda: RecordingListener(server=False), url), TIMEOUT
        )
        assert isinstance(client, RecordingListener)
        parsers = [parser_of(transport), parser_of(server_listeners[0].transport)]
        transport.send(WSMsgType.BINARY, payload)  # the server echoes it, then sends "done"
        assert await asyncio.wait_for(client.texts.get(), TIMEOUT) == b"done"
        assert client.big_payload == payload
        grown = [parser.buffer_size for parser in parsers]
        assert all(INITIAL_BUFFER_SIZE < size <= KEEP_BUFFER_SIZE for size in grown), grown
        await asyncio.sleep(SHRINK_DELAY * 1.5)  # past the delay after which a larger buffer is released
        assert [parser.buffer_size for parser in parsers] == grown
        transport.send_close(picows.WSCloseCode.OK)
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
