"""Broadcast: every message a client sends goes to all connected clients.

``broadcast()`` writes to each open connection without waiting; a client whose
write buffer is full is skipped instead of slowing down the others.
"""

from __future__ import annotations

import argparse
import asyncio

from picows.websockets.asyncio.server import Server, ServerConnection, broadcast, serve


def make_handler(clients: set[ServerConnection]):  # type: ignore[no-untyped-def]
    async def relay(websocket: ServerConnection) -> None:
        clients.add(websocket)
        try:
            async for message in websocket:
                broadcast(clients, message)
        finally:
            clients.discard(websocket)

    return relay


async def start(host: str, port: int) -> Server:
    return await serve(make_handler(set()), host, port)


async def run_server(host: str, port: int) -> None:
    server = await start(host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    asyncio.run(run_server("localhost", args.port))


if __name__ == "__main__":
    main()
