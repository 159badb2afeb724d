"""Worker processes for ``echo_rps.py`` (one echo server, or one client run).

This file is executed by ``echo_rps.py`` with the interpreter of the library
under test (our dev venv, or the venv holding the *published* picows from
PyPI), so it must only import the standard library at module level.  It is not
meant to be run by hand, but it can be:

    python echo_rps_worker.py server --impl picows --loop uvloop
    python echo_rps_worker.py client --impl picows --loop uvloop --url ws://127.0.0.1:PORT/ --size 256 --duration 2

``--impl picows`` means "whatever ``import picows`` gives this interpreter":
our package in /work/venv (with ``PICOWS_PURE`` choosing the backend), the
published package in its own venv.  Both expose the same public API, which is
all that is used here.

Every process prints exactly one JSON line on stdout (the server: as soon as it
listens; a client: when it is done).  Errors go to stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import platform
import socket
import sys
import time


def _versions() -> dict:
    out = {"python": platform.python_version(), "executable": sys.executable}
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover
        return out
    for dist in ("uvloop", "websockets", "aiohttp", "picows"):
        try:
            out[dist] = metadata.version(dist)
        except Exception:
            pass
    return out


# Set by echo_rps.py for "websockets-pure": block websockets' optional C
# extension so it masks with its pure-Python fallback ("aiohttp-pure" uses
# aiohttp's own AIOHTTP_NO_EXTENSIONS switch instead).
NO_WEBSOCKETS_SPEEDUPS_ENV = "ECHO_RPS_NO_WEBSOCKETS_SPEEDUPS"


def _block_optional_extensions() -> None:
    if os.environ.get(NO_WEBSOCKETS_SPEEDUPS_ENV) == "1":
        sys.modules["websockets.speedups"] = None  # type: ignore[assignment]  # import -> ImportError


def _accel_info(impl: str) -> dict:
    """Which masking/parsing code a third-party library actually uses (C or Python)."""
    try:
        if impl == "websockets":
            import websockets.frames

            mod = websockets.frames.apply_mask.__module__
            return {"accel": "c" if mod.endswith("speedups") else "python", "accel_detail": f"apply_mask from {mod}"}
        if impl == "aiohttp":
            from aiohttp._websocket import helpers, reader

            mask_mod = helpers.websocket_mask.__module__
            reader_mod = reader.WebSocketReader.__module__
            accel = "python" if reader_mod.endswith("_py") and not mask_mod.endswith("mask") else "c"
            return {"accel": accel, "accel_detail": f"mask from {mask_mod}, reader from {reader_mod}"}
    except Exception as exc:  # pragma: no cover - reported, not fatal
        return {"accel": None, "accel_detail": f"unknown: {exc}"}
    return {}


def _picows_info(picows) -> dict:
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


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if kind == "asyncio":
        return asyncio.new_event_loop()
    raise SystemExit(f"unknown loop {kind!r}")


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------- server


async def _serve_picows(host: str) -> tuple[object, int, dict]:
    import picows

    data_types = (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION)
    close_type = picows.WSMsgType.CLOSE

    class EchoListener(picows.WSListener):
        def on_ws_frame(self, transport, frame):
            mt = frame.msg_type
            if mt in data_types:
                transport.send(mt, frame.get_payload_as_memoryview(), frame.fin)
            elif mt == close_type:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    server = await picows.ws_create_server(lambda request: EchoListener(), host, 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, _picows_info(picows)


async def _serve_websockets(host: str) -> tuple[object, int, dict]:
    import websockets
    from websockets.asyncio.server import serve

    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass

    server = await serve(echo, host, 0, compression=None, max_size=None, ping_interval=None)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, port, {"websockets_version": websockets.__version__}


async def _serve_picows_websockets(host: str) -> tuple[object, int, dict]:
    """picows.websockets (ours or the published one, whichever picows this interpreter has)."""
    import picows
    from picows.websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    server = await serve(echo, host, 0, compression=None, max_size=None, ping_interval=None)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, port, _picows_info(picows)


class _AiohttpServer:
    """close()/wait_closed() over an aiohttp AppRunner, like asyncio.Server."""

    def __init__(self, runner) -> None:
        self.runner = runner
        self._closing = None

    def close(self) -> None:
        self._closing = asyncio.ensure_future(self.runner.cleanup())

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await self._closing


async def _serve_aiohttp(host: str) -> tuple[object, int, dict]:
    import aiohttp
    from aiohttp import web

    BINARY, TEXT = aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT

    async def echo(request):
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == TEXT:
                await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    return _AiohttpServer(runner), port, {"aiohttp_version": aiohttp.__version__}


def _raise_nofile() -> int:
    """Raise RLIMIT_NOFILE to the hard limit (many-connection benchmarks); returns the soft limit."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, ValueError, OSError):
        return -1


_SERVERS = {
    "picows": _serve_picows,
    "picows-websockets": _serve_picows_websockets,
    "websockets": _serve_websockets,
    "aiohttp": _serve_aiohttp,
}


def run_server(args: argparse.Namespace) -> int:
    nofile = _raise_nofile()
    loop = _new_loop(args.loop)
    asyncio.set_event_loop(loop)
    if args.impl not in _SERVERS:
        raise SystemExit(f"unknown server impl {args.impl!r}")
    server, port, info = loop.run_until_complete(_SERVERS[args.impl](args.host))

    # Stop when the parent closes our stdin (or dies): no orphan servers.
    stop = loop.create_future()

    def _stdin_ready() -> None:
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b""
        if not data:
            if not stop.done():
                stop.set_result(None)
            return
        if b"gc" in data:  # scale.py: collect garbage before a memory reading, then acknowledge
            import gc

            _emit({"gc": gc.collect()})

    loop.add_reader(0, _stdin_ready)
    _emit(
        {
            "role": "server",
            "impl": args.impl,
            "loop": args.loop,
            "port": port,
            "pid": os.getpid(),
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "nofile": nofile,
            **info,
            **_accel_info(args.impl),
            **_versions(),
        }
    )
    loop.run_until_complete(stop)
    loop.remove_reader(0)
    server.close()
    loop.run_until_complete(server.wait_closed())
    loop.close()
    return 0


# --------------------------------------------------------------------------- clients
#
# All clients do the same thing: connect, then for warm-up + duration seconds
# send one message, wait until its echo (the full payload) is back, repeat.
# Round trips completed during the measured window are counted.


def _cpu_times() -> tuple[float, float]:
    """(user, system) CPU seconds of this process."""
    try:
        import resource

        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime, ru.ru_stime
    except ImportError:  # pragma: no cover - not on Linux
        t = os.times()
        return t.user, t.system


def _proc_cpu(pid: int) -> float | None:
    """utime + stime of another process in seconds (/proc/PID/stat, clock-tick resolution)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


class _Clock:
    """Warm-up, then a measured window; ``tick()`` per completed round trip."""

    __slots__ = (
        "warmup",
        "duration",
        "limit",
        "phase_end",
        "measuring",
        "count",
        "t0",
        "t1",
        "cpu0",
        "cpu1",
        "server_pid",
        "scpu0",
        "scpu1",
    )

    def __init__(self, warmup: float, duration: float, limit: int = 0, server_pid: int = 0) -> None:
        self.warmup = warmup
        self.duration = duration
        self.limit = limit  # > 0: stop after this many measured round trips (profiling)
        self.measuring = False
        self.count = 0
        self.t0 = self.t1 = 0.0
        self.cpu0 = self.cpu1 = None
        self.phase_end = 0.0
        self.server_pid = server_pid  # > 0: also report the server's CPU time per round trip
        self.scpu0 = self.scpu1 = None

    def start(self) -> None:
        now = time.perf_counter()
        if self.warmup > 0:
            self.phase_end = now + self.warmup
        else:
            self._begin(now)

    def _begin(self, now: float) -> None:
        self.measuring = True
        self.count = 0
        self.t0 = now
        self.cpu0 = _cpu_times()
        self.scpu0 = _proc_cpu(self.server_pid)
        self.phase_end = now + self.duration

    def tick(self) -> bool:
        """Count one round trip; return True when the run is over."""
        self.count += 1
        if self.limit and self.measuring:
            if self.count < self.limit:
                return False
            self.t1 = time.perf_counter()
            self.cpu1 = _cpu_times()
            self.scpu1 = _proc_cpu(self.server_pid)
            return True
        now = time.perf_counter()
        if now < self.phase_end:
            return False
        if not self.measuring:
            self._begin(now)
            return False
        self.t1 = now
        self.cpu1 = _cpu_times()
        self.scpu1 = _proc_cpu(self.server_pid)
        return True

    def result(self) -> dict:
        elapsed = self.t1 - self.t0
        out = {
            "round_trips": self.count,
            "elapsed": elapsed,
            "rps": self.count / elapsed if elapsed > 0 else 0.0,
        }
        if self.cpu0 is not None and self.cpu1 is not None and self.count:
            # CPU time of THIS (client) process per round trip: much less
            # sensitive to other load on the machine than the wall-clock rps.
            user = self.cpu1[0] - self.cpu0[0]
            system = self.cpu1[1] - self.cpu0[1]
            out.update(
                cpu_user=user,
                cpu_sys=system,
                client_cpu_us_per_rt=(user + system) / self.count * 1e6,
                client_cpu_share=(user + system) / elapsed if elapsed > 0 else None,
            )
        if self.scpu0 is not None and self.scpu1 is not None and self.count:
            out.update(
                server_cpu_us_per_rt=(self.scpu1 - self.scpu0) / self.count * 1e6,
                server_cpu_share=(self.scpu1 - self.scpu0) / elapsed if elapsed > 0 else None,
            )
        return out


async def _client_picows(url: str, payload: bytes, clock: _Clock) -> dict:
    import picows

    BINARY = picows.WSMsgType.BINARY
    size = len(payload)

    class Client(picows.WSListener):
        def __init__(self) -> None:
            self.transport = None
            self.received = 0
            self.done = asyncio.get_running_loop().create_future()

        def on_ws_connected(self, transport) -> None:
            self.transport = transport

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type != BINARY:
                if not self.done.done():
                    self.done.set_exception(RuntimeError(f"unexpected frame {frame}"))
                return
            self.received += len(frame.get_payload_as_memoryview())
            if self.received < size:
                return
            if self.received != size:
                if not self.done.done():
                    self.done.set_exception(RuntimeError(f"echo size {self.received} != {size}"))
                return
            self.received = 0
            if clock.tick():
                self.done.set_result(None)
            else:
                transport.send(BINARY, payload)

        def on_ws_disconnected(self, transport) -> None:
            if not self.done.done():
                self.done.set_exception(ConnectionError("disconnected during the run"))

    transport, client = await picows.ws_connect(Client, url)
    clock.start()
    transport.send(BINARY, payload)
    await client.done
    transport.send_close(picows.WSCloseCode.OK)
    transport.disconnect()
    try:
        await asyncio.wait_for(transport.wait_disconnected(), 5)
    except Exception:
        pass
    return _picows_info(picows)


async def _client_websockets(url: str, payload: bytes, clock: _Clock) -> dict:
    import websockets
    from websockets.asyncio.client import connect

    size = len(payload)
    # Default configuration as users get it (compression is offered; the echo
    # server does not negotiate it).  max_size raised only so 100 KB+ always fit.
    async with connect(url, max_size=None) as ws:
        clock.start()
        while True:
            await ws.send(payload)
            msg = await ws.recv()
            if len(msg) != size:
                raise RuntimeError(f"echo size {len(msg)} != {size}")
            if clock.tick():
                break
    return {"websockets_version": websockets.__version__}


async def _client_picows_websockets(url: str, payload: bytes, clock: _Clock) -> dict:
    """The websockets-style API of picows (ours or the published one), same loop as _client_websockets."""
    import picows
    from picows.websockets.asyncio.client import connect

    size = len(payload)
    async with connect(url, max_size=None, compression=None, proxy=None) as ws:
        clock.start()
        while True:
            await ws.send(payload)
            msg = await ws.recv()
            if len(msg) != size:
                raise RuntimeError(f"echo size {len(msg)} != {size}")
            if clock.tick():
                break
    return _picows_info(picows)


async def _client_aiohttp(url: str, payload: bytes, clock: _Clock) -> dict:
    import aiohttp

    size = len(payload)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, max_msg_size=0) as ws:
            clock.start()
            while True:
                await ws.send_bytes(payload)
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) != size:
                    raise RuntimeError(f"unexpected echo {msg.type} of {len(msg.data or b'')} bytes")
                if clock.tick():
                    break
    return {"aiohttp_version": aiohttp.__version__}


def _build_masked_frame(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        header = bytes((0x82, 0x80 | n))
    elif n < 65536:
        header = bytes((0x82, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x82, 0x80 | 127)) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return header + mask + masked


def _echo_len(n: int) -> int:
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


async def _client_raw(url: str, payload: bytes, clock: _Clock) -> dict:
    """Event-loop ceiling: upgrade once, then pre-built masked frames and a
    minimal buffered protocol that only counts the bytes of the echo."""
    import base64
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    loop = asyncio.get_running_loop()
    frame = _build_masked_frame(payload, os.urandom(4))
    expect = _echo_len(len(payload))

    class RawProtocol(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buf = bytearray(max(262144, 2 * expect))
            self.view = memoryview(self.buf)
            self.handshake = loop.create_future()
            self.done = loop.create_future()
            self.upgraded = False
            self.hbuf = b""
            self.pending = 0
            self.transport = None

        def connection_made(self, transport) -> None:
            self.transport = transport

        def get_buffer(self, sizehint: int):
            return self.view

        def buffer_updated(self, nbytes: int) -> None:
            if not self.upgraded:
                self.hbuf += bytes(self.view[:nbytes])
                end = self.hbuf.find(b"\r\n\r\n")
                if end >= 0:
                    self.upgraded = True
                    head = self.hbuf[:end]
                    if len(self.hbuf) != end + 4:
                        self.handshake.set_exception(RuntimeError("unexpected bytes after the 101 response"))
                    elif not head.startswith(b"HTTP/1.1 101"):
                        self.handshake.set_exception(RuntimeError(f"upgrade failed: {head[:200]!r}"))
                    else:
                        self.handshake.set_result(None)
                return
            self.pending += nbytes
            if self.pending < expect:
                return
            if self.pending != expect:
                if not self.done.done():
                    self.done.set_exception(RuntimeError(f"echo of {self.pending} bytes, expected {expect}"))
                return
            self.pending = 0
            if clock.tick():
                self.done.set_result(None)
            else:
                self.transport.write(frame)

        def connection_lost(self, exc) -> None:
            for fut in (self.handshake, self.done):
                if not fut.done():
                    fut.set_exception(ConnectionError(f"connection lost: {exc}"))

    transport, proto = await loop.create_connection(RawProtocol, host, port)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path or "/"
    transport.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await asyncio.wait_for(proto.handshake, 5)
    clock.start()
    transport.write(frame)
    await proto.done
    transport.write(b"\x88\x82" + b"\x00\x00\x00\x00" + (1000).to_bytes(2, "big"))
    transport.close()
    return {}


_CLIENTS = {
    "picows": _client_picows,
    "picows-websockets": _client_picows_websockets,
    "websockets": _client_websockets,
    "aiohttp": _client_aiohttp,
    "raw": _client_raw,
}


def run_client(args: argparse.Namespace) -> int:
    payload = os.urandom(args.size)
    clock = _Clock(args.warmup, args.duration, args.round_trips, args.server_pid)
    loop = _new_loop(args.loop)
    asyncio.set_event_loop(loop)
    try:
        info = loop.run_until_complete(_CLIENTS[args.impl](args.url, payload, clock))
    finally:
        loop.close()
    _emit(
        {
            "role": "client",
            "impl": args.impl,
            "loop": args.loop,
            "size": args.size,
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "PICOWS_PURE": os.environ.get("PICOWS_PURE"),
            **clock.result(),
            **info,
            **_accel_info(args.impl),
            **_versions(),
        }
    )
    return 0


def run_probe(args: argparse.Namespace) -> int:
    """Import what a client needs and report versions (availability check)."""
    info = _versions()
    mods = {
        "picows": ["picows"],
        "picows-websockets": ["picows", "picows.websockets.asyncio.client"],
        "websockets": ["websockets"],
        "aiohttp": ["aiohttp"],
        "raw": [],
    }[args.impl]
    for m in mods:
        mod = importlib.import_module(m)
        if m == "picows":
            info.update(_picows_info(mod))
    info.update(_accel_info(args.impl))
    loops = ["asyncio"]
    try:
        import uvloop  # noqa: F401

        loops.append("uvloop")
    except ImportError as exc:
        info["uvloop_error"] = str(exc)
    info["loops"] = loops
    _emit(info)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("server")
    s.add_argument("--impl", default="picows", choices=sorted(_SERVERS))
    s.add_argument("--loop", default="uvloop", choices=["asyncio", "uvloop"])
    s.add_argument("--host", default="127.0.0.1")
    c = sub.add_parser("client")
    c.add_argument("--impl", required=True, choices=sorted(_CLIENTS))
    c.add_argument("--loop", default="uvloop", choices=["asyncio", "uvloop"])
    c.add_argument("--url", required=True)
    c.add_argument("--size", type=int, required=True)
    c.add_argument("--duration", type=float, default=2.0)
    c.add_argument("--warmup", type=float, default=0.3)
    c.add_argument(
        "--round-trips",
        type=int,
        default=0,
        help="stop after this many measured round trips instead of --duration (for profilers)",
    )
    c.add_argument("--server-pid", type=int, default=0, help="report this process's CPU time per round trip")
    pr = sub.add_parser("probe")
    pr.add_argument("--impl", required=True, choices=sorted(_CLIENTS))
    args = p.parse_args(argv)
    _block_optional_extensions()
    return {"server": run_server, "client": run_client, "probe": run_probe}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
