"""What the numbers were measured on: CPU, limits, the state of our checkout and its build."""

from __future__ import annotations

import platform
import resource
import subprocess
from pathlib import Path

from . import REPO


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
    """``abc1234`` of the checkout, with a note when src/ has uncommitted changes."""
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


def _cython_dir(root: Path | None) -> Path:
    return (root or REPO / "src") / "picows" / "_cython"


def stale_extensions(root: Path | None = None) -> list[str]:
    """Compiled modules older than their .pyx/.pxd (the benchmark would not test the source)."""
    out = []
    cdir = _cython_dir(root)
    for pyx in sorted(cdir.glob("*.pyx")):
        sos = sorted(cdir.glob(pyx.stem + ".*.so"))
        srcs = [pyx] + [p for p in (cdir / (pyx.stem + ".pxd"),) if p.exists()]
        newest_src = max(p.stat().st_mtime for p in srcs)
        if sos and min(s.stat().st_mtime for s in sos) < newest_src:
            out.append(pyx.name)
    return out


def sanitized_extensions(root: Path | None = None) -> list[str]:
    """Compiled modules linked against ASan/UBSan (a debug build: slow, and not importable without LD_PRELOAD)."""
    out = []
    for so in sorted(_cython_dir(root).glob("*.so")):
        try:
            data = so.read_bytes()
        except OSError:
            continue
        if b"libasan.so" in data or b"libubsan.so" in data:
            out.append(so.name)
    return out


def nofile_limit() -> int:
    """The hard RLIMIT_NOFILE: what every worker raises its own limit to."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return hard if hard != resource.RLIM_INFINITY else 1 << 20


def port_range() -> int:
    """Number of local ephemeral ports (caps the connections one client address can open)."""
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return hi - lo + 1
    except (OSError, ValueError):
        return 28000
