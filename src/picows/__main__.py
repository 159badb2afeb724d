"""Command line: ``python -m picows demo`` and ``python -m picows --version``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    import picows

    parser = argparse.ArgumentParser(prog="python -m picows", description="picows command line tools")
    parser.add_argument(
        "--version",
        action="version",
        version=f"picows {picows.__version__} (backend: {picows.BACKEND})",
    )
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="echo round trips per second on loopback, for both backends")
    demo.add_argument("--duration", type=float, default=2.0, help="seconds per message size (default 2)")
    demo.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.command == "demo":
        from . import _demo

        if args.duration <= 0:
            parser.error("--duration must be > 0")
        if args.child:
            _demo.run_child(args.duration)
            return 0
        return _demo.main(args.duration)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
