#!/usr/bin/env python3
"""Loopback WebSocket echo requests-per-second benchmark (picows vs others), ws:// or wss://.

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
  driver is ``c``: a ~300-line blocking C client (workers/echo_client.c,
  compiled on first use with the system C compiler into benchmarks/.build/):
  it is not one of the libraries under test, and with two syscalls and no
  event loop per round trip it leaves as much of the shared CPU as possible
  to the server, so server differences show up undiluted.  ``--driver
  ours-cython`` uses our compiled client on uvloop instead.

``--tls``: everything over ``wss://`` with a throw-away self-signed
certificate made for the run (ECDSA P-256; clients verify it), the same
pinning and interleaving; the C driver is then built against the system's
OpenSSL.  The protocol and cipher every row negotiated are printed.

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
               default configuration: it uses aiofastnet when installed, and
               the backend column says which transport carried the runs
  published-stock
               the same with use_aiofastnet=False (the loop's own transports)
  websockets   websockets' asyncio client/server (in our dev venv)
  aiohttp      aiohttp's ws client / web.WebSocketResponse server (dev venv)
  websockets-pure, aiohttp-pure
               the same with their optional C extensions switched off
               (websockets' speedups module blocked, AIOHTTP_NO_EXTENSIONS=1):
               the like-for-like comparison for our pure backend
  raw          client only: raw asyncio TCP (or the loop's TLS for --tls),
               HTTP upgrade once, then pre-built masked frames and a minimal
               buffered protocol (event-loop ceiling)
  ours-cython-ws, ours-pure-ws, ours-pypy-ws, published-ws
               the websockets-compatible API (picows.websockets) on the picows
               of the row without "-ws": websockets' send/recv loop and echo
               handler, compression given explicitly (None, "deflate" with
               --deflate); not in the defaults, name them
``--variant 'NAME=BASE:{"keyword": value}'`` adds a row NAME like BASE whose
connect/serve call gets the extra keyword arguments (e.g. one row per
transport path of ours).

Examples:
  python benchmarks/echo_rps.py --setup-published --setup-pypy
  python benchmarks/echo_rps.py --clients ours-cython,ours-pure,published
  python benchmarks/echo_rps.py --server-impl published --json /tmp/rps.json
  python benchmarks/echo_rps.py --mode server --json /tmp/srv.json
  python benchmarks/echo_rps.py --tls --clients ours-cython,published,websockets,raw
  python benchmarks/echo_rps.py --tls --mode server --sizes 256 --repeat 5
  python benchmarks/echo_rps.py --deflate --clients ours-cython,ours-pure,websockets,aiohttp
  python benchmarks/echo_rps.py --deflate --mode server --driver ours-cython
  python benchmarks/echo_rps.py --clients ours-cython-ws,ours-pure-ws,ours-pypy-ws,published-ws,websockets
  python benchmarks/echo_rps.py --mode server --servers ours-cython-ws,ours-pure-ws,published-ws,websockets
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from harness import cdriver, output, tls, venvs
from harness.impls import (
    ALL_CLIENTS,
    MALLOC_ENV,
    ROWS,
    Impl,
    accel_label,
    add_variant,
    base_env,
    check_identity,
    make_impls,
    ours_root,
    probe_all,
    server_desc,
    server_rows,
    transport_label,
)
from harness.machine import git_info
from harness.output import fmt_size, parse_size
from harness.procs import Abort, run_once
from harness.rounds import interleaved, summarize
from harness.servers import EchoServer

DEFAULT_SERVERS = ["ours-cython", "ours-pure", "published", "websockets", "aiohttp"]
DRIVERS = ["c", "ours-cython"]

PINNING_NOTE = (
    "Server and client are pinned to the same CPU: on small (2-vCPU) VMs a\n"
    "cross-CPU wake-up costs tens of microseconds per message and hides every\n"
    "other cost; on one CPU the result is the CPU cost of one round trip\n"
    "(client + server + kernel loopback), which is what the libraries control."
)
MALLOC_NOTE = (
    "glibc malloc thresholds are pinned in every process (MALLOC_MMAP_THRESHOLD_=1 MiB,\n"
    "MALLOC_TRIM_THRESHOLD_=4 MiB), so that per-read 256 KiB allocations (asyncio's\n"
    "Protocol path used by websockets and aiohttp) never hit mmap: their best case."
)


# --------------------------------------------------------------------------- output


def print_run(rnd: int, repeat: int, loop: str, size: int, name: str, rec: dict) -> None:
    if rec["ok"]:
        scpu = rec.get("server_cpu_us_per_rt")
        shown = f"{rec['rps']:>10,.0f} rps  client CPU {rec.get('client_cpu_us_per_rt') or 0:6.1f} us/rt" + (
            f"  server CPU {scpu:6.1f} us/rt" if scpu is not None else ""
        )
    else:
        shown = f"FAILED: {rec['error']}"
    print(f"  round {rnd}/{repeat} {loop:<7} {fmt_size(size):>8} {name:<15} {shown}", flush=True)


def print_table(table, names, loops, sizes, baseline, backends, who="client") -> None:
    hdr = (
        f"{'loop':<8} {'size':>8}  {who:<15} {'backend':<12} {'median rps':>11}  {'min..max':>17} {'spread':>7}  "
        f"{'vs ' + (baseline or '-'):>16}  {'client CPU us/rt':>16}  {'server CPU us/rt':>16}  {'CPU/fixed':>9}"
    )
    print(hdr)
    print("-" * len(hdr))
    for loop in loops:
        for size in sizes:
            for c in names:
                row = table.get((c, loop, size))
                if row is None or (row["median"] is None and not row["errors"]):
                    continue  # not applicable (e.g. uvloop on PyPy)
                label = backends.get(c, "-")
                if row["median"] is None:
                    print(
                        f"{loop:<8} {fmt_size(size):>8}  {c:<15} {label:<12} {'failed':>11}  ({row['errors']} errors)"
                    )
                    continue
                spread = (row["max"] - row["min"]) / row["median"] * 100
                ratio = f"{row['ratio']:.2f}x" if row["ratio"] else "-"
                cpu_us = f"{row['client_cpu_us_per_rt']:.1f}" if row["client_cpu_us_per_rt"] else "-"
                scpu_us = f"{row['server_cpu_us_per_rt']:.1f}" if row["server_cpu_us_per_rt"] is not None else "-"
                share = f"{row['cpu_vs_fixed']:.3f}" if row.get("cpu_vs_fixed") else "-"
                err = f"  ({row['errors']} failed runs)" if row["errors"] else ""
                print(
                    f"{loop:<8} {fmt_size(size):>8}  {c:<15} {label:<12} {row['median']:>11,.0f}  "
                    f"{row['min']:>8,.0f}..{row['max']:<8,.0f} {spread:>6.1f}%  {ratio:>16}  {cpu_us:>16}  "
                    f"{scpu_us:>16}  {share:>9}{err}"
                )
            print()


def print_cpu_note() -> None:
    print("client/server CPU us/rt = median user+sys CPU time of the client / server process per round trip")
    print("(getrusage / /proc/PID/stat, the latter at clock-tick resolution); far less sensitive to other")
    print("load on the machine than the wall-clock rps.")
    print("CPU/fixed = per run, the compared side's CPU per round trip over the fixed side's (the server's in")
    print("client mode, the driver's in server mode), median over the runs: it moves least with the machine's")
    print("speed; for variants of one implementation (the fixed side's CPU also changes with its peer, so")
    print("between libraries the rps ratio is the measure). Lower is cheaper.")


def print_tls_sessions(results: list[dict], key: str) -> None:
    """The protocol and cipher each row negotiated (a table must not compare different ciphers)."""
    sessions: dict[str, set] = {}
    for r in results:
        if r.get("ok") and r.get("tls_version"):
            sessions.setdefault(r[key], set()).add(f"{r['tls_version']} {r.get('tls_cipher')}")
    if not sessions:
        return
    distinct = set().union(*sessions.values())
    if len(distinct) == 1:
        print(f"TLS session of every run: {distinct.pop()}")
    else:
        for name, s in sessions.items():
            print(f"TLS session of {name}: {', '.join(sorted(s))}")


def picows_label(impl: Impl, out: dict) -> str:
    """The backend column of a picows row: our backend or 'theirs', and +aiofastnet when it carried the run."""
    label = "theirs" if impl.foreign else (out.get("backend") or "default")
    if transport_label(out.get("transport") or out.get("transports")) == "aiofastnet":
        label += "+afn"
    return label


def json_doc(args, started, stale, impls, needed, results, table, baseline, cpu, server_cpu, loops, sizes, cert):
    return {
        "date": started.isoformat(),
        "command": [sys.executable, *sys.argv],
        "machine": output.machine_doc(),
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
            "tls": bool(args.tls),
            "deflate": bool(args.deflate),
            "certificate": cert.how if cert is not None else None,
        },
        "impls": output.impls_doc(impls, needed),
        "runs": results,
        "summary": [{"name": c, "loop": lp, "size": s, **row} for (c, lp, s), row in table.items()],
    }


# --------------------------------------------------------------------------- runs


def warmup_of(args, impl: Impl) -> float:
    return max(args.warmup, impl.min_warmup or 0.0)


def client_cmd(impl: Impl, loop: str, url: str, size: int, args, warm: float, server_pid: int, cert) -> list[str]:
    return impl.cmd(
        "client",
        *impl.worker_args(),
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
        str(server_pid),
        *(cert.client_args() if cert is not None else []),
        *(["--deflate"] if args.deflate else []),
    )


def choose_baseline(args, runnable: list[str]) -> str | None:
    baseline = args.baseline or (
        "published" if "published" in runnable else ("ours-cython" if "ours-cython" in runnable else None)
    )
    if baseline and baseline not in runnable:
        print(f"note: baseline {baseline!r} is not run; ratios omitted")
        baseline = None
    return baseline


def log_path(name: str) -> Path:
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"echo_rps_server{name}_{os.getpid()}.log"


def run_client_mode(args, impls, clients, loops, sizes, cpu, server_cpu, cert) -> int:
    title = f"picows echo RPS benchmark: CLIENTS over {'wss' if cert else 'ws'}:// (loopback, one message in flight)"
    started, stale = header(args, title, cert)
    print(
        f"-> pinned: server on CPU {server_cpu if server_cpu is not None else 'any'}, "
        f"clients on CPU {cpu if cpu is not None else 'any'}"
    )
    print()

    needed = list(dict.fromkeys(clients + [args.server_impl]))
    probe_all(impls, needed, args.deflate)
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
    baseline = choose_baseline(args, runnable)
    output.print_interpreters(impls, needed)

    server = EchoServer(srv_impl, args.server_loop, server_cpu, log_path(""), cert, args.deflate)
    backends: dict[str, str] = {}
    print(
        f"server  : {args.server_impl} ({srv_impl.python}, {server_desc(server.info)}) on {args.server_loop}, "
        f"{server.url}, pid {server.pid}, affinity {server.info.get('affinity')}"
    )
    applicable = [(c, lp) for c in runnable for lp in loops if lp in impls[c].probe["loops"]]
    est = sum((args.duration + warmup_of(args, impls[c]) + 0.4) * len(sizes) * args.repeat for c, _ in applicable)
    print(f"plan    : {len(applicable) * len(sizes) * args.repeat} runs (clients x loops x sizes x {args.repeat} rounds) ~ {est / 60:.1f} min")
    print()

    results = []
    try:
        for rnd, loop, size, c in interleaved(args.repeat, loops, sizes, runnable):
            impl = impls[c]
            if loop not in impl.probe["loops"]:
                continue
            warm = warmup_of(args, impl)
            rec = {"round": rnd, "client": c, "loop": loop, "size": size, "ok": False}
            cmd = client_cmd(impl, loop, server.url, size, args, warm, server.pid, cert)
            out, error = run_once(cmd, impl.env, cpu, args.duration + warm + 60)
            if out is not None:
                check_identity(impl, out, "client")
                if impl.worker_impl.startswith("picows"):
                    backends[c] = picows_label(impl, out)
                elif out.get("accel"):
                    backends[c] = accel_label(out)
                rec.update(out)
                rec.update(ok=True, client=c, round=rnd)
            else:
                rec["error"] = error
            results.append(rec)
            print_run(rnd, args.repeat, loop, size, c, rec)
            if not server.alive():
                raise Abort(f"the echo server died; see {server.log_path}")
    finally:
        server.stop()
    for c in runnable:
        backends.setdefault(c, "-" if not impls[c].worker_impl.startswith("picows") else impls[c].expect_backend or "default")

    table = summarize(results, runnable, loops, sizes, baseline)
    print()
    print(f"RESULTS: round trips per second, median of {args.repeat} interleaved runs of {args.duration:g}s")
    print(
        f"server = {args.server_impl} on {args.server_loop} ({', '.join(server.seen.get('transports', [])) or '?'}); "
        f"client loop as listed; server+client pinned to CPU {cpu if cpu is not None else 'any'}"
        + (f"/{server_cpu}" if server_cpu != cpu else "")
    )
    print()
    print_table(table, runnable, loops, sizes, baseline, backends)
    print_cpu_note()
    print_tls_sessions(results, "client")
    for c in clients:
        if impls[c].unavailable:
            print(f"{c}: not available ({impls[c].unavailable})")
    print(f"finished in {(output.now() - started).total_seconds():.0f}s")

    if args.json:
        doc = json_doc(args, started, stale, impls, needed, results, table, baseline, cpu, server_cpu, loops, sizes, cert)
        doc["server"] = {**server.info, "seen": server.seen}
        output.write_json(args.json, doc)
    return 0 if all(r["ok"] for r in results) else 1


def driver_of(args, impls, cert) -> tuple[Path | None, str]:
    """The fixed client of server mode: the C binary (or None for ours-cython) and its description."""
    if args.driver == "c":
        if args.deflate:
            raise Abort("the C driver does not speak permessage-deflate; use --driver ours-cython with --deflate")
        c_bin, how = cdriver.build(tls=cert is not None)
        if c_bin is None:
            raise Abort(f"the C driver could not be built ({how}); use --driver ours-cython")
        return c_bin, f"C client {c_bin} ({how}; blocking send/recv, one masked frame re-sent)"
    drv = impls["ours-cython"]
    if drv.unavailable:
        raise Abort(f"driver ours-cython not available ({drv.unavailable})")
    if "uvloop" not in drv.probe["loops"]:
        raise Abort("driver ours-cython: uvloop not installed")
    return None, f"our compiled client on uvloop ({drv.python})"


def run_server_mode(args, impls, servers, loops, sizes, cpu, server_cpu, cert) -> int:
    title = f"picows echo RPS benchmark: SERVERS over {'wss' if cert else 'ws'}:// (loopback, one message in flight)"
    started, stale = header(args, title, cert)
    print(
        f"-> pinned: servers on CPU {server_cpu if server_cpu is not None else 'any'}, "
        f"driver on CPU {cpu if cpu is not None else 'any'}"
    )
    print()

    needed = list(dict.fromkeys(servers + (["ours-cython"] if args.driver == "ours-cython" else [])))
    probe_all(impls, needed, args.deflate)
    c_bin, driver_desc = driver_of(args, impls, cert)
    runnable = [s for s in servers if not impls[s].unavailable]
    baseline = choose_baseline(args, runnable)
    output.print_interpreters(impls, needed)
    print(f"driver  : {driver_desc}")

    running: dict[tuple[str, str], EchoServer] = {}
    results = []
    backends: dict[str, str] = {}
    try:
        for name in runnable:
            impl = impls[name]
            for loop in loops:
                if loop not in impl.probe["loops"]:
                    continue
                srv = EchoServer(impl, loop, server_cpu, log_path(f"_{name}_{loop}"), cert, args.deflate)
                running[(name, loop)] = srv
                print(
                    f"server  : {name:<15} {loop:<8} {server_desc(srv.info)}, port {srv.port}, "
                    f"pid {srv.pid}, affinity {srv.info.get('affinity')}"
                )
        est = sum((args.duration + warmup_of(args, impls[n]) + 0.2) * len(sizes) * args.repeat for (n, _lp) in running)
        print(f"plan    : {len(running) * len(sizes) * args.repeat} runs ~ {est / 60:.1f} min")
        print()

        for rnd, loop, size, name in interleaved(args.repeat, loops, sizes, runnable):
            srv = running.get((name, loop))
            if srv is None:
                continue
            warm = warmup_of(args, impls[name])
            rec = {"round": rnd, "server": name, "loop": loop, "size": size, "driver": args.driver, "ok": False}
            if c_bin is not None:
                cmd = [str(c_bin), "127.0.0.1", str(srv.port), "/", str(size), str(args.duration), str(warm), str(srv.pid)]
                if cert is not None:
                    cmd.append(cert.cert_file)
                env = base_env()
            else:
                drv = impls["ours-cython"]
                cmd = client_cmd(drv, "uvloop", srv.url, size, args, warm, srv.pid, cert)
                env = drv.env
            out, error = run_once(cmd, env, cpu, args.duration + warm + 60)
            if out is not None:
                if c_bin is None:
                    check_identity(impls["ours-cython"], out, "driver")
                rec.update(out)
                # The ours-cython driver reports its own loop (uvloop): the row is the server's loop.
                rec.update(ok=True, server=name, round=rnd, loop=loop, driver_loop=out.get("loop"))
            else:
                rec["error"] = error
            results.append(rec)
            print_run(rnd, args.repeat, loop, size, name, rec)
            if not srv.alive():
                raise Abort(f"the {name} server on {loop} died; see {srv.log_path}")
    finally:
        for srv in running.values():
            srv.stop()
    for (name, _loop), srv in running.items():
        impl = impls[name]
        if impl.worker_impl.startswith("picows"):
            backends[name] = picows_label(impl, {**srv.info, "transports": srv.seen.get("transports")})
        else:
            backends[name] = accel_label(srv.info)

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
    print_tls_sessions(results, "server")
    for (name, loop), srv in running.items():
        if srv.seen.get("transports"):
            print(f"transport of {name} on {loop}: {', '.join(srv.seen['transports'])}")
    for s in servers:
        if impls[s].unavailable:
            print(f"{s}: not available ({impls[s].unavailable})")
    print(f"finished in {(output.now() - started).total_seconds():.0f}s")
    if args.json:
        doc = json_doc(args, started, stale, impls, needed, results, table, baseline, cpu, server_cpu, loops, sizes, cert)
        doc["servers"] = {f"{n}/{lp}": {**srv.info, "seen": srv.seen} for (n, lp), srv in running.items()}
        output.write_json(args.json, doc)
    return 0 if all(r["ok"] for r in results) else 1


def header(args, title: str, cert):
    root = ours_root(args.ours_src)
    notes = [PINNING_NOTE, MALLOC_NOTE]
    if cert is not None:
        notes.append(f"wss://: a throw-away self-signed certificate made for this run by {cert.how};\nclients verify it.")
    if args.deflate:
        notes.append(
            "permessage-deflate on both ends, each library's own way (picows permessage_deflate=True,\n"
            "websockets compression='deflate', aiohttp compress=15); payloads are compressible JSON-like ticks."
        )
    return output.print_header(title, str(root or f"installed package of {args.ours_python}"), root, notes)


# --------------------------------------------------------------------------- main


def parse_args(argv):
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
    ap.add_argument("--clients", default=",".join(ALL_CLIENTS), help=f"client mode: comma list of rows (default: {','.join(ALL_CLIENTS)})")
    ap.add_argument("--server-impl", default="ours-cython", help="client mode: the echo server row (default ours-cython)")
    ap.add_argument("--server-loop", default="uvloop", choices=["uvloop", "asyncio"], help="client mode: server loop")
    ap.add_argument("--servers", default=",".join(DEFAULT_SERVERS), help=f"server mode: comma list of rows (default: {','.join(DEFAULT_SERVERS)})")
    ap.add_argument(
        "--driver",
        default="c",
        choices=DRIVERS,
        help="server mode: the fixed client: c (workers/echo_client.c, default) or ours-cython on uvloop",
    )
    ap.add_argument("--tls", action="store_true", help="wss:// with a throw-away self-signed certificate")
    ap.add_argument(
        "--deflate",
        action="store_true",
        help="permessage-deflate on both ends (each library's own way) with compressible JSON-like payloads",
    )
    ap.add_argument("--sizes", default="256,8KiB,100KB", help="message sizes (default 256,8KiB,100KB)")
    ap.add_argument("--loops", default="asyncio,uvloop", help="event loops of the compared side (default asyncio,uvloop)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--duration", type=float, default=2.0, help="measured seconds per run (default 2)")
    ap.add_argument("--warmup", type=float, default=0.3, help="un-measured seconds before each run (default 0.3)")
    ap.add_argument("--cpu", default="0", help="CPU for server and client, or 'none' to not pin (default 0)")
    ap.add_argument("--server-cpu", default=None, help="pin the server(s) elsewhere (default: same as --cpu)")
    ap.add_argument("--baseline", default=None, help="what the ratios refer to (default: published if available, else ours-cython)")
    ap.add_argument("--json", default=None, metavar="FILE", help="write all raw numbers and metadata to FILE")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=BASE:JSON",
        help="add a row NAME like BASE whose connect/serve call gets the JSON object's keyword arguments (repeatable)",
    )
    ap.add_argument("--ours-python", default=venvs.default_ours_python(), help="interpreter of our rows and of websockets/aiohttp (default: this one)")
    ap.add_argument(
        "--ours-src",
        default=str(venvs.REPO / "src"),
        help="directory our picows is imported from (PYTHONPATH), or 'installed' to use the package "
        "installed in --ours-python (default: this checkout's src/)",
    )
    ap.add_argument("--published-python", default=venvs.default_published_python(), help="interpreter of the published picows (default: benchmarks/.venvs/published)")
    ap.add_argument("--published-version", default=venvs.PUBLISHED_VERSION, help=f"version --setup-published installs (default {venvs.PUBLISHED_VERSION})")
    ap.add_argument(
        "--pypy-python", default=None, help="PyPy for ours-pypy, with our runtime deps (default: benchmarks/.venvs/pypy, else pypy3 on PATH)"
    )
    ap.add_argument("--pypy-warmup", type=float, default=2.0, help="minimum warm-up of PyPy runs, for the JIT (default 2)")
    ap.add_argument("--setup-published", action="store_true", help="create benchmarks/.venvs/published if absent")
    ap.add_argument("--setup-pypy", action="store_true", help="create benchmarks/.venvs/pypy (pypy3 + our runtime deps) if absent")
    args = ap.parse_args(argv)
    try:
        for spec in args.variant:
            add_variant(spec)
    except ValueError as exc:
        ap.error(str(exc))
    return ap, args


def cpu_arg(text: str | None, default: int | None) -> int | None:
    if text is None:
        return default
    return None if text.lower() == "none" else int(text)


def split_names(ap, text: str, allowed: list[str], what: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    for name in names:
        if name not in allowed:
            ap.error(f"unknown {what} {name!r}; choose from {allowed}")
    return names


def main(argv=None) -> int:
    """Command line entry point."""
    ap, args = parse_args(argv)
    if args.setup_published and venvs.setup_published(
        args.published_python, args.ours_python, args.published_version, base_env()
    ):
        # Not fatal: the run goes on and reports 'published' as not available.
        print("WARNING : could not set up the published picows venv; continuing without it", file=sys.stderr)
    if args.setup_pypy and venvs.setup_pypy(base_env()):
        print("WARNING : could not set up the PyPy venv; continuing without it", file=sys.stderr)
    args.pypy_python = args.pypy_python or venvs.default_pypy_python()
    cpu = cpu_arg(args.cpu, None)
    server_cpu = cpu_arg(args.server_cpu, cpu)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    loops = split_names(ap, args.loops, ["asyncio", "uvloop"], "loop")
    impls = make_impls(
        ours_python=args.ours_python,
        ours_src=args.ours_src,
        published_python=args.published_python,
        pypy_python=args.pypy_python,
        pypy_warmup=args.pypy_warmup,
    )
    with contextlib.ExitStack() as stack:
        cert = None
        if args.tls:
            cert = tls.make_certificate(stack.enter_context(tls.temporary_directory()))
        try:
            if args.mode == "server":
                servers = split_names(ap, args.servers, server_rows(), "server")
                return run_server_mode(args, impls, servers, loops, sizes, cpu, server_cpu, cert)
            if args.server_impl not in server_rows():
                ap.error(f"unknown --server-impl {args.server_impl!r}; choose from {server_rows()}")
            clients = split_names(ap, args.clients, list(ROWS), "client")
            return run_client_mode(args, impls, clients, loops, sizes, cpu, server_cpu, cert)
        except Abort as exc:
            print(f"\nABORTED: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
