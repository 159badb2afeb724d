"""WSTransport: every send variant, close/disconnect semantics, attributes, backpressure."""

from __future__ import annotations

import array
import asyncio
import contextlib
import http
import socket
import struct
from collections.abc import AsyncIterator

import pytest

import picows
from picows import WSCloseCode, WSMsgType, WSTransport, WSUpgradeRequest, WSUpgradeResponse
from support import TIMEOUT
from support.frames import expect_close, payload_of
from support.listeners import CollectingListener
from support.net import expect_eof, expect_silence
from support.raw_ws import RawPeer, raw_ws_client, raw_ws_server
from support.servers import ROLES, connect, echo_server, finish, pair, picows_server

# ---------------------------------------------------------------------------
# send(): accepted payload types, masking
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("picows_role", ROLES)
async def test_send_accepts_buffers_and_none(picows_role: str) -> None:
    ba = bytearray(b"from-bytearray")
    backing = bytearray(b"0123456789")
    arr = array.array("B", b"array-bytes")
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send(WSMsgType.BINARY, b"from-bytes")
        transport.send(WSMsgType.BINARY, ba)
        transport.send(WSMsgType.BINARY, memoryview(b"from-memoryview"))
        transport.send(WSMsgType.BINARY, memoryview(backing)[2:7])
        transport.send(WSMsgType.BINARY, None)
        transport.send(WSMsgType.TEXT, b"")
        transport.send(WSMsgType.BINARY, arr)
        frames = [await peer.read_data_frame() for _ in range(7)]
        # the caller's buffers are never modified (the client masks a copy)
        assert ba == bytearray(b"from-bytearray")
        assert backing == bytearray(b"0123456789")
        assert arr.tobytes() == b"array-bytes"
    assert [(f.opcode, f.fin, f.payload) for f in frames] == [
        (WSMsgType.BINARY, True, b"from-bytes"),
        (WSMsgType.BINARY, True, b"from-bytearray"),
        (WSMsgType.BINARY, True, b"from-memoryview"),
        (WSMsgType.BINARY, True, b"23456"),
        (WSMsgType.BINARY, True, b""),
        (WSMsgType.TEXT, True, b""),
        (WSMsgType.BINARY, True, b"array-bytes"),
    ]


@pytest.mark.single_loop  # argument validation: fails before any I/O
@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize("bad", [pytest.param(42, id="int"), pytest.param(object(), id="object")])
async def test_send_rejects_non_buffer(picows_role: str, bad: object) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        with pytest.raises(TypeError):
            transport.send(WSMsgType.TEXT, bad)  # type: ignore[arg-type]
        # nothing was written for the rejected call; the connection is still usable
        transport.send(WSMsgType.TEXT, b"next")
        f = await peer.read_data_frame()
    assert (f.opcode, f.payload) == (WSMsgType.TEXT, b"next")


@pytest.mark.single_loop  # argument validation: fails before any I/O
@pytest.mark.parametrize("picows_role", ROLES)
async def test_send_rejects_bad_msg_type(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        for bad in (3, 0xB, 0x10, 99, -1):
            with pytest.raises((ValueError, TypeError, OverflowError)):
                transport.send(bad, b"x")  # type: ignore[arg-type]
        transport.send(WSMsgType.BINARY, b"still-works")
        f = await peer.read_data_frame()
    assert (f.opcode, f.payload) == (WSMsgType.BINARY, b"still-works")


async def test_client_frames_are_masked_with_fresh_keys() -> None:
    async with pair("client", CollectingListener) as (peer, _listener, transport):
        for i in range(16):
            transport.send(WSMsgType.BINARY, b"same payload %d" % (i % 2))
        transport.send_ping(b"p")
        transport.send_pong(b"q")
        transport.send(WSMsgType.BINARY, None)
        frames = [await peer.read_data_frame() for _ in range(19)]  # read_data_frame checks the mask bit
    assert all(f.masked and f.mask is not None and len(f.mask) == 4 for f in frames)
    assert [f.payload for f in frames[:16]] == [b"same payload %d" % (i % 2) for i in range(16)]
    assert (frames[16].opcode, frames[16].payload) == (WSMsgType.PING, b"p")
    assert (frames[17].opcode, frames[17].payload) == (WSMsgType.PONG, b"q")
    # fresh random key per frame: 16 frames all with the same key is not random
    assert len({f.mask for f in frames}) > 8


async def test_server_frames_are_not_masked() -> None:
    async with pair("server", CollectingListener) as (peer, _listener, transport):
        transport.send(WSMsgType.BINARY, b"abc")
        transport.send_ping(b"p")
        transport.send_close(WSCloseCode.OK, b"done")
        frames = [await peer.read_data_frame() for _ in range(3)]
    assert all(not f.masked for f in frames)
    assert [f.opcode for f in frames] == [WSMsgType.BINARY, WSMsgType.PING, WSMsgType.CLOSE]


# ---------------------------------------------------------------------------
# send_reuse_external_bytearray
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize("offset", [14, 15, 32])
@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 200000])
async def test_send_reuse_external_bytearray(picows_role: str, offset: int, size: int) -> None:
    payload = payload_of(size, False, seed=size)
    buf = bytearray(b"\xee" * offset) + bytearray(payload)
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send_reuse_external_bytearray(WSMsgType.BINARY, buf, offset)
        transport.send(WSMsgType.TEXT, b"marker")
        f = await peer.read_data_frame()  # checks mask bit for the role
        marker = await peer.read_data_frame()
    assert (f.opcode, f.fin, f.rsv1) == (WSMsgType.BINARY, True, False)
    assert len(f.payload) == size
    assert f.payload == payload
    assert marker.payload == b"marker"


@pytest.mark.parametrize("picows_role", ROLES)
async def test_send_reuse_external_bytearray_fin_rsv1(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send_reuse_external_bytearray(WSMsgType.TEXT, bytearray(14) + b"part1", 14, fin=False, rsv1=True)
        transport.send_reuse_external_bytearray(WSMsgType.CONTINUATION, bytearray(20) + b"part2", 20, True, False)
        f1 = await peer.read_data_frame()
        f2 = await peer.read_data_frame()
    assert (f1.opcode, f1.fin, f1.rsv1, f1.payload) == (WSMsgType.TEXT, False, True, b"part1")
    assert (f2.opcode, f2.fin, f2.rsv1, f2.payload) == (WSMsgType.CONTINUATION, True, False, b"part2")


@pytest.mark.single_loop  # argument validation: fails before any I/O
@pytest.mark.parametrize("picows_role", ROLES)
async def test_send_reuse_external_bytearray_offset_too_small(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        for offset in (0, 1, 13):
            buf = bytearray(offset) + b"payload"
            with pytest.raises(ValueError):
                transport.send_reuse_external_bytearray(WSMsgType.BINARY, buf, offset)
        transport.send(WSMsgType.BINARY, b"ok")
        f = await peer.read_data_frame()
    assert f.payload == b"ok"


async def test_send_reuse_external_bytearray_echo_picows_to_picows() -> None:
    payload = payload_of(70000, False, seed=9)
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url)
        transport.send_reuse_external_bytearray(WSMsgType.BINARY, bytearray(14) + payload, 14)
        got = await listener.get()
        assert got == (WSMsgType.BINARY, True, False, payload)
        # the same bytearray can be reused for the next message
        buf = bytearray(14) + b"second"
        transport.send_reuse_external_bytearray(WSMsgType.BINARY, buf, 14)
        assert (await listener.get())[3] == b"second"
        await finish(transport)


# ---------------------------------------------------------------------------
# ping / pong / close
# ---------------------------------------------------------------------------


@pytest.mark.single_loop  # argument validation: fails before any I/O
@pytest.mark.parametrize("picows_role", ROLES)
async def test_send_ping_pong_payload_limits(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        with pytest.raises(ValueError):
            transport.send_ping(b"x" * 126)
        with pytest.raises(ValueError):
            transport.send_pong(b"x" * 126)
        transport.send_ping(b"p" * 125)
        transport.send_pong(b"q" * 125)
        transport.send_ping()
        transport.send_pong()
        transport.send_ping(None)
        frames = [await peer.read_data_frame() for _ in range(5)]
    assert [(f.opcode, f.fin, f.payload) for f in frames] == [
        (WSMsgType.PING, True, b"p" * 125),
        (WSMsgType.PONG, True, b"q" * 125),
        (WSMsgType.PING, True, b""),
        (WSMsgType.PONG, True, b""),
        (WSMsgType.PING, True, b""),
    ]


@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize(
    "args,expected_payload",
    [
        pytest.param((), b"", id="default"),
        pytest.param((WSCloseCode.NO_INFO,), b"", id="no-info"),
        pytest.param((WSCloseCode.NO_INFO, None), b"", id="no-info-none"),
        pytest.param((WSCloseCode.OK,), struct.pack("!H", 1000), id="ok"),
        pytest.param((WSCloseCode.GOING_AWAY, b"bye bye"), struct.pack("!H", 1001) + b"bye bye", id="going-away-msg"),
        pytest.param((WSCloseCode.OK, b""), struct.pack("!H", 1000), id="ok-empty-msg"),
    ],
)
async def test_send_close_payload(picows_role: str, args: tuple, expected_payload: bytes) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        assert transport.is_close_frame_sent is False
        transport.send_close(*args)
        assert transport.is_close_frame_sent is True
        f = await peer.read_data_frame()
        # send_close does not disconnect
        await expect_silence(peer.reader)
        assert not transport.underlying_transport.is_closing()
    assert (f.opcode, f.fin, f.payload) == (WSMsgType.CLOSE, True, expected_payload)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_send_close_keyword_arguments(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send_close(close_code=WSCloseCode.POLICY_VIOLATION, close_message=b"nope")
        f = await peer.read_data_frame()
    assert f.payload == struct.pack("!H", 1008) + b"nope"


@pytest.mark.parametrize("picows_role", ROLES)
async def test_send_close_with_a_str_reason_sends_it_as_utf8(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send_close(WSCloseCode.GOING_AWAY, "müde")
        f = await peer.read_data_frame()
    assert f.payload == struct.pack("!H", 1001) + "müde".encode()


@pytest.mark.parametrize("picows_role", ROLES)
async def test_close_sent_through_send_counts_as_the_close(picows_role: str) -> None:
    """A plain int opcode is accepted as the msg_type; a CLOSE sent with send() ends sending like send_close.

    It is also the sent half of ``close_handshake`` (picows 1.15 behaviour, kept).
    """
    payload = struct.pack("!H", 1000) + b"via send"
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send(1, b"int opcode")  # type: ignore[arg-type]
        transport.send(8, payload)  # type: ignore[arg-type]
        assert transport.is_close_frame_sent is True
        assert transport.close_handshake.sent == picows.WSCloseInfo(WSCloseCode.OK, "via send")
        transport.send(WSMsgType.TEXT, b"after")  # a no-op now
        got = [await peer.read_data_frame() for _ in range(2)]
    assert [(f.opcode, f.payload) for f in got] == [(WSMsgType.TEXT, b"int opcode"), (WSMsgType.CLOSE, payload)]


@pytest.mark.single_loop  # argument validation: fails before any I/O
@pytest.mark.parametrize("picows_role", ROLES)
async def test_close_cannot_be_sent_through_the_external_buffer_api(picows_role: str) -> None:
    payload = struct.pack("!H", 1000)
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        with pytest.raises(ValueError, match="send_close"):
            transport.send_reuse_external_bytearray(WSMsgType.CLOSE, bytearray(14) + payload, 14)
        assert transport.is_close_frame_sent is False
        transport.send(WSMsgType.TEXT, b"still open")
        f = await peer.read_data_frame()
    assert (f.opcode, f.payload) == (WSMsgType.TEXT, b"still open")


@pytest.mark.parametrize("picows_role", ROLES)
async def test_str_payloads_are_sent_utf8_encoded(picows_role: str) -> None:
    """picows 2.x: send, send_ping, send_pong and send_close take str."""
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send(WSMsgType.TEXT, "héllo ✓")
        transport.send(WSMsgType.TEXT, "")
        transport.send_ping("pïng")
        transport.send_pong("pöng")
        transport.send_close(WSCloseCode.GOING_AWAY, "bye ✓")
        got = [await peer.read_data_frame() for _ in range(5)]
    assert [(f.opcode, f.payload) for f in got] == [
        (WSMsgType.TEXT, "héllo ✓".encode()),
        (WSMsgType.TEXT, b""),
        (WSMsgType.PING, "pïng".encode()),
        (WSMsgType.PONG, "pöng".encode()),
        (WSMsgType.CLOSE, struct.pack("!H", 1001) + "bye ✓".encode()),
    ]


@pytest.mark.parametrize("picows_role", ROLES)
async def test_rsv2_and_rsv3_are_sent(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send(WSMsgType.BINARY, b"a", rsv2=True)
        transport.send(WSMsgType.BINARY, b"b", True, False, False, True)
        transport.send_reuse_external_bytearray(WSMsgType.BINARY, bytearray(14) + b"c", 14, rsv1=True, rsv2=True, rsv3=True)
        got = [await peer.read_data_frame() for _ in range(3)]
    assert [(f.payload, f.rsv1, f.rsv2, f.rsv3) for f in got] == [
        (b"a", False, True, False),
        (b"b", False, False, True),
        (b"c", True, True, True),
    ]


async def test_sending_after_the_connection_is_lost_is_a_silent_noop() -> None:
    async with echo_server() as url:
        transport, _listener = await connect(CollectingListener, url)
        await finish(transport)
        transport.send(WSMsgType.TEXT, b"late")
        transport.send(WSMsgType.PING, b"late")
        transport.send_reuse_external_bytearray(WSMsgType.BINARY, bytearray(14) + b"late", 14)
        transport.send_reuse_external_bytearray(WSMsgType.PONG, bytearray(14) + b"late", 14)
        transport.send_ping(b"late")
        transport.send_close(WSCloseCode.OK)
        with pytest.raises(ConnectionResetError, match="^the WebSocket connection is closed$"):
            await asyncio.wait_for(transport.measure_roundtrip_time(1), TIMEOUT)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_everything_is_a_noop_after_close_frame_sent(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send(WSMsgType.TEXT, b"before")
        transport.send_close(WSCloseCode.OK, b"first")
        assert transport.is_close_frame_sent is True
        # all silent no-ops, even with arguments that would otherwise be errors
        transport.send(WSMsgType.TEXT, b"after")
        transport.send(WSMsgType.BINARY, None, fin=False)
        transport.send_ping(b"after")
        transport.send_pong(b"after")
        transport.send_close(WSCloseCode.GOING_AWAY, b"second")
        transport.send_reuse_external_bytearray(WSMsgType.BINARY, bytearray(14) + b"after", 14)
        assert transport.is_close_frame_sent is True
        transport.disconnect()
        f1 = await peer.read_data_frame()
        f2 = await peer.read_data_frame()
        rest = await expect_eof(peer.reader)
    assert (f1.opcode, f1.payload) == (WSMsgType.TEXT, b"before")
    assert (f2.opcode, f2.payload) == (WSMsgType.CLOSE, struct.pack("!H", 1000) + b"first")
    assert rest == b""


@pytest.mark.parametrize("picows_role", ROLES)
async def test_send_close_after_disconnect_is_noop(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.disconnect()
        transport.send_close(WSCloseCode.OK)  # underlying transport already closing: no-op, no error
        rest = await expect_eof(peer.reader)
    assert rest == b""


# ---------------------------------------------------------------------------
# disconnect / wait_disconnected
# ---------------------------------------------------------------------------


class CountingListener(CollectingListener):
    def __init__(self) -> None:
        super().__init__()
        self.disconnect_calls = 0

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnect_calls += 1
        super().on_ws_disconnected(transport)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_disconnect_is_idempotent(picows_role: str) -> None:
    async with pair(picows_role, CountingListener) as (peer, listener, transport):
        transport.disconnect()
        transport.disconnect()
        transport.disconnect(graceful=False)
        rest = await expect_eof(peer.reader)
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)  # can be awaited again
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    assert rest == b""
    assert listener.disconnect_calls == 1


@pytest.mark.parametrize("picows_role", ROLES)
async def test_disconnect_does_not_send_close(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send(WSMsgType.TEXT, b"last")
        transport.disconnect()
        f = await peer.read_data_frame()
        rest = await expect_eof(peer.reader)
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
    assert f.payload == b"last"
    assert rest == b""
    assert transport.is_close_frame_sent is False


@pytest.mark.parametrize("picows_role", ROLES)
async def test_graceful_disconnect_flushes_queued_data(picows_role: str) -> None:
    payload = payload_of(3 * 1024 * 1024, False, seed=4)
    async with pair(picows_role, CollectingListener) as (peer, _listener, transport):
        transport.send(WSMsgType.BINARY, payload)
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()  # graceful: queued frames are flushed before the socket closes
        f1 = await peer.read_data_frame()
        f2 = await peer.read_data_frame()
        rest = await expect_eof(peer.reader)
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
    assert f1.payload == payload
    assert (f2.opcode, f2.close_code) == (WSMsgType.CLOSE, 1000)
    assert rest == b""


@pytest.mark.parametrize("picows_role", ROLES)
async def test_disconnect_not_graceful(picows_role: str) -> None:
    async with pair(picows_role, CountingListener) as (peer, listener, transport):
        transport.disconnect(graceful=False)
        await expect_eof(peer.reader)
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)  # no exception: the user asked for it
        assert listener.disconnected.is_set()
    assert listener.disconnect_calls == 1


@pytest.mark.parametrize("picows_role", ROLES)
async def test_wait_disconnected_completes_after_on_ws_disconnected(picows_role: str) -> None:
    order = []

    class L(CollectingListener):
        def on_ws_disconnected(self, transport: WSTransport) -> None:
            order.append("on_ws_disconnected")
            super().on_ws_disconnected(transport)

    async with pair(picows_role, L) as (peer, _listener, transport):
        waiter = asyncio.ensure_future(transport.wait_disconnected())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        peer.close()  # the remote side goes away
        await asyncio.wait_for(waiter, TIMEOUT)
        order.append("wait_disconnected")
    assert order == ["on_ws_disconnected", "wait_disconnected"]


@pytest.mark.parametrize("picows_role", ROLES)
async def test_wait_disconnected_is_shielded(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, listener, transport):
        # cancelling a waiter does not disturb the connection
        waiter = asyncio.ensure_future(transport.wait_disconnected())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        # a timed-out wait_for (which cancels the inner await) neither
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(transport.wait_disconnected(), 0.05)
        assert not transport.underlying_transport.is_closing()
        await peer.send(WSMsgType.TEXT, b"still alive")
        assert await listener.get() == (WSMsgType.TEXT, True, False, b"still alive")
        transport.send(WSMsgType.TEXT, b"me too")
        assert (await peer.read_data_frame()).payload == b"me too"
        # a fresh waiter still completes on disconnect
        second = asyncio.ensure_future(transport.wait_disconnected())
        transport.disconnect()
        await asyncio.wait_for(second, TIMEOUT)


# ---------------------------------------------------------------------------
# attributes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("picows_role", ROLES)
async def test_transport_attributes(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (_peer, listener, transport):
        assert listener.transport is transport
        assert transport.is_client_side is (picows_role == "client")
        assert transport.is_secure is False
        assert transport.is_close_frame_sent is False
        ut = transport.underlying_transport
        # the asyncio (or uvloop) transport: uvloop's class does not derive from asyncio.Transport
        for name in ("get_extra_info", "is_closing", "set_write_buffer_limits", "get_write_buffer_size"):
            assert callable(getattr(ut, name)), name
        assert ut.get_extra_info("peername")[0] == "127.0.0.1"
        sock = ut.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        req = transport.request
        resp = transport.response
        assert isinstance(req, WSUpgradeRequest)
        assert isinstance(resp, WSUpgradeResponse)
        assert req.method == b"GET"
        assert req.path == b"/"
        assert req.version == b"HTTP/1.1"
        assert req.headers["upgrade"].lower() == "websocket"
        assert "sec-websocket-key" in req.headers
        assert resp.status == http.HTTPStatus.SWITCHING_PROTOCOLS
        assert isinstance(resp.status, http.HTTPStatus)
        assert resp.version == b"HTTP/1.1"
        assert "Sec-WebSocket-Accept" in resp.headers
        assert resp.headers["upgrade"].lower() == "websocket"


async def test_request_path_and_response_both_sides() -> None:
    async with picows_server(CollectingListener) as srv:
        transport, _ = await connect(CollectingListener, srv.url + "chat/room?x=1")
        server_listener = await srv.next_listener()
        st = server_listener.transport
        assert transport.request.path == b"/chat/room?x=1"
        assert st.request.path == b"/chat/room?x=1"
        assert srv.requests[0].path == b"/chat/room?x=1"
        assert transport.response.status == 101 and st.response.status == 101
        assert transport.request.headers["Sec-WebSocket-Key"] == st.request.headers["Sec-WebSocket-Key"]
        assert transport.response.headers["Sec-WebSocket-Accept"] == st.response.headers["Sec-WebSocket-Accept"]
        await finish(transport)


# ---------------------------------------------------------------------------
# backpressure
# ---------------------------------------------------------------------------


class FlowListener(CollectingListener):
    def __init__(self) -> None:
        super().__init__()
        self.paused = asyncio.Event()
        self.resumed = asyncio.Event()
        self.flow_events = []  # type: list[str]

    def pause_writing(self) -> None:
        self.flow_events.append("pause")
        self.paused.set()

    def resume_writing(self) -> None:
        self.flow_events.append("resume")
        self.resumed.set()


@pytest.mark.parametrize("picows_role", ROLES)
async def test_pause_and_resume_writing(picows_role: str) -> None:
    chunk = b"\x5a" * (128 * 1024)
    if picows_role == "client":
        ctx = _client_with_slow_raw_server()
    else:
        ctx = _server_with_slow_raw_client()
    async with ctx as (peer, listener, transport):
        transport.underlying_transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        sent = 0
        for _ in range(800):  # at most 100 MiB; the kernel buffers are much smaller
            if listener.paused.is_set():
                break
            transport.send(WSMsgType.BINARY, chunk)
            sent += 1
            await asyncio.sleep(0)
        assert listener.paused.is_set(), "pause_writing never called although the peer does not read"
        assert not listener.resumed.is_set()
        # writes still succeed while paused
        transport.send(WSMsgType.TEXT, b"while-paused")
        # now the peer reads everything
        for _ in range(sent):
            f = await peer.read_data_frame()
            assert len(f.payload) == len(chunk)
        last = await peer.read_data_frame()
        assert last.payload == b"while-paused"
        await asyncio.wait_for(listener.resumed.wait(), TIMEOUT)
    assert listener.flow_events[:2] == ["pause", "resume"]




class FlowHookError(Exception):
    """Raised by PauseRaisingListener."""


class PauseRaisingListener(FlowListener):
    def pause_writing(self) -> None:
        super().pause_writing()
        raise FlowHookError("pause_writing failed")


async def test_pause_writing_raising_closes_with_internal_error() -> None:
    """A failing flow-control hook follows the callback-failure policy: CLOSE(1011), then disconnect."""
    chunk = b"\x5a" * (128 * 1024)
    async with raw_ws_server(rcvbuf=4096) as srv:
        transport, listener = await connect(PauseRaisingListener, srv.url)
        peer = await srv.accept()
        transport.underlying_transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        for _ in range(800):  # at most 100 MiB; the kernel buffers are much smaller
            if listener.paused.is_set():
                break
            transport.send(WSMsgType.BINARY, chunk)
            await asyncio.sleep(0)
        assert listener.paused.is_set(), "pause_writing never called although the peer does not read"
        await expect_close(peer.reader, int(WSCloseCode.INTERNAL_ERROR))
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        with pytest.raises(FlowHookError):
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


@contextlib.asynccontextmanager
async def _client_with_slow_raw_server() -> AsyncIterator[tuple[RawPeer, FlowListener, WSTransport]]:
    async with raw_ws_server(rcvbuf=4096) as srv:
        transport, listener = await connect(FlowListener, srv.url)
        peer = await srv.accept()
        try:
            yield peer, listener, transport
        finally:
            await finish(transport)


@contextlib.asynccontextmanager
async def _server_with_slow_raw_client() -> AsyncIterator[tuple[RawPeer, FlowListener, WSTransport]]:
    async with picows_server(FlowListener) as srv:
        async with raw_ws_client(srv.port, rcvbuf=4096) as peer:
            listener = await srv.next_listener()
            yield peer, listener, listener.transport
