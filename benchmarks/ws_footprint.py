"""Per-connection footprint of picows.websockets next to picows' core and websockets.

* memory: Python heap per idle client connection (tracemalloc; the server runs
  in another process so only the client side is counted);
Both on uvloop when it is installed.

* ``--instructions``: client CPU instructions per 256 B echo round trip,
  counted by valgrind's callgrind (deterministic, unaffected by machine load:
  the difference between two run lengths, so start-up cancels out).

    python benchmarks/ws_footprint.py
    python benchmarks/ws_footprint.py --instructions   # needs valgrind, ~2 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import subprocess
import sys
import tempfile
import tracemalloc
from typing import Any

CLIENTS = ("core", "picows.websockets", "websockets")
PAYLOAD = os.urandom(256)

SERVER = r"""
import asyncio, sys
import picows

class Echo(picows.WSListener):
    def on_ws_frame(self, transport, frame):
        if frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        transport.send(frame.msg_type, frame.get_payload_as_bytes())

async def main():
    server = await picows.ws_create_server(lambda request: Echo(), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def open_client(kind: str, url: str) -> object:
    if kind == "core":
        import picows

        return (await picows.ws_connect(picows.WSListener, url))[0]
    if kind == "picows.websockets":
        from picows.websockets.asyncio.client import connect

        return await connect(url, proxy=None)
    from websockets.asyncio.client import connect as upstream_connect

    return await upstream_connect(url, proxy=None, compression=None)


async def memory_per_connection(kind: str, url: str, count: int) -> float:
    clients = [await open_client(kind, url)]  # imports and caches warmed up
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(count):
        clients.append(await open_client(kind, url))
    await asyncio.sleep(0.2)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return used / count


async def echo_loop(kind: str, url: str, rounds: int) -> None:
    if kind == "core":
        import picows

        done = asyncio.get_running_loop().create_future()

        class Client(picows.WSListener):
            count = 0

            def on_ws_connected(self, transport):  # type: ignore[no-untyped-def]
                transport.send(picows.WSMsgType.BINARY, PAYLOAD)

            def on_ws_frame(self, transport, frame):  # type: ignore[no-untyped-def]
                self.count += 1
                if self.count >= rounds:
                    done.set_result(None)
                else:
                    transport.send(picows.WSMsgType.BINARY, PAYLOAD)

        transport, _ = await picows.ws_connect(Client, url)
        await done
        transport.disconnect()
        return
    ws = await open_client(kind, url)
    for _ in range(rounds):
        await ws.send(PAYLOAD)  # type: ignore[attr-defined]
        await ws.recv()  # type: ignore[attr-defined]
    await ws.close()  # type: ignore[attr-defined]


def instructions(kind: str, url: str) -> float:
    def run(rounds: int) -> int:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", sys.executable, __file__,
                 "--echo", kind, "--url", url, "--rounds", str(rounds)],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
        match = re.search(r"Collected : (\d+)", proc.stderr)
        if match is None:
            raise SystemExit(f"callgrind failed: {proc.stderr[-500:]}")
        return int(match.group(1))

    return (run(6000) - run(2000)) / 4000


def run(coroutine: Any) -> Any:
    """On uvloop when installed (as echo_rps.py's default), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument("--echo", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo:
        run(echo_loop(args.echo, args.url, args.rounds))
        return
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        url = f"ws://127.0.0.1:{int(server.stdout.readline())}/"  # type: ignore[union-attr]
        import picows

        print(f"picows backend: {picows.BACKEND}; Python {sys.version.split()[0]}")
        for kind in CLIENTS:
            line = f"{kind:18} {run(memory_per_connection(kind, url, args.connections)) / 1024:6.1f} KiB/idle conn"
            if args.instructions:
                line += f"  {instructions(kind, url):8.0f} client instructions per 256 B round trip"
            print(line, flush=True)
    finally:
        server.kill()


if __name__ == "__main__":
    main()
