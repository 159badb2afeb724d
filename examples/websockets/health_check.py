"""Health check: answer ``GET /healthz`` with 200 OK on the WebSocket port (for load balancers).

``process_request`` runs before the upgrade; returning a response ends the
request there, returning None goes on with the WebSocket handshake.
"""

from __future__ import annotations

import argparse
import asyncio
import http

from picows.websockets.asyncio.server import ServerConnection, serve
from picows.websockets.http11 import Request, Response


def health_check(connection: ServerConnection, request: Request) -> Response | None:
    if request.path == "/healthz":
        return connection.respond(http.HTTPStatus.OK, "OK\n")
    return None


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


def start(host: str, port: int) -> serve:
    return serve(echo, host, port, process_request=health_check)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    async def run() -> None:
        async with start("localhost", args.port) as server:
            await server.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
