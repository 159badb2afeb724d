"""Reconnecting client: ``async for websocket in connect(...)`` reconnects after failures.

Transient errors (refused connection, timeouts, 5xx answers) wait with an
exponential backoff and try again; a ConnectionClosed inside the loop body is
handled the same way by ``continue``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Generator

from picows.websockets.asyncio.client import connect
from picows.websockets.exceptions import ConnectionClosed


async def consume(
    uri: str, wanted: int, reconnect_delays: Callable[[], Generator[float]] | None = None
) -> list[str]:
    """Collect ``wanted`` messages, reconnecting as often as needed."""
    received: list[str] = []
    retry = connect(uri) if reconnect_delays is None else connect(uri, reconnect_delays=reconnect_delays)
    async for websocket in retry:
        try:
            async for message in websocket:
                received.append(str(message))
                if len(received) >= wanted:
                    return received
        except ConnectionClosed:
            continue
    return received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default="ws://localhost:8765/")
    parser.add_argument("--count", type=int, default=10)
    args = parser.parse_args()
    for message in asyncio.run(consume(args.uri, args.count)):
        print(message)


if __name__ == "__main__":
    main()
