#!/usr/bin/env python3
"""Loopback WebSocket echo requests-per-second benchmark (picows vs others).

Methodology (the common public one for WebSocket client benchmarks):

* one fixed, fast echo server in its own process (default: OUR compiled picows
  server, ``PICOWS_PURE=0``, on uvloop; ``--server-impl`` picks another);
* each client run is a separate process with the interpreter / venv / env of
  the library under test: connect, then for ``--duration`` seconds send one
  message, wait for its whole echo, repeat; round trips per second are counted
  (after a short warm-up);
* server and client are pinned to the SAME CPU (``--cpu``), so the number is
  the CPU cost of one round trip (client + server + kernel), not the latency of
  cross-CPU wake-ups, which on small VMs is tens of microseconds and hides
  everything else;
* runs are interleaved (A B C A B C ...) for ``--repeat`` rounds and the
  median, the spread (min..max) and the ratio to ``--baseline`` are printed.

Two modes:

* ``--mode client`` (default): the server is fixed (``--server-impl``), the
  CLIENTS are compared (``--clients``, ``--loops`` = client event loops);
* ``--mode server``: the client is fixed (``--driver``), the SERVERS are
  compared (``--servers``, ``--loops`` = server event loops).  One server
  process per (server, loop) is started up front (idle ones cost nothing) and
  the driver runs are interleaved over them exactly as above.  The default
  driver is ``c``: a ~250-line blocking C client (benchmarks/echo_client.c,
  compiled on first use with the system C compiler into benchmarks/.build/):
  it is not one of the libraries under test, and with two syscalls and no
  event loop per round trip it leaves as much of the shared CPU as possible
  to the server, so server differences show up undiluted.  ``--driver
  ours-cython`` uses our compiled client on uvloop instead.

Every run also reports the CPU time per round trip of the client process
(getrusage) and of the server process (/proc/PID/stat over the measured
window): far less sensitive to other load on the machine than rps.

Clients (and, where it makes sense, servers):
  ours-cython  our picows, compiled backend (PICOWS_PURE=0; aborts if not "cython")
  ours-pure    our picows, pure-Python backend (PICOWS_PURE=1)
  ours-pypy    our picows on PyPy (pure backend; ``--pypy-python``, our src on
               PYTHONPATH); longer warm-up (``--pypy-warmup``) for the JIT
  published    the independent picows package from PyPI, in its own venv
               (``--setup-published`` creates benchmarks/.venvs/published),
               default configuration
  websockets   websockets' asyncio client/server (in our dev venv)
  aiohttp      aiohttp's ws client / web.WebSocketResponse server (dev venv)
  websockets-pure, aiohttp-pure
               the same with their optional C extensions switched off
               (websockets' speedups module blocked, AIOHTTP_NO_EXTENSIONS=1):
               the like-for-like comparison for our pure backend
  raw          client only: raw asyncio TCP, HTTP upgrade once, then
               pre-built masked frames and a minimal buffered protocol
               (event-loop ceiling)

Examples:
  python benchmarks/echo_rps.py --setup-published
  python benchmarks/echo_rps.py --clients ours-cython,ours-pure,published
  python benchmarks/echo_rps.py --server-impl published --json /tmp/rps.json
  python benchmarks/echo_rps.py --mode server --json /tmp/srv.json
  python -m picows bench --mode server --sizes 256 --repeat 5
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import select
import shlex
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "echo_rps_worker.py"
DEFAULT_PUBLISHED_VENV = HERE / ".venvs" / "published"
DEFAULT_OURS_PYTHON = Path("/work/venv/bin/python")
C_CLIENT_SRC = HERE / "echo_client.c"
C_CLIENT_BIN = HERE / ".build" / "echo_client"


def _default_pypy() -> str:
    for cand in ("/tmp/pypyenv/bin/python",):
        if Path(cand).exists():
            return cand
    return shutil.which("pypy3") or "pypy3"


ALL_CLIENTS = [
    "ours-cython", "ours-pure", "ours-pypy", "published", "websockets", "aiohttp", "websockets-pure", "aiohttp-pure",
    "raw", *[f"{name}-ws" for name in ("ours-cython", "ours-pure", "ours-pypy", "published")],
]
SERVER_IMPLS = [
    "ours-cython", "ours-pure", "ours-pypy", "published", "websockets", "aiohttp", "websockets-pure", "aiohttp-pure",
    *[f"{name}-ws" for name in ("ours-cython", "ours-pure", "ours-pypy", "published")],
]
NO_WEBSOCKETS_SPEEDUPS_ENV = "ECHO_RPS_NO_WEBSOCKETS_SPEEDUPS"  # honoured by echo_rps_worker.py
DEFAULT_SERVERS = ["ours-cython", "ours-pure", "published", "websockets", "aiohttp"]
DRIVERS = ["c", "ours-cython"]

PINNING_NOTE = (
    "Server and client are pinned to the same CPU: on small (2-vCPU) VMs a\n"
    "cross-CPU wake-up costs tens of microseconds per message and hides every\n"
    "other cost; on one CPU the result is the CPU cost of one round trip\n"
    "(client + server + kernel loopback), which is what the libraries control."
)

# glibc malloc decides from a process's allocation history whether a 256 KiB
# block comes from mmap (fresh pages, faulted in on every use) or from the heap.
# asyncio's non-buffered protocols (websockets, aiohttp) allocate one such
# block per socket read, so that history alone moved their asyncio results by
# 2x between two identical virtualenvs. Every process gets the fast setting
# (the best case for those libraries); a value already in the environment wins.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20), "MALLOC_TRIM_THRESHOLD_": str(4 << 20)}
MALLOC_NOTE = (
    "glibc malloc thresholds are pinned in every process (MALLOC_MMAP_THRESHOLD_=1 MiB,\n"
    "MALLOC_TRIM_THRESHOLD_=4 MiB), so that per-read 256 KiB allocations (asyncio's\n"
    "Protocol path used by websockets and aiohttp) never hit mmap: their best case."
)


# --------------------------------------------------------------------------- helpers


def parse_size(text: str) -> int:
    t = text.strip().lower().replace(" ", "")
    mult = 1
    for suffix, m in (
        ("kib", 1024),
        ("mib", 1024 * 1024),
        ("kb", 1000),
        ("mb", 1000 * 1000),
        ("k", 1024),
        ("b", 1),
    ):
        if t.endswith(suffix):
            t, mult = t[: -len(suffix)], m
            break
    return int(float(t) * mult)


def fmt_size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000} KB"
    return f"{n} B"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_info() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return f"{rev}{' + uncommitted changes in src/' if dirty else ''}" if rev else "unknown"
    except Exception:
        return "unknown"


def stale_extensions(root: Path | None = None) -> list[str]:
    """Compiled modules older than their .pyx/.pxd (the benchmark would not test the source)."""
    out = []
    cdir = (root or REPO / "src") / "picows" / "_cython"
    for pyx in sorted(cdir.glob("*.pyx")):
        sos = sorted(cdir.glob(pyx.stem + ".*.so"))
        srcs = [pyx] + [p for p in (cdir / (pyx.stem + ".pxd"),) if p.exists()]
        newest_src = max(p.stat().st_mtime for p in srcs)
        if sos and min(s.stat().st_mtime for s in sos) < newest_src:
            out.append(pyx.name)
    return out


def sanitized_extensions(root: Path | None = None) -> list[str]:
    """Compiled modules linked against ASan/UBSan (a debug build: slow, and not importable without LD_PRELOAD)."""
    cdir = (root or REPO / "src") / "picows" / "_cython"
    out = []
    for so in sorted(cdir.glob("*.so")):
        try:
            data = so.read_bytes()
        except OSError:
            continue
        if b"libasan.so" in data or b"libubsan.so" in data:
            out.append(so.name)
    return out


class Impl:
    """How to start one implementation (as a client or as a server)."""

    def __init__(
        self,
        name,
        python,
        worker_impl,
        env,
        expect_backend=None,
        foreign=False,
        ours_root=None,
        warmup=None,
        expect_accel=None,
    ):
        self.name = name
        self.python = str(python)
        self.worker_impl = worker_impl
        self.env = env
        self.expect_backend = expect_backend  # for our package: "cython" / "pure"
        self.foreign = foreign  # the published picows: must NOT load our source tree
        self.ours_root = ours_root  # our picows must come from here (None: the interpreter's installed one)
        self.min_warmup = warmup  # e.g. PyPy: the JIT needs longer
        self.expect_accel = expect_accel  # third-party libraries: "python" = C extensions must be off
        self.probe: dict | None = None
        self.unavailable: str | None = None

    def cmd(self, *args: str) -> list[str]:
        return [self.python, str(WORKER), *args]


def base_env() -> dict:
    env = dict(os.environ)
    for k in ("PICOWS_PURE", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(k, None)
    env["PYTHONHASHSEED"] = "0"
    for k, v in MALLOC_ENV.items():
        env.setdefault(k, v)
    return env


def ours_root(args) -> Path | None:
    """Where our picows must be imported from: a source tree, or None for 'installed'."""
    return None if args.ours_src == "installed" else Path(args.ours_src).resolve()


def make_impls(args) -> dict[str, Impl]:
    root = ours_root(args)

    def ours_env(pure: str | None) -> dict:
        env = base_env()
        if root is not None:
            env["PYTHONPATH"] = str(root)  # always OUR tree, whatever else the venv has
        if pure is not None:
            env["PICOWS_PURE"] = pure
        return env

    pypy_env = base_env()
    pypy_env["PYTHONPATH"] = str(root if root is not None else REPO / "src")
    return {
        "ours-cython": Impl(
            "ours-cython", args.ours_python, "picows", ours_env("0"), expect_backend="cython", ours_root=root
        ),
        "ours-pure": Impl(
            "ours-pure", args.ours_python, "picows", ours_env("1"), expect_backend="pure", ours_root=root
        ),
        # PICOWS_PURE unset: on PyPy the pure backend must be chosen by itself.
        "ours-pypy": Impl(
            "ours-pypy",
            args.pypy_python,
            "picows",
            pypy_env,
            expect_backend="pure",
            ours_root=root if root is not None else REPO / "src",
            warmup=args.pypy_warmup,
        ),
        "published": Impl("published", args.published_python, "picows", base_env(), foreign=True),
        "websockets": Impl("websockets", args.ours_python, "websockets", ours_env(None)),
        "aiohttp": Impl("aiohttp", args.ours_python, "aiohttp", ours_env(None)),
        "websockets-pure": Impl(
            "websockets-pure",
            args.ours_python,
            "websockets",
            {**ours_env(None), NO_WEBSOCKETS_SPEEDUPS_ENV: "1"},
            expect_accel="python",
        ),
        "aiohttp-pure": Impl(
            "aiohttp-pure",
            args.ours_python,
            "aiohttp",
            {**ours_env(None), "AIOHTTP_NO_EXTENSIONS": "1"},
            expect_accel="python",
        ),
        "raw": Impl("raw", args.ours_python, "raw", ours_env(None)),
        # picows.websockets (websockets-compatible API) on each picows: "<name>-ws".
        "ours-cython-ws": Impl(
            "ours-cython-ws", args.ours_python, "picows-websockets", ours_env("0"),
            expect_backend="cython", ours_root=root,
        ),
        "ours-pure-ws": Impl(
            "ours-pure-ws", args.ours_python, "picows-websockets", ours_env("1"), expect_backend="pure", ours_root=root
        ),
        "ours-pypy-ws": Impl(
            "ours-pypy-ws", args.pypy_python, "picows-websockets", pypy_env, expect_backend="pure",
            ours_root=root if root is not None else REPO / "src", warmup=args.pypy_warmup,
        ),
        "published-ws": Impl("published-ws", args.published_python, "picows-websockets", base_env(), foreign=True),
    }


def pin(cpu: int | None):
    if cpu is None:
        return None

    def _pre():
        os.sched_setaffinity(0, {cpu})

    return _pre


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def tail(text: str, n: int = 3) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-400:]


class Abort(Exception):
    pass


def server_desc(info: dict) -> str:
    if info.get("backend"):
        return f"picows {info.get('picows_version')} BACKEND={info['backend']}"
    if info.get("picows_version"):
        return f"picows {info['picows_version']}"
    if info.get("aiohttp_version"):
        return f"aiohttp {info['aiohttp_version']}"
    return f"websockets {info.get('websockets_version')}"


def accel_label(info: dict) -> str:
    """The table's backend column for a third-party library: whether its C extensions ran."""
    return {"c": "C ext", "python": "python"}.get(info.get("accel") or "", "-")


def check_identity(impl: Impl, info: dict, what: str) -> None:
    """Our processes must run our tree with the requested backend; the published must not."""
    f = info.get("picows_file") or ""
    inside = f.startswith(str(REPO / "src"))
    if impl.expect_backend is not None:
        if info.get("backend") != impl.expect_backend:
            raise Abort(
                f"{what} {impl.name}: picows.BACKEND is {info.get('backend')!r}, expected "
                f"{impl.expect_backend!r} (PICOWS_PURE={impl.env.get('PICOWS_PURE')}, picows from {f})"
            )
        if impl.ours_root is not None and not f.startswith(str(impl.ours_root)):
            raise Abort(f"{what} {impl.name}: imported picows from {f}, not from {impl.ours_root}")
        if impl.ours_root is None and f.startswith(str(HERE / ".venvs")):
            raise Abort(f"{what} {impl.name}: imported the published picows ({f}), not ours")
    if impl.expect_accel is not None and info.get("accel") != impl.expect_accel:
        raise Abort(f"{what} {impl.name}: uses {info.get('accel_detail')}, expected {impl.expect_accel} code")
    if impl.foreign and f and (inside or f.startswith(str(REPO / "build"))):
        raise Abort(f"{what} {impl.name}: the 'published' interpreter imported OUR picows ({f})")


def probe(impl: Impl) -> None:
    if not Path(impl.python).exists():
        impl.unavailable = f"interpreter {impl.python} not found" + (
            " (run with --setup-published)" if impl.foreign else ""
        )
        return
    try:
        p = subprocess.run(
            impl.cmd("probe", "--impl", impl.worker_impl),
            env=impl.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        impl.unavailable = "probe timed out"
        return
    info = last_json_line(p.stdout)
    if p.returncode != 0 or info is None:
        impl.unavailable = f"import failed: {tail(p.stderr, 1) or p.returncode}"
        return
    impl.probe = info


# --------------------------------------------------------------------------- server


class Server:
    def __init__(self, impl: Impl, loop: str, cpu: int | None, log_path: Path):
        self.impl = impl
        self.log = open(log_path, "w")
        worker_impl = impl.worker_impl
        if worker_impl not in ("picows", "picows-websockets", "websockets", "aiohttp"):
            raise Abort(f"{impl.name} cannot be a server")
        self.proc = subprocess.Popen(
            impl.cmd("server", "--impl", worker_impl, "--loop", loop),
            env=impl.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            preexec_fn=pin(cpu),
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 60)
        line = self.proc.stdout.readline() if ready else ""
        self.info = last_json_line(line) if line else None
        if not self.info:
            self.stop()
            raise Abort(f"server {impl.name} did not start; see {log_path}")
        self.port = self.info["port"]
        check_identity(impl, self.info, "server")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()  # our own child, by its pid
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.log.close()


# --------------------------------------------------------------------------- main


def setup_published(args) -> int:
    venv = Path(args.published_python).parent.parent
    if Path(args.published_python).exists():
        print(f"published picows venv already present: {venv}")
        return 0
    base = args.ours_python if Path(args.ours_python).exists() else sys.executable
    print(f"creating {venv} with {base} and installing the published picows + uvloop from PyPI ...")
    venv.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([str(base), "-m", "venv", str(venv)], cwd="/")
    if r.returncode:
        print("venv creation failed", file=sys.stderr)
        return r.returncode
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    r = subprocess.run(pip + ["picows", "uvloop"], cwd="/", env=base_env())
    if r.returncode:
        print("pip install picows uvloop failed", file=sys.stderr)
        return r.returncode
    return 0


def summarize(results, names, loops, sizes, baseline, key="client"):
    table = {}
    for loop in loops:
        for size in sizes:
            for c in names:
                mine = [r for r in results if (r.get(key), r["loop"], r["size"]) == (c, loop, size)]
                ok = [r for r in mine if r.get("ok")]
                vals = [r["rps"] for r in ok]
                cpu = [r["client_cpu_us_per_rt"] for r in ok if r.get("client_cpu_us_per_rt")]
                scpu = [r["server_cpu_us_per_rt"] for r in ok if r.get("server_cpu_us_per_rt") is not None]
                table[(c, loop, size)] = {
                    "n": len(vals),
                    "errors": len(mine) - len(ok),
                    "median": statistics.median(vals) if vals else None,
                    "min": min(vals) if vals else None,
                    "max": max(vals) if vals else None,
                    "client_cpu_us_per_rt": statistics.median(cpu) if cpu else None,
                    "server_cpu_us_per_rt": statistics.median(scpu) if scpu else None,
                }
            base = table.get((baseline, loop, size), {}).get("median") if baseline else None
            for c in names:
                row = table[(c, loop, size)]
                row["ratio"] = row["median"] / base if (base and row["median"]) else None
    return table


def print_table(table, names, loops, sizes, baseline, backends, who="client"):
    hdr = (
        f"{'loop':<8} {'size':>8}  {who:<15} {'backend':<8} {'median rps':>11}  {'min..max':>17} {'spread':>7}  "
        f"{'vs ' + (baseline or '-'):>16}  {'client CPU us/rt':>16}  {'server CPU us/rt':>16}"
    )
    print(hdr)
    print("-" * len(hdr))
    for loop in loops:
        for size in sizes:
            for c in names:
                row = table.get((c, loop, size))
                if row is None or (row["median"] is None and not row["errors"]):
                    continue  # not applicable (e.g. uvloop on PyPy)
                if row["median"] is None:
                    print(
                        f"{loop:<8} {fmt_size(size):>8}  {c:<15} {backends.get(c, '-'):<8} {'failed':>11}  "
                        f"({row['errors']} errors)"
                    )
                    continue
                spread = (row["max"] - row["min"]) / row["median"] * 100
                ratio = f"{row['ratio']:.2f}x" if row["ratio"] else "-"
                cpu_us = f"{row['client_cpu_us_per_rt']:.1f}" if row["client_cpu_us_per_rt"] else "-"
                scpu_us = (
                    f"{row['server_cpu_us_per_rt']:.1f}" if row["server_cpu_us_per_rt"] is not None else "-"
                )
                err = f"  ({row['errors']} failed runs)" if row["errors"] else ""
                print(
                    f"{loop:<8} {fmt_size(size):>8}  {c:<15} {backends.get(c, '-'):<8} {row['median']:>11,.0f}  "
                    f"{row['min']:>8,.0f}..{row['max']:<8,.0f} {spread:>6.1f}%  {ratio:>16}  {cpu_us:>16}  "
                    f"{scpu_us:>16}{err}"
                )
            print()


def build_c_client() -> tuple[Path | None, str]:
    """Compile benchmarks/echo_client.c (once; again when the source changes)."""
    if C_CLIENT_BIN.exists() and C_CLIENT_BIN.stat().st_mtime >= C_CLIENT_SRC.stat().st_mtime:
        return C_CLIENT_BIN, "cached"
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None, "no C compiler (cc/gcc) found"
    C_CLIENT_BIN.parent.mkdir(parents=True, exist_ok=True)
    tmp = C_CLIENT_BIN.with_suffix(f".tmp{os.getpid()}")
    try:
        r = subprocess.run(
            [cc, "-O2", "-Wall", "-o", str(tmp), str(C_CLIENT_SRC)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{cc} failed: {exc}"
    if r.returncode:
        return None, f"{cc} failed: {tail(r.stderr)}"
    os.replace(tmp, C_CLIENT_BIN)
    return C_CLIENT_BIN, f"built with {cc}"


def main(argv=None) -> int:
    """Command line entry point (also used by ``python -m picows bench ARGS``)."""
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--mode",
        default="client",
        choices=["client", "server"],
        help="compare clients against one server (default) or servers driven by one client",
    )
    ap.add_argument(
        "--clients",
        default=",".join(ALL_CLIENTS),
        help=f"client mode: comma list from {ALL_CLIENTS} (default: all)",
    )
    ap.add_argument(
        "--server-impl",
        default="ours-cython",
        choices=SERVER_IMPLS,
        help="client mode: echo server (default ours-cython)",
    )
    ap.add_argument(
        "--server-loop", default="uvloop", choices=["uvloop", "asyncio"], help="client mode: server loop"
    )
    ap.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help=f"server mode: comma list from {SERVER_IMPLS} (default: {','.join(DEFAULT_SERVERS)})",
    )
    ap.add_argument(
        "--driver",
        default="c",
        choices=DRIVERS,
        help="server mode: the fixed client: c (benchmarks/echo_client.c, default) or ours-cython on uvloop",
    )
    ap.add_argument("--sizes", default="256,8KiB,100KB", help="message sizes (default 256,8KiB,100KB)")
    ap.add_argument(
        "--loops", default="asyncio,uvloop", help="event loops of the compared side (default asyncio,uvloop)"
    )
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--duration", type=float, default=2.0, help="measured seconds per run (default 2)")
    ap.add_argument(
        "--warmup", type=float, default=0.3, help="un-measured seconds before each run (default 0.3)"
    )
    ap.add_argument("--cpu", default="0", help="CPU for server and client, or 'none' to not pin (default 0)")
    ap.add_argument("--server-cpu", default=None, help="pin the server(s) elsewhere (default: same as --cpu)")
    ap.add_argument(
        "--baseline",
        default=None,
        help="what the ratios refer to (default: published if available, else ours-cython)",
    )
    ap.add_argument("--json", default=None, metavar="FILE", help="write all raw numbers and metadata to FILE")
    ap.add_argument(
        "--ours-python", default=str(DEFAULT_OURS_PYTHON if DEFAULT_OURS_PYTHON.exists() else sys.executable)
    )
    ap.add_argument(
        "--ours-src",
        default=str(REPO / "src"),
        help="directory our picows is imported from (PYTHONPATH), or 'installed' to use the package "
        "installed in --ours-python (default: this checkout's src/)",
    )
    ap.add_argument("--published-python", default=str(DEFAULT_PUBLISHED_VENV / "bin" / "python"))
    ap.add_argument(
        "--pypy-python", default=_default_pypy(), help="PyPy for ours-pypy (needs multidict, python-socks)"
    )
    ap.add_argument(
        "--pypy-warmup",
        type=float,
        default=2.0,
        help="minimum warm-up of PyPy runs, for the JIT (default 2)",
    )
    ap.add_argument(
        "--setup-published",
        action="store_true",
        help=f"create {DEFAULT_PUBLISHED_VENV.relative_to(REPO)} if absent",
    )
    args = ap.parse_args(argv)

    if args.setup_published and setup_published(args):
        # Not fatal: the run goes on and reports 'published' as not available.
        print("WARNING : could not set up the published picows venv; continuing without it", file=sys.stderr)

    cpu = None if args.cpu.lower() == "none" else int(args.cpu)
    server_cpu = (
        cpu
        if args.server_cpu is None
        else (None if args.server_cpu.lower() == "none" else int(args.server_cpu))
    )
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    loops = [s.strip() for s in args.loops.split(",") if s.strip()]
    for lp in loops:
        if lp not in ("asyncio", "uvloop"):
            ap.error(f"unknown loop {lp!r}")
    impls = make_impls(args)
    try:
        if args.mode == "server":
            servers = [s.strip() for s in args.servers.split(",") if s.strip()]
            for s in servers:
                if s not in SERVER_IMPLS:
                    ap.error(f"unknown server {s!r}; choose from {SERVER_IMPLS}")
            return run_server_mode(args, impls, servers, loops, sizes, cpu, server_cpu)
        clients = [s.strip() for s in args.clients.split(",") if s.strip()]
        for c in clients:
            if c not in ALL_CLIENTS:
                ap.error(f"unknown client {c!r}; choose from {ALL_CLIENTS}")
        return run(args, impls, clients, loops, sizes, cpu, server_cpu)
    except Abort as exc:
        print(f"\nABORTED: {exc}", file=sys.stderr)
        return 2


def print_header(args, title: str) -> tuple[_dt.datetime, list[str]]:
    started = _dt.datetime.now(_dt.timezone.utc)
    root = ours_root(args)
    print("=" * 78)
    print(title)
    print("=" * 78)
    print(f"command : {shlex.join([sys.executable, *sys.argv])}")
    print(f"date    : {started.astimezone().isoformat(timespec='seconds')}")
    print(f"machine : {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
    print(f"ours    : {root or 'installed package of ' + args.ours_python} @ {git_info()}")
    stale = stale_extensions(root) if root else []
    if stale:
        print(
            f"WARNING : compiled modules older than their sources: {', '.join(stale)} (rebuild to test the source)"
        )
    san = sanitized_extensions(root) if root else []
    if san:
        print(f"WARNING : compiled modules built with sanitizers (ASan/UBSan): {', '.join(san)}")
    print()
    print(PINNING_NOTE)
    print()
    print(MALLOC_NOTE)
    return started, stale


def probe_all(impls, names) -> None:
    for name in names:
        probe(impls[name])
    for name in names:
        impl = impls[name]
        if impl.probe is not None:
            check_identity(impl, impl.probe, "probe")


def print_interpreters(impls, names) -> None:
    print("interpreters and packages:")
    seen = set()
    for name in names:
        impl = impls[name]
        if impl.unavailable:
            print(f"  {name:<15} not available ({impl.unavailable})")
            continue
        p = impl.probe
        extra = []
        if impl.worker_impl in ("picows", "picows-websockets"):
            extra.append(
                f"picows {p.get('picows_version')}"
                + (f" BACKEND={p.get('backend')}" if p.get("backend") else "")
            )
            extra.append(f"from {Path(p.get('picows_file') or '?').parent}")
        elif p.get("accel_detail"):
            extra.append(p["accel_detail"])
        print(f"  {name:<15} {impl.python} (Python {p['python']}) {' '.join(extra)}")
        seen.add(impl.python)
    for python in sorted(seen):
        p = next(i.probe for i in impls.values() if i.python == python and i.probe)
        pk = ", ".join(f"{k} {p[k]}" for k in ("uvloop", "websockets", "aiohttp", "picows") if k in p)
        print(f"  packages in {python}: {pk or '-'}")
    print()


def warmup_of(args, impl: Impl) -> float:
    return max(args.warmup, impl.min_warmup or 0.0)


def run(args, impls, clients, loops, sizes, cpu, server_cpu) -> int:
    started, stale = print_header(
        args, "picows echo RPS benchmark: CLIENTS (loopback, one message in flight)"
    )
    print(
        f"-> pinned: server on CPU {server_cpu if server_cpu is not None else 'any'}, "
        f"clients on CPU {cpu if cpu is not None else 'any'}"
    )
    print()

    # ---- availability
    needed = list(dict.fromkeys(clients + [args.server_impl]))
    probe_all(impls, needed)
    srv_impl = impls[args.server_impl]
    if srv_impl.unavailable:
        raise Abort(f"server {args.server_impl} not available ({srv_impl.unavailable})")
    if args.server_loop not in srv_impl.probe["loops"]:
        raise Abort(f"server {args.server_impl}: {args.server_loop} not installed")
    if "ours-cython" in clients and impls["ours-cython"].unavailable:
        raise Abort(
            f"ours-cython: PICOWS_PURE=0 did not give the compiled backend: {impls['ours-cython'].unavailable}"
        )

    runnable = [c for c in clients if not impls[c].unavailable]
    baseline = args.baseline or (
        "published" if "published" in runnable else ("ours-cython" if "ours-cython" in runnable else None)
    )
    if baseline and baseline not in runnable:
        print(f"note: baseline {baseline!r} is not run; ratios omitted")
        baseline = None
    print_interpreters(impls, needed)

    # ---- server
    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    server = Server(srv_impl, args.server_loop, server_cpu, log_dir / f"echo_rps_server_{os.getpid()}.log")
    url = f"ws://127.0.0.1:{server.port}/"
    backends = {}
    print(
        f"server  : {args.server_impl} ({srv_impl.python}, "
        f"{server_desc(server.info)}) "
        f"on {args.server_loop}, {url}, pid {server.info['pid']}, affinity {server.info.get('affinity')}"
    )
    n_runs = (
        sum(1 for c in runnable for lp in loops if lp in impls[c].probe["loops"]) * len(sizes) * args.repeat
    )
    est = sum(
        (args.duration + warmup_of(args, impls[c]) + 0.4) * len(sizes) * args.repeat
        for c in runnable
        for lp in loops
        if lp in impls[c].probe["loops"]
    )
    print(f"plan    : {n_runs} runs (clients x loops x sizes x {args.repeat} rounds) ~ {est / 60:.1f} min")
    print()

    results = []
    try:
        for rnd in range(1, args.repeat + 1):
            for loop in loops:
                for size in sizes:
                    for c in runnable:
                        impl = impls[c]
                        if loop not in impl.probe["loops"]:
                            continue
                        warm = warmup_of(args, impl)
                        rec = {"round": rnd, "client": c, "loop": loop, "size": size, "ok": False}
                        cmd = impl.cmd(
                            "client",
                            "--impl",
                            impl.worker_impl,
                            "--loop",
                            loop,
                            "--url",
                            url,
                            "--size",
                            str(size),
                            "--duration",
                            str(args.duration),
                            "--warmup",
                            str(warm),
                            "--server-pid",
                            str(server.info["pid"]),
                        )
                        try:
                            p = subprocess.run(
                                cmd,
                                env=impl.env,
                                capture_output=True,
                                text=True,
                                timeout=args.duration + warm + 60,
                                preexec_fn=pin(cpu),
                            )
                            out = last_json_line(p.stdout)
                            if p.returncode == 0 and out:
                                check_identity(impl, out, "client")
                                if impl.worker_impl in ("picows", "picows-websockets"):
                                    backends[c] = out.get("backend") or "default"
                                elif out.get("accel"):
                                    backends[c] = accel_label(out)
                                rec.update(out)
                                rec.update(ok=True, client=c, round=rnd)
                            else:
                                rec["error"] = tail(p.stderr) or f"exit {p.returncode}"
                        except subprocess.TimeoutExpired:
                            rec["error"] = "timeout"
                        results.append(rec)
                        print_run(rnd, args.repeat, loop, size, c, rec)
                        if not server.alive():
                            raise Abort(f"the echo server died; see {server.log.name}")
    finally:
        server.stop()

    for c in runnable:
        if impls[c].worker_impl != "picows":
            backends.setdefault(c, "-")
        elif impls[c].foreign:
            backends[c] = "(theirs)"
        else:
            backends.setdefault(c, impls[c].expect_backend or "default")

    table = summarize(results, runnable, loops, sizes, baseline)
    print()
    print(f"RESULTS: round trips per second, median of {args.repeat} interleaved runs of {args.duration:g}s")
    print(
        f"server = {args.server_impl} on {args.server_loop}; client loop as listed; "
        f"server+client pinned to CPU {cpu if cpu is not None else 'any'}"
        + (f"/{server_cpu}" if server_cpu != cpu else "")
    )
    print()
    print_table(table, runnable, loops, sizes, baseline, backends)
    print_cpu_note()
    for c in clients:
        if impls[c].unavailable:
            print(f"{c}: not available ({impls[c].unavailable})")
    print(f"finished in {(_dt.datetime.now(_dt.timezone.utc) - started).total_seconds():.0f}s")

    if args.json:
        doc = json_doc(
            args, started, stale, impls, needed, results, table, baseline, cpu, server_cpu, loops, sizes
        )
        doc["server"] = server.info
        write_json(args.json, doc)
    return 0 if all(r["ok"] for r in results) else 1


def print_run(rnd, repeat, loop, size, name, rec) -> None:
    if rec["ok"]:
        scpu = rec.get("server_cpu_us_per_rt")
        shown = f"{rec['rps']:>10,.0f} rps  client CPU {rec.get('client_cpu_us_per_rt') or 0:6.1f} us/rt" + (
            f"  server CPU {scpu:6.1f} us/rt" if scpu is not None else ""
        )
    else:
        shown = f"FAILED: {rec['error']}"
    print(f"  round {rnd}/{repeat} {loop:<7} {fmt_size(size):>8} {name:<15} {shown}", flush=True)


def print_cpu_note() -> None:
    print("client/server CPU us/rt = median user+sys CPU time of the client / server process per round trip")
    print("(getrusage / /proc/PID/stat, the latter at clock-tick resolution); far less sensitive to other")
    print("load on the machine than the wall-clock rps.")


def json_doc(args, started, stale, impls, needed, results, table, baseline, cpu, server_cpu, loops, sizes):
    return {
        "date": started.isoformat(),
        "command": [sys.executable, *sys.argv],
        "machine": {"cpu_model": cpu_model(), "cpus": os.cpu_count(), "kernel": platform.release()},
        "ours_git": git_info(),
        "stale_extensions": stale,
        "malloc_env": {k: base_env()[k] for k in MALLOC_ENV},
        "config": {
            "mode": args.mode,
            "server_impl": args.server_impl if args.mode == "client" else None,
            "server_loop": args.server_loop if args.mode == "client" else None,
            "driver": args.driver if args.mode == "server" else None,
            "cpu": cpu,
            "server_cpu": server_cpu,
            "sizes": sizes,
            "loops": loops,
            "repeat": args.repeat,
            "duration": args.duration,
            "warmup": args.warmup,
            "pypy_warmup": args.pypy_warmup,
            "baseline": baseline,
            "ours_src": args.ours_src,
        },
        "impls": {
            name: {
                "python": impls[name].python,
                "env_PICOWS_PURE": impls[name].env.get("PICOWS_PURE"),
                "unavailable": impls[name].unavailable,
                "probe": impls[name].probe,
            }
            for name in needed
        },
        "runs": results,
        "summary": [{"name": c, "loop": lp, "size": s, **row} for (c, lp, s), row in table.items()],
    }


def write_json(path, doc) -> None:
    Path(path).write_text(json.dumps(doc, indent=2, default=str))
    print(f"raw numbers written to {path}")


def run_server_mode(args, impls, servers, loops, sizes, cpu, server_cpu) -> int:
    started, stale = print_header(
        args, "picows echo RPS benchmark: SERVERS (loopback, one message in flight)"
    )
    print(
        f"-> pinned: servers on CPU {server_cpu if server_cpu is not None else 'any'}, "
        f"driver on CPU {cpu if cpu is not None else 'any'}"
    )
    print()

    needed = list(dict.fromkeys(servers + (["ours-cython"] if args.driver == "ours-cython" else [])))
    probe_all(impls, needed)
    driver_desc = ""
    c_bin = None
    if args.driver == "c":
        c_bin, how = build_c_client()
        if c_bin is None:
            raise Abort(f"the C driver could not be built ({how}); use --driver ours-cython")
        driver_desc = f"C client {c_bin} ({how}; blocking send/recv, one masked frame re-sent)"
    else:
        drv = impls["ours-cython"]
        if drv.unavailable:
            raise Abort(f"driver ours-cython not available ({drv.unavailable})")
        if "uvloop" not in drv.probe["loops"]:
            raise Abort("driver ours-cython: uvloop not installed")
        driver_desc = f"our compiled client on uvloop ({drv.python})"

    runnable = [s for s in servers if not impls[s].unavailable]
    baseline = args.baseline or (
        "published" if "published" in runnable else ("ours-cython" if "ours-cython" in runnable else None)
    )
    if baseline and baseline not in runnable:
        print(f"note: baseline {baseline!r} is not run; ratios omitted")
        baseline = None
    print_interpreters(impls, needed)
    print(f"driver  : {driver_desc}")

    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    running: dict[tuple[str, str], Server] = {}
    results = []
    backends = {}
    try:
        for name in runnable:
            impl = impls[name]
            for loop in loops:
                if loop not in impl.probe["loops"]:
                    continue
                srv = Server(
                    impl, loop, server_cpu, log_dir / f"echo_rps_server_{name}_{loop}_{os.getpid()}.log"
                )
                running[(name, loop)] = srv
                backends[name] = (
                    "(theirs)"
                    if impl.foreign
                    else srv.info.get("backend") or accel_label(srv.info)
                )
                print(
                    f"server  : {name:<15} {loop:<8} {server_desc(srv.info)}, port {srv.port}, "
                    f"pid {srv.info['pid']}, affinity {srv.info.get('affinity')}"
                )
        est = sum(
            (args.duration + warmup_of(args, impls[n]) + 0.2) * len(sizes) * args.repeat
            for (n, _lp) in running
        )
        print(f"plan    : {len(running) * len(sizes) * args.repeat} runs ~ {est / 60:.1f} min")
        print()

        for rnd in range(1, args.repeat + 1):
            for loop in loops:
                for size in sizes:
                    for name in runnable:
                        srv = running.get((name, loop))
                        if srv is None:
                            continue
                        warm = warmup_of(args, impls[name])
                        rec = {
                            "round": rnd,
                            "server": name,
                            "loop": loop,
                            "size": size,
                            "driver": args.driver,
                            "ok": False,
                        }
                        if args.driver == "c":
                            cmd = [
                                str(c_bin),
                                "127.0.0.1",
                                str(srv.port),
                                "/",
                                str(size),
                                str(args.duration),
                                str(warm),
                                str(srv.info["pid"]),
                            ]
                            env = base_env()
                        else:
                            drv = impls["ours-cython"]
                            cmd = drv.cmd(
                                "client",
                                "--impl",
                                "picows",
                                "--loop",
                                "uvloop",
                                "--url",
                                f"ws://127.0.0.1:{srv.port}/",
                                "--size",
                                str(size),
                                "--duration",
                                str(args.duration),
                                "--warmup",
                                str(warm),
                                "--server-pid",
                                str(srv.info["pid"]),
                            )
                            env = drv.env
                        try:
                            p = subprocess.run(
                                cmd,
                                env=env,
                                capture_output=True,
                                text=True,
                                timeout=args.duration + warm + 60,
                                preexec_fn=pin(cpu),
                            )
                            out = last_json_line(p.stdout)
                            if p.returncode == 0 and out:
                                if args.driver == "ours-cython":
                                    check_identity(impls["ours-cython"], out, "driver")
                                rec.update(out)
                                rec.update(ok=True, server=name, round=rnd)
                            else:
                                rec["error"] = tail(p.stderr) or f"exit {p.returncode}"
                        except subprocess.TimeoutExpired:
                            rec["error"] = "timeout"
                        results.append(rec)
                        print_run(rnd, args.repeat, loop, size, name, rec)
                        if not srv.alive():
                            raise Abort(f"the {name} server on {loop} died; see {srv.log.name}")
    finally:
        for srv in running.values():
            srv.stop()

    names = [n for n in runnable if any(k[0] == n for k in running)]
    table = summarize(results, names, loops, sizes, baseline, key="server")
    print()
    print(f"RESULTS: round trips per second, median of {args.repeat} interleaved runs of {args.duration:g}s")
    print(
        f"driver = {args.driver} ({'blocking C client' if args.driver == 'c' else 'ours-cython on uvloop'}); "
        f"server loop as listed; server+driver pinned to CPU {cpu if cpu is not None else 'any'}"
        + (f"/{server_cpu}" if server_cpu != cpu else "")
    )
    print()
    print_table(table, names, loops, sizes, baseline, backends, who="server")
    print_cpu_note()
    for s in servers:
        if impls[s].unavailable:
            print(f"{s}: not available ({impls[s].unavailable})")
    print(f"finished in {(_dt.datetime.now(_dt.timezone.utc) - started).total_seconds():.0f}s")
    if args.json:
        doc = json_doc(
            args, started, stale, impls, needed, results, table, baseline, cpu, server_cpu, loops, sizes
        )
        doc["servers"] = {f"{n}/{lp}": srv.info for (n, lp), srv in running.items()}
        write_json(args.json, doc)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
