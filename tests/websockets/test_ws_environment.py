"""websockets' environment variables (WEBSOCKETS_*) configure picows.websockets the same way.

The values are read once, when the modules are imported, as websockets does: each case runs in a fresh
interpreter (same backend: PICOWS_PURE is inherited) with the variables set, and prints what it observed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

OBSERVE = textwrap.dedent(
    """
    import asyncio, json

    from picows.websockets.asyncio import _core
    from picows.websockets.asyncio import client as client_module
    from picows.websockets.asyncio.client import connect
    from picows.websockets.asyncio.server import serve

    async def main():
        seen = {}

        async def handler(ws):
            seen.setdefault("user_agent", ws.request.headers.get("User-Agent"))  # the first client: ours
            await ws.send("x")

        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            async with connect(f"ws://127.0.0.1:{port}/", proxy=None) as ws:
                await asyncio.wait_for(ws.recv(), 10)
                seen["server"] = ws.response.headers.get("Server")

            async def status_of(extra):
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(
                    b"GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n" + extra + b"\\r\\n"
                )
                line = await asyncio.wait_for(reader.readline(), 10)
                writer.close()
                return int(line.split()[1])

            seen["20_headers"] = await status_of(b"".join(b"X-%d: v\\r\\n" % i for i in range(15)))
            seen["line_of_5000_bytes"] = await status_of(b"X: " + b"a" * 4995 + b"\\r\\n")
        delays = client_module.backoff()
        seen["backoff"] = [next(delays) for _ in range(6)][1:]
        seen["first_delay_bound"] = client_module.BACKOFF_INITIAL_DELAY
        seen["max_fragments"] = _core.MAX_FRAGMENTS
        seen["max_redirects"] = _core.MAX_REDIRECTS
        seen["backend"] = _core.BACKEND
        print(json.dumps(seen))

    asyncio.run(main())
    """
)

SETTINGS = {
    "WEBSOCKETS_USER_AGENT": "my-agent/2.0",
    "WEBSOCKETS_SERVER": "my-server/3.0",
    "WEBSOCKETS_BACKOFF_INITIAL_DELAY": "0.5",
    "WEBSOCKETS_BACKOFF_MIN_DELAY": "1",
    "WEBSOCKETS_BACKOFF_MAX_DELAY": "5",
    "WEBSOCKETS_BACKOFF_FACTOR": "2",
    "WEBSOCKETS_MAX_FRAGMENTS": "17",
    "WEBSOCKETS_MAX_REDIRECTS": "3",
    "WEBSOCKETS_MAX_NUM_HEADERS": "17",
    "WEBSOCKETS_MAX_LINE_LENGTH": "4096",
}


def observe(env: dict[str, str]) -> dict:
    from picows.websockets.asyncio import _core

    result = subprocess.run([sys.executable, "-c", OBSERVE], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen.pop("backend") == _core.BACKEND  # the child ran the backend this test run is about
    return seen


def test_environment_variables_are_honoured() -> None:
    seen = observe({**os.environ, **SETTINGS})
    assert seen == {
        "user_agent": "my-agent/2.0",
        "server": "my-server/3.0",
        "backoff": [1.0, 2.0, 4.0, 5.0, 5.0],
        "first_delay_bound": 0.5,
        "max_fragments": 17,
        "max_redirects": 3,
        "20_headers": 431,
        "line_of_5000_bytes": 431,
    }


def test_defaults_without_the_variables() -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("WEBSOCKETS_")}
    seen = observe(env)
    assert seen["user_agent"] == seen["server"]
    assert seen["user_agent"].startswith(f"Python/{sys.version_info[0]}.{sys.version_info[1]} picows/")
    assert seen["backoff"] == pytest.approx([3.1 * 1.618**n for n in range(5)])
    assert (seen["first_delay_bound"], seen["max_fragments"], seen["max_redirects"]) == (5.0, 4096, 10)
    assert (seen["20_headers"], seen["line_of_5000_bytes"]) == (101, 101)
