#!/usr/bin/env python3
"""Many-connection benchmarks: memory per idle connection, and fan-out throughput.

1. Connection scale (``--conns``, default 10,000): an echo server in its own
   process (the same server as ``echo_rps.py``: ours compiled, ours pure,
   websockets, the published picows; uvloop by default), idle, then
   ``--client-procs`` client processes open the connections (raw asyncio
   protocol doing the HTTP upgrade: no library on the client side) and keep
   them idle.  The server's VmRSS (/proc/PID/status) is read before and after,
   each time after ``gc.collect()`` in the server and a short settle;
   per-connection memory = (after - before) / connections.  RLIMIT_NOFILE is
   raised to the hard limit in every process; the number of connections is
   capped to what the limits allow (and the cap is printed).

2. Fan-out (``--fanout-clients``, default 1,000): one server broadcasts a
   ``--fanout-size`` message per round to every client for ``--fanout-seconds``
   (same loop for every library: send to all, yield, wait while any write
   buffer holds more than 256 KiB; websockets uses its own ``broadcast()``);
   the clients (``--fanout-procs`` processes, raw byte counting) then wait until
   every message has arrived.  Reported: messages delivered per second =
   messages received by all clients / (last byte received - first send), and
   the server's CPU time per delivered message.  The server is pinned to
   ``--server-cpu``, the clients to ``--client-cpu`` (two different CPUs, so
   the clients do not steal the server's CPU).

``--tls``: both over ``wss://`` with a throw-away self-signed certificate made
for the run (the clients verify it): the memory of an idle TLS connection
includes the TLS layer of the server's transport (the loop's stock SSL
transport, or aiofastnet's for the published picows, which says which).

Runs are interleaved over the implementations for ``--repeat`` rounds and the
median is reported.  Every wait is bounded.

Examples:
  python benchmarks/scale.py
  python benchmarks/scale.py --conns 2000 --fanout-clients 200 --repeat 1 --json /tmp/scale.json
  python benchmarks/scale.py --tls --fanout-clients 0
  python benchmarks/scale.py --deflate --warm --mem-impls ours-cython,websockets
  python benchmarks/scale.py --deflate --conns 0

``--deflate``: every connection negotiates permessage-deflate (the clients
offer ``permessage-deflate; client_max_window_bits``, for fan-out also
``server_no_context_takeover``); with ``--warm`` each idle connection first
exchanges one compressed message, so that both ends' compression contexts
exist. Fan-out then broadcasts a compressible JSON-like message and the
clients count frames. The ``-bcast`` rows use ``picows.broadcast()``, which
builds the frame once (and compresses once for all connections without
context takeover); the plain ours rows loop over ``send()``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from harness import WORKERS, tls, venvs
from harness.impls import ROWS, add_variant, base_env, check_identity, make_impls, probe, transport_label
from harness.machine import cpu_model, git_info, nofile_limit, port_range
from harness.output import now
from harness.procs import Abort, WorkerProcess
from harness.rounds import median as med
from harness.servers import EchoServer

SCALE_WORKER = WORKERS / "scale.py"
MEM_IMPLS = ["ours-cython", "ours-pure", "websockets", "published"]
FANOUT_IMPLS = ["ours-cython", "ours-cython-bcast", "ours-pure", "ours-pure-bcast", "websockets", "published"]
#: Fan-out rows sending with picows.broadcast() (the frame built once) instead of a loop of send().
BROADCAST_VARIANTS = ['ours-cython-bcast=ours-cython:{"_broadcast": true}', 'ours-pure-bcast=ours-pure:{"_broadcast": true}']
#: What the clients offer with --deflate: what browsers and websockets offer; for fan-out also
#: server_no_context_takeover, so that a server may compress a broadcast message once for all.
HOLD_OFFER = "permessage-deflate; client_max_window_bits"
FANOUT_OFFER = "permessage-deflate; server_no_context_takeover; client_max_window_bits"


def rss_kib(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(line.split()[1])
    return out


def split(n: int, parts: int) -> list[int]:
    """``n`` connections spread over ``parts`` client processes."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def client_worker(args, role: str, url: str, k: int, client_env, log, cert) -> WorkerProcess:
    cmd = [args.ours_python, str(SCALE_WORKER), role, "--url", url, "--n", str(k), "--timeout", str(args.timeout)]
    if role == "fanout-clients":
        cmd += ["--size", str(args.fanout_size)]
    if args.deflate:
        cmd += ["--extensions", FANOUT_OFFER if role == "fanout-clients" else HOLD_OFFER]
        if role == "hold" and args.warm:
            cmd += ["--warm"]
    if cert is not None:
        cmd += cert.client_args()
    return WorkerProcess(cmd, client_env, args.client_cpu, log)


# --------------------------------------------------------------------------- memory


def measure_memory(args, impl, n, client_env, log_path: Path, log, cert) -> dict:
    """Server RSS before and after ``n`` idle connections (gc in the server before each reading)."""
    rec = {"impl": impl.name, "conns_requested": n, "ok": False}
    srv = EchoServer(impl, args.loop, args.server_cpu, log_path, cert, args.deflate)
    clients: list[WorkerProcess] = []
    try:
        rec.update(server_pid=srv.pid, server_nofile=srv.info.get("nofile"), backend=srv.info.get("backend"))
        time.sleep(0.5)
        srv.worker.send("gc")
        srv.worker.read_json(30, "gc")
        time.sleep(0.3)
        before = rss_kib(srv.pid)
        t0 = time.monotonic()
        for k in split(n, args.client_procs):
            clients.append(client_worker(args, "hold", srv.url, k, client_env, log, cert))
        ready = failed = 0
        errors = []
        for c in clients:
            r = c.read_json(args.timeout + 30, "clients")
            ready += r["ready"]
            failed += r["failed"]
            errors += r.get("errors", [])
        open_s = time.monotonic() - t0
        time.sleep(args.settle)
        srv.worker.send("gc")
        srv.worker.read_json(60, "gc")
        time.sleep(0.3)
        after = rss_kib(srv.pid)
        rec.update(
            ok=ready > 0,
            conns=ready,
            failed=failed,
            errors=errors[:3],
            open_s=open_s,
            rss_before_kib=before["VmRSS"],
            rss_after_kib=after["VmRSS"],
            anon_before_kib=before.get("RssAnon"),
            anon_after_kib=after.get("RssAnon"),
            per_conn_bytes=(after["VmRSS"] - before["VmRSS"]) * 1024 / ready if ready else None,
        )
    finally:
        for c in clients:
            c.stop()
        srv.stop()
    rec["transports"] = srv.seen.get("transports")
    if srv.seen.get("tls_version"):
        rec["tls"] = f"{srv.seen['tls_version']} {srv.seen.get('tls_cipher')}"
    return rec


# --------------------------------------------------------------------------- fan-out


def measure_fanout(args, impl, client_env, log, cert) -> dict:
    """One server broadcasting to ``--fanout-clients`` connections; delivered messages per second."""
    rec = {"impl": impl.name, "ok": False}
    tls_args = cert.server_args() if cert is not None else []
    srv = WorkerProcess(
        [
            impl.python, str(SCALE_WORKER), "fanout-server", *impl.worker_args(), "--loop", args.loop, *tls_args,
            *(["--deflate"] if args.deflate else []),
        ],
        impl.env,
        args.server_cpu,
        log,
    )
    clients: list[WorkerProcess] = []
    try:
        info = srv.read_json(60, f"{impl.name} fan-out server")
        check_identity(impl, info, "server")
        rec["backend"] = info.get("backend")
        url = f"{'wss' if cert is not None else 'ws'}://127.0.0.1:{info['port']}/"
        for k in split(args.fanout_clients, args.fanout_procs):
            clients.append(client_worker(args, "fanout-clients", url, k, client_env, log, cert))
        ready = 0
        for c in clients:
            ready += c.read_json(args.timeout + 30, "fan-out clients")["ready"]
        # all handshakes done on the client side; wait until the server has registered them all
        deadline = time.monotonic() + 30
        while True:
            srv.send("count")
            if srv.read_json(30, "count")["conns"] >= ready or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        srv.send(f"go {args.fanout_seconds} {args.fanout_size}")
        sent = srv.read_json(args.fanout_seconds + 60, "broadcast")
        for c in clients:
            c.send(f"expect {sent['rounds']}")
        got = [c.read_json(args.timeout + 30, "fan-out result") for c in clients]
        received = sum(g["received_msgs"] for g in got)
        last = max(g["last_rx"] for g in got)
        elapsed = last - sent["t0"]
        rec.update(
            ok=all(g["complete"] for g in got),
            clients=ready,
            rounds=sent["rounds"],
            sent_msgs=sent["rounds"] * sent["conns"],
            received_msgs=received,
            expected_msgs=sum(g["expected_msgs"] for g in got),
            send_s=sent["t1"] - sent["t0"],
            deliver_s=elapsed,
            msgs_per_s=received / elapsed if elapsed > 0 else None,
            server_cpu_s=sent["server_cpu_s"],
            server_cpu_us_per_msg=sent["server_cpu_s"] / received * 1e6 if received else None,
            flow_control_waits=sent["flow_control_waits"],
        )
        if not rec["ok"]:
            rec["error"] = f"incomplete delivery: {received} of {rec['expected_msgs']} messages"
    finally:
        for c in clients:
            c.stop()
        srv.stop()
    return rec


# --------------------------------------------------------------------------- summaries


def summarize_memory(args, names, runs) -> dict:
    title = "wss:// " if args.tls else ""
    print(f"MEMORY PER IDLE {title}CONNECTION (server VmRSS delta / connections; median of {args.repeat}; {args.loop})")
    summary = {}
    for name in names:
        ok = [r for r in runs if r["impl"] == name and r["ok"]]
        summary[name] = {
            "per_conn_bytes": med([r["per_conn_bytes"] for r in ok]),
            "conns": med([r["conns"] for r in ok]),
            "rss_before_mib": med([r["rss_before_kib"] / 1024 for r in ok]),
            "rss_after_mib": med([r["rss_after_kib"] / 1024 for r in ok]),
            "open_s": med([r["open_s"] for r in ok]),
            "transport": transport_label(next((r.get("transports") for r in ok), None)),
            "runs": len(ok),
        }
    ref = summary.get("websockets", {}).get("per_conn_bytes")
    print(
        f"{'server':<15} {'transport':<10} {'conns':>7} {'RSS before':>11} {'RSS after':>11} {'per conn':>10} "
        f"{'vs websockets':>14} {'conn/s':>8}"
    )
    for name, row in summary.items():
        if row["per_conn_bytes"] is None:
            print(f"{name:<15} failed")
            continue
        ratio = f"{row['per_conn_bytes'] / ref:.2f}x" if ref else "-"
        print(
            f"{name:<15} {row['transport']:<10} {row['conns']:>7,.0f} {row['rss_before_mib']:>8.1f} MiB "
            f"{row['rss_after_mib']:>8.1f} MiB {row['per_conn_bytes'] / 1024:>6.2f} KiB {ratio:>14} "
            f"{row['conns'] / row['open_s']:>8,.0f}"
        )
    print("(conn/s: connections opened and upgraded per second while filling the server, informative only)")
    print()
    return summary


def summarize_fanout(args, names, runs) -> dict:
    print(
        f"FAN-OUT{' over wss://' if args.tls else ''}: {args.fanout_clients} clients, {args.fanout_size} B messages, "
        f"{args.fanout_seconds:g}s of broadcast; median of {args.repeat}; {args.loop}"
    )
    summary = {}
    for name in names:
        ok = [r for r in runs if r["impl"] == name and r.get("msgs_per_s")]
        summary[name] = {
            "msgs_per_s": med([r["msgs_per_s"] for r in ok]),
            "server_cpu_us_per_msg": med([r["server_cpu_us_per_msg"] for r in ok]),
            "complete_runs": sum(1 for r in ok if r["ok"]),
            "runs": len(ok),
        }
    ref = summary.get("websockets", {}).get("msgs_per_s")
    print(f"{'server':<15} {'msgs/s delivered':>17} {'vs websockets':>14} {'server CPU us/msg':>18} {'complete':>9}")
    for name, row in summary.items():
        if row["msgs_per_s"] is None:
            print(f"{name:<15} failed")
            continue
        ratio = f"{row['msgs_per_s'] / ref:.2f}x" if ref else "-"
        print(
            f"{name:<15} {row['msgs_per_s']:>17,.0f} {ratio:>14} {row['server_cpu_us_per_msg']:>18.2f} "
            f"{row['complete_runs']:>4}/{row['runs']}"
        )
    print()
    return summary


def print_memory_run(rnd: int, repeat: int, name: str, r: dict) -> None:
    if r["ok"]:
        print(
            f"  memory  round {rnd}/{repeat} {name:<15} {r['conns']:>6} conns (failed {r['failed']}) in "
            f"{r['open_s']:5.1f}s  RSS {r['rss_before_kib'] / 1024:7.1f} -> {r['rss_after_kib'] / 1024:7.1f} MiB  "
            f"= {r['per_conn_bytes'] / 1024:6.2f} KiB/conn",
            flush=True,
        )
    else:
        print(f"  memory  round {rnd}/{repeat} {name:<15} FAILED: {r.get('error') or r}", flush=True)


def print_fanout_run(rnd: int, repeat: int, name: str, r: dict) -> None:
    if r.get("msgs_per_s"):
        print(
            f"  fan-out round {rnd}/{repeat} {name:<15} {r['clients']} clients x {r['rounds']} rounds: "
            f"{r['msgs_per_s']:>10,.0f} msgs/s delivered, server CPU {r['server_cpu_us_per_msg']:.2f} us/msg"
            + ("" if r["ok"] else f"  ({r.get('error')})"),
            flush=True,
        )
    else:
        print(f"  fan-out round {rnd}/{repeat} {name:<15} FAILED: {r.get('error')}", flush=True)


# --------------------------------------------------------------------------- main


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--conns", type=int, default=10_000, help="idle connections (default 10000; 0 skips)")
    ap.add_argument("--client-procs", type=int, default=2, help="client processes for the idle connections")
    ap.add_argument("--mem-impls", default=",".join(MEM_IMPLS), help=f"servers for the memory test ({MEM_IMPLS})")
    ap.add_argument("--fanout-clients", type=int, default=1000, help="fan-out clients (default 1000; 0 skips)")
    ap.add_argument("--fanout-procs", type=int, default=2, help="client processes for fan-out (default 2)")
    ap.add_argument("--fanout-size", type=int, default=256, help="fan-out message size (default 256)")
    ap.add_argument("--fanout-seconds", type=float, default=2.0, help="broadcast duration (default 2)")
    ap.add_argument("--fanout-impls", default=",".join(FANOUT_IMPLS), help=f"fan-out servers ({FANOUT_IMPLS})")
    ap.add_argument("--loop", default="uvloop", choices=["uvloop", "asyncio"], help="server event loop")
    ap.add_argument("--tls", action="store_true", help="wss:// with a throw-away self-signed certificate")
    ap.add_argument(
        "--deflate",
        action="store_true",
        help="permessage-deflate negotiated on every connection (clients offer it; servers accept it their way)",
    )
    ap.add_argument(
        "--warm", action="store_true", help="with --deflate: each idle connection first exchanges one compressed message"
    )
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--settle", type=float, default=1.5, help="seconds between the last connection and the reading")
    ap.add_argument("--timeout", type=float, default=120.0, help="bound for connecting / delivery (default 120)")
    ap.add_argument("--server-cpu", default="0", help="CPU of the server (default 0; 'none' = no pinning)")
    ap.add_argument("--client-cpu", default="1", help="CPU of the clients (default 1; 'none' = no pinning)")
    ap.add_argument("--json", default=None, metavar="FILE")
    ap.add_argument("--ours-python", default=venvs.default_ours_python(), help="interpreter of ours, websockets and the clients (default: this one)")
    ap.add_argument("--ours-src", default=str(venvs.REPO / "src"), help="as for echo_rps.py ('installed' possible)")
    ap.add_argument("--published-python", default=venvs.default_published_python())
    args = ap.parse_args(argv)
    ncpu = os.cpu_count() or 1

    def cpu_arg(v):
        if v.lower() == "none":
            return None
        c = int(v)
        return c if c < ncpu else None

    args.server_cpu = cpu_arg(args.server_cpu)
    args.client_cpu = cpu_arg(args.client_cpu)
    return ap, args


def names_of(ap, text: str, wanted: bool, fanout: bool = False) -> list[str]:
    """The implementations of a comma list (an unknown or unsupported one is a usage error).

    The memory test runs the echo servers of echo_rps.py (picows.websockets'
    "-ws" rows included); the fan-out worker has picows and websockets only.
    """
    names = [s.strip() for s in text.split(",") if s.strip()] if wanted else []
    for name in names:
        row = ROWS.get(name)
        if row is None or row.interpreter == "pypy" or name == "aiohttp" or not row.can_serve:
            ap.error(f"unsupported implementation {name!r}")
        if fanout and row.worker not in ("picows", "websockets"):
            ap.error(f"unsupported fan-out implementation {name!r} (the fan-out worker has picows and websockets)")
    return names


def check_available(impls, names: list[str], loop: str, deflate: bool = False) -> None:
    """Probe each implementation; an unavailable one is marked and skipped, saying why."""
    for name in names:
        impl = impls[name]
        if impl.probe is not None or impl.unavailable:
            continue
        probe(impl, deflate)
        if impl.probe is not None:
            check_identity(impl, impl.probe, "probe")
        if impl.unavailable:
            print(f"note    : {name} not available ({impl.unavailable}); skipped")
        elif loop not in impl.probe["loops"]:
            impl.unavailable = f"{loop} not installed"
            print(f"note    : {name}: {loop} not installed; skipped")


def main(argv=None) -> int:
    ap, args = parse_args(argv)
    started = now()
    print("=" * 78)
    print(f"picows scale benchmarks: memory per idle {'wss://' if args.tls else 'ws://'} connection, fan-out")
    print("=" * 78)
    print(f"command : {' '.join([sys.executable, *sys.argv])}")
    print(f"date    : {started.astimezone().isoformat(timespec='seconds')}")
    print(f"machine : {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
    print(f"ours    : {args.ours_src} @ {git_info()}")
    print(f"pinning : server CPU {args.server_cpu}, clients CPU {args.client_cpu}; server loop {args.loop}")

    for spec in BROADCAST_VARIANTS:
        add_variant(spec)
    impls = make_impls(
        ours_python=args.ours_python,
        ours_src=args.ours_src,
        published_python=args.published_python,
        pypy_python="pypy3",  # no PyPy row here
        pypy_warmup=0.0,
    )
    client_env = base_env()
    mem_names = names_of(ap, args.mem_impls, args.conns > 0)
    fan_names = names_of(ap, args.fanout_impls, args.fanout_clients > 0, fanout=True)
    check_available(impls, list(dict.fromkeys(mem_names + fan_names)), args.loop, args.deflate)
    mem_names = [n for n in mem_names if not impls[n].unavailable]
    fan_names = [n for n in fan_names if not impls[n].unavailable]
    if args.deflate:
        # The published picows has no permessage-deflate in its core API (its picows.websockets has).
        def no_deflate(name: str) -> bool:
            return impls[name].foreign and impls[name].worker_impl == "picows"

        dropped = [n for n in dict.fromkeys(mem_names + fan_names) if no_deflate(n)]
        if dropped:
            print(f"note    : --deflate: {', '.join(dropped)} skipped (no permessage-deflate in its core API)")
        mem_names = [n for n in mem_names if not no_deflate(n)]
        fan_names = [n for n in fan_names if not no_deflate(n)]

    # ---- connection limits
    limit = nofile_limit()
    n = args.conns
    cap = min(limit - 200, (limit - 200) * args.client_procs, port_range() - 1000)
    if n > cap:
        print(f"note    : --conns {n} capped to {cap} (RLIMIT_NOFILE hard limit {limit}, ports {port_range()})")
        n = cap
    if mem_names:
        print(f"limits  : RLIMIT_NOFILE hard {limit} (raised to it in every process); {args.client_procs} client procs")
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"scale_{os.getpid()}.log"
    print(f"log     : {log_path}")

    mem_runs, fan_runs = [], []
    with contextlib.ExitStack() as stack:
        cert = None
        if args.tls:
            cert = tls.make_certificate(stack.enter_context(tls.temporary_directory()))
            print(f"wss://  : throw-away self-signed certificate by {cert.how}; clients verify it")
        print()
        log = stack.enter_context(open(log_path, "w"))
        for rnd in range(1, args.repeat + 1):
            for name in mem_names:
                try:
                    r = measure_memory(args, impls[name], n, client_env, log_path, log, cert)
                except Abort as exc:
                    r = {"impl": name, "ok": False, "error": str(exc)}
                r["round"] = rnd
                mem_runs.append(r)
                print_memory_run(rnd, args.repeat, name, r)
            for name in fan_names:
                try:
                    r = measure_fanout(args, impls[name], client_env, log, cert)
                except Abort as exc:
                    r = {"impl": name, "ok": False, "error": str(exc)}
                r["round"] = rnd
                fan_runs.append(r)
                print_fanout_run(rnd, args.repeat, name, r)

    print()
    summary = {"memory": {}, "fanout": {}}
    if mem_names:
        summary["memory"] = summarize_memory(args, mem_names, mem_runs)
    if fan_names:
        summary["fanout"] = summarize_fanout(args, fan_names, fan_runs)
    tls_sessions = sorted({r["tls"] for r in mem_runs if r.get("tls")})
    if tls_sessions:
        print(f"TLS session: {', '.join(tls_sessions)}")
    print(f"finished in {(now() - started).total_seconds():.0f}s")
    if args.json:
        doc = {
            "date": started.isoformat(),
            "command": [sys.executable, *sys.argv],
            "config": dict(vars(args)),
            "conns_effective": n,
            "memory_runs": mem_runs,
            "fanout_runs": fan_runs,
            "summary": summary,
        }
        Path(args.json).write_text(json.dumps(doc, indent=2, default=str))
        print(f"raw numbers written to {args.json}")
    return 0 if all(r["ok"] for r in mem_runs + fan_runs) else 1


if __name__ == "__main__":
    sys.exit(main())
