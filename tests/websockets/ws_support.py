"""Helpers for the picows.websockets tests: servers of both libraries on 127.0.0.1."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import websockets.asyncio.server as upstream_server

from picows.websockets.asyncio.server import serve

TIMEOUT = 10.0


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


def url_of(server: Any, scheme: str = "ws", path: str = "/") -> str:
    port = next(iter(server.sockets)).getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}{path}"


@contextlib.asynccontextmanager
async def our_server(handler: Any = echo, scheme: str = "ws", **kwargs: Any) -> AsyncIterator[str]:
    """Run a picows.websockets server; yield its URL."""
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield url_of(server, scheme)


@contextlib.asynccontextmanager
async def their_server(handler: Any = echo, scheme: str = "ws", **kwargs: Any) -> AsyncIterator[str]:
    """Run a websockets server; yield its URL."""
    async with upstream_server.serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield url_of(server, scheme)
