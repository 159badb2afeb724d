"""picows.broadcast(): one frame for many server connections; deflate sharing; the slow and mid-message policy."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

import picows
from picows import WSMsgType, broadcast
from support.frames import read_frame
from support.listeners import CollectingListener
from support.raw_ws import RawPeer, raw_ws_client
from support.servers import connect, finish, picows_server

MESSAGE = b'{"event": "tick", "symbol": "ETH-USD", "bid": 2301.25, "ask": 2301.5}, ' * 30


@contextlib.asynccontextmanager
async def raw_clients(offers: list[bytes], **server_kwargs: Any) -> AsyncIterator[tuple[list[RawPeer], list[Any]]]:
    """Raw clients with the given Sec-WebSocket-Extensions offers (b"" for none); yields them and the server transports."""
    async with picows_server(**server_kwargs) as srv, contextlib.AsyncExitStack() as stack:
        peers, transports = [], []
        for offer in offers:
            headers = b"Sec-WebSocket-Extensions: " + offer + b"\r\n" if offer else b""
            peers.append(await stack.enter_async_context(raw_ws_client(srv.port, headers=headers)))
            transports.append((await srv.next_listener()).transport)
        yield peers, transports


async def test_one_frame_reaches_every_connection() -> None:
    async with raw_clients([b""] * 5) as (peers, transports):
        result = broadcast(transports, WSMsgType.TEXT, "hello \u2713")
        assert result == (5, [])
        assert isinstance(result, picows.BroadcastResult)
        for peer in peers:
            f = await read_frame(peer.reader)
            assert (f.opcode, f.fin, f.rsv1, f.masked, f.payload) == (0x1, True, False, False, "hello \u2713".encode())
        # A ping to everyone, from any iterable.
        assert broadcast(iter(transports), WSMsgType.PING, b"are you there").sent == 5
        for peer in peers:
            f = await read_frame(peer.reader)
            assert (f.opcode, f.payload) == (0x9, b"are you there")


async def test_deflate_is_shared_only_without_context_takeover() -> None:
    offers = [
        b"permessage-deflate; server_no_context_takeover",
        b"permessage-deflate; server_no_context_takeover",
        b"permessage-deflate",  # our side keeps its context: its own compressor
        b"",  # no extension: the plain frame
    ]
    async with raw_clients(offers, permessage_deflate=True) as (peers, transports):
        takeover = zlib.decompressobj(-15)
        for round_ in range(2):
            message = MESSAGE + str(round_).encode()
            assert broadcast(transports, WSMsgType.BINARY, message) == (4, [])
            frames = [await read_frame(peer.reader) for peer in peers]
            assert [f.rsv1 for f in frames] == [True, True, True, False]
            assert frames[0].payload == frames[1].payload  # one compressed frame for both
            fresh = zlib.decompressobj(-15).decompress(frames[0].payload + b"\x00\x00\xff\xff")
            assert fresh == message
            assert takeover.decompress(frames[2].payload + b"\x00\x00\xff\xff") == message
            assert frames[3].payload == message
        # compress=False: the plain frame for all; small messages stay plain by the threshold.
        assert broadcast(transports, WSMsgType.BINARY, MESSAGE, compress=False).sent == 4
        assert broadcast(transports, WSMsgType.TEXT, b"hi").sent == 4
        for peer in peers:
            assert [(await read_frame(peer.reader)).rsv1 for _ in range(2)] == [False, False]


async def test_connections_mid_message_and_slow_ones_are_skipped() -> None:
    async with raw_clients([b""] * 3) as (peers, transports):
        busy, slow, ok = transports
        busy.send(WSMsgType.BINARY, b"part 1", fin=False)
        assert (await read_frame(peers[0].reader)).payload == b"part 1"
        # Fill the slow one's write buffer (its peer does not read) until asyncio pauses writing.
        for _ in range(1000):
            if slow._write_paused:
                break
            slow.send(WSMsgType.BINARY, bytes(256 * 1024))
        assert slow._write_paused
        result = broadcast(transports, WSMsgType.TEXT, b"news")
        assert result.sent == 1 and result.skipped == [busy, slow]
        assert (await read_frame(peers[2].reader)).payload == b"news"
        # skip_slow=False writes to it anyway; the finished message lets the busy one in again.
        busy.send(WSMsgType.CONTINUATION, b"part 2", fin=True)
        result = broadcast(transports, WSMsgType.TEXT, b"more", skip_slow=False)
        assert result == (3, [])
        assert [(await read_frame(peers[0].reader)).payload for _ in range(2)] == [b"part 2", b"more"]


async def test_closed_connections_are_left_out() -> None:
    async with raw_clients([b""] * 2) as (peers, transports):
        transports[0].send_close(1000)
        assert broadcast(transports, WSMsgType.TEXT, b"x") == (1, [])
        transports[1].disconnect()
        await transports[1].wait_disconnected()
        assert broadcast(transports, WSMsgType.TEXT, b"x") == (0, [])


async def test_client_connections_get_their_own_masked_frames() -> None:
    async with picows_server(permessage_deflate=True) as srv:
        clients = []
        for offer in (None, True):
            transport, _ = await connect(CollectingListener, srv.url, permessage_deflate=offer)
            clients.append((transport, await srv.next_listener()))
        assert broadcast([t for t, _ in clients], WSMsgType.BINARY, MESSAGE).sent == 2
        for transport, server_side in clients:
            assert await server_side.get() == (WSMsgType.BINARY, True, False, MESSAGE)
            await finish(transport)


@pytest.mark.parametrize(
    ("msg_type", "message", "error"),
    [
        (WSMsgType.CLOSE, b"", ValueError),
        (WSMsgType.CONTINUATION, b"", ValueError),
        (WSMsgType.PING, bytes(126), ValueError),
        (99, b"", ValueError),
        (WSMsgType.TEXT, 12, TypeError),
    ],
)
def test_arguments_are_checked(msg_type: Any, message: Any, error: type) -> None:
    with pytest.raises(error):
        broadcast([], msg_type, message)
