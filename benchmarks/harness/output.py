"""What the tools print and write: sizes, the run's header, the interpreters, the JSON document."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import sys
from pathlib import Path

from .impls import Impl
from .machine import cpu_model, git_info, sanitized_extensions, stale_extensions


def parse_size(text: str) -> int:
    """``256``, ``8KiB``, ``100KB``, ``1MiB``, ``8k`` (= KiB) -> bytes."""
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


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def print_header(title: str, ours: str, root: Path | None, notes: list[str]) -> tuple[_dt.datetime, list[str]]:
    """Title, command, date, machine, our tree and build warnings, then the notes; returns (start, stale)."""
    started = now()
    print("=" * 78)
    print(title)
    print("=" * 78)
    print(f"command : {shlex.join([sys.executable, *sys.argv])}")
    print(f"date    : {started.astimezone().isoformat(timespec='seconds')}")
    print(f"machine : {cpu_model()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
    print(f"ours    : {ours} @ {git_info()}")
    stale = stale_extensions(root) if root else []
    if stale:
        print(f"WARNING : compiled modules older than their sources: {', '.join(stale)} (rebuild to test the source)")
    san = sanitized_extensions(root) if root else []
    if san:
        print(f"WARNING : compiled modules built with sanitizers (ASan/UBSan): {', '.join(san)}")
    for note in notes:
        print()
        print(note)
    return started, stale


def print_interpreters(impls: dict[str, Impl], names: list[str]) -> None:
    """Which interpreter runs each row, what it imports, and the versions of the packages that matter."""
    print("interpreters and packages:")
    seen = set()
    for name in names:
        impl = impls[name]
        if impl.unavailable:
            print(f"  {name:<15} not available ({impl.unavailable})")
            continue
        p = impl.probe or {}
        extra = []
        if impl.worker_impl.startswith("picows"):
            extra.append(
                f"picows {p.get('picows_version')}" + (f" BACKEND={p.get('backend')}" if p.get("backend") else "")
            )
            extra.append(f"from {Path(p.get('picows_file') or '?').parent}")
        elif p.get("accel_detail"):
            extra.append(p["accel_detail"])
        if impl.kwargs:
            extra.append(f"kwargs {json.dumps(impl.kwargs)}")
        print(f"  {name:<15} {impl.python} (Python {p.get('python')}) {' '.join(extra)}")
        seen.add(impl.python)
    for python in sorted(seen):
        p = next(i.probe for i in impls.values() if i.python == python and i.probe)
        pk = ", ".join(f"{k} {p[k]}" for k in ("uvloop", "websockets", "aiohttp", "picows", "aiofastnet") if k in p)
        print(f"  packages in {python}: {pk or '-'}; {p.get('openssl')}")
    print()


def impls_doc(impls: dict[str, Impl], names: list[str]) -> dict:
    """The JSON document's ``impls`` entry."""
    return {
        name: {
            "python": impls[name].python,
            "env_PICOWS_PURE": impls[name].env.get("PICOWS_PURE"),
            "kwargs": impls[name].kwargs,
            "unavailable": impls[name].unavailable,
            "probe": impls[name].probe,
        }
        for name in names
    }


def machine_doc() -> dict:
    return {"cpu_model": cpu_model(), "cpus": os.cpu_count(), "kernel": platform.release()}


def write_json(path: str, doc: dict) -> None:
    Path(path).write_text(json.dumps(doc, indent=2, default=str))
    print(f"raw numbers written to {path}")
