"""The shared harness of the benchmark tools in ``benchmarks/`` (echo_rps.py, scale.py, report.py).

One module per job:

* :mod:`.impls`    the rows: which interpreter, worker and environment run each implementation,
                   and the checks that a process really ran what its row promises;
* :mod:`.procs`    spawning workers (CPU pinning, JSON lines on stdout, bounded waits, clean stops);
* :mod:`.rounds`   interleaved rounds, medians, spread and ratios;
* :mod:`.venvs`    the virtualenvs of the published picows and of PyPy, and interpreter discovery;
* :mod:`.tls`      a throw-away self-signed certificate per run, for ``wss://``;
* :mod:`.cdriver`  building the C echo driver (plain and TLS);
* :mod:`.core_client` a core echo client (the driver of the instruction-count tools);
* :mod:`.machine`  what the numbers were measured on (CPU, kernel, git state, stale builds);
* :mod:`.output`   formatting (sizes), headers and the JSON document.

The tools import it as the package ``harness`` (``benchmarks/`` is their
``sys.path[0]``). The worker processes in ``workers/`` do not: they run with
other interpreters and import only the standard library.
"""

from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO = BENCH_DIR.parent
WORKERS = BENCH_DIR / "workers"
#: Virtualenvs the harness creates (published picows, PyPy); git-ignored.
VENVS = BENCH_DIR / ".venvs"
#: Build products (the C driver); git-ignored.
BUILD = BENCH_DIR / ".build"
