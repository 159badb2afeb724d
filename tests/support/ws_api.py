"""Servers of picows.websockets and of the websockets package on 127.0.0.1, for tests/websockets.

Imports picows.websockets (and websockets, a test dependency): only the
``tests/websockets`` group uses it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from typing import Any

import websockets.asyncio.server as upstream_server
import websockets.exceptions
import websockets.version

from picows.websockets.asyncio.server import serve
from support import TIMEOUT

__all__ = [
    "TIMEOUT",
    "UPSTREAM_ANSWERS_405_505",
    "UPSTREAM_MAJOR",
    "echo",
    "our_server",
    "run_without_websockets",
    "their_server",
    "url_of",
]

#: Whether the installed websockets passes other methods and HTTP/1.0 to process_request and answers
#: 405 / 505 (websockets 16+, which picows.websockets follows). websockets 15, the last release for
#: Python 3.9 (our PyPy), closes those connections without an answer: there is nothing to compare.
UPSTREAM_ANSWERS_405_505 = hasattr(websockets.exceptions, "InvalidMethod")

#: The installed websockets' major version. picows.websockets follows 17; tests that compare a behaviour
#: an older release did not have yet (PyPy's Python 3.9 gets websockets 15) check ours alone there.
UPSTREAM_MAJOR = int(websockets.version.version.split(".")[0])


# Makes every import of websockets fail in the interpreter it starts (as if it were not installed).
_HIDE_WEBSOCKETS = """\
import sys
class _HideWebsockets:
    def find_spec(self, name, path=None, target=None):
        if name == "websockets" or name.startswith("websockets."):
            raise ImportError("hidden for the test")
sys.meta_path.insert(0, _HideWebsockets())
"""


def run_without_websockets(code: str, **env: str) -> str:
    """Run ``code`` in a fresh interpreter (this one, same backend) where websockets cannot be imported.

    Returns its stdout; fails the test with its stderr when it exits with an error.
    """
    result = subprocess.run(
        [sys.executable, "-c", _HIDE_WEBSOCKETS + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


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
