"""Echo: every message a client sends comes back, until it closes.

Run ``python echo.py`` and connect with any WebSocket client to ws://localhost:8765/.
"""

from __future__ import annotations

import argparse
import asyncio

from picows.websockets.asyncio.server import ServerConnection, serve


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def run_server(host: str, port: int) -> None:
    async with serve(echo, host, port) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    asyncio.run(run_server("localhost", args.port))


if __name__ == "__main__":
    main()
