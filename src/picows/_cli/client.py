"""``python -m picows URL``: the interactive client.

Each line read from stdin is sent as a TEXT frame; received frames are
printed as they arrive. EOF on stdin (Ctrl-D) closes the connection with
CLOSE(1000) and waits, bounded, for the server to close it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import ssl
from typing import Any

import picows

from . import argtypes
from .common import COMMANDS, EXIT_FAILURE, EXIT_OK, PROG, Failure, Parser, UsageError, os_error_text, out
from .stdin import StdinLines

#: Seconds the client waits for the server's CLOSE after Ctrl-D.
CLOSE_TIMEOUT = 10.0
#: Close codes after which the client exits 0 when the server closed the connection.
NORMAL_CLOSE_CODES = frozenset((1000, 1001, 1005))

_USAGE = f"""\
{PROG} [-h] [--version] URL [--header 'NAME: VALUE'] [--proxy URL]
                        [--cafile PATH | --insecure] [--max-frame-size N]
                        [--close-timeout SECONDS] [--debug]
       {PROG} {{{",".join(COMMANDS)}}} [-h] ..."""

_DESCRIPTION = """\
picows command line tools. With a ws:// or wss:// URL: an interactive client.
It connects, prints "Connected to URL.", then sends every line read from stdin
as a TEXT frame and prints received frames as they arrive:

  < text                  a TEXT frame
  < (binary) N bytes      a BINARY frame
  < (close) CODE REASON   a CLOSE frame

Fragmented messages are printed once complete. EOF on stdin (Ctrl-D) sends
CLOSE(1000) and waits (--close-timeout, default 10 s) for the server to close
the connection: exit 0, or 1 if it does not. When the server closes the
connection, "Connection closed: CODE REASON" is printed; the exit code is 0
for the close codes 1000, 1001 and 1005 (no code), else 1. Ctrl-C exits
with 130."""

_COMMANDS_EPILOG = """\
commands (each has its own --help):
  serve    an echo server
  demo     echo round trips per second on loopback, for both backends

The benchmarks that compare picows with other libraries are in the source
repository: python benchmarks/echo_rps.py --help"""


def _version() -> str:
    return f"picows {picows.__version__} (backend: {picows.BACKEND})"


def parser() -> Parser:
    """The top-level parser: the client's options, and the list of commands."""
    p = Parser(
        prog=PROG,
        usage=_USAGE,
        description=_DESCRIPTION,
        epilog=_COMMANDS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=_version())
    p.add_argument("url", metavar="URL", help="ws:// or wss:// URL to connect to")
    p.add_argument(
        "--header",
        "-H",
        metavar="'NAME: VALUE'",
        type=argtypes.header,
        action="append",
        default=[],
        help="extra header for the upgrade request (repeatable)",
    )
    p.add_argument(
        "--proxy",
        metavar="URL",
        help="http://, https://, socks4://, socks4a://, socks5:// or socks5h:// proxy "
        "(user:password@ allowed)",
    )
    trust = p.add_mutually_exclusive_group()
    trust.add_argument(
        "--cafile",
        metavar="PATH",
        help="wss://: trust the CA certificate(s) in this PEM file (instead of the system's CAs)",
    )
    trust.add_argument(
        "--insecure",
        "-k",
        action="store_true",
        help="wss://: do not verify the server's TLS certificate (for self-signed test servers)",
    )
    p.add_argument(
        "--max-frame-size",
        metavar="N",
        type=argtypes.positive_int,
        default=None,
        help="largest accepted frame payload in bytes (default: picows' default, 10 MiB)",
    )
    p.add_argument(
        "--close-timeout",
        metavar="SECONDS",
        type=argtypes.positive_float,
        default=CLOSE_TIMEOUT,
        help=f"after EOF on stdin, how long to wait for the server to close (default {CLOSE_TIMEOUT:g})",
    )
    p.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    return p


def describe_close(code: int | None, reason: bytes | None) -> str:
    """``"1000 bye"``; ``"1005 (no status code)"`` for a CLOSE without a code."""
    if code is None:
        return "1006 (no CLOSE frame received)"
    if code == 0:  # WSCloseCode.NO_INFO: the frame had no code
        return "1005 (no status code)"
    text = reason.decode("utf-8", "replace") if reason else ""
    return f"{code} {text}".rstrip()


class PrintingListener(picows.WSListener):
    """Prints received frames (fragmented messages once complete); completes the closing handshake."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.close_code: int | None = None
        self.close_reason: bytes | None = None
        self._fragments: list[bytes] = []
        self._fragmented_type: picows.WSMsgType | None = None

    def on_ws_connected(self, transport: picows.WSTransport) -> None:
        # Here, not after ws_connect() returns: frames that came with the
        # 101 response are delivered before it returns.
        out(f"Connected to {self.url}.")

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        msg_type = frame.msg_type
        if msg_type == picows.WSMsgType.CLOSE:
            self.close_code = int(frame.get_close_code())
            self.close_reason = frame.get_close_message()
            out(f"< (close) {describe_close(self.close_code, self.close_reason)}")
            # If the server started the closing handshake, echo its code
            # (a no-op when we sent CLOSE first).
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if msg_type in (picows.WSMsgType.PING, picows.WSMsgType.PONG):
            return
        if msg_type == picows.WSMsgType.CONTINUATION:
            if self._fragmented_type is None:
                return  # nothing to continue: ignore, as the library does by default
            self._fragments.append(frame.get_payload_as_bytes())
            if not frame.fin:
                return
            msg_type, self._fragmented_type = self._fragmented_type, None
            payload = b"".join(self._fragments)
            self._fragments = []
        elif not frame.fin:
            self._fragmented_type = msg_type
            self._fragments = [frame.get_payload_as_bytes()]
            return
        else:
            payload = frame.get_payload_as_bytes()
        if msg_type == picows.WSMsgType.TEXT:
            try:
                out(f"< {payload.decode('utf-8')}")
            except UnicodeDecodeError:
                out(f"< (invalid UTF-8 text) {len(payload)} bytes")
        else:
            out(f"< (binary) {len(payload)} bytes")


def _ssl_context(cafile: str | None, insecure: bool) -> ssl.SSLContext:
    """The client's TLS context: the system's CAs, only those of ``--cafile``, or no verification."""
    try:
        ctx = ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:  # a file without a PEM certificate
        raise UsageError(f"cannot load --cafile {cafile!r}: {exc.strerror or exc}") from None
    except OSError as exc:  # missing, unreadable, a directory (PyPy leaves strerror empty)
        detail = os.strerror(exc.errno) if exc.errno else str(exc)
        raise UsageError(f"cannot load --cafile {cafile!r}: {detail}") from None
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _connect(args: argparse.Namespace) -> tuple[picows.WSTransport, PrintingListener]:
    kwargs: dict[str, Any] = {}
    if args.max_frame_size is not None:
        kwargs["max_frame_size"] = args.max_frame_size
    where = f"{args.url} (through the --proxy)" if args.proxy else args.url
    ssl_context = _ssl_context(args.cafile, args.insecure)
    try:
        transport, listener = await picows.ws_connect(
            lambda: PrintingListener(args.url),
            args.url,
            ssl_context=ssl_context,
            extra_headers=args.header or None,
            proxy=args.proxy,
            **kwargs,
        )
    except picows.WSInvalidURL as exc:
        if exc.url != args.url:  # a redirect to a bad URL: the server's fault, not the user's
            raise Failure(f"cannot connect to {where}: {exc}") from None
        hint = "" if "://" in args.url else f" (or a command: {', '.join(COMMANDS)})"
        raise UsageError(f"{exc}{hint}") from None
    except asyncio.TimeoutError:
        raise Failure(f"cannot connect to {where}: the opening handshake timed out") from None
    except picows.WSError as exc:
        raise Failure(f"cannot connect to {where}: {exc}") from None
    except ssl.SSLCertVerificationError as exc:
        raise Failure(
            f"cannot connect to {where}: {exc.verify_message or exc} "
            "(--cafile PATH trusts a private CA; --insecure skips verification)"
        ) from None
    except OSError as exc:
        raise Failure(f"cannot connect to {where}: {os_error_text(exc)}") from None
    except (ValueError, TypeError) as exc:  # bad --proxy, --max-frame-size, header values
        raise UsageError(str(exc)) from None
    except Exception as exc:  # e.g. python_socks.ProxyError (not an OSError)
        if args.debug:
            raise
        raise Failure(f"cannot connect to {where}: {type(exc).__name__}: {exc}") from None
    assert isinstance(listener, PrintingListener)
    return transport, listener


async def _close_after_eof(
    transport: picows.WSTransport, disconnected: asyncio.Future[Any], timeout: float
) -> None:
    """Ctrl-D: CLOSE(1000), then wait (bounded) for the server to close the connection."""
    transport.send_close(picows.WSCloseCode.OK)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(disconnected), timeout)
    if disconnected.done():
        return
    transport.disconnect(graceful=False)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.shield(disconnected), CLOSE_TIMEOUT)
    raise Failure(
        f"the server did not close the connection within {timeout:g} s of our CLOSE (--close-timeout)"
    )


async def run(args: argparse.Namespace) -> int:
    """Connect, send stdin's lines, print what arrives; the exit code."""
    loop = asyncio.get_running_loop()
    transport, listener = await _connect(args)
    stdin = StdinLines(loop)
    disconnected = asyncio.ensure_future(transport.wait_disconnected())
    closing = False
    try:
        await stdin.start()
        while not closing:
            next_line = asyncio.ensure_future(stdin.get())
            await asyncio.wait((next_line, disconnected), return_when=asyncio.FIRST_COMPLETED)
            if not next_line.done():
                next_line.cancel()
                break  # the connection is gone
            line = next_line.result()
            if line is None:  # EOF: Ctrl-D
                closing = True
                await _close_after_eof(transport, disconnected, args.close_timeout)
            else:
                transport.send(picows.WSMsgType.TEXT, line.decode("utf-8", "replace").encode("utf-8"))
    finally:
        stdin.close()
    try:
        disconnected.result()
    except picows.WSError as exc:
        raise Failure(f"connection failed: {exc}") from None
    out(f"Connection closed: {describe_close(listener.close_code, listener.close_reason)}")
    if closing or listener.close_code in NORMAL_CLOSE_CODES or listener.close_code == 0:
        return EXIT_OK
    return EXIT_FAILURE
