"""permessage-deflate with other implementations, both roles: websockets, aiohttp (compress=15), Node's ws.

(Headless Chromium, which offers permessage-deflate on every connection, is in
``test_browser.py``.) Each exchange uses compressible JSON-like messages of
several sizes, whole and fragmented, and checks the agreed header on both ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from websockets.asyncio.client import connect as wsx_connect
from websockets.asyncio.server import serve as wsx_serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)

from picows import PerMessageDeflate, WSMsgType
from support import TIMEOUT
from support.listeners import CollectingListener, EchoListener
from support.node import PEER_TIMEOUT, node_command, node_process, read_json_line
from support.servers import connect, finish, ws_server

SIZES = [0, 10, 256, 8192, 102400]


def compressible(size: int) -> bytes:
    parts, total, i = [], 0, 0
    while total < size:
        part = b'{"id": %d, "price": %d.5, "side": "%s"}, ' % (i, i * 7 % 1000, b"buy" if i % 2 else b"sell")
        parts.append(part)
        total += len(part)
        i += 1
    return b"".join(parts)[:size]


CLIENT_OPTIONS = {
    "default": PerMessageDeflate(),
    "strict": PerMessageDeflate(
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=10,
        client_max_window_bits=9,
        compress_threshold=0,
    ),
}


async def picows_client_exchange(url: str, options: PerMessageDeflate) -> Any:
    """picows client against an echo server: whole and fragmented messages; returns the transport's agreement."""
    transport, listener = await connect(CollectingListener, url, permessage_deflate=options)
    agreement = transport.permessage_deflate
    assert agreement is not None, transport.response.headers

    async def whole_echo() -> tuple[WSMsgType, bytes]:
        first = await listener.get()
        data, msg_type = first[3], first[0]
        fin = first[1]
        while not fin:
            _, fin, _, more = await listener.get()
            data += more
        return msg_type, data

    for size in SIZES:
        for msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            message = compressible(size)
            transport.send(msg_type, message)
            assert await whole_echo() == (msg_type, message), (msg_type, size)
    big = compressible(300_000)
    transport.send(WSMsgType.TEXT, big[:1000], fin=False, compress=True)
    transport.send(WSMsgType.CONTINUATION, big[1000:200_000], fin=False)
    transport.send(WSMsgType.CONTINUATION, big[200_000:], fin=True)
    assert await whole_echo() == (WSMsgType.TEXT, big)
    await finish(transport)
    return agreement


# ---------------------------------------------------------------- websockets


async def _wsx_echo(ws: Any) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            await ws.send(message)


@pytest.mark.parametrize("options", list(CLIENT_OPTIONS))
async def test_picows_client_with_websockets_server(options: str) -> None:
    async with wsx_serve(_wsx_echo, "127.0.0.1", 0, max_size=None, compression="deflate") as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        agreement = await picows_client_exchange(url, CLIENT_OPTIONS[options])
    if options == "strict":
        assert (agreement.server_max_window_bits, agreement.client_max_window_bits) == (10, 9)
        assert agreement.server_no_context_takeover and agreement.client_no_context_takeover
    else:
        # websockets' server answers the bare client_max_window_bits offer with its default window.
        assert agreement.header.startswith("permessage-deflate")


WSX_CLIENT_EXTENSIONS = {
    "default": None,  # compression="deflate": websockets' own offer
    "strict": [
        ClientPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=10,
            client_max_window_bits=9,
        )
    ],
}
SERVER_OPTIONS = {
    "default": True,
    "lean": PerMessageDeflate(server_no_context_takeover=True, server_max_window_bits=11, mem_level=5),
}


@pytest.mark.parametrize("server_options", list(SERVER_OPTIONS))
@pytest.mark.parametrize("client", list(WSX_CLIENT_EXTENSIONS))
async def test_websockets_client_with_picows_server(client: str, server_options: str) -> None:
    extensions = WSX_CLIENT_EXTENSIONS[client]
    kwargs: dict[str, Any] = (
        {"compression": "deflate"} if extensions is None else {"compression": None, "extensions": extensions}
    )
    async with ws_server(lambda r: EchoListener(), permessage_deflate=SERVER_OPTIONS[server_options]) as url:
        async with wsx_connect(url, max_size=None, open_timeout=TIMEOUT, **kwargs) as ws:
            answer = ws.response.headers["Sec-WebSocket-Extensions"]
            assert answer.startswith("permessage-deflate")
            if server_options == "lean":
                assert "server_no_context_takeover" in answer and "server_max_window_bits" in answer
            for size in SIZES:
                text = compressible(size).decode()
                await ws.send(text)
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == text
                await ws.send(text.encode())
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == text.encode()
            # websockets sends an iterable as one fragmented (compressed) message; picows echoes the frames.
            chunks = [compressible(5000).decode(), "middle", compressible(70000).decode()]
            await ws.send(chunks)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "".join(chunks)


async def test_websockets_client_with_unsupported_offer_falls_back() -> None:
    # An 8-bit server window is declined; the next offer in the header is accepted.
    extensions = [
        ClientPerMessageDeflateFactory(server_max_window_bits=8),
        ClientPerMessageDeflateFactory(server_max_window_bits=12),
    ]
    async with ws_server(lambda r: EchoListener(), permessage_deflate=True) as url:
        async with wsx_connect(url, compression=None, extensions=extensions, open_timeout=TIMEOUT) as ws:
            answer = ws.response.headers["Sec-WebSocket-Extensions"]
            assert answer == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
            await ws.send(compressible(4000))
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == compressible(4000)


async def test_picows_client_with_websockets_server_that_limits_windows() -> None:
    factory = ServerPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True, server_max_window_bits=9,
        client_max_window_bits=10,
    )  # fmt: skip
    async with wsx_serve(_wsx_echo, "127.0.0.1", 0, max_size=None, compression=None, extensions=[factory]) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        agreement = await picows_client_exchange(url, PerMessageDeflate())
    assert (agreement.server_max_window_bits, agreement.client_max_window_bits) == (9, 10)
    assert agreement.server_no_context_takeover and agreement.client_no_context_takeover


# ---------------------------------------------------------------- aiohttp


async def _aiohttp_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=15, max_msg_size=0)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


@contextlib.asynccontextmanager
async def aiohttp_deflate_server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/", _aiohttp_echo)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await asyncio.wait_for(runner.cleanup(), TIMEOUT)


@pytest.mark.parametrize("options", list(CLIENT_OPTIONS))
async def test_picows_client_with_aiohttp_server(options: str) -> None:
    async with aiohttp_deflate_server() as url:
        agreement = await picows_client_exchange(url, CLIENT_OPTIONS[options])
    assert agreement.header.startswith("permessage-deflate")


@pytest.mark.parametrize("server_options", list(SERVER_OPTIONS))
async def test_aiohttp_client_with_picows_server(server_options: str) -> None:
    async with ws_server(lambda r: EchoListener(), permessage_deflate=SERVER_OPTIONS[server_options]) as url:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, compress=15, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(
                ws_receive=TIMEOUT)) as ws:
                assert ws.compress  # 0 when the server did not accept the offer
                for size in SIZES:
                    text = compressible(size).decode()
                    await ws.send_str(text)
                    assert (await ws.receive(TIMEOUT)).data == text
                    await ws.send_bytes(text.encode())
                    assert (await ws.receive(TIMEOUT)).data == text.encode()


# ---------------------------------------------------------------- Node's ws


@pytest.fixture(scope="session")
def deflate_peer() -> list[str]:
    """The command that runs deflate_peer.js (``ws`` with perMessageDeflate)."""
    return node_command("deflate_peer.js")


async def test_node_client_with_picows_server(deflate_peer: list[str]) -> None:
    async with ws_server(lambda r: EchoListener(), permessage_deflate=True, max_frame_size=64 * 1024 * 1024) as url:
        async with node_process([*deflate_peer, "client", url]) as proc:
            result = await read_json_line(proc)
            assert result["ok"], result
            assert result["extensions"].startswith("permessage-deflate"), result
            assert len(result["steps"]) == 13
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0


@pytest.mark.parametrize("options", list(CLIENT_OPTIONS))
async def test_picows_client_with_node_server(deflate_peer: list[str], options: str) -> None:
    async with node_process([*deflate_peer, "server"]) as proc:
        port = (await read_json_line(proc))["port"]
        agreement = await picows_client_exchange(f"ws://127.0.0.1:{port}/", CLIENT_OPTIONS[options])
        result = await asyncio.wait_for(read_json_line(proc), PEER_TIMEOUT)
        assert result["ok"], result
        assert result["messages"] == 2 * len(SIZES) + 1
        assert result["offer"].startswith("permessage-deflate")
        assert agreement.header == result["answer"] or result["answer"].startswith("permessage-deflate")
