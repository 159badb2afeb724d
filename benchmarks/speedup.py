#!/usr/bin/env python3
"""Print the cython/pure speed-up per benchmark group of a pytest-benchmark JSON file.

    python -m pytest benchmarks/test_micro.py --benchmark-json=/tmp/micro.json
    python benchmarks/speedup.py /tmp/micro.json

speed-up = median time of the pure backend / median time of the cython
backend, in the same group (same operation, same input).  The backend of a
benchmark is its ``backend`` parameter (see ``test_micro.py``).
``benchmarks/conftest.py`` prints the same table at the end of a pytest run.
"""

from __future__ import annotations

import json
import sys


def _fmt_time(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            return f"{s / scale:,.2f} {unit}"
    return f"{s}"  # pragma: no cover


def rows_from_json(doc: dict) -> list[dict]:
    out = []
    for b in doc.get("benchmarks", []):
        backend = (b.get("params") or {}).get("backend") or (b.get("extra_info") or {}).get("backend")
        out.append({"group": b.get("group") or b["name"], "backend": backend, "median": b["stats"]["median"]})
    return out


def table(rows: list[dict]) -> list[str]:
    groups: dict[str, dict[str, float]] = {}
    for r in rows:
        if r["backend"] in ("pure", "cython") and r["median"]:
            groups.setdefault(r["group"], {})[r["backend"]] = r["median"]
    if not groups:
        return []
    width = max(len(g) for g in groups)
    lines = [
        f"{'group':<{width}}  {'pure (median)':>14}  {'cython (median)':>15}  {'speed-up':>9}",
        "-" * (width + 44),
    ]
    for g in sorted(groups):
        d = groups[g]
        p, c = d.get("pure"), d.get("cython")
        sp = f"{p / c:8.1f}x" if p and c else "        -"
        lines.append(
            f"{g:<{width}}  {_fmt_time(p) if p else '-':>14}  {_fmt_time(c) if c else '-':>15}  {sp:>9}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    with open(argv[0]) as f:
        doc = json.load(f)
    lines = table(rows_from_json(doc))
    if not lines:
        print("no benchmarks with a pure/cython 'backend' parameter in", argv[0])
        return 1
    print("cython vs pure: speed-up = pure median / cython median")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
