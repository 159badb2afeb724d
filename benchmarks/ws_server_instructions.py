#!/usr/bin/env python3
"""Server CPU instructions per 256 B echo round trip, counted by valgrind's callgrind.

The server runs under callgrind (deterministic, unaffected by machine load);
a plain picows core client in this process drives it. Two run lengths are
differenced, so start-up and shutdown cancel out. Servers:

* ``core``: a picows callback echo listener;
* ``picows.websockets``: ``serve()`` with the handler
  ``async for message in ws: await ws.send(message)``, no compression.

Whatever ``--python`` imports as ``picows`` is measured, so the published
picows.websockets is measured by passing its virtualenv's interpreter.
On uvloop when the server's interpreter has it (as echo_rps.py's default).

    python benchmarks/ws_server_instructions.py --servers core,picows.websockets
    python benchmarks/ws_server_instructions.py --python /path/to/published/bin/python
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import select
import subprocess
import sys
import tempfile

from harness.core_client import echo_rounds

SERVERS = ("core", "picows.websockets")
PAYLOAD = os.urandom(256)

# The server process: prints its port, serves one connection, exits when it ends.
SERVER = r"""
import asyncio, sys
import picows

KIND = sys.argv[1]

async def main():
    done = asyncio.get_running_loop().create_future()
    if KIND == "core":
        class Echo(picows.WSListener):
            def on_ws_frame(self, transport, frame):
                if frame.msg_type == picows.WSMsgType.CLOSE:
                    transport.send_close(frame.get_close_code())
                    transport.disconnect()
                    return
                transport.send(frame.msg_type, frame.get_payload_as_bytes())

            def on_ws_disconnected(self, transport):
                if not done.done():
                    done.set_result(None)

        server = await picows.ws_create_server(lambda request: Echo(), "127.0.0.1", 0)
    else:
        from picows.websockets.asyncio.server import serve

        async def echo(ws):
            async for message in ws:
                await ws.send(message)
            if not done.done():
                done.set_result(None)

        server = await serve(echo, "127.0.0.1", 0, compression=None)
    print(server.sockets[0].getsockname()[1], flush=True)
    await done
    server.close()

try:
    import uvloop
except ImportError:
    asyncio.run(main())
else:
    uvloop.run(main())
"""


def count(python: str, kind: str, rounds: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", python, "-c", SERVER, kind],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert server.stdout is not None and server.stderr is not None
        ready, _, _ = select.select([server.stdout], [], [], 120)
        line = server.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            server.kill()
            raise SystemExit(f"the {kind} server did not start: {server.communicate()[1][-800:]}")
        asyncio.run(echo_rounds(f"ws://127.0.0.1:{int(line)}/", PAYLOAD, rounds))
        _, stderr = server.communicate(timeout=600)
    match = re.search(r"Collected : (\d+)", stderr)
    if server.returncode != 0 or match is None:
        raise SystemExit(f"callgrind run of the {kind} server failed: {stderr[-800:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument(
        "--python", default=sys.executable, help="the server's interpreter (default: this one)"
    )
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma list of {','.join(SERVERS)}")
    parser.add_argument(
        "--rounds", type=int, default=4000, help="round trips the count is taken over (default 4000)"
    )
    args = parser.parse_args()
    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    for kind in kinds:
        if kind not in SERVERS:
            parser.error(f"unknown server {kind!r}; choose from {', '.join(SERVERS)}")
    low = max(1, args.rounds // 2)
    for kind in kinds:
        per_rt = (count(args.python, kind, low + args.rounds) - count(args.python, kind, low)) / args.rounds
        print(f"{kind:18} {per_rt:8.0f} server instructions per 256 B round trip", flush=True)


if __name__ == "__main__":
    main()
