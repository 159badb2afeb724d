"""Interleaved rounds and their summary: medians, spread (min..max) and ratios to a baseline.

Runs are interleaved (round 1: A B C, round 2: A B C, ...) so that a slow
phase of a shared machine hits every row alike instead of one row's whole
series; the median of the rounds is what the tables show.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator


def interleaved(repeat: int, loops: list[str], sizes: list[int], names: list[str]) -> Iterator[tuple[int, str, int, str]]:
    """``(round, loop, size, name)`` in the order the runs are made."""
    for rnd in range(1, repeat + 1):
        for loop in loops:
            for size in sizes:
                for name in names:
                    yield rnd, loop, size, name


def median(values: list) -> float | None:
    """The median of the values that are not None (None if there are none)."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _cpu_vs_fixed(run: dict, key: str) -> float | None:
    """CPU per round trip of the compared side over that of the fixed one (the driver, or the server), in one run.

    Both processes share one CPU at the same time, so a slower or busier machine slows both: this
    ratio moves far less between runs than either CPU time or the rps (on a noisy VM, by a few
    percent where the rps spreads by 20-30%). It compares variants of one implementation; the
    fixed side's own CPU changes with its peer (cache, wake-ups), so between libraries it is not
    a stand-in for the rps.
    """
    client, server = run.get("client_cpu_us_per_rt"), run.get("server_cpu_us_per_rt")
    mine, fixed = (server, client) if key == "server" else (client, server)
    return mine / fixed if mine and fixed else None


def summarize(
    results: list[dict], names: list[str], loops: list[str], sizes: list[int], baseline: str | None, key: str = "client"
) -> dict[tuple[str, str, int], dict]:
    """Per (name, loop, size): number of runs and errors, median/min/max rps, CPU per round trip, ratio.

    ``cpu_vs_fixed``: the median of :func:`_cpu_vs_fixed` over the runs (``key`` is the compared side).
    """
    table: dict[tuple[str, str, int], dict] = {}
    for loop in loops:
        for size in sizes:
            for c in names:
                mine = [r for r in results if (r.get(key), r["loop"], r["size"]) == (c, loop, size)]
                ok = [r for r in mine if r.get("ok")]
                vals = [r["rps"] for r in ok]
                table[(c, loop, size)] = {
                    "n": len(vals),
                    "errors": len(mine) - len(ok),
                    "median": median(vals),
                    "min": min(vals) if vals else None,
                    "max": max(vals) if vals else None,
                    "client_cpu_us_per_rt": median([r.get("client_cpu_us_per_rt") or None for r in ok]),
                    "server_cpu_us_per_rt": median([r.get("server_cpu_us_per_rt") for r in ok]),
                    "cpu_vs_fixed": median([_cpu_vs_fixed(r, key) for r in ok]),
                }
            base = table.get((baseline, loop, size), {}).get("median") if baseline else None
            for c in names:
                row = table[(c, loop, size)]
                row["ratio"] = row["median"] / base if (base and row["median"]) else None
    return table
