"""``python -m picows serve``: an echo server that stops cleanly on SIGINT / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
from typing import Any

import picows

from . import argtypes
from .common import EXIT_OK, PROG, Failure, Parser, UsageError, os_error_text, out, url_host

#: Seconds the server gives clients to answer its CLOSE on SIGINT/SIGTERM.
SHUTDOWN_TIMEOUT = 5.0


def parser() -> Parser:
    """The parser of ``serve``'s options."""
    p = Parser(
        prog=f"{PROG} serve",
        description=(
            "A WebSocket echo server: echoes TEXT and BINARY frames; answers CLOSE by echoing it "
            "and disconnecting. Prints 'Serving on ws://HOST:PORT/' (wss:// with TLS) once it "
            "listens, and stops cleanly on SIGINT (Ctrl-C) or SIGTERM."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=argtypes.port,
        default=9001,
        help="port to listen on; 0 picks a free one (default 9001)",
    )
    p.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (chain): serve wss://")
    p.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    p.add_argument(
        "--max-frame-size",
        metavar="N",
        type=argtypes.positive_int,
        default=None,
        help="largest accepted frame payload in bytes (default: picows' default, 10 MiB)",
    )
    p.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    return p


class EchoListener(picows.WSListener):
    """Echoes data frames; answers CLOSE with CLOSE. Keeps ``connections`` up to date for the shutdown."""

    def __init__(self, connections: set[picows.WSTransport]) -> None:
        self.connections = connections

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        self.connections.add(transport)

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == picows.WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type not in (picows.WSMsgType.PING, picows.WSMsgType.PONG):
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin, frame.rsv1)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.connections.discard(transport)


def _ssl_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UsageError("--tls-cert and --tls-key go together")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError is an OSError too
        detail = exc.strerror if exc.strerror and exc.filename is None else exc
        raise UsageError(f"cannot load --tls-cert {cert!r} / --tls-key {key!r}: {detail}") from None
    return ctx


async def _stop_requested() -> None:
    """Returns on SIGINT or SIGTERM (where the loop can handle signals)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError, ValueError):  # no signal handlers here (e.g. Windows)
            pass
    try:
        await stop.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def _close_all(connections: set[picows.WSTransport]) -> None:
    """CLOSE(GOING_AWAY) to every client; EchoListener disconnects when the CLOSE comes back.

    Bounded by SHUTDOWN_TIMEOUT; connections still open then are aborted.
    """
    open_connections = list(connections)
    for transport in open_connections:
        transport.send_close(picows.WSCloseCode.GOING_AWAY)
    if open_connections:
        await asyncio.wait(
            [asyncio.ensure_future(t.wait_disconnected()) for t in open_connections],
            timeout=SHUTDOWN_TIMEOUT,
        )
    for transport in list(connections):
        transport.disconnect(graceful=False)


async def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM, then close every connection; the exit code."""
    ssl_context = _ssl_context(args.tls_cert, args.tls_key)
    connections: set[picows.WSTransport] = set()
    kwargs: dict[str, Any] = {}
    if args.max_frame_size is not None:
        kwargs["max_frame_size"] = args.max_frame_size
    try:
        server = await picows.ws_create_server(
            lambda request: EchoListener(connections), args.host or None, args.port, ssl=ssl_context, **kwargs
        )
    except OSError as exc:
        raise Failure(f"cannot listen on {url_host(args.host)}:{args.port}: {os_error_text(exc)}") from None
    try:
        port = server.sockets[0].getsockname()[1]
        scheme = "wss" if ssl_context is not None else "ws"
        out(f"Serving on {scheme}://{url_host(args.host or '0.0.0.0')}:{port}/")
        await _stop_requested()
    finally:
        server.close()
        await _close_all(connections)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), SHUTDOWN_TIMEOUT)
    out("Server stopped.")
    return EXIT_OK
