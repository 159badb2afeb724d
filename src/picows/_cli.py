"""The command line, ``python -m picows``.

* ``python -m picows URL``: an interactive client. Each line read from stdin
  is sent as a TEXT frame; received frames are printed as they arrive. EOF on
  stdin (Ctrl-D) closes the connection with CLOSE(1000).
* ``python -m picows serve``: an echo server.
* ``python -m picows bench ...``: the echo RPS benchmark of a source checkout
  (``benchmarks/echo_rps.py``; not part of an installed package).
* ``python -m picows demo``: echo round trips per second for both backends
  (see :mod:`picows._demo`).
* ``python -m picows --version``.

User errors (bad arguments, a bad URL, a refused connection, a failed
handshake, a port in use, ...) print one line to stderr and exit non-zero:
2 for a usage error, 1 for a failure at run time. ``--debug`` shows
tracebacks and picows' debug logs instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import signal
import socket
import ssl
import stat
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["main"]

PROG = "python -m picows"
COMMANDS = ("serve", "bench", "demo")

#: Seconds the client waits for the server's CLOSE after Ctrl-D.
CLOSE_TIMEOUT = 10.0
#: Seconds the server gives clients to answer its CLOSE on SIGINT/SIGTERM.
SHUTDOWN_TIMEOUT = 5.0
#: Close codes after which the client exits 0 when the server closed the connection.
NORMAL_CLOSE_CODES = frozenset((1000, 1001, 1005))

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """A bad command line: one line on stderr, exit 2."""


class Failure(Exception):
    """A failure at run time (refused connection, failed handshake, ...): one line on stderr, exit 1."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr (exit 2) instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _print_error(message: str) -> None:
    # One line, whatever the exception text contains.
    text = " ".join(str(message).split())
    print(f"picows: error: {text}", file=sys.stderr, flush=True)


def _os_error_text(exc: OSError) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed ('127.0.0.1', 1)``."""
    if isinstance(exc, socket.gaierror) or not exc.errno or exc.errno < 0:
        return exc.strerror or str(exc)
    return os.strerror(exc.errno)


def _version() -> str:
    import picows

    return f"picows {picows.__version__} (backend: {picows.BACKEND})"


def _positive_int(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 0..65535, got {value}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name):
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name, value.strip()


# ----------------------------------------------------------------- parsers ---

_CLIENT_USAGE = f"""\
{PROG} [-h] [--version] URL [--header 'NAME: VALUE'] [--proxy URL] [--insecure]
                        [--max-frame-size N] [--close-timeout SECONDS] [--debug]
       {PROG} {{serve,bench,demo}} [-h] ..."""

_CLIENT_DESCRIPTION = """\
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
  bench    the echo round-trips-per-second benchmark of a source checkout
  demo     echo round trips per second on loopback, for both backends"""


def _client_parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        usage=_CLIENT_USAGE,
        description=_CLIENT_DESCRIPTION,
        epilog=_COMMANDS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("url", metavar="URL", help="ws:// or wss:// URL to connect to")
    parser.add_argument(
        "--header",
        "-H",
        metavar="'NAME: VALUE'",
        type=_header,
        action="append",
        default=[],
        help="extra header for the upgrade request (repeatable)",
    )
    parser.add_argument(
        "--proxy", metavar="URL", help="http://, socks4:// or socks5:// proxy (user:password@ allowed)"
    )
    parser.add_argument(
        "--insecure", "-k", action="store_true", help="wss://: do not verify the server's TLS certificate"
    )
    parser.add_argument(
        "--max-frame-size",
        metavar="N",
        type=_positive_int,
        default=None,
        help="largest accepted frame payload in bytes (default: picows' default, 10 MiB)",
    )
    parser.add_argument(
        "--close-timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=CLOSE_TIMEOUT,
        help=f"after EOF on stdin, how long to wait for the server to close (default {CLOSE_TIMEOUT:g})",
    )
    parser.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    return parser


def _serve_parser() -> _Parser:
    parser = _Parser(
        prog=f"{PROG} serve",
        description=(
            "A WebSocket echo server: echoes TEXT and BINARY frames; answers CLOSE by echoing it "
            "and disconnecting. Prints 'Serving on ws://HOST:PORT/' (wss:// with TLS) once it "
            "listens, and stops cleanly on SIGINT (Ctrl-C) or SIGTERM."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=9001, help="port to listen on; 0 picks a free one (default 9001)"
    )
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate (chain): serve wss://")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    parser.add_argument(
        "--max-frame-size",
        metavar="N",
        type=_positive_int,
        default=None,
        help="largest accepted frame payload in bytes (default: picows' default, 10 MiB)",
    )
    parser.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    return parser


def _demo_parser() -> _Parser:
    parser = _Parser(
        prog=f"{PROG} demo", description="Echo round trips per second on loopback, for both backends."
    )
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per message size (default 2)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


_BENCH_DESCRIPTION = """\
Runs the echo round-trips-per-second benchmark benchmarks/echo_rps.py of a
picows source checkout, passing it all ARGS (try '{prog} bench --help' there).
The tool is not part of the installed package: from an installed picows, run
it from a clone instead: python benchmarks/echo_rps.py ARGS."""


def _bench_parser() -> _Parser:
    parser = _Parser(
        prog=f"{PROG} bench",
        description=_BENCH_DESCRIPTION.format(prog=PROG),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments of echo_rps.py")
    return parser


# ------------------------------------------------------------------ client ---


class _StdinLines:
    """Lines of stdin, read without blocking the event loop.

    A pipe or socket is read by the event loop (``loop.connect_read_pipe``).
    A terminal (and a regular file, /dev/null, ...) is read by a daemon thread
    with ``os.read`` on the file descriptor: a terminal must stay in blocking
    mode because stdout shares it, and ``os.read`` takes no lock that could
    block interpreter shutdown while the thread waits for input.

    :meth:`get` returns the next line (bytes, without the line ending) or
    None at EOF.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int = 0) -> None:
        self._loop = loop
        self._fd = fd
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._transport: asyncio.BaseTransport | None = None
        self._restore_blocking = False
        self._stopped = False

    async def start(self) -> None:
        try:
            mode = os.fstat(self._fd).st_mode
        except OSError:
            self._queue.put_nowait(None)
            return
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            reader = asyncio.StreamReader(limit=2**31)
            protocol = asyncio.StreamReaderProtocol(reader)
            pipe = os.fdopen(os.dup(self._fd), "rb", buffering=0)
            self._restore_blocking = os.get_blocking(self._fd)
            try:
                self._transport, _ = await self._loop.connect_read_pipe(lambda: protocol, pipe)
            except (OSError, ValueError):
                pipe.close()
                self._undo_nonblocking()
            else:
                self._loop.create_task(self._pump(reader))
                return
        threading.Thread(target=self._read_in_thread, name="picows-stdin", daemon=True).start()

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                self._queue.put_nowait(None)
                return
            self._queue.put_nowait(_strip_eol(line))

    def _read_in_thread(self) -> None:
        pending = b""
        while not self._stopped:
            try:
                chunk = os.read(self._fd, 65536)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                lines = [pending] if pending else []
                self._post(*lines, None)
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if lines and not self._post(*[_strip_eol(line) for line in lines]):
                return

    def _post(self, *items: bytes | None) -> bool:
        try:
            for item in items:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the program is ending
            return False
        return True

    async def get(self) -> bytes | None:
        return await self._queue.get()

    def close(self) -> None:
        self._stopped = True
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._undo_nonblocking()

    def _undo_nonblocking(self) -> None:
        if self._restore_blocking:
            # connect_read_pipe made the (shared) file description non-blocking: undo it.
            self._restore_blocking = False
            with contextlib.suppress(OSError):
                os.set_blocking(self._fd, True)


def _strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


def _describe_close(code: int | None, reason: bytes | None) -> str:
    """``"1000 bye"``; ``"1005 (no status code)"`` for a CLOSE without a code."""
    if code is None:
        return "1006 (no CLOSE frame received)"
    if code == 0:  # WSCloseCode.NO_INFO: the frame had no code
        return "1005 (no status code)"
    text = reason.decode("utf-8", "replace") if reason else ""
    return f"{code} {text}".rstrip()


def _out(line: str) -> None:
    print(line, flush=True)


def _make_client_listener(url: str) -> Any:
    from picows import WSListener, WSMsgType

    class ClientListener(WSListener):
        """Prints received frames; completes the closing handshake."""

        def __init__(self) -> None:
            self.close_code: int | None = None
            self.close_reason: bytes | None = None
            self._fragments: list[bytes] = []
            self._fragmented_type: Any = None

        def on_ws_connected(self, transport: Any) -> None:
            # Here, not after ws_connect() returns: frames that came with the
            # 101 response are delivered before it returns.
            _out(f"Connected to {url}.")

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            msg_type = frame.msg_type
            if msg_type == WSMsgType.CLOSE:
                self.close_code = int(frame.get_close_code())
                self.close_reason = frame.get_close_message()
                _out(f"< (close) {_describe_close(self.close_code, self.close_reason)}")
                # If the server started the closing handshake, echo its code
                # (a no-op when we sent CLOSE first).
                transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            if msg_type in (WSMsgType.PING, WSMsgType.PONG):
                return
            if msg_type == WSMsgType.CONTINUATION:
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
            if msg_type == WSMsgType.TEXT:
                try:
                    _out(f"< {payload.decode('utf-8')}")
                except UnicodeDecodeError:
                    _out(f"< (invalid UTF-8 text) {len(payload)} bytes")
            else:
                _out(f"< (binary) {len(payload)} bytes")

    return ClientListener


def _client_ssl_context(insecure: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def _connect(args: argparse.Namespace) -> tuple[Any, Any]:
    import picows

    from ._url import parse_url

    kwargs: dict[str, Any] = {}
    if args.max_frame_size is not None:
        kwargs["max_frame_size"] = args.max_frame_size
    try:
        parse_url(args.url)  # a usage error, before anything else happens
    except picows.WSInvalidURL as exc:
        hint = "" if "://" in args.url else f" (or a command: {', '.join(COMMANDS)})"
        raise UsageError(f"{exc}{hint}") from None
    where = f"{args.url} (through the --proxy)" if args.proxy else args.url
    try:
        return await picows.ws_connect(
            _make_client_listener(args.url),
            args.url,
            ssl_context=_client_ssl_context(args.insecure),
            extra_headers=args.header or None,
            proxy=args.proxy,
            **kwargs,
        )
    except asyncio.TimeoutError:
        raise Failure(f"cannot connect to {where}: the opening handshake timed out") from None
    except picows.WSError as exc:
        raise Failure(f"cannot connect to {where}: {exc}") from None
    except ssl.SSLCertVerificationError as exc:
        raise Failure(
            f"cannot connect to {where}: {exc.verify_message or exc} (--insecure skips verification)"
        ) from None
    except OSError as exc:
        raise Failure(f"cannot connect to {where}: {_os_error_text(exc)}") from None
    except (ValueError, TypeError) as exc:  # bad --proxy, --max-frame-size, header values
        raise UsageError(str(exc)) from None
    except Exception as exc:  # e.g. python_socks.ProxyError (not an OSError)
        if args.debug:
            raise
        raise Failure(f"cannot connect to {where}: {type(exc).__name__}: {exc}") from None


async def _run_client(args: argparse.Namespace) -> int:
    import picows

    loop = asyncio.get_running_loop()
    transport, listener = await _connect(args)
    stdin = _StdinLines(loop)
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
                transport.send_close(picows.WSCloseCode.OK)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(disconnected), args.close_timeout)
                if not disconnected.done():
                    transport.disconnect(graceful=False)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(asyncio.shield(disconnected), CLOSE_TIMEOUT)
                    raise Failure(
                        f"the server did not close the connection within {args.close_timeout:g} s "
                        "of our CLOSE (--close-timeout)"
                    )
            else:
                transport.send(picows.WSMsgType.TEXT, line.decode("utf-8", "replace").encode("utf-8"))
    finally:
        stdin.close()
    try:
        disconnected.result()
    except picows.WSError as exc:
        raise Failure(f"connection failed: {exc}") from None
    _out(f"Connection closed: {_describe_close(listener.close_code, listener.close_reason)}")
    if closing or listener.close_code in NORMAL_CLOSE_CODES or listener.close_code == 0:
        return EXIT_OK
    return EXIT_FAILURE


# ------------------------------------------------------------------- serve ---


def _make_echo_listener(connections: set[Any]) -> Any:
    from picows import WSListener, WSMsgType

    class EchoListener(WSListener):
        def on_ws_connected(self, transport: Any) -> None:
            connections.add(transport)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif frame.msg_type not in (WSMsgType.PING, WSMsgType.PONG):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin, frame.rsv1)

        def on_ws_disconnected(self, transport: Any) -> None:
            connections.discard(transport)

    return EchoListener


def _server_ssl_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
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


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def _run_server(args: argparse.Namespace) -> int:
    import picows

    ssl_context = _server_ssl_context(args.tls_cert, args.tls_key)
    connections: set[Any] = set()
    echo = _make_echo_listener(connections)
    kwargs: dict[str, Any] = {}
    if args.max_frame_size is not None:
        kwargs["max_frame_size"] = args.max_frame_size
    try:
        server = await picows.ws_create_server(
            lambda request: echo(), args.host or None, args.port, ssl=ssl_context, **kwargs
        )
    except OSError as exc:
        raise Failure(f"cannot listen on {_url_host(args.host)}:{args.port}: {_os_error_text(exc)}") from None
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
        port = server.sockets[0].getsockname()[1]
        scheme = "wss" if ssl_context is not None else "ws"
        _out(f"Serving on {scheme}://{_url_host(args.host or '0.0.0.0')}:{port}/")
        await stop.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        server.close()
        # Closing handshake with every client: CLOSE(GOING_AWAY); EchoListener
        # disconnects when the client's CLOSE comes back. Bounded; then abort.
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
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), SHUTDOWN_TIMEOUT)
    _out("Server stopped.")
    return EXIT_OK


# ------------------------------------------------------------------- bench ---


def bench_tool_path() -> Path:
    """Where ``benchmarks/echo_rps.py`` is in a source checkout (``src/picows`` -> ``benchmarks``)."""
    package_dir = Path(__file__).resolve().parent
    return package_dir.parent.parent / "benchmarks" / "echo_rps.py"


def _run_bench(argv: list[str]) -> int:
    path = bench_tool_path()
    if not path.is_file():
        if argv[:1] in (["-h"], ["--help"]):
            _bench_parser().print_help()
            return EXIT_OK
        _print_error(
            "the benchmark tool benchmarks/echo_rps.py is not part of the installed package; "
            f"it is in the picows source repository (looked for {path}): run it from a clone with "
            "'python benchmarks/echo_rps.py'"
        )
        return EXIT_USAGE
    spec = importlib.util.spec_from_file_location("echo_rps", path)
    if spec is None or spec.loader is None:
        _print_error(f"cannot load {path}")
        return EXIT_USAGE
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    old_argv = sys.argv
    sys.argv = [f"{PROG} bench", *argv]
    try:
        spec.loader.exec_module(module)
        return int(module.main(argv) or 0)
    finally:
        sys.argv = old_argv
        with contextlib.suppress(ValueError):
            sys.path.remove(str(path.parent))


# -------------------------------------------------------------------- main ---


def _setup_logging(debug: bool) -> None:
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _tolerant_output() -> None:
    # Received text may not be encodable in the terminal's encoding (e.g. the C
    # locale on PyPy): print escapes rather than dying with UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")


def _run(coro_fn: Any, args: argparse.Namespace) -> int:
    _setup_logging(args.debug)
    _tolerant_output()
    try:
        return asyncio.run(coro_fn(args))  # type: ignore[no-any-return]
    except UsageError as exc:
        _print_error(str(exc))
        return EXIT_USAGE
    except Failure as exc:
        _print_error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        _print_error(f"{type(exc).__name__}: {exc} (--debug shows the traceback)")
        return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = args_list[0] if args_list and args_list[0] in COMMANDS else None
    if command == "demo":
        demo_parser = _demo_parser()
        demo_args = demo_parser.parse_args(args_list[1:])
        from . import _demo

        if demo_args.duration <= 0:
            demo_parser.error("--duration must be > 0")
        if demo_args.child:
            _demo.run_child(demo_args.duration)
            return EXIT_OK
        return _demo.main(demo_args.duration)
    if command == "bench":
        rest = args_list[1:]
        return _run_bench(rest)
    if command == "serve":
        return _run(_run_server, _serve_parser().parse_args(args_list[1:]))
    parser = _client_parser()
    if not args_list:
        parser.error(f"a URL or a command ({', '.join(COMMANDS)}) is required")
    return _run(_run_client, parser.parse_args(args_list))
