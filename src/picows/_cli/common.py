"""What every command of ``python -m picows`` shares: exit codes, errors, output, the async runner."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn

PROG = "python -m picows"
#: The commands besides the interactive client (``python -m picows URL``).
COMMANDS = ("serve", "demo")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
#: The shell's code for a program ended by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """A bad command line: one line on stderr, exit 2."""


class Failure(Exception):
    """A failure at run time (refused connection, failed handshake, ...): one line on stderr, exit 1."""


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr (exit 2) instead of usage + message."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def print_error(message: str) -> None:
    """``picows: error: MESSAGE`` on stderr, as one line whatever the message contains."""
    text = " ".join(str(message).split())
    print(f"picows: error: {text}", file=sys.stderr, flush=True)


def out(line: str) -> None:
    """One line on stdout, flushed at once (the output is read by people and by pipes)."""
    print(line, flush=True)


def os_error_text(exc: OSError) -> str:
    """``Connection refused`` rather than asyncio's ``Connect call failed ('127.0.0.1', 1)``."""
    if isinstance(exc, socket.gaierror) or not exc.errno or exc.errno < 0:
        return exc.strerror or str(exc)
    return os.strerror(exc.errno)


def url_host(host: str) -> str:
    """A host as it is written in a URL: IPv6 addresses in brackets."""
    return f"[{host}]" if ":" in host else host


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


def run_command(command: Callable[[argparse.Namespace], Awaitable[int]], args: argparse.Namespace) -> int:
    """Run an async command to completion and turn its errors into one line and an exit code."""
    _setup_logging(args.debug)
    _tolerant_output()

    async def _main() -> int:
        return await command(args)

    try:
        return asyncio.run(_main())
    except UsageError as exc:
        print_error(str(exc))
        return EXIT_USAGE
    except Failure as exc:
        print_error(str(exc))
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:
        if args.debug:
            raise
        print_error(f"{type(exc).__name__}: {exc} (--debug shows the traceback)")
        return EXIT_FAILURE
