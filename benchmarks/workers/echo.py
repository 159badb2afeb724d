"""Worker processes of ``echo_rps.py`` and ``scale.py``: one echo server, or one client run.

This file is executed with the interpreter of the library under test (our
virtual environment, the one holding the *published* picows from PyPI, or
PyPy), so it and the modules beside it import only the standard library at
module level.  It is not meant to be run by hand, but it can be:

    python workers/echo.py server --impl picows --loop uvloop
    python workers/echo.py client --impl picows --loop uvloop --url ws://127.0.0.1:PORT/ --size 256 --duration 2

``--impl picows`` means "whatever ``import picows`` gives this interpreter":
our package (with ``PICOWS_PURE`` choosing the backend) or the published
package in its own venv.  Both expose the same public API, which is all that
is used here.  ``--kwargs JSON`` adds keyword arguments to the library's
connect / serve call (e.g. ``{"use_aiofastnet": false}`` to pick a transport
path).  ``--tls-cert/--tls-key`` (server) and ``--cafile`` (client) switch to
``wss://``.

Every process prints one JSON line on stdout (the server: as soon as it
listens; a client: when it is done).  The server reads commands from stdin
(``gc``: collect garbage and answer) and, when stdin is closed, prints what it
saw of its connections (transport implementation, TLS session) and exits.
Errors go to stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys

import echo_clients
import echo_servers
from clock import Clock
from common import (
    LOOPS,
    affinity,
    client_ssl_context,
    compressible_payload,
    emit,
    load_kwargs,
    new_loop,
    picows_info,
    raise_nofile,
    server_ssl_context,
    versions,
)

# Set by the harness for "websockets-pure": block websockets' optional C
# extension so it masks with its pure-Python fallback ("aiohttp-pure" uses
# aiohttp's own AIOHTTP_NO_EXTENSIONS switch instead).
NO_WEBSOCKETS_SPEEDUPS_ENV = "ECHO_RPS_NO_WEBSOCKETS_SPEEDUPS"


def _block_optional_extensions() -> None:
    if os.environ.get(NO_WEBSOCKETS_SPEEDUPS_ENV) == "1":
        sys.modules["websockets.speedups"] = None  # type: ignore[assignment]  # import -> ImportError


def _accel_info(impl: str) -> dict:
    """Which masking/parsing code a third-party library actually uses (C or Python)."""
    try:
        if impl == "websockets":
            import websockets.frames

            mod = websockets.frames.apply_mask.__module__
            return {"accel": "c" if mod.endswith("speedups") else "python", "accel_detail": f"apply_mask from {mod}"}
        if impl == "aiohttp":
            from aiohttp._websocket import helpers, reader

            mask_mod = helpers.websocket_mask.__module__
            reader_mod = reader.WebSocketReader.__module__
            accel = "python" if reader_mod.endswith("_py") and not mask_mod.endswith("mask") else "c"
            return {"accel": accel, "accel_detail": f"mask from {mask_mod}, reader from {reader_mod}"}
    except Exception as exc:  # pragma: no cover - reported, not fatal
        return {"accel": None, "accel_detail": f"unknown: {exc}"}
    return {}


def run_server(args: argparse.Namespace) -> int:
    nofile = raise_nofile()
    loop = new_loop(args.loop)
    asyncio.set_event_loop(loop)
    seen = echo_servers.Seen()
    ssl_context = server_ssl_context(args.tls_cert, args.tls_key)
    server, port, info = loop.run_until_complete(
        echo_servers.serve(args.impl, args.host, ssl_context, load_kwargs(args.kwargs), seen, args.deflate)
    )

    # Stop when the parent closes our stdin (or dies): no orphan servers.
    stop = loop.create_future()

    def _stdin_ready() -> None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            if not stop.done():
                stop.set_result(None)
            return
        if b"gc" in data:  # scale.py: collect garbage before a memory reading, then acknowledge
            import gc

            emit({"gc": gc.collect()})

    loop.add_reader(0, _stdin_ready)
    emit(
        {
            "role": "server",
            "impl": args.impl,
            "loop": args.loop,
            "tls": ssl_context is not None,
            "port": port,
            "pid": os.getpid(),
            "affinity": affinity(),
            "nofile": nofile,
            **info,
            **_accel_info(args.impl),
            **versions(),
        }
    )
    loop.run_until_complete(stop)
    loop.remove_reader(0)
    emit({"role": "server-seen", **seen.as_dict()})
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()
    return 0


def run_client(args: argparse.Namespace) -> int:
    payload = compressible_payload(args.size) if args.deflate else os.urandom(args.size)
    clock = Clock(args.warmup, args.duration, args.round_trips, args.server_pid)
    loop = new_loop(args.loop)
    asyncio.set_event_loop(loop)
    try:
        info = loop.run_until_complete(
            echo_clients.run(
                args.impl, args.url, payload, clock, client_ssl_context(args.cafile), load_kwargs(args.kwargs),
                args.deflate,
            )
        )
    finally:
        loop.close()
    emit(
        {
            "role": "client",
            "impl": args.impl,
            "loop": args.loop,
            "size": args.size,
            "affinity": affinity(),
            "PICOWS_PURE": os.environ.get("PICOWS_PURE"),
            **clock.result(),
            **info,
            **_accel_info(args.impl),
            **versions(),
        }
    )
    return 0


def _deflate_unsupported(impl: str) -> str | None:
    """Why ``impl`` cannot run with ``--deflate`` (None: it can), found without opening a connection."""
    if impl == "raw":
        return "the raw client does not speak permessage-deflate"
    if impl == "picows-websockets":
        from picows.websockets import connect, serve

        async def handler(ws) -> None:  # never called: serve() is not awaited
            pass

        try:  # neither call opens anything until awaited; a package without the extension refuses here
            connect("ws://127.0.0.1/", compression="deflate")
            serve(handler, "127.0.0.1", 0, compression="deflate")
        except (NotImplementedError, ValueError) as exc:
            return f"picows.websockets refuses compression='deflate': {exc}"
    return None


def run_probe(args: argparse.Namespace) -> int:
    """Import what a client needs and report versions (availability check)."""
    info = versions()
    mods = {
        "picows": ["picows"],
        "picows-websockets": ["picows", "picows.websockets.asyncio.client", "picows.websockets.asyncio.server"],
        "websockets": ["websockets"],
        "aiohttp": ["aiohttp"],
        "raw": [],
    }[args.impl]
    for m in mods:
        mod = importlib.import_module(m)
        if m == "picows":
            info.update(picows_info(mod))
    info.update(_accel_info(args.impl))
    if args.deflate:
        info["deflate_unsupported"] = _deflate_unsupported(args.impl)
    loops = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        loops.append("uvloop")
    except ImportError as exc:
        info["uvloop_error"] = str(exc)
    info["loops"] = loops
    emit(info)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--impl", default="picows", choices=sorted(echo_servers.SERVERS))
    s.add_argument("--loop", default="uvloop", choices=LOOPS)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--tls-cert", default=None, help="PEM certificate: serve wss://")
    s.add_argument("--tls-key", default=None, help="PEM key of --tls-cert")
    s.add_argument("--kwargs", default=None, help="JSON object: extra keyword arguments of the serve call")
    s.add_argument("--deflate", action="store_true", help="accept permessage-deflate (the library's way)")
    c = sub.add_parser("client")
    c.add_argument("--impl", required=True, choices=sorted(echo_clients.CLIENTS))
    c.add_argument("--loop", default="uvloop", choices=LOOPS)
    c.add_argument("--url", required=True)
    c.add_argument("--size", type=int, required=True)
    c.add_argument("--duration", type=float, default=2.0)
    c.add_argument("--warmup", type=float, default=0.3)
    c.add_argument(
        "--round-trips",
        type=int,
        default=0,
        help="stop after this many measured round trips instead of --duration (for profilers)",
    )
    c.add_argument("--server-pid", type=int, default=0, help="report this process's CPU time per round trip")
    c.add_argument("--cafile", default=None, help="wss://: trust this certificate (the run's throw-away one)")
    c.add_argument("--kwargs", default=None, help="JSON object: extra keyword arguments of the connect call")
    c.add_argument(
        "--deflate", action="store_true", help="offer permessage-deflate; send compressible JSON-like payloads"
    )
    pr = sub.add_parser("probe")
    pr.add_argument("--impl", required=True, choices=sorted(echo_clients.CLIENTS))
    pr.add_argument("--deflate", action="store_true", help="also check that the library can run with --deflate")
    args = p.parse_args(argv)
    _block_optional_extensions()
    return {"server": run_server, "client": run_client, "probe": run_probe}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
