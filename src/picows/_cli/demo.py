"""``python -m picows demo``: an echo server and client on loopback, once per backend.

Each backend runs in its own interpreter process (the backend is chosen at
import time by ``PICOWS_PURE``); the client sends a message, waits for the
echo, and repeats for a fixed time. The output names the backend that was
actually loaded and the achieved round trips per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from typing import Any

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from .common import EXIT_FAILURE, EXIT_OK, PROG, Parser

SIZES = (256, 8192, 100_000)


def parser() -> Parser:
    """The parser of ``demo``'s options."""
    p = Parser(prog=f"{PROG} demo", description="Echo round trips per second on loopback, for both backends.")
    p.add_argument("--duration", type=float, default=2.0, help="seconds per message size (default 2)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p


def run(argv: list[str]) -> int:
    """``demo ARGV``: the exit code."""
    p = parser()
    args = p.parse_args(argv)
    if args.duration <= 0:
        p.error("--duration must be > 0")
    if args.child:
        run_child(args.duration)
        return EXIT_OK
    return main(args.duration)


async def _measure(size: int, duration: float) -> dict[str, Any]:
    class ServerEcho(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            else:
                transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)

    loop = asyncio.get_running_loop()
    payload = os.urandom(size)

    class Client(WSListener):
        def __init__(self) -> None:
            self.count = 0
            self.deadline = 0.0
            self.done: asyncio.Future[None] = loop.create_future()
            self.ok = True

        def on_ws_connected(self, transport: WSTransport) -> None:
            self.deadline = time.perf_counter() + duration
            transport.send(WSMsgType.BINARY, payload)

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                return
            if len(frame.get_payload_as_memoryview()) != size:
                self.ok = False
            self.count += 1
            if time.perf_counter() < self.deadline:
                transport.send(WSMsgType.BINARY, payload)
            elif not self.done.done():
                self.done.set_result(None)

    server = await picows.ws_create_server(lambda request: ServerEcho(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, client = await picows.ws_connect(Client, f"ws://127.0.0.1:{port}/")
    start = time.perf_counter()
    await asyncio.wait_for(client.done, duration + 30)
    elapsed = time.perf_counter() - start
    transport.send_close(picows.WSCloseCode.OK)
    await asyncio.wait_for(transport.wait_disconnected(), 5)
    server.close()
    await server.wait_closed()
    if not client.ok:
        raise RuntimeError("echo payload mismatch")
    return {"size": size, "round_trips": client.count, "rps": client.count / elapsed}


def run_child(duration: float) -> None:
    """Entry point of one backend's process: prints one JSON line."""
    results = [asyncio.run(_measure(size, duration)) for size in SIZES]
    print(
        json.dumps(
            {"backend": picows.BACKEND, "fallback": picows.BACKEND_FALLBACK_REASON, "results": results}
        )
    )


def _run_backend(pure: bool, duration: float) -> dict[str, Any] | None:
    env = dict(os.environ, PICOWS_PURE="1" if pure else "0")
    proc = subprocess.run(
        [sys.executable, "-m", "picows", "demo", "--child", "--duration", str(duration)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0:
        print(f"  {'pure' if pure else 'cython'} backend: FAILED\n{proc.stderr.strip()}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(duration: float = 2.0) -> int:
    """Run the demo for both backends; returns the process exit code."""
    print(
        f"picows {picows.__version__} demo on {platform.python_implementation()} {platform.python_version()}"
    )
    print("echo server and client in one process on 127.0.0.1; client sends, awaits the echo, repeats")
    print(f"{duration:.1f} s per message size\n")
    rows = []
    failed = False
    compiled_expected = platform.python_implementation() == "CPython"
    for pure in (False, True):
        if not pure and not compiled_expected:
            print(f"cython backend: not available on {platform.python_implementation()} (pure only)")
            continue
        report = _run_backend(pure, duration)
        if report is None:
            failed = True
            continue
        rows.append(report)
    if rows:
        print(f"{'backend':<8} " + " ".join(f"{s:>12} B" for s in SIZES))
        for report in rows:
            cells = " ".join(f"{r['rps']:>10.0f}/s" for r in report["results"])
            print(f"{report['backend']:<8} {cells}")
        if len(rows) == 2:
            ratios = " ".join(
                f"{c['rps'] / p['rps']:>11.2f}x" for c, p in zip(rows[0]["results"], rows[1]["results"])
            )
            print(f"{'speed-up':<8} {ratios}")
    return EXIT_FAILURE if failed else EXIT_OK
