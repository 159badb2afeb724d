"""The receive path: which one is used, and that every one of them behaves the same.

On the stdlib event loop with a plain TCP connection the compiled backend
reads with its own ``recv()`` once the connection is open (``_fast_read``),
replacing asyncio's Python read callback; on uvloop, over TLS and on the pure
backend asyncio's (or uvloop's) buffered-protocol path is used. The behaviour
tests here (flow control, end of stream, reset, reads split at every frame
boundary) run on every backend and loop, so each path is held to the same
outcomes.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest

import picows
from picows import WSListener, WSMsgType, WSTransport
from support import TIMEOUT
from support.frames import encode_frame
from support.internals import uses_fast_read
from support.listeners import CollectingListener
from support.net import tcp_server
from support.raw_ws import raw_server_handshake
from support.servers import ws_server
from support.tls import client_ssl_context, server_ssl_context


class ServerSide(WSListener):
    """Remembers the server-side transport; sends whatever the test asks for."""

    instances: list[ServerSide]

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.connected = asyncio.Event()
        ServerSide.instances.append(self)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connected.set()


@pytest.mark.parametrize("use_tls", [False, True], ids=["tcp", "tls"])
async def test_fast_read_is_used_exactly_where_it_applies(
    loop_impl: str, use_tls: bool, tls_certs: Any, tls_path: str
) -> None:
    if picows.BACKEND != "cython":
        pytest.skip("the pure backend always reads through the event loop's transport")
    ServerSide.instances = []
    server_kwargs: dict[str, Any] = {"ssl": server_ssl_context(tls_certs)} if use_tls else {}
    client_kwargs: dict[str, Any] = {"ssl_context": client_ssl_context(tls_certs)} if use_tls else {}
    async with ws_server(lambda request: ServerSide(), **server_kwargs) as url:
        transport, client = await picows.ws_connect(CollectingListener, url, **client_kwargs)
        try:
            await asyncio.wait_for(ServerSide.instances[0].connected.wait(), TIMEOUT)
            server_transport = ServerSide.instances[0].transport
            assert server_transport is not None
            # on the aiofastnet path every connection, plain ones too, runs on aiofastnet's transports
            expected = loop_impl == "asyncio" and not use_tls and tls_path == "stock"
            assert uses_fast_read(transport) is expected
            assert uses_fast_read(server_transport) is expected
            # Whatever the path, data flows both ways.
            server_transport.send(WSMsgType.BINARY, b"ping from server")
            assert await client.get() == (WSMsgType.BINARY, True, False, b"ping from server")
        finally:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_pause_and_resume_reading_hold_and_then_deliver_everything() -> None:
    ServerSide.instances = []
    async with ws_server(lambda request: ServerSide()) as url:
        transport, client = await picows.ws_connect(CollectingListener, url)
        try:
            await asyncio.wait_for(ServerSide.instances[0].connected.wait(), TIMEOUT)
            server_transport = ServerSide.instances[0].transport
            assert server_transport is not None
            for cycle in range(3):  # pause/resume more than once: the reader is re-registered each time
                transport.underlying_transport.pause_reading()
                for i in range(5):
                    server_transport.send(WSMsgType.BINARY, f"{cycle}:{i}".encode())
                await asyncio.sleep(0.1)
                assert client.frames.empty(), "frames were delivered while reading was paused"
                transport.underlying_transport.resume_reading()
                got = [(await client.get())[3] for _ in range(5)]
                assert got == [f"{cycle}:{i}".encode() for i in range(5)]
        finally:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


@pytest.mark.parametrize("ending", ["eof", "reset"])
async def test_peer_ending_the_stream_after_data(ending: str) -> None:
    """Data that arrived before the end is delivered; then the connection ends cleanly, nothing escapes."""

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer, encode_frame(WSMsgType.TEXT, b"last words"))
        if ending == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    async with tcp_server(peer) as port:
        url = f"ws://127.0.0.1:{port}/"
        transport, client = await picows.ws_connect(CollectingListener, url)
        assert await client.get() == (WSMsgType.TEXT, True, False, b"last words")
        await asyncio.wait_for(client.disconnected.wait(), TIMEOUT)
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        assert transport.underlying_transport.is_closing()


@pytest.mark.parametrize("sizes", [[0] * 50, [1, 125, 126, 65535, 65536, 300_000, 7], [1_000_000]],
                         ids=["many-empty", "mixed", "one-large"])
async def test_frames_split_across_reads_arrive_whole_and_in_order(sizes: list[int]) -> None:
    """A raw peer writes one byte stream; reads cut it anywhere (frames over MAX_READ_SIZE need several)."""
    payloads = [bytes([i % 251]) * n for i, n in enumerate(sizes)]

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = b"".join(encode_frame(WSMsgType.BINARY, p) for p in payloads)
        await raw_server_handshake(reader, writer)
        for i in range(0, len(stream), 7919):  # odd-sized writes: boundaries fall inside headers too
            writer.write(stream[i : i + 7919])
        await writer.drain()
        await reader.read()  # until the client closes

    async with tcp_server(peer) as port:
        url = f"ws://127.0.0.1:{port}/"
        transport, client = await picows.ws_connect(CollectingListener, url)
        try:
            for expected in payloads:
                assert (await client.get())[3] == expected
        finally:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
