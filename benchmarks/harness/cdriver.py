"""The C echo driver of ``echo_rps.py --mode server`` (workers/echo_client.c), built on first use.

Two builds of one source: ``echo_client`` (plain TCP, needs only a C
compiler) and ``echo_client_tls`` (``-DECHO_TLS``, linked against the
system's OpenSSL: Debian's ``libssl-dev``, which ``./run`` installs). Each is
rebuilt when the source is newer than the binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import BUILD, WORKERS
from .procs import tail

SOURCE = WORKERS / "echo_client.c"


def build(tls: bool) -> tuple[Path | None, str]:
    """``(binary, how it was obtained)``, or ``(None, why not)``."""
    binary = BUILD / ("echo_client_tls" if tls else "echo_client")
    if binary.exists() and binary.stat().st_mtime >= SOURCE.stat().st_mtime:
        return binary, "cached"
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        return None, "no C compiler (cc/gcc) found"
    BUILD.mkdir(parents=True, exist_ok=True)
    tmp = binary.with_suffix(f".tmp{os.getpid()}")
    flags = ["-DECHO_TLS"] if tls else []
    libs = ["-lssl", "-lcrypto"] if tls else []
    try:
        r = subprocess.run(
            [cc, "-O2", "-Wall", *flags, "-o", str(tmp), str(SOURCE), *libs],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{cc} failed: {exc}"
    if r.returncode:
        hint = " (the TLS driver needs OpenSSL's headers: apt-get install libssl-dev)" if tls else ""
        return None, f"{cc} failed: {tail(r.stderr)}{hint}"
    os.replace(tmp, binary)
    return binary, f"built with {cc}" + (" against the system OpenSSL" if tls else "")
