"""picows.websockets against aiohttp's WebSocket client and server, both ways."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import aiohttp.web
from ws_support import TIMEOUT, our_server

from picows.websockets.asyncio.client import connect


async def test_aiohttp_client_to_our_server() -> None:
    async with our_server() as url, aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            await ws.send_str("text")
            assert (await asyncio.wait_for(ws.receive(), TIMEOUT)).data == "text"
            await ws.send_bytes(b"\x00" * 70000)
            assert (await asyncio.wait_for(ws.receive(), TIMEOUT)).data == b"\x00" * 70000


async def test_our_client_to_aiohttp_server() -> None:
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
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with connect(f"ws://127.0.0.1:{port}/", proxy=None) as ws:
            await ws.send("hello aiohttp")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hello aiohttp"
            await ws.send(["frag", "mented"])
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "fragmented"
    finally:
        await runner.cleanup()
