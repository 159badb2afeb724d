"""Hello: a server that greets by name and a client that asks (websockets' first example, on picows).

Run ``python hello.py server`` in one terminal and ``python hello.py client`` in another.
"""

from __future__ import annotations

import argparse
import asyncio

from picows.websockets.asyncio.client import connect
from picows.websockets.asyncio.server import ServerConnection, serve


async def hello(websocket: ServerConnection) -> None:
    name = await websocket.recv()
    await websocket.send(f"Hello {name}!")


async def ask(uri: str, name: str) -> str:
    async with connect(uri) as websocket:
        await websocket.send(name)
        return str(await websocket.recv())


async def run_server(host: str, port: int) -> None:
    async with serve(hello, host, port) as server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--name", default="world")
    args = parser.parse_args()
    if args.role == "server":
        asyncio.run(run_server("localhost", args.port))
    else:
        print(asyncio.run(ask(f"ws://localhost:{args.port}/", args.name)))


if __name__ == "__main__":
    main()
