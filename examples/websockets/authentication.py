"""Authentication: HTTP Basic credentials checked during the opening handshake.

``basic_auth`` answers 401 to a client without valid credentials; the handler
sees the authenticated user as ``websocket.username``. A client passes the
credentials in the URI: ``ws://alice:secret@localhost:8765/``.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac

from picows.websockets.asyncio.client import connect
from picows.websockets.asyncio.server import ServerConnection, basic_auth, serve

USERS = {"alice": "secret"}


async def check_credentials(username: str, password: str) -> bool:
    # A real server would look the user up (asynchronously) in a database.
    expected = USERS.get(username)
    return expected is not None and hmac.compare_digest(expected, password)


async def greet(websocket: ServerConnection) -> None:
    await websocket.send(f"Hello {websocket.username}!")


def start(host: str, port: int) -> serve:
    auth = basic_auth(realm="example", check_credentials=check_credentials)
    return serve(greet, host, port, process_request=auth)


async def login(uri: str) -> str:
    async with connect(uri) as websocket:
        return str(await websocket.recv())


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
