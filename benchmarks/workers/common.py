"""What every benchmark worker process shares (standard library only).

The workers run with the interpreter of the library under test: our virtual
environment, the one holding the published picows, or PyPy. So this module,
like every worker module, imports only the standard library at module level
and keeps to Python 3.9 syntax.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import ssl
import sys

LOOPS = ("asyncio", "uvloop")


def compressible_payload(size: int) -> bytes:
    """A JSON-like payload of ``size`` bytes (market-data ticks) that deflate shrinks several times, as real ones."""
    parts, total, i = [], 0, 0
    while total < size:
        part = b'{"seq": %d, "symbol": "BTC-USD", "bid": %d.25, "ask": %d.75, "qty": %d}, ' % (
            i, 43000 + i * 7 % 500, 43001 + i * 11 % 500, i * 13 % 97)
        parts.append(part)
        total += len(part)
        i += 1
    return b"".join(parts)[:size]


def emit(obj: dict) -> None:
    """One JSON line on stdout: how a worker talks to the tool that started it."""
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if kind == "asyncio":
        return asyncio.new_event_loop()
    raise SystemExit(f"unknown loop {kind!r}")


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE to the hard limit (many-connection benchmarks); returns the soft limit."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        if target > soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError, OSError):
        return -1


def affinity() -> list | None:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def versions() -> dict:
    """The interpreter and the versions of the packages that matter to the numbers."""
    out = {"python": platform.python_version(), "executable": sys.executable, "openssl": ssl.OPENSSL_VERSION}
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover
        return out
    for dist in ("uvloop", "websockets", "aiohttp", "picows", "aiofastnet"):
        try:
            out[dist] = metadata.version(dist)
        except Exception:
            pass
    return out


def picows_info(picows) -> dict:
    """Where ``import picows`` came from, its version and (ours only) its backend."""
    info = {
        "picows_file": getattr(picows, "__file__", None),
        "picows_version": getattr(picows, "__version__", None),
        # Our package has BACKEND; the published one does not.
        "backend": getattr(picows, "BACKEND", None),
    }
    if info["picows_version"] is None:
        try:
            from importlib import metadata

            info["picows_version"] = metadata.version("picows")
        except Exception:
            pass
    return info


def transport_kind(transport) -> str:
    """Which transport implementation carries a connection, e.g. ``asyncio.sslproto._SSLProtocolTransport``.

    Tells the stock loop transports from aiofastnet's (the published picows
    uses aiofastnet when it is installed) and from any path we add later.
    """
    if transport is None:
        return "unknown"
    cls = type(transport)
    return f"{cls.__module__}.{cls.__qualname__}"


def connection_transport(ws):
    """The transport under a websockets-style connection (websockets, picows.websockets), or None.

    websockets' ``transport`` is the loop's transport. picows.websockets
    keeps picows' WSTransport private: ours as ``_transport``, the published
    one's compiled connection in a C field that only the garbage collector's
    view of the object reaches. A WSTransport has the loop's (or
    aiofastnet's) transport as ``underlying_transport``.
    """
    transport = getattr(ws, "transport", None) or getattr(ws, "_transport", None)
    if transport is None:
        transport = next((o for o in gc.get_referents(ws) if hasattr(o, "underlying_transport")), None)
    return getattr(transport, "underlying_transport", transport)


def server_ssl_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if not cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_ssl_context(cafile: str | None) -> ssl.SSLContext | None:
    """Verifies the server against the run's throw-away certificate, as a real client would."""
    if not cafile:
        return None
    return ssl.create_default_context(cafile=cafile)


def tls_session_info(ssl_object) -> dict:
    """Protocol and cipher a connection negotiated (so a table never compares different ciphers)."""
    if ssl_object is None:
        return {}
    cipher = ssl_object.cipher()
    return {"tls_version": ssl_object.version(), "tls_cipher": cipher[0] if cipher else None}


def load_kwargs(text: str | None) -> dict:
    """``--kwargs JSON``: extra keyword arguments for the library's connect/serve call."""
    if not text:
        return {}
    value = json.loads(text)
    if not isinstance(value, dict):
        raise SystemExit(f"--kwargs must be a JSON object, got {text!r}")
    return value


def cpu_times() -> tuple[float, float]:
    """(user, system) CPU seconds of this process."""
    try:
        import resource

        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime, ru.ru_stime
    except ImportError:  # pragma: no cover - not on Linux
        t = os.times()
        return t.user, t.system


def proc_cpu(pid: int) -> float | None:
    """utime + stime of another process in seconds (/proc/PID/stat, clock-tick resolution)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue:
    """Lines of stdin (the control channel from the tool) as a queue; None at EOF."""
    q: asyncio.Queue = asyncio.Queue()
    buf = bytearray()

    def ready() -> None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            q.put_nowait(None)
            return
        buf.extend(data)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            q.put_nowait(line.decode().strip())

    loop.add_reader(0, ready)
    return q
