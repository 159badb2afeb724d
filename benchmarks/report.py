#!/usr/bin/env python3
"""Render ``echo_rps.py --json`` results as Markdown tables (the README's Performance section).

One table per file: a row per (loop, size), a column per implementation with
its median requests per second, then the requested ratio columns (``A/B`` =
median of A divided by median of B, measured in the same interleaved run).

    python benchmarks/echo_rps.py --json /tmp/clients.json
    python benchmarks/echo_rps.py --mode server --json /tmp/servers.json
    python benchmarks/echo_rps.py --tls --json /tmp/wss_clients.json
    python benchmarks/report.py /tmp/clients.json --ratio ours-cython/published --ratio ours-pure/websockets
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.output import fmt_size


def _rps(value: float) -> str:
    return f"{value / 1000:.1f}k"


def render(doc: dict, ratios: list[tuple[str, str]]) -> str:
    summary = doc["summary"]
    config = doc["config"]
    names: list[str] = []
    medians: dict[tuple[str, str, int], float] = {}
    for row in summary:
        if row.get("median") is None:
            continue
        if row["name"] not in names:
            names.append(row["name"])
        medians[(row["name"], row["loop"], row["size"])] = row["median"]
    ratios = [(a, b) for a, b in ratios if a in names and b in names]
    header = ["loop", "size", *names, *(f"{a} / {b}" for a, b in ratios)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for loop in config["loops"]:
        for size in config["sizes"]:
            cells = [loop, fmt_size(size)]
            for name in names:
                value = medians.get((name, loop, size))
                cells.append(_rps(value) if value else "-")
            for a, b in ratios:
                va, vb = medians.get((a, loop, size)), medians.get((b, loop, size))
                cells.append(f"{va / vb:.2f}x" if va and vb else "-")
            lines.append("| " + " | ".join(cells) + " |")
    machine = doc.get("machine", {})
    if config["mode"] == "client":
        fixed = f"server: {config['server_impl']} on {config['server_loop']}; the loop column is the client's"
    else:
        fixed = f"driver: {config['driver']} client; the loop column is the server's"
    scheme = "wss://" if config.get("tls") else "ws://"
    lines.append("")
    lines.append(
        f"{doc['date'][:10]}, {machine.get('cpu_model', '?')} ({machine.get('cpus')} CPUs), {scheme}, {fixed}; "
        f"median of {config['repeat']} interleaved {config['duration']} s runs, requests/s."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path, help="JSON files written by echo_rps.py --json")
    ap.add_argument("--ratio", action="append", default=[], metavar="A/B", help="add a ratio column (repeatable)")
    args = ap.parse_args(argv)
    ratios = []
    for text in args.ratio:
        a, sep, b = text.partition("/")
        if not sep or not a or not b:
            ap.error(f"--ratio wants A/B, got {text!r}")
        ratios.append((a, b))
    for path in args.files:
        print(render(json.loads(path.read_text()), ratios))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
