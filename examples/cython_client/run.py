"""Run the Cython echo client (build it first with ``build.py``) against an echo server.

::

    python examples/echo_server.py --port 9001 &
    python examples/cython_client/run.py ws://127.0.0.1:9001/ --count 10000 --size 256
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # where build.py put the extension

import picows  # noqa: E402


async def run(url: str, count: int, size: int) -> tuple[int, int, float]:
    """Return (echoes received, mismatching echoes, seconds)."""
    from echo_client import EchoClient  # the compiled extension

    start = time.perf_counter()
    transport, client = await picows.ws_connect(lambda: EchoClient(size, count), url)
    await transport.wait_disconnected()
    return client.received, client.mismatches, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9001/", help="default: %(default)s")
    parser.add_argument("--count", type=int, default=10000, help="messages (default: %(default)s)")
    parser.add_argument("--size", type=int, default=256, help="bytes per message (default: %(default)s)")
    args = parser.parse_args(argv)
    if picows.BACKEND != "cython":
        sys.exit("a Cython listener needs picows' compiled backend (unset PICOWS_PURE)")
    received, mismatches, seconds = asyncio.run(run(args.url, args.count, args.size))
    print(f"{received} echoes of {args.size} bytes, {mismatches} mismatches, {received / seconds:.0f}/s")


if __name__ == "__main__":
    main()
