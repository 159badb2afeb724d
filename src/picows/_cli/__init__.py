"""The command line, ``python -m picows``: one module per command.

* ``python -m picows URL``: an interactive client (:mod:`.client`).
* ``python -m picows serve``: an echo server (:mod:`.serve`).
* ``python -m picows demo``: echo round trips per second for both backends
  (:mod:`.demo`).
* ``python -m picows --version``.

User errors (bad arguments, a bad URL, a refused connection, a failed
handshake, a port in use, ...) print one line to stderr and exit non-zero:
2 for a usage error, 1 for a failure at run time. ``--debug`` shows
tracebacks and picows' debug logs instead.

The benchmarks that compare picows with other libraries are not a command:
they need the other libraries, other interpreters and a C compiler, so they
live in the source repository (``benchmarks/echo_rps.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from . import client, demo, serve
from .common import COMMANDS, run_command

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args and args[0] in COMMANDS else None
    if command == "demo":
        return demo.run(args[1:])
    if command == "serve":
        return run_command(serve.run, serve.parser().parse_args(args[1:]))
    top = client.parser()
    if not args:
        top.error(f"a URL or a command ({', '.join(COMMANDS)}) is required")
    return run_command(client.run, top.parse_args(args))
