"""Echo and data-transfer behaviour over real sockets on 127.0.0.1.

picows client <-> picows server, and each picows role against a hand-written
raw peer, so a bug on one side cannot be masked by the same bug on the other.
"""

from __future__ import annotations

import asyncio

import pytest

from picows import WSMsgType, WSTransport
from support import TIMEOUT
from support.frames import client_frame, payload_of, server_frame
from support.listeners import CollectingListener, EchoListener
from support.net import port_of, read_http_head
from support.raw_ws import raw_ws_client, raw_ws_server
from support.servers import connect, echo_server, finish, pair, picows_server

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1024 * 1024]
SIX_MIB = 6 * 1024 * 1024
DATA_TYPES = [pytest.param(WSMsgType.TEXT, id="text"), pytest.param(WSMsgType.BINARY, id="binary")]


# ---------------------------------------------------------------------------
# picows client -> picows server -> picows client
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", DATA_TYPES)
@pytest.mark.parametrize("size", SIZES)
async def test_echo_client_server_client(msg_type: WSMsgType, size: int) -> None:
    payload = payload_of(size, msg_type == WSMsgType.TEXT)
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url)
        transport.send(msg_type, payload)
        got_type, fin, rsv1, got = await listener.get()
        assert got_type == msg_type
        assert fin is True
        assert rsv1 is False
        assert len(got) == size
        assert got == payload
        await finish(transport)


class _ServerSendsOnConnect(CollectingListener):
    message: bytes = b""
    msg_type: WSMsgType = WSMsgType.BINARY

    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)
        transport.send(self.msg_type, self.message)


@pytest.mark.parametrize("msg_type", DATA_TYPES)
@pytest.mark.parametrize("size", [0, 125, 126, 65536, 1024 * 1024])
async def test_echo_server_client_server(msg_type: WSMsgType, size: int) -> None:
    """Server-initiated message echoed back by a picows client."""
    payload = payload_of(size, msg_type == WSMsgType.TEXT, seed=3)

    class L(_ServerSendsOnConnect):
        pass

    L.message = payload
    L.msg_type = msg_type
    async with picows_server(L) as srv:
        transport, _ = await connect(EchoListener, srv.url)
        server_listener = await srv.next_listener()
        got_type, fin, _rsv1, got = await server_listener.get()
        assert got_type == msg_type and fin is True
        assert got == payload
        await finish(transport)


async def test_echo_6mib_client_initiated() -> None:
    payload = payload_of(SIX_MIB, False, seed=1)
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url)
        transport.send(WSMsgType.BINARY, payload)
        got_type, fin, _rsv1, got = await listener.get(timeout=TIMEOUT * 3)
        assert (got_type, fin) == (WSMsgType.BINARY, True)
        assert len(got) == SIX_MIB
        assert got == payload
        await finish(transport)


async def test_echo_6mib_server_initiated() -> None:
    payload = payload_of(SIX_MIB, False, seed=2)

    class L(_ServerSendsOnConnect):
        pass

    L.message = payload
    async with picows_server(L) as srv:
        transport, _ = await connect(EchoListener, srv.url)
        server_listener = await srv.next_listener()
        got_type, fin, _rsv1, got = await server_listener.get(timeout=TIMEOUT * 3)
        assert (got_type, fin) == (WSMsgType.BINARY, True)
        assert len(got) == SIX_MIB
        assert got == payload
        await finish(transport)


async def test_many_small_messages_pipelined_in_order() -> None:
    n = 2000
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url)
        for i in range(n):
            transport.send(WSMsgType.BINARY if i % 2 else WSMsgType.TEXT, str(i).encode())
        for i in range(n):
            got_type, fin, _rsv1, got = await listener.get()
            assert got == str(i).encode()
            assert got_type == (WSMsgType.BINARY if i % 2 else WSMsgType.TEXT)
            assert fin is True
        assert listener.frames.empty()
        await finish(transport)


# ---------------------------------------------------------------------------
# picows client vs raw server
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", DATA_TYPES)
@pytest.mark.parametrize("size", SIZES)
async def test_client_sends_exact_bytes_to_raw_server(msg_type: WSMsgType, size: int) -> None:
    payload = payload_of(size, msg_type == WSMsgType.TEXT, seed=5)
    async with raw_ws_server() as srv:
        transport, _ = await connect(CollectingListener, srv.url)
        peer = await srv.accept()
        transport.send(msg_type, payload)
        f = await peer.read_data_frame()
        assert f.opcode == msg_type and f.fin and not (f.rsv1 or f.rsv2 or f.rsv3)
        assert f.payload == payload
        await finish(transport)


@pytest.mark.parametrize("msg_type", DATA_TYPES)
@pytest.mark.parametrize("size", SIZES)
async def test_client_receives_exact_bytes_from_raw_server(msg_type: WSMsgType, size: int) -> None:
    payload = payload_of(size, msg_type == WSMsgType.TEXT, seed=6)
    async with raw_ws_server() as srv:
        transport, listener = await connect(CollectingListener, srv.url)
        peer = await srv.accept()
        await peer.send(msg_type, payload)
        got_type, fin, rsv1, got = await listener.get()
        assert (got_type, fin, rsv1) == (msg_type, True, False)
        assert got == payload
        await finish(transport)


async def test_client_receives_frames_sent_with_the_101_response() -> None:
    """Bytes arriving in the same segment as the 101 response are the first frames."""
    extra = server_frame(WSMsgType.TEXT, b"first") + server_frame(WSMsgType.BINARY, b"second")
    async with raw_ws_server(extra=extra) as srv:
        transport, listener = await connect(CollectingListener, srv.url)
        assert await listener.get() == (WSMsgType.TEXT, True, False, b"first")
        assert await listener.get() == (WSMsgType.BINARY, True, False, b"second")
        await finish(transport)


async def test_client_receives_pipelined_burst_from_raw_server() -> None:
    n = 1000
    burst = b"".join(server_frame(WSMsgType.BINARY, i.to_bytes(4, "big") * (i % 7)) for i in range(n))
    async with raw_ws_server() as srv:
        transport, listener = await connect(CollectingListener, srv.url)
        peer = await srv.accept()
        await peer.write(burst)
        for i in range(n):
            got_type, fin, _rsv1, got = await listener.get()
            assert (got_type, fin) == (WSMsgType.BINARY, True)
            assert got == i.to_bytes(4, "big") * (i % 7), f"frame {i}"
        await finish(transport)


async def test_client_frames_split_byte_by_byte_from_raw_server() -> None:
    """Frames trickling in one byte at a time are reassembled by the parser."""
    data = server_frame(WSMsgType.TEXT, b"hello") + server_frame(WSMsgType.BINARY, b"x" * 300)
    async with raw_ws_server() as srv:
        transport, listener = await connect(CollectingListener, srv.url)
        peer = await srv.accept()
        for i in range(len(data)):
            await peer.write(data[i:i + 1])
            if i % 50 == 0:
                await asyncio.sleep(0.001)
        assert await listener.get() == (WSMsgType.TEXT, True, False, b"hello")
        assert await listener.get() == (WSMsgType.BINARY, True, False, b"x" * 300)
        await finish(transport)


async def test_client_sends_fragmented_message_to_raw_server() -> None:
    async with raw_ws_server() as srv:
        transport, _ = await connect(CollectingListener, srv.url)
        peer = await srv.accept()
        transport.send(WSMsgType.TEXT, b"frag-1", fin=False)
        transport.send_ping(b"between")
        transport.send(WSMsgType.CONTINUATION, b"frag-2", fin=False)
        transport.send(WSMsgType.CONTINUATION, b"frag-3", fin=True)
        frames = [await peer.read_data_frame() for _ in range(4)]
        assert [(f.opcode, f.fin, f.payload) for f in frames] == [
            (WSMsgType.TEXT, False, b"frag-1"),
            (WSMsgType.PING, True, b"between"),
            (WSMsgType.CONTINUATION, False, b"frag-2"),
            (WSMsgType.CONTINUATION, True, b"frag-3"),
        ]
        await finish(transport)


@pytest.mark.parametrize("picows_role", ["client", "server"])
async def test_receives_fragmented_message_with_interleaved_control_frames(picows_role: str) -> None:
    """Fragments are delivered as frames (no reassembly); PING is auto-ponged in between, PONG delivered."""
    async with pair(picows_role, CollectingListener) as (peer, listener, _transport):
        await peer.write(
            peer.frame(WSMsgType.BINARY, b"\x00\x01", fin=False)
            + peer.frame(WSMsgType.PING, b"p1")
            + peer.frame(WSMsgType.CONTINUATION, b"\x02", fin=False)
            + peer.frame(WSMsgType.PONG, b"unsolicited")
            + peer.frame(WSMsgType.CONTINUATION, b"", fin=False)
            + peer.frame(WSMsgType.CONTINUATION, b"\x03\x04", fin=True)
            + peer.frame(WSMsgType.TEXT, b"after")
        )
        expected = [
            (WSMsgType.BINARY, False, False, b"\x00\x01"),
            (WSMsgType.CONTINUATION, False, False, b"\x02"),
            (WSMsgType.PONG, True, False, b"unsolicited"),
            (WSMsgType.CONTINUATION, False, False, b""),
            (WSMsgType.CONTINUATION, True, False, b"\x03\x04"),
            (WSMsgType.TEXT, True, False, b"after"),
        ]
        for exp in expected:
            assert await listener.get() == exp
        pong = await peer.read_data_frame()
        assert (pong.opcode, pong.fin, pong.payload) == (WSMsgType.PONG, True, b"p1")


@pytest.mark.parametrize("picows_role", ["client", "server"])
async def test_rsv1_is_passed_through(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, listener, transport):
        await peer.send(WSMsgType.BINARY, b"compressed?", rsv1=True)
        await peer.send(WSMsgType.TEXT, b"plain")
        assert await listener.get() == (WSMsgType.BINARY, True, True, b"compressed?")
        assert await listener.get() == (WSMsgType.TEXT, True, False, b"plain")
        transport.send(WSMsgType.BINARY, b"out", rsv1=True)
        transport.send(WSMsgType.BINARY, b"out2", True, True)
        transport.send(WSMsgType.BINARY, b"out3", fin=False, rsv1=False)
        f1 = await peer.read_data_frame()
        f2 = await peer.read_data_frame()
        f3 = await peer.read_data_frame()
        assert (f1.rsv1, f1.rsv2, f1.rsv3, f1.fin, f1.payload) == (True, False, False, True, b"out")
        assert (f2.rsv1, f2.fin, f2.payload) == (True, True, b"out2")
        assert (f3.rsv1, f3.fin, f3.payload) == (False, False, b"out3")


async def test_rsv1_and_fragments_echo_client_server_client() -> None:
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url)
        transport.send(WSMsgType.BINARY, b"a", fin=False, rsv1=True)
        transport.send_ping(b"ping-in-between")
        transport.send(WSMsgType.CONTINUATION, b"b", fin=False)
        transport.send(WSMsgType.CONTINUATION, b"c", fin=True)
        assert await listener.get() == (WSMsgType.BINARY, False, True, b"a")
        # the PING was answered by the server's auto-pong
        assert await listener.get() == (WSMsgType.PONG, True, False, b"ping-in-between")
        assert await listener.get() == (WSMsgType.CONTINUATION, False, False, b"b")
        assert await listener.get() == (WSMsgType.CONTINUATION, True, False, b"c")
        await finish(transport)


# ---------------------------------------------------------------------------
# raw client vs picows server
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("msg_type", DATA_TYPES)
@pytest.mark.parametrize("size", SIZES)
async def test_raw_client_echo_through_picows_server(msg_type: WSMsgType, size: int) -> None:
    payload = payload_of(size, msg_type == WSMsgType.TEXT, seed=7)
    async with echo_server() as url:
        async with raw_ws_client(port_of(url)) as peer:
            await peer.send(msg_type, payload)
            f = await peer.read_data_frame()  # checks: server frames are not masked
            assert (f.opcode, f.fin, f.rsv1) == (msg_type, True, False)
            assert f.payload == payload


async def test_server_receives_pipelined_burst_from_raw_client() -> None:
    n = 1000
    burst = b"".join(client_frame(WSMsgType.TEXT, str(i).encode()) for i in range(n))
    async with picows_server(CollectingListener) as srv:
        async with raw_ws_client(srv.port) as peer:
            listener = await srv.next_listener()
            await peer.write(burst)
            for i in range(n):
                assert await listener.get() == (WSMsgType.TEXT, True, False, str(i).encode())


async def test_server_sends_burst_to_raw_client() -> None:
    n = 1000
    async with picows_server(CollectingListener) as srv:
        async with raw_ws_client(srv.port) as peer:
            listener = await srv.next_listener()
            for i in range(n):
                listener.transport.send(WSMsgType.BINARY, i.to_bytes(2, "big"))
            for i in range(n):
                f = await peer.read_data_frame()
                assert (f.opcode, f.fin, f.payload) == (WSMsgType.BINARY, True, i.to_bytes(2, "big"))


async def test_server_receives_request_pipelined_with_first_frames() -> None:
    """A client that sends frames right behind its upgrade request (same write) loses nothing."""
    async with picows_server(CollectingListener) as srv:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", srv.port), TIMEOUT)
        try:
            writer.write(
                b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                + client_frame(WSMsgType.TEXT, b"early-1")
                + client_frame(WSMsgType.BINARY, b"early-2")
            )
            head = await read_http_head(reader)
            assert head.startswith(b"HTTP/1.1 101")
            listener = await srv.next_listener()
            assert await listener.get() == (WSMsgType.TEXT, True, False, b"early-1")
            assert await listener.get() == (WSMsgType.BINARY, True, False, b"early-2")
        finally:
            writer.close()


async def test_many_connections_to_one_server_are_independent() -> None:
    async with echo_server() as url:
        conns = [await connect(CollectingListener, url) for _ in range(10)]
        for i, (transport, _listener) in enumerate(conns):
            transport.send(WSMsgType.BINARY, b"conn-%d" % i)
        for i, (_transport, listener) in enumerate(conns):
            assert (await listener.get())[3] == b"conn-%d" % i
        for transport, _ in conns:
            await finish(transport)
