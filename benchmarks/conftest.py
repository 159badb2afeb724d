"""pytest configuration for ``benchmarks/``: backend header and the speed-up table.

At the end of a pytest-benchmark run this prints, per benchmark group, the
median of the pure and the cython backend and the speed-up (pure / cython);
``benchmarks/speedup.py FILE.json`` prints the same from a saved JSON.
"""

from __future__ import annotations

import os
import platform
import sys

sys.path.insert(0, os.path.dirname(__file__))
import pytest  # noqa: E402
import speedup  # noqa: E402


def pytest_report_header(config):
    import picows

    return [
        f"picows {picows.__version__} (import picows -> backend {picows.BACKEND}, "
        f"from {os.path.dirname(picows.__file__)}); "
        "the benchmarks import both backends directly",
        f"interpreter: {platform.python_implementation()} {platform.python_version()}",
    ]


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not getattr(session, "benchmarks", None):
        return
    rows = []
    for b in session.benchmarks:
        try:
            backend = (b.params or {}).get("backend") or b.extra_info.get("backend")
            rows.append({"group": b.group or b.name, "backend": backend, "median": b.stats.median})
        except Exception:  # a benchmark that failed has no stats
            continue
    lines = speedup.table(rows)
    if lines:
        terminalreporter.write_sep("-", "cython vs pure: speed-up = pure median / cython median")
        for line in lines:
            terminalreporter.write_line(line)
