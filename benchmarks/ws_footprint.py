#!/usr/bin/env python3
"""Per-connection footprint of picows.websockets next to picows' core and websockets.

* memory: Python heap per idle client connection (tracemalloc; the echo
  server runs in another process, so only the client side is counted);
* ``--instructions``: client CPU instructions per 256 B echo round trip,
  counted by valgrind's callgrind (deterministic, unaffected by machine load:
  the difference between two run lengths, so start-up cancels out).

Clients on uvloop when it is installed (as echo_rps.py's default; ``--loop`` picks one), else
asyncio; no compression (``compression=None`` given explicitly, whatever the
package's default). Like echo_rps.py, picows is imported from this checkout's
``src/`` (build the compiled backend there with ``python setup.py build_ext
--inplace``) unless ``--ours-src installed``; ``--backend`` picks ours.

    python benchmarks/ws_footprint.py
    python benchmarks/ws_footprint.py --backend pure
    python benchmarks/ws_footprint.py --instructions   # needs valgrind, ~2 minutes per client
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import select
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

from harness import REPO
from harness.core_client import echo_rounds
from harness.impls import BUILD_HINT, ours_root

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

        return await connect(url, proxy=None, compression=None)
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
        await echo_rounds(url, PAYLOAD, rounds)
        return
    ws = await open_client(kind, url)
    for _ in range(rounds):
        await ws.send(PAYLOAD)  # type: ignore[attr-defined]
        await ws.recv()  # type: ignore[attr-defined]
    await ws.close()  # type: ignore[attr-defined]


def instructions(kind: str, url: str, rounds: int, ours_args: list[str]) -> float:
    """Client instructions per round trip: callgrind totals of 1.5x and 0.5x ``rounds``, differenced."""

    def run(n: int) -> int:
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", sys.executable, __file__,
                 *ours_args, "--echo", kind, "--url", url, "--rounds", str(n)],
                capture_output=True, text=True, timeout=1200,
            )  # fmt: skip
        match = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or match is None:
            raise SystemExit(f"callgrind run of {kind} failed: {proc.stderr[-800:]}")
        return int(match.group(1))

    low = max(1, rounds // 2)
    return (run(low + rounds) - run(low)) / rounds


def run(coroutine: Any, loop: str = "auto") -> Any:
    """On ``loop``; ``auto``: uvloop when installed (as echo_rps.py's default), else asyncio."""
    if loop == "asyncio":
        return asyncio.run(coroutine)
    try:
        import uvloop
    except ImportError:
        if loop == "uvloop":
            raise SystemExit("--loop uvloop: uvloop is not installed") from None
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def use_ours(ours_src: str, backend: str) -> Path | None:
    """Make ``import picows`` give our tree (or the installed package) with ``backend``, here and in children."""
    root = ours_root(ours_src)
    os.environ["PICOWS_PURE"] = "1" if backend == "pure" else "0"
    if root is not None:
        sys.path.insert(0, str(root))
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return root


def check_ours(root: Path | None, backend: str) -> str:
    """What the clients run; exits when it is not what was asked for."""
    try:
        import picows
    except ImportError as exc:
        raise SystemExit(f"cannot import picows ({exc}); {BUILD_HINT}") from None

    where = Path(picows.__file__).resolve().parent
    if getattr(picows, "BACKEND", None) != backend:
        hint = f" ({BUILD_HINT})" if backend == "cython" and root is not None else ""
        raise SystemExit(f"picows from {where} has BACKEND={getattr(picows, 'BACKEND', None)!r}, not {backend!r}{hint}")
    if root is not None and not where.is_relative_to(root):
        raise SystemExit(f"picows imported from {where}, not from {root}")
    return f"picows {picows.__version__} BACKEND={picows.BACKEND} from {where}"


def start_server(timeout: float = 30) -> tuple[subprocess.Popen, str]:
    """Our compiled (if built) echo server in another process, and its URL."""
    env = {k: v for k, v in os.environ.items() if k != "PICOWS_PURE"}
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, env=env)
    assert server.stdout is not None
    ready, _, _ = select.select([server.stdout], [], [], timeout)
    line = server.stdout.readline() if ready else ""
    if not line.strip().isdigit():
        server.kill()
        raise SystemExit(f"the echo server did not start (exit code {server.wait()}); see its stderr above")
    return server, f"ws://127.0.0.1:{int(line)}/"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=300, help="idle connections per client (default 300)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument(
        "--instruction-rounds", type=int, default=4000, help="round trips the instruction count is taken over (default 4000)"
    )
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"comma list of {','.join(CLIENTS)} (default: all)")
    parser.add_argument("--backend", default="cython", choices=["cython", "pure"], help="our backend (default cython)")
    parser.add_argument(
        "--loop", default="auto", choices=["auto", "asyncio", "uvloop"],
        help="event loop of the clients (default auto: uvloop when installed)",
    )  # fmt: skip
    parser.add_argument(
        "--ours-src",
        default=str(REPO / "src"),
        help="directory our picows is imported from, or 'installed' (default: this checkout's src/)",
    )
    parser.add_argument("--echo", choices=CLIENTS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = [k.strip() for k in args.clients.split(",") if k.strip()]
    for kind in kinds:
        if kind not in CLIENTS:
            parser.error(f"unknown client {kind!r}; choose from {', '.join(CLIENTS)}")
    root = use_ours(args.ours_src, args.backend)
    if args.echo:
        run(echo_loop(args.echo, args.url, args.rounds), args.loop)
        return
    print(f"ours: {check_ours(root, args.backend)}; Python {sys.version.split()[0]}", flush=True)
    ours_args = ["--ours-src", args.ours_src, "--backend", args.backend, "--loop", args.loop]
    server, url = start_server()
    try:
        for kind in kinds:
            memory = run(memory_per_connection(kind, url, args.connections), args.loop)
            line = f"{kind:18} {memory / 1024:6.1f} KiB/idle conn"
            if args.instructions:
                per_rt = instructions(kind, url, args.instruction_rounds, ours_args)
                line += f"  {per_rt:8.0f} client instructions per 256 B round trip"
            print(line, flush=True)
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
