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

Clients:
  ours-cython  our picows, compiled backend (PICOWS_PURE=0; aborts if not "cython")
  ours-pure    our picows, pure-Python backend (PICOWS_PURE=1)
  published    the independent picows package from PyPI, in its own venv
               (``--setup-published`` creates benchmarks/.venvs/published),
               default configuration
  websockets   websockets' asyncio client (in our dev venv)
  aiohttp      aiohttp's ws client (in our dev venv)
  raw          raw asyncio TCP: HTTP upgrade once, then pre-built masked
               frames and a minimal buffered protocol (event-loop ceiling)

Examples:
  python benchmarks/echo_rps.py --setup-published
  python benchmarks/echo_rps.py --clients ours-cython,ours-pure,published
  python benchmarks/echo_rps.py --server-impl published --json /tmp/rps.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import select
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORKER = HERE / "echo_rps_worker.py"
DEFAULT_PUBLISHED_VENV = HERE / ".venvs" / "published"
DEFAULT_OURS_PYTHON = Path("/work/venv/bin/python")

ALL_CLIENTS = ["ours-cython", "ours-pure", "published", "websockets", "aiohttp", "raw"]
SERVER_IMPLS = ["ours-cython", "ours-pure", "published", "websockets"]

PINNING_NOTE = (
    "Server and client are pinned to the same CPU: on small (2-vCPU) VMs a\n"
    "cross-CPU wake-up costs tens of microseconds per message and hides every\n"
    "other cost; on one CPU the result is the CPU cost of one round trip\n"
    "(client + server + kernel loopback), which is what the libraries control."
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


def stale_extensions() -> list[str]:
    """Compiled modules older than their .pyx/.pxd (the benchmark would not test the source)."""
    out = []
    cdir = REPO / "src" / "picows" / "_cython"
    for pyx in sorted(cdir.glob("*.pyx")):
        sos = sorted(cdir.glob(pyx.stem + ".*.so"))
        srcs = [pyx] + [p for p in (cdir / (pyx.stem + ".pxd"),) if p.exists()]
        newest_src = max(p.stat().st_mtime for p in srcs)
        if sos and min(s.stat().st_mtime for s in sos) < newest_src:
            out.append(pyx.name)
    return out


class Impl:
    """How to start one implementation (as a client or as a server)."""

    def __init__(self, name, python, worker_impl, env, expect_backend=None, foreign=False):
        self.name = name
        self.python = str(python)
        self.worker_impl = worker_impl
        self.env = env
        self.expect_backend = expect_backend  # for our package: "cython" / "pure"
        self.foreign = foreign  # the published picows: must NOT load our source tree
        self.probe: dict | None = None
        self.unavailable: str | None = None

    def cmd(self, *args: str) -> list[str]:
        return [self.python, str(WORKER), *args]


def base_env() -> dict:
    env = dict(os.environ)
    for k in ("PICOWS_PURE", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(k, None)
    env["PYTHONHASHSEED"] = "0"
    return env


def make_impls(args) -> dict[str, Impl]:
    ours_src = str(REPO / "src")

    def ours_env(pure: str | None) -> dict:
        env = base_env()
        env["PYTHONPATH"] = ours_src  # always OUR tree, whatever else the venv has
        if pure is not None:
            env["PICOWS_PURE"] = pure
        return env

    return {
        "ours-cython": Impl(
            "ours-cython", args.ours_python, "picows", ours_env("0"), expect_backend="cython"
        ),
        "ours-pure": Impl("ours-pure", args.ours_python, "picows", ours_env("1"), expect_backend="pure"),
        "published": Impl("published", args.published_python, "picows", base_env(), foreign=True),
        "websockets": Impl("websockets", args.ours_python, "websockets", ours_env(None)),
        "aiohttp": Impl("aiohttp", args.ours_python, "aiohttp", ours_env(None)),
        "raw": Impl("raw", args.ours_python, "raw", ours_env(None)),
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
    return f"websockets {info.get('websockets_version')}"


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
        if not inside:
            raise Abort(f"{what} {impl.name}: imported picows from {f}, not from {REPO / 'src'}")
    if impl.foreign and f and inside:
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
        worker_impl = "websockets" if impl.worker_impl == "websockets" else "picows"
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


def summarize(results, clients, loops, sizes, baseline):
    table = {}
    for loop in loops:
        for size in sizes:
            for c in clients:
                ok = [
                    r
                    for r in results
                    if r.get("ok") and (r["client"], r["loop"], r["size"]) == (c, loop, size)
                ]
                vals = [r["rps"] for r in ok]
                cpu = [r["client_cpu_us_per_rt"] for r in ok if r.get("client_cpu_us_per_rt")]
                errs = [
                    r
                    for r in results
                    if not r.get("ok") and (r["client"], r["loop"], r["size"]) == (c, loop, size)
                ]
                table[(c, loop, size)] = {
                    "n": len(vals),
                    "errors": len(errs),
                    "median": statistics.median(vals) if vals else None,
                    "min": min(vals) if vals else None,
                    "max": max(vals) if vals else None,
                    "client_cpu_us_per_rt": statistics.median(cpu) if cpu else None,
                }
            base = table.get((baseline, loop, size), {}).get("median") if baseline else None
            for c in clients:
                row = table[(c, loop, size)]
                row["ratio"] = row["median"] / base if (base and row["median"]) else None
    return table


def print_table(table, clients, loops, sizes, baseline, backends):
    hdr = (
        f"{'loop':<8} {'size':>8}  {'client':<12} {'backend':<8} {'median rps':>11}  {'min..max':>17} {'spread':>7}  "
        f"{'vs ' + (baseline or '-'):>16}  {'client CPU us/rt':>16}"
    )
    print(hdr)
    print("-" * len(hdr))
    for loop in loops:
        for size in sizes:
            for c in clients:
                row = table[(c, loop, size)]
                if row["median"] is None:
                    print(
                        f"{loop:<8} {fmt_size(size):>8}  {c:<12} {backends.get(c, '-'):<8} {'failed':>11}  ({row['errors']} errors)"
                    )
                    continue
                spread = (row["max"] - row["min"]) / row["median"] * 100
                ratio = f"{row['ratio']:.2f}x" if row["ratio"] else "-"
                cpu_us = f"{row['client_cpu_us_per_rt']:.1f}" if row["client_cpu_us_per_rt"] else "-"
                err = f"  ({row['errors']} failed runs)" if row["errors"] else ""
                print(
                    f"{loop:<8} {fmt_size(size):>8}  {c:<12} {backends.get(c, '-'):<8} {row['median']:>11,.0f}  "
                    f"{row['min']:>8,.0f}..{row['max']:<8,.0f} {spread:>6.1f}%  {ratio:>16}  {cpu_us:>16}{err}"
                )
            print()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--clients", default=",".join(ALL_CLIENTS), help=f"comma list from {ALL_CLIENTS} (default: all)"
    )
    ap.add_argument(
        "--server-impl", default="ours-cython", choices=SERVER_IMPLS, help="echo server (default ours-cython)"
    )
    ap.add_argument("--server-loop", default="uvloop", choices=["uvloop", "asyncio"])
    ap.add_argument("--sizes", default="256,8KiB,100KB", help="message sizes (default 256,8KiB,100KB)")
    ap.add_argument("--loops", default="asyncio,uvloop", help="client event loops (default asyncio,uvloop)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--duration", type=float, default=2.0, help="measured seconds per run (default 2)")
    ap.add_argument(
        "--warmup", type=float, default=0.3, help="un-measured seconds before each run (default 0.3)"
    )
    ap.add_argument("--cpu", default="0", help="CPU for server and client, or 'none' to not pin (default 0)")
    ap.add_argument("--server-cpu", default=None, help="pin the server elsewhere (default: same as --cpu)")
    ap.add_argument(
        "--baseline",
        default=None,
        help="client the ratios refer to (default: published if available, else ours-cython)",
    )
    ap.add_argument("--json", default=None, metavar="FILE", help="write all raw numbers and metadata to FILE")
    ap.add_argument(
        "--ours-python", default=str(DEFAULT_OURS_PYTHON if DEFAULT_OURS_PYTHON.exists() else sys.executable)
    )
    ap.add_argument("--published-python", default=str(DEFAULT_PUBLISHED_VENV / "bin" / "python"))
    ap.add_argument(
        "--setup-published",
        action="store_true",
        help=f"create {DEFAULT_PUBLISHED_VENV.relative_to(REPO)} if absent",
    )
    args = ap.parse_args(argv)

    if args.setup_published:
        rc = setup_published(args)
        if rc:
            return rc

    cpu = None if args.cpu.lower() == "none" else int(args.cpu)
    server_cpu = (
        cpu
        if args.server_cpu is None
        else (None if args.server_cpu.lower() == "none" else int(args.server_cpu))
    )
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    loops = [s.strip() for s in args.loops.split(",") if s.strip()]
    clients = [s.strip() for s in args.clients.split(",") if s.strip()]
    for c in clients:
        if c not in ALL_CLIENTS:
            ap.error(f"unknown client {c!r}; choose from {ALL_CLIENTS}")
    for lp in loops:
        if lp not in ("asyncio", "uvloop"):
            ap.error(f"unknown loop {lp!r}")

    impls = make_impls(args)
    try:
        return run(args, impls, clients, loops, sizes, cpu, server_cpu)
    except Abort as exc:
        print(f"\nABORTED: {exc}", file=sys.stderr)
        return 2


def run(args, impls, clients, loops, sizes, cpu, server_cpu) -> int:
    started = _dt.datetime.now(_dt.timezone.utc)
    print("=" * 78)
    print("picows echo RPS benchmark (loopback, one message in flight)")
    print("=" * 78)
    print(f"command : {shlex.join([sys.executable, *sys.argv])}")
    print(f"date    : {started.astimezone().isoformat(timespec='seconds')}")
    print(f"machine : {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
    print(f"ours    : {REPO} @ {git_info()}")
    stale = stale_extensions()
    if stale:
        print(
            f"WARNING : compiled modules older than their sources: {', '.join(stale)} (rebuild to test the source)"
        )
    print()
    print(PINNING_NOTE)
    print(
        f"-> pinned: server on CPU {server_cpu if server_cpu is not None else 'any'}, "
        f"clients on CPU {cpu if cpu is not None else 'any'}"
    )
    print()

    # ---- availability
    needed = dict.fromkeys(clients + [args.server_impl])
    for name in needed:
        probe(impls[name])
    for name in needed:
        impl = impls[name]
        if impl.probe is not None:
            check_identity(impl, impl.probe, "probe")
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

    print("interpreters and packages:")
    seen = set()
    for name in needed:
        impl = impls[name]
        if impl.unavailable:
            print(f"  {name:<12} not available ({impl.unavailable})")
            continue
        p = impl.probe
        extra = []
        if impl.worker_impl == "picows":
            extra.append(
                f"picows {p.get('picows_version')}"
                + (f" BACKEND={p.get('backend')}" if p.get("backend") else "")
            )
            extra.append(f"from {Path(p.get('picows_file') or '?').parent}")
        print(f"  {name:<12} {impl.python} (Python {p['python']}) {' '.join(extra)}")
        seen.add(impl.python)
    for python in sorted(seen):
        p = next(i.probe for i in impls.values() if i.python == python and i.probe)
        pk = ", ".join(f"{k} {p[k]}" for k in ("uvloop", "websockets", "aiohttp", "picows") if k in p)
        print(f"  packages in {python}: {pk or '-'}")
    print()

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
    print(
        f"plan    : {len(runnable)} clients x {len(loops)} loops x {len(sizes)} sizes x {args.repeat} rounds "
        f"x ({args.warmup:g}s warm-up + {args.duration:g}s) ~ "
        f"{len(runnable) * len(loops) * len(sizes) * args.repeat * (args.duration + args.warmup + 0.4) / 60:.1f} min"
    )
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
                            str(args.warmup),
                        )
                        try:
                            p = subprocess.run(
                                cmd,
                                env=impl.env,
                                capture_output=True,
                                text=True,
                                timeout=args.duration + args.warmup + 60,
                                preexec_fn=pin(cpu),
                            )
                            out = last_json_line(p.stdout)
                            if p.returncode == 0 and out:
                                if impl.worker_impl == "picows":
                                    check_identity(impl, out, "client")
                                    backends[c] = out.get("backend") or "default"
                                rec.update(out)
                                rec.update(ok=True, client=c, round=rnd)
                            else:
                                rec["error"] = tail(p.stderr) or f"exit {p.returncode}"
                        except subprocess.TimeoutExpired:
                            rec["error"] = "timeout"
                        results.append(rec)
                        shown = (
                            f"{rec['rps']:>10,.0f} rps  client CPU {rec.get('client_cpu_us_per_rt') or 0:6.1f} us/rt"
                            if rec["ok"]
                            else f"FAILED: {rec['error']}"
                        )
                        print(
                            f"  round {rnd}/{args.repeat} {loop:<7} {fmt_size(size):>8} {c:<12} {shown}",
                            flush=True,
                        )
                        if not server.alive():
                            raise Abort(f"the echo server died; see {server.log.name}")
    finally:
        server.stop()

    for c in runnable:
        backends.setdefault(c, "default" if impls[c].worker_impl == "picows" else "-")
    # our clients: show the backend they reported; the others have none
    for c in runnable:
        if impls[c].worker_impl != "picows":
            backends[c] = "-"
        elif impls[c].foreign:
            backends[c] = "(theirs)"

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
    print("client CPU us/rt = median user+sys CPU time of the client process per round trip (getrusage);")
    print("it is far less sensitive to other load on the machine than the wall-clock rps.")
    for c in clients:
        if impls[c].unavailable:
            print(f"{c}: not available ({impls[c].unavailable})")
    print(f"finished in {(_dt.datetime.now(_dt.timezone.utc) - started).total_seconds():.0f}s")

    if args.json:
        doc = {
            "date": started.isoformat(),
            "command": [sys.executable, *sys.argv],
            "machine": {"cpu_model": cpu_model(), "cpus": os.cpu_count(), "kernel": platform.release()},
            "ours_git": git_info(),
            "stale_extensions": stale,
            "config": {
                "server_impl": args.server_impl,
                "server_loop": args.server_loop,
                "cpu": cpu,
                "server_cpu": server_cpu,
                "sizes": sizes,
                "loops": loops,
                "repeat": args.repeat,
                "duration": args.duration,
                "warmup": args.warmup,
                "baseline": baseline,
            },
            "server": server.info,
            "clients": {
                name: {
                    "python": impls[name].python,
                    "env_PICOWS_PURE": impls[name].env.get("PICOWS_PURE"),
                    "unavailable": impls[name].unavailable,
                    "probe": impls[name].probe,
                }
                for name in needed
            },
            "runs": results,
            "summary": [{"client": c, "loop": lp, "size": s, **row} for (c, lp, s), row in table.items()],
        }
        Path(args.json).write_text(json.dumps(doc, indent=2))
        print(f"raw numbers written to {args.json}")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
