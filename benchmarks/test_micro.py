"""Micro-benchmarks of the hot path, pure-Python vs compiled, in ONE process.

Run (dev tree):

    python -m pytest benchmarks/test_micro.py --benchmark-json=/tmp/micro.json
    python benchmarks/speedup.py /tmp/micro.json

Each benchmark is parametrised by backend: ``picows._pure.frames`` and
``picows._cython.frames`` are imported directly, so both are measured under
identical conditions whichever backend ``import picows`` selected.  The
cython parameter is skipped (with the reason) when the extension is not built.
``benchmark.group`` puts pure and cython side by side in the report;
``benchmarks/conftest.py`` prints the cython/pure speed-up of every group at
the end of the run (and ``benchmarks/speedup.py`` does the same from a JSON
file).

What is measured:

* parse: ``FrameParser(is_client_side, max_frame_size)``, ``feed(bytes)``,
  ``get_next_frame()`` until None.  1000 x 32 B frames on the client side
  (unmasked), one 64 KiB and one 1 MiB frame on the server side (masked, so
  in-place unmasking is included).  ``feed`` copies into the receive buffer,
  which a real socket read does too.
* build: ``build_frame(opcode, payload, fin, rsv1, mask_key)`` for 0 B,
  256 B, 8 KiB, 1 MiB payloads, masked (client) and unmasked (server).
* WSFrame getters on a parsed frame: ``get_payload_as_bytes``,
  ``get_payload_as_memoryview``, ``get_payload_as_utf8_text``.
* e2e: loopback echo round trips (server and client of the same backend in
  this process), N round trips per benchmark round, per event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import time

import pytest

# --------------------------------------------------------------------------- backends

_PURE = importlib.import_module("picows._pure.frames")
try:
    _CYTHON = importlib.import_module("picows._cython.frames")
    _CYTHON_SKIP = None
except ImportError as exc:  # not built (PyPy, no compiler, PICOWS_NO_EXTENSIONS=1)
    _CYTHON = None
    _CYTHON_SKIP = f"compiled backend not importable: {exc}"

BACKENDS = [
    pytest.param("pure", id="pure"),
    pytest.param(
        "cython",
        id="cython",
        marks=pytest.mark.skipif(_CYTHON is None, reason=_CYTHON_SKIP or ""),
    ),
]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def frames(backend):
    return _PURE if backend == "pure" else _CYTHON


BINARY = 0x2
TEXT = 0x1
MASK_KEY = b"\x37\xfa\x21\x3d"
MAX_FRAME = 16 * 1024 * 1024


def _frame_bytes(payload: bytes, masked: bool, opcode: int = BINARY) -> bytes:
    # Built with the pure builder, so both parsers get the very same input.
    return _PURE.build_frame(opcode, payload, True, False, MASK_KEY if masked else None)


def _payload(n: int) -> bytes:
    return os.urandom(n)


# --------------------------------------------------------------------------- parse

PARSE_CASES = {
    # id: (description, is_client_side, frame count, payload size)
    "1000x32B-client-unmasked": ("parse 1000 x 32 B frames (client side, unmasked)", True, 1000, 32),
    "64KiB-server-masked": ("parse 1 x 64 KiB frame (server side, masked)", False, 1, 64 * 1024),
    "1MiB-server-masked": ("parse 1 x 1 MiB frame (server side, masked)", False, 1, 1024 * 1024),
}


@pytest.mark.parametrize("case", list(PARSE_CASES))
def test_parse(benchmark, frames, backend, case):
    desc, client_side, count, size = PARSE_CASES[case]
    one = _frame_bytes(_payload(size), masked=not client_side)
    data = one * count
    parser = frames.FrameParser(client_side, MAX_FRAME)

    def run():
        parser.feed(data)
        n = 0
        get = parser.get_next_frame
        while get() is not None:
            n += 1
        return n

    assert run() == count  # also warms the receive buffer up to its steady size
    benchmark.group = desc
    benchmark.extra_info.update(backend=backend, bytes=len(data), frames=count)
    assert benchmark(run) == count


# --------------------------------------------------------------------------- build

BUILD_SIZES = {"0B": 0, "256B": 256, "8KiB": 8 * 1024, "1MiB": 1024 * 1024}


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("size", list(BUILD_SIZES))
def test_build(benchmark, frames, backend, size, masked):
    n = BUILD_SIZES[size]
    payload = _payload(n)
    key = MASK_KEY if masked else None
    build = frames.build_frame
    benchmark.group = f"build_frame {size} {'masked' if masked else 'unmasked'}"
    benchmark.extra_info.update(backend=backend, bytes=n)
    out = benchmark(build, BINARY, payload, True, False, key)
    assert out == _frame_bytes(payload, masked)


# --------------------------------------------------------------------------- WSFrame getters

GETTER_SIZES = {"256B": 256, "64KiB": 64 * 1024}


@pytest.mark.parametrize("getter", ["bytes", "memoryview", "utf8_text"])
@pytest.mark.parametrize("size", list(GETTER_SIZES))
def test_frame_getter(benchmark, frames, backend, getter, size):
    n = GETTER_SIZES[size]
    text = ("picows-" * (n // 7 + 1))[:n].encode()
    parser = frames.FrameParser(True, MAX_FRAME)
    parser.feed(_frame_bytes(text, masked=False, opcode=TEXT))
    frame = parser.get_next_frame()
    assert frame is not None
    method = getattr(frame, f"get_payload_as_{getter}")
    benchmark.group = f"WSFrame.get_payload_as_{getter}() {size}"
    benchmark.extra_info.update(backend=backend, bytes=n)
    out = benchmark(method)
    assert (bytes(out) if getter == "memoryview" else out) == (
        text if getter != "utf8_text" else text.decode()
    )


# --------------------------------------------------------------------------- end to end

E2E_ROUND_TRIPS = int(os.environ.get("PICOWS_BENCH_E2E_ROUND_TRIPS", "500"))
E2E_SIZES = {"256B": 256, "8KiB": 8 * 1024}

try:
    import uvloop
except ImportError:  # PyPy
    uvloop = None

LOOPS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop", id="uvloop", marks=pytest.mark.skipif(uvloop is None, reason="uvloop not installed")
    ),
]


@contextlib.contextmanager
def _use_backend(name: str):
    """Route ws_create_server/ws_connect of this process to one backend while connecting.

    The backend is normally chosen once at import (PICOWS_PURE); the shared
    layer looks it up in ``picows._backend.impl`` when a server is created, when
    a connection is routed and when a client connects, so swapping it for the
    duration of the set-up gives a connection that is 100% of that backend.
    """
    from picows import _backend

    saved = _backend.impl
    _backend.impl = importlib.import_module(f"picows._{name}")
    try:
        yield _backend.impl
    finally:
        _backend.impl = saved


class _E2E:
    """One echo server and one connected client of one backend on one loop."""

    def __init__(self, backend: str, loop_kind: str, size: int):
        import picows

        self.loop = uvloop.new_event_loop() if loop_kind == "uvloop" else asyncio.new_event_loop()
        self.payload = os.urandom(size)
        self.picows = picows
        with _use_backend(backend) as mod:
            self.loop.run_until_complete(self._setup(mod))

    async def _setup(self, mod):
        picows = self.picows
        BIN = picows.WSMsgType.BINARY
        CLOSE = picows.WSMsgType.CLOSE
        payload = self.payload
        size = len(payload)
        loop = asyncio.get_running_loop()

        class Echo(mod.WSListener):
            def on_ws_frame(self, transport, frame):
                if frame.msg_type == CLOSE:
                    transport.send_close(frame.get_close_code(), frame.get_close_message())
                    transport.disconnect()
                else:
                    transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)

        class Client(mod.WSListener):
            def __init__(self):
                self.left = 0
                self.got = 0
                self.done = None

            def on_ws_frame(self, transport, frame):
                self.got += len(frame.get_payload_as_memoryview())
                if self.got < size:
                    return
                self.got = 0
                self.left -= 1
                if self.left > 0:
                    transport.send(BIN, payload)
                else:
                    self.done.set_result(None)

            def on_ws_disconnected(self, transport):
                if self.done is not None and not self.done.done():
                    self.done.set_exception(ConnectionError("disconnected"))

        self.server = await picows.ws_create_server(lambda request: Echo(), "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.transport, self.client = await picows.ws_connect(Client, f"ws://127.0.0.1:{port}/")
        self.loop_ = loop
        self.BIN = BIN

    async def _round(self, n: int):
        c = self.client
        c.left = n
        c.done = self.loop_.create_future()
        self.transport.send(self.BIN, self.payload)
        await asyncio.wait_for(c.done, 60)

    def round(self, n: int) -> None:
        self.loop.run_until_complete(self._round(n))

    def close(self) -> None:
        async def _close():
            self.transport.send_close(self.picows.WSCloseCode.OK)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.transport.wait_disconnected(), 5)
            self.server.close()
            await self.server.wait_closed()

        try:
            self.loop.run_until_complete(_close())
        finally:
            self.loop.close()


@pytest.mark.parametrize("loop_kind", LOOPS)
@pytest.mark.parametrize("size", list(E2E_SIZES))
def test_e2e_echo(benchmark, backend, loop_kind, size):
    e2e = _E2E(backend, loop_kind, E2E_SIZES[size])
    try:
        # The connection must really be of the requested backend.
        proto_mod = type(e2e.transport).__module__
        assert proto_mod.startswith(f"picows._{backend}."), proto_mod
        e2e.round(50)  # warm-up
        n = E2E_ROUND_TRIPS
        benchmark.group = f"e2e loopback echo {size} x {n} round trips, {loop_kind}"
        benchmark.extra_info.update(backend=backend, loop=loop_kind, round_trips=n, bytes=E2E_SIZES[size])
        t0 = time.perf_counter()
        benchmark.pedantic(e2e.round, args=(n,), rounds=int(os.environ.get("PICOWS_BENCH_E2E_ROUNDS", "8")))
        benchmark.extra_info["wall_s"] = time.perf_counter() - t0
    finally:
        e2e.close()
