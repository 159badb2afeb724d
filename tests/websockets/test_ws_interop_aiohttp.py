"""picows.websockets against aiohttp's WebSocket client and server, both ways."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import aiohttp.web
import pytest

from picows.websockets.asyncio.client import connect
from support.ws_api import TIMEOUT, our_server


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_aiohttp_client_to_our_server(scheme: str, tls_certs: Any) -> None:
    from support.tls import client_ssl_context, server_ssl_context

    server_tls = {"ssl": server_ssl_context(tls_certs)} if scheme == "wss" else {}
    client_tls = {"ssl": client_ssl_context(tls_certs)} if scheme == "wss" else {}
    async with our_server(scheme=scheme, **server_tls) as url, aiohttp.ClientSession() as session:
        async with session.ws_connect(url, compress=15, **client_tls) as ws:  # aiohttp offers permessage-deflate
            assert ws._response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            await ws.send_str("text")
            assert (await asyncio.wait_for(ws.receive(), TIMEOUT)).data == "text"
            await ws.send_bytes(b"\x00" * 70000)
            assert (await asyncio.wait_for(ws.receive(), TIMEOUT)).data == b"\x00" * 70000


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_our_client_to_aiohttp_server(scheme: str, tls_certs: Any) -> None:
    from support.tls import client_ssl_context, server_ssl_context

    async def handler(request: Any) -> Any:
        ws = aiohttp.web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        return ws

    app = aiohttp.web.Application()
    app.router.add_get("/", handler)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(
        runner, "127.0.0.1", 0, ssl_context=server_ssl_context(tls_certs) if scheme == "wss" else None
    )
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    tls = {"ssl": client_ssl_context(tls_certs)} if scheme == "wss" else {}
    try:
        async with connect(f"{scheme}://127.0.0.1:{port}/", proxy=None, **tls) as ws:
            await ws.send("hello aiohttp")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hello aiohttp"
            await ws.send(["frag", "mented"])
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "fragmented"
            big = "compressible " * 10000
            await ws.send(big)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == big
            assert ws._transport.permessage_deflate is not None  # aiohttp's server accepted our offer
    finally:
        await runner.cleanup()
