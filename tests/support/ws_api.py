"""Servers of picows.websockets and of the websockets package on 127.0.0.1, for tests/websockets.

Imports picows.websockets (and websockets, a test dependency): only the
``tests/websockets`` group uses it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import websockets.asyncio.server as upstream_server

from picows.websockets.asyncio.server import serve
from support import TIMEOUT

__all__ = ["TIMEOUT", "echo", "our_server", "their_server", "url_of"]


async def echo(ws: Any) -> None:
    """The echo handler (either library's connection)."""
    async for message in ws:
        await ws.send(message)


def url_of(server: Any, scheme: str = "ws", path: str = "/") -> str:
    """The URL of a running server of either library (its first socket)."""
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
