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

Runs are interleaved over the implementations for ``--repeat`` rounds and the
median is reported.  Every wait is bounded.

Examples:
  python benchmarks/scale.py
  python benchmarks/scale.py --conns 2000 --fanout-clients 200 --repeat 1 --json /tmp/scale.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import echo_rps  # noqa: E402  (shares the implementations, identity checks, pinning)

SCALE_WORKER = HERE / "scale_worker.py"
MEM_IMPLS = ["ours-cython", "ours-pure", "websockets", "published"]
FANOUT_IMPLS = ["ours-cython", "ours-pure", "websockets", "published"]


def rss_kib(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[key] = int(line.split()[1])
    return out


def read_json_line(proc: subprocess.Popen, timeout: float, what: str) -> dict:
    """Next JSON line of a child's stdout, bounded by ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise echo_rps.Abort(f"{what}: no answer within {timeout:g}s")
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if not ready:
            continue
        line = proc.stdout.readline()
        if not line:
            raise echo_rps.Abort(f"{what}: exited (code {proc.poll()})")
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)


def stop_proc(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is None:
        try:
            proc.stdin.close()
        except Exception:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()  # our own child, by pid
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def popen(cmd, env, cpu, log):
    return subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        preexec_fn=echo_rps.pin(cpu),
        text=True,
    )


def nofile_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return hard if hard != resource.RLIM_INFINITY else 1 << 20


def port_range() -> int:
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return hi - lo + 1
    except (OSError, ValueError):
        return 28000


# --------------------------------------------------------------------------- memory


def measure_memory(args, impl, n, client_env, log) -> dict:
    rec = {"impl": impl.name, "conns_requested": n, "ok": False}
    srv = popen(
        impl.cmd("server", "--impl", impl.worker_impl, "--loop", args.loop),
        impl.env,
        args.server_cpu,
        log,
    )
    clients = []
    try:
        info = read_json_line(srv, 60, f"{impl.name} server")
        echo_rps.check_identity(impl, info, "server")
        pid, port = info["pid"], info["port"]
        rec.update(server_pid=pid, server_nofile=info.get("nofile"), backend=info.get("backend"))
        time.sleep(0.5)
        srv.stdin.write("gc\n")
        srv.stdin.flush()
        read_json_line(srv, 30, "gc")
        time.sleep(0.3)
        before = rss_kib(pid)
        per = [
            n // args.client_procs + (1 if i < n % args.client_procs else 0) for i in range(args.client_procs)
        ]
        t0 = time.monotonic()
        for k in per:
            clients.append(
                popen(
                    [
                        args.ours_python,
                        str(SCALE_WORKER),
                        "hold",
                        "--url",
                        f"ws://127.0.0.1:{port}/",
                        "--n",
                        str(k),
                        "--timeout",
                        str(args.timeout),
                    ],
                    client_env,
                    args.client_cpu,
                    log,
                )
            )
        ready = failed = 0
        errors = []
        for c in clients:
            r = read_json_line(c, args.timeout + 30, "clients")
            ready += r["ready"]
            failed += r["failed"]
            errors += r.get("errors", [])
        open_s = time.monotonic() - t0
        time.sleep(args.settle)
        srv.stdin.write("gc\n")
        srv.stdin.flush()
        read_json_line(srv, 60, "gc")
        time.sleep(0.3)
        after = rss_kib(pid)
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
            stop_proc(c)
        stop_proc(srv)
    return rec


# --------------------------------------------------------------------------- fan-out


def measure_fanout(args, impl, client_env, log) -> dict:
    rec = {"impl": impl.name, "ok": False}
    worker_impl = "websockets" if impl.worker_impl == "websockets" else "picows"
    srv = popen(
        [impl.python, str(SCALE_WORKER), "fanout-server", "--impl", worker_impl, "--loop", args.loop],
        impl.env,
        args.server_cpu,
        log,
    )
    clients = []
    try:
        info = read_json_line(srv, 60, f"{impl.name} fan-out server")
        echo_rps.check_identity(impl, info, "server")
        rec["backend"] = info.get("backend")
        n = args.fanout_clients
        per = [
            n // args.fanout_procs + (1 if i < n % args.fanout_procs else 0) for i in range(args.fanout_procs)
        ]
        for k in per:
            clients.append(
                popen(
                    [
                        args.ours_python,
                        str(SCALE_WORKER),
                        "fanout-clients",
                        "--url",
                        f"ws://127.0.0.1:{info['port']}/",
                        "--n",
                        str(k),
                        "--size",
                        str(args.fanout_size),
                        "--timeout",
                        str(args.timeout),
                    ],
                    client_env,
                    args.client_cpu,
                    log,
                )
            )
        ready = 0
        for c in clients:
            ready += read_json_line(c, args.timeout + 30, "fan-out clients")["ready"]
        # all handshakes done on the client side; wait until the server has registered them all
        deadline = time.monotonic() + 30
        while True:
            srv.stdin.write("count\n")
            srv.stdin.flush()
            if read_json_line(srv, 30, "count")["conns"] >= ready or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        time.sleep(0.3)
        srv.stdin.write(f"go {args.fanout_seconds} {args.fanout_size}\n")
        srv.stdin.flush()
        sent = read_json_line(srv, args.fanout_seconds + 60, "broadcast")
        for c in clients:
            c.stdin.write(f"expect {sent['rounds']}\n")
            c.stdin.flush()
        got = [read_json_line(c, args.timeout + 30, "fan-out result") for c in clients]
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
            stop_proc(c)
        stop_proc(srv)
    return rec


# --------------------------------------------------------------------------- main


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--conns", type=int, default=10_000, help="idle connections (default 10000; 0 skips)")
    ap.add_argument("--client-procs", type=int, default=2, help="client processes for the idle connections")
    ap.add_argument(
        "--mem-impls", default=",".join(MEM_IMPLS), help=f"servers for the memory test ({MEM_IMPLS})"
    )
    ap.add_argument(
        "--fanout-clients", type=int, default=1000, help="fan-out clients (default 1000; 0 skips)"
    )
    ap.add_argument("--fanout-procs", type=int, default=2, help="client processes for fan-out (default 2)")
    ap.add_argument("--fanout-size", type=int, default=256, help="fan-out message size (default 256)")
    ap.add_argument("--fanout-seconds", type=float, default=2.0, help="broadcast duration (default 2)")
    ap.add_argument(
        "--fanout-impls", default=",".join(FANOUT_IMPLS), help=f"fan-out servers ({FANOUT_IMPLS})"
    )
    ap.add_argument("--loop", default="uvloop", choices=["uvloop", "asyncio"], help="server event loop")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument(
        "--settle", type=float, default=1.5, help="seconds between the last connection and the reading"
    )
    ap.add_argument(
        "--timeout", type=float, default=120.0, help="bound for connecting / delivery (default 120)"
    )
    ap.add_argument("--server-cpu", default="0", help="CPU of the server (default 0; 'none' = no pinning)")
    ap.add_argument("--client-cpu", default="1", help="CPU of the clients (default 1; 'none' = no pinning)")
    ap.add_argument("--json", default=None, metavar="FILE")
    ap.add_argument(
        "--ours-python",
        default=str(
            echo_rps.DEFAULT_OURS_PYTHON if echo_rps.DEFAULT_OURS_PYTHON.exists() else sys.executable
        ),
    )
    ap.add_argument(
        "--ours-src", default=str(echo_rps.REPO / "src"), help="as for echo_rps.py ('installed' possible)"
    )
    ap.add_argument("--published-python", default=str(echo_rps.DEFAULT_PUBLISHED_VENV / "bin" / "python"))
    args = ap.parse_args(argv)
    # what echo_rps.make_impls expects
    args.pypy_python = echo_rps._default_pypy()
    args.pypy_warmup = 0.0
    ncpu = os.cpu_count() or 1

    def cpu_arg(v):
        if v.lower() == "none":
            return None
        c = int(v)
        return c if c < ncpu else None

    args.server_cpu = cpu_arg(args.server_cpu)
    args.client_cpu = cpu_arg(args.client_cpu)

    started = _dt.datetime.now(_dt.timezone.utc)
    print("=" * 78)
    print("picows scale benchmarks: memory per idle connection, fan-out")
    print("=" * 78)
    print(f"command : {' '.join([sys.executable, *sys.argv])}")
    print(f"date    : {started.astimezone().isoformat(timespec='seconds')}")
    print(f"machine : {echo_rps.cpu_model()}, {ncpu} CPUs, {platform.system()} {platform.release()}")
    print(f"ours    : {args.ours_src} @ {echo_rps.git_info()}")
    print(f"pinning : server CPU {args.server_cpu}, clients CPU {args.client_cpu}; server loop {args.loop}")

    impls = echo_rps.make_impls(args)
    client_env = echo_rps.base_env()
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"scale_{os.getpid()}.log"
    log = open(log_path, "w")
    mem_names = [s.strip() for s in args.mem_impls.split(",") if s.strip()] if args.conns > 0 else []
    fan_names = (
        [s.strip() for s in args.fanout_impls.split(",") if s.strip()] if args.fanout_clients > 0 else []
    )
    for name in dict.fromkeys(mem_names + fan_names):
        if name not in impls or name in ("raw", "ours-pypy", "aiohttp"):
            ap.error(f"unsupported implementation {name!r}")
        echo_rps.probe(impls[name])
        if impls[name].probe is not None:
            echo_rps.check_identity(impls[name], impls[name].probe, "probe")
        if impls[name].unavailable:
            print(f"note    : {name} not available ({impls[name].unavailable}); skipped")
        elif args.loop not in impls[name].probe["loops"]:
            impls[name].unavailable = f"{args.loop} not installed"
            print(f"note    : {name}: {args.loop} not installed; skipped")
    mem_names = [n for n in mem_names if not impls[n].unavailable]
    fan_names = [n for n in fan_names if not impls[n].unavailable]

    # ---- connection limits
    limit = nofile_limit()
    n = args.conns
    cap = min(limit - 200, (limit - 200) * args.client_procs, port_range() - 1000)
    if n > cap:
        print(
            f"note    : --conns {n} capped to {cap} (RLIMIT_NOFILE hard limit {limit}, ports {port_range()})"
        )
        n = cap
    if mem_names:
        print(
            f"limits  : RLIMIT_NOFILE hard {limit} (raised to it in every process); {args.client_procs} client procs"
        )
    print(f"log     : {log_path}")
    print()

    mem_runs, fan_runs = [], []
    try:
        for rnd in range(1, args.repeat + 1):
            for name in mem_names:
                try:
                    r = measure_memory(args, impls[name], n, client_env, log)
                except echo_rps.Abort as exc:
                    r = {"impl": name, "ok": False, "error": str(exc)}
                r["round"] = rnd
                mem_runs.append(r)
                if r["ok"]:
                    print(
                        f"  memory  round {rnd}/{args.repeat} {name:<12} {r['conns']:>6} conns "
                        f"(failed {r['failed']}) in {r['open_s']:5.1f}s  RSS {r['rss_before_kib'] / 1024:7.1f} -> "
                        f"{r['rss_after_kib'] / 1024:7.1f} MiB  = {r['per_conn_bytes'] / 1024:6.2f} KiB/conn",
                        flush=True,
                    )
                else:
                    print(
                        f"  memory  round {rnd}/{args.repeat} {name:<12} FAILED: {r.get('error') or r}",
                        flush=True,
                    )
            for name in fan_names:
                try:
                    r = measure_fanout(args, impls[name], client_env, log)
                except echo_rps.Abort as exc:
                    r = {"impl": name, "ok": False, "error": str(exc)}
                r["round"] = rnd
                fan_runs.append(r)
                if r.get("msgs_per_s"):
                    print(
                        f"  fan-out round {rnd}/{args.repeat} {name:<12} {r['clients']} clients x {r['rounds']} "
                        f"rounds: {r['msgs_per_s']:>10,.0f} msgs/s delivered, server CPU "
                        f"{r['server_cpu_us_per_msg']:.2f} us/msg"
                        + ("" if r["ok"] else f"  ({r.get('error')})"),
                        flush=True,
                    )
                else:
                    print(
                        f"  fan-out round {rnd}/{args.repeat} {name:<12} FAILED: {r.get('error')}", flush=True
                    )
    finally:
        log.close()

    print()
    summary = {"memory": {}, "fanout": {}}
    if mem_names:
        print(
            f"MEMORY PER IDLE CONNECTION (server VmRSS delta / connections; median of {args.repeat}; {args.loop})"
        )
        ref = None
        rows = []
        for name in mem_names:
            ok = [r for r in mem_runs if r["impl"] == name and r["ok"]]
            pc = med([r["per_conn_bytes"] for r in ok])
            row = {
                "per_conn_bytes": pc,
                "conns": med([r["conns"] for r in ok]),
                "rss_before_mib": med([r["rss_before_kib"] / 1024 for r in ok]),
                "rss_after_mib": med([r["rss_after_kib"] / 1024 for r in ok]),
                "open_s": med([r["open_s"] for r in ok]),
                "runs": len(ok),
            }
            summary["memory"][name] = row
            rows.append((name, row))
            if name == "websockets":
                ref = pc
        print(
            f"{'server':<12} {'conns':>7} {'RSS before':>11} {'RSS after':>11} {'per conn':>10} {'vs websockets':>14} "
            f"{'conn/s':>8}"
        )
        for name, row in rows:
            if row["per_conn_bytes"] is None:
                print(f"{name:<12} failed")
                continue
            ratio = f"{row['per_conn_bytes'] / ref:.2f}x" if ref else "-"
            print(
                f"{name:<12} {row['conns']:>7,.0f} {row['rss_before_mib']:>8.1f} MiB {row['rss_after_mib']:>8.1f} MiB "
                f"{row['per_conn_bytes'] / 1024:>6.2f} KiB {ratio:>14} {row['conns'] / row['open_s']:>8,.0f}"
            )
        print(
            "(conn/s: connections opened and upgraded per second while filling the server, informative only)"
        )
        print()
    if fan_names:
        print(
            f"FAN-OUT: {args.fanout_clients} clients, {args.fanout_size} B messages, {args.fanout_seconds:g}s of "
            f"broadcast; median of {args.repeat}; {args.loop}"
        )
        ref = None
        rows = []
        for name in fan_names:
            ok = [r for r in fan_runs if r["impl"] == name and r.get("msgs_per_s")]
            row = {
                "msgs_per_s": med([r["msgs_per_s"] for r in ok]),
                "server_cpu_us_per_msg": med([r["server_cpu_us_per_msg"] for r in ok]),
                "complete_runs": sum(1 for r in ok if r["ok"]),
                "runs": len(ok),
            }
            summary["fanout"][name] = row
            rows.append((name, row))
            if name == "websockets":
                ref = row["msgs_per_s"]
        print(
            f"{'server':<12} {'msgs/s delivered':>17} {'vs websockets':>14} {'server CPU us/msg':>18} {'complete':>9}"
        )
        for name, row in rows:
            if row["msgs_per_s"] is None:
                print(f"{name:<12} failed")
                continue
            ratio = f"{row['msgs_per_s'] / ref:.2f}x" if ref else "-"
            print(
                f"{name:<12} {row['msgs_per_s']:>17,.0f} {ratio:>14} {row['server_cpu_us_per_msg']:>18.2f} "
                f"{row['complete_runs']:>4}/{row['runs']}"
            )
        print()
    print(f"finished in {(_dt.datetime.now(_dt.timezone.utc) - started).total_seconds():.0f}s")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "date": started.isoformat(),
                    "command": [sys.executable, *sys.argv],
                    "config": {k: v for k, v in vars(args).items()},
                    "conns_effective": n,
                    "memory_runs": mem_runs,
                    "fanout_runs": fan_runs,
                    "summary": summary,
                },
                indent=2,
                default=str,
            )
        )
        print(f"raw numbers written to {args.json}")
    all_ok = all(r["ok"] for r in mem_runs + fan_runs)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
