"""Worker processes for ``scale.py`` (many-connection benchmarks).

Run by ``scale.py`` with the interpreter of the library under test (the fan-out
server) or with our dev interpreter (the clients); only the standard library
is imported at module level.  Roles:

* ``hold``: open ``--n`` WebSocket connections (raw asyncio protocol doing the
  HTTP upgrade; no library), print ``{"ready": ...}``, keep them idle until
  stdin is closed, then abort them (RST, so no TIME_WAIT pile-up).
* ``fanout-server --impl picows|websockets [--kwargs JSON]``: accept connections; on the
  stdin line ``go SECONDS SIZE`` broadcast one SIZE-byte binary message per
  round to every connection for SECONDS, yielding to the loop after each round
  and waiting while any connection's write buffer is above 256 KiB (the same
  flow control for every library); then print what was sent.
* ``fanout-clients``: like ``hold``, then count the bytes each connection
  receives; on the stdin line ``expect ROUNDS`` wait (bounded) until every
  connection has all ROUNDS messages and print the totals and the time the last
  byte arrived (time.monotonic, comparable across processes).

``--cafile`` (clients) and ``--tls-cert/--tls-key`` (fan-out server) switch
to ``wss://``. ``--extensions VALUE`` (clients) offers that
``Sec-WebSocket-Extensions``; the fan-out clients then count frames instead of
bytes (compressed frames vary in size), and ``hold --warm`` sends one
compressed message on each connection first. ``--deflate`` (fan-out server)
accepts permessage-deflate and broadcasts a compressible JSON-like message.
A picows fan-out row whose ``--kwargs`` hold ``"_broadcast": true`` sends with
``picows.broadcast()`` (the frame built once) instead of a loop of ``send()``. Every process prints JSON lines on stdout; errors go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import socket
import sys
import time
import zlib
from urllib.parse import urlsplit

from common import (
    LOOPS,
    client_ssl_context,
    compressible_payload,
    load_kwargs,
    new_loop,
    raise_nofile,
    server_ssl_context,
    stdin_lines,
)
from common import emit as _emit

# --------------------------------------------------------------------------- clients


def _frame_len(size: int) -> int:
    return size + (2 if size < 126 else 4 if size < 65536 else 10)


class _RawClient(asyncio.Protocol):
    """Upgrade, then count received bytes (server frames are never parsed)."""

    __slots__ = ("transport", "handshake", "hbuf", "upgraded", "nbytes", "last_rx", "frames", "fbuf")

    def __init__(self, handshake: asyncio.Future, count_frames: bool = False) -> None:
        self.transport = None
        self.handshake = handshake
        self.hbuf = b""
        self.upgraded = False
        self.nbytes = 0
        self.last_rx = 0.0
        self.frames = 0
        # Compressed frames vary in size: count whole (unmasked server) frames instead of bytes.
        self.fbuf = bytearray() if count_frames else None

    def _count(self, data: bytes) -> None:
        buf = self.fbuf
        buf += data
        pos, end = 0, len(buf)
        while end - pos >= 2:
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif n == 127:
                if end - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if end - pos < head + n:
                break
            pos += head + n
            self.frames += 1
        del buf[:pos]

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.upgraded:
            self.nbytes += len(data)
            self.last_rx = time.monotonic()
            if self.fbuf is not None:
                self._count(data)
            return
        self.hbuf += data
        end = self.hbuf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.hbuf) > 16384:
                self._fail(RuntimeError("upgrade response too long"))
            return
        self.upgraded = True
        head, rest = self.hbuf[:end], self.hbuf[end + 4 :]
        self.hbuf = b""
        if not head.startswith(b"HTTP/1.1 101"):
            self._fail(RuntimeError(f"upgrade failed: {head[:120]!r}"))
            return
        self.nbytes = len(rest)
        if self.fbuf is not None and rest:
            self._count(rest)
        if not self.handshake.done():
            self.handshake.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc)

    def connection_lost(self, exc) -> None:
        self._fail(ConnectionError(f"connection lost during the upgrade: {exc}"))


def _compressed_client_frame(size: int) -> bytes:
    """One masked BINARY frame carrying a compressible message deflated without context (RSV1 set)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    payload = (c.compress(compressible_payload(size)) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
    mask = random.randbytes(4)
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    n = len(payload)
    head = bytes((0xC2, 0x80 | n)) if n < 126 else bytes((0xC2, 0xFE)) + n.to_bytes(2, "big")
    return head + mask + masked


async def _open_many(
    url: str, n: int, concurrency: int, timeout: float, cafile: str | None, extensions: str | None = None
) -> tuple[list, list[str]]:
    parts = urlsplit(url)
    ssl_context = client_ssl_context(cafile)
    host, port = parts.hostname, parts.port or (443 if ssl_context is not None else 80)
    tls = {"ssl": ssl_context, "server_hostname": host} if ssl_context is not None else {}
    loop = asyncio.get_running_loop()
    request = (
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {{key}}\r\nSec-WebSocket-Version: 13\r\n"
        + (f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else "")
        + "\r\n"
    )
    sem = asyncio.Semaphore(concurrency)
    protos: list = []
    errors: list[str] = []

    async def one() -> None:
        async with sem:
            fut = loop.create_future()
            try:
                transport, proto = await asyncio.wait_for(
                    loop.create_connection(lambda: _RawClient(fut, bool(extensions)), host, port, **tls), timeout
                )
            except Exception as exc:
                errors.append(f"connect: {exc!r}")
                return
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            key = base64.b64encode(os.urandom(16)).decode()
            transport.write(request.format(key=key).encode())
            try:
                await asyncio.wait_for(fut, timeout)
            except Exception as exc:
                errors.append(f"upgrade: {exc!r}")
                transport.abort()
                return
            protos.append(proto)

    await asyncio.gather(*(one() for _ in range(n)))
    return protos, errors


def _abort_all(protos) -> None:
    for p in protos:
        if p.transport is not None:
            p.transport.abort()


async def _hold(args) -> None:
    loop = asyncio.get_running_loop()
    lines = stdin_lines(loop)
    t0 = time.monotonic()
    protos, errors = await _open_many(args.url, args.n, args.concurrency, args.timeout, args.cafile, args.extensions)
    if args.warm:
        # One compressed message each (the echo comes back compressed): both ends' contexts are in use.
        frame = _compressed_client_frame(args.size)
        for p in protos:
            p.transport.write(frame)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and not all(p.frames >= 1 for p in protos):
            await asyncio.sleep(0.01)
    _emit(
        {
            "ready": len(protos),
            "failed": len(errors),
            "errors": errors[:5],
            "open_s": time.monotonic() - t0,
            "pid": os.getpid(),
        }
    )
    while await lines.get() is not None:
        pass
    _abort_all(protos)
    await asyncio.sleep(0.05)


async def _fanout_clients(args) -> None:
    loop = asyncio.get_running_loop()
    lines = stdin_lines(loop)
    protos, errors = await _open_many(args.url, args.n, args.concurrency, args.timeout, args.cafile, args.extensions)
    _emit({"ready": len(protos), "failed": len(errors), "errors": errors[:5], "pid": os.getpid()})
    flen = _frame_len(args.size)
    if args.extensions:
        flen = 1  # frames are counted, not bytes
    while True:
        line = await lines.get()
        if line is None:
            break
        if not line.startswith("expect "):
            continue
        rounds = int(line.split()[1])
        target = rounds * flen
        deadline = time.monotonic() + args.timeout
        def progress(p) -> int:
            return p.frames if args.extensions else p.nbytes

        while time.monotonic() < deadline:
            if all(progress(p) >= target for p in protos):
                break
            await asyncio.sleep(0.01)
        total = sum(progress(p) for p in protos)
        _emit(
            {
                "received_msgs": total // flen,
                "expected_msgs": rounds * len(protos),
                "complete": all(progress(p) == target for p in protos),
                "last_rx": max((p.last_rx for p in protos), default=0.0),
                "conns": len(protos),
            }
        )
    _abort_all(protos)
    await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- fan-out server

HIGH_WATER = 256 * 1024


async def _fanout_server(args) -> None:
    loop = asyncio.get_running_loop()
    conns: list = []  # library objects, in connection order
    ssl_context = server_ssl_context(args.tls_cert, args.tls_key)
    kwargs = load_kwargs(args.kwargs)
    use_broadcast = kwargs.pop("_broadcast", False)
    if args.impl == "picows":
        import picows

        if args.deflate:
            kwargs = {"permessage_deflate": True, **kwargs}
        BINARY = picows.WSMsgType.BINARY
        CLOSE = picows.WSMsgType.CLOSE

        class Listener(picows.WSListener):
            def on_ws_connected(self, transport):
                conns.append(transport)

            def on_ws_frame(self, transport, frame):
                if frame.msg_type == CLOSE:
                    transport.disconnect()

            def on_ws_disconnected(self, transport):
                try:
                    conns.remove(transport)
                except ValueError:
                    pass

        server = await picows.ws_create_server(lambda request: Listener(), args.host, 0, ssl=ssl_context, **kwargs)
        port = server.sockets[0].getsockname()[1]
        info = {"picows_file": picows.__file__, "backend": getattr(picows, "BACKEND", None)}

        if use_broadcast:
            picows_broadcast = picows.broadcast

            def broadcast(msg: bytes) -> None:
                picows_broadcast(conns, BINARY, msg, skip_slow=False)

        else:

            def broadcast(msg: bytes) -> None:
                for t in conns:
                    t.send(BINARY, msg)

        def buffered(c) -> int:
            return c.underlying_transport.get_write_buffer_size()

    elif args.impl == "websockets":
        import websockets
        from websockets.asyncio.server import broadcast as ws_broadcast
        from websockets.asyncio.server import serve

        async def handler(ws):
            conns.append(ws)
            try:
                await ws.wait_closed()
            finally:
                conns.remove(ws)

        server = await serve(
            handler, args.host, 0, ssl=ssl_context, compression="deflate" if args.deflate else None,
            ping_interval=None, **kwargs,
        )
        port = next(iter(server.sockets)).getsockname()[1]
        info = {"websockets_version": websockets.__version__}

        def broadcast(msg: bytes) -> None:
            ws_broadcast(conns, msg)

        def buffered(c) -> int:
            return c.transport.get_write_buffer_size()

    else:
        raise SystemExit(f"unknown impl {args.impl!r}")

    lines = stdin_lines(loop)
    _emit({"role": "server", "port": port, "pid": os.getpid(), "nofile": raise_nofile(), **info})
    while True:
        line = await lines.get()
        if line is None:
            break
        if line == "count":
            _emit({"conns": len(conns)})
            continue
        if not line.startswith("go "):
            continue
        _, seconds, size = line.split()
        msg = compressible_payload(int(size)) if args.deflate else os.urandom(int(size))
        rounds = 0
        waits = 0
        cpu0 = time.process_time()
        t0 = time.monotonic()
        end = t0 + float(seconds)
        while time.monotonic() < end:
            broadcast(msg)
            rounds += 1
            await asyncio.sleep(0)
            while max(map(buffered, conns), default=0) > HIGH_WATER:
                waits += 1
                await asyncio.sleep(0.0005)
        t1 = time.monotonic()
        cpu1 = time.process_time()
        _emit(
            {
                "rounds": rounds,
                "conns": len(conns),
                "t0": t0,
                "t1": t1,
                "server_cpu_s": cpu1 - cpu0,
                "flow_control_waits": waits,
            }
        )
    server.close()


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("hold", "fanout-clients"):
        c = sub.add_parser(name)
        c.add_argument("--url", required=True)
        c.add_argument("--n", type=int, required=True)
        c.add_argument("--concurrency", type=int, default=200)
        c.add_argument("--timeout", type=float, default=60.0)
        c.add_argument("--size", type=int, default=256)
        c.add_argument("--loop", default="uvloop", choices=LOOPS)
        c.add_argument("--cafile", default=None, help="wss://: trust this certificate")
        c.add_argument("--extensions", default=None, help="Sec-WebSocket-Extensions to offer; count frames")
        c.add_argument("--warm", action="store_true", help="hold: send one compressed message per connection")
    s = sub.add_parser("fanout-server")
    s.add_argument("--impl", required=True, choices=["picows", "websockets"])
    s.add_argument("--loop", default="uvloop", choices=LOOPS)
    s.add_argument("--tls-cert", default=None, help="PEM certificate: serve wss://")
    s.add_argument("--tls-key", default=None, help="PEM key of --tls-cert")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--kwargs", default=None, help="JSON object: extra keyword arguments of the serve call")
    s.add_argument("--deflate", action="store_true", help="accept permessage-deflate; compressible message")
    args = p.parse_args(argv)
    raise_nofile()
    loop = new_loop(args.loop)
    asyncio.set_event_loop(loop)
    fn = {"hold": _hold, "fanout-clients": _fanout_clients, "fanout-server": _fanout_server}[args.cmd]
    try:
        loop.run_until_complete(fn(args))
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
