"""User Cython code can ``cimport`` picows' compiled classes (the .pxd files work).

The modules in ``tests/system/cython_user/`` are compiled once per session against
the *installed* picows (include path: the directory that contains the
``picows`` package), through the two public cimport paths:
``echo_listener.pyx`` uses ``from picows cimport ...`` and
``published_path.pyx`` the published package's ``from picows.picows cimport ...``.
``echo_listener.pyx`` subclasses the
compiled ``WSListener`` as a cdef class, overrides ``on_ws_frame`` at C level
and echoes with the C-only ``send_reuse_external_buffer``. The tests run it
as a server (picows and ``websockets`` clients) and as a client (masking in
place on the client side).

Skipped only when the compiled backend does not exist for this interpreter;
a missing Cython or a failing build is an error, never a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import picows
from picows import WSCloseCode, WSMsgType
from support import TIMEOUT
from support.backends import PACKAGE_DIR, cython_module
from support.internals import force_compiled_backend
from support.servers import ws_server

SOURCES = [Path(__file__).resolve().parent / "cython_user" / name
           for name in ("echo_listener.pyx", "published_path.pyx")]
SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000]
BUILD_TIMEOUT = 600

BUILD_SCRIPT = r"""
import os, sys
from setuptools import Distribution, Extension
from Cython.Build import cythonize

build_dir, include_dir, *sources = sys.argv[1:]
extensions = cythonize(
    [Extension(os.path.splitext(os.path.basename(src))[0], [src], extra_compile_args=["-O0"])
     for src in sources],
    include_path=[include_dir],
    build_dir=os.path.join(build_dir, "c"),
    compiler_directives={"language_level": 3},
    quiet=True,
    force=True,
)
dist = Distribution({"name": "cython_user", "ext_modules": extensions})
cmd = dist.get_command_obj("build_ext")
cmd.build_lib = build_dir
cmd.build_temp = os.path.join(build_dir, "tmp")
cmd.ensure_finalized()
cmd.run()
for ext in extensions:
    print("BUILT:" + ext.name + ":" + cmd.get_ext_fullpath(ext.name))
"""


@pytest.fixture(scope="session")
def user_modules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """The user extensions by name, built once per session (skip/fail rules: see the module docstring)."""
    cython_module("transport")  # skips if there is no compiled backend here, fails if it is broken
    try:
        import Cython  # noqa: F401
    except ImportError:
        pytest.fail("the compiled backend is installed but Cython is not: install Cython to build user extensions")
    build_dir = tmp_path_factory.mktemp("cython_user")
    sources = []
    for src in SOURCES:
        sources.append(str(build_dir / src.name))
        shutil.copyfile(src, sources[-1])
    include_dir = os.path.dirname(PACKAGE_DIR)  # contains picows/*.pxd
    env = {k: v for k, v in os.environ.items() if k not in ("PICOWS_PURE", "PICOWS_TEST_BACKEND")}
    proc = subprocess.run(
        [sys.executable, "-c", BUILD_SCRIPT, str(build_dir), include_dir, *sources],
        cwd=build_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    built = [line[6:].split(":", 1) for line in proc.stdout.splitlines() if line.startswith("BUILT:")]
    if proc.returncode != 0 or len(built) != len(SOURCES):
        pytest.fail(f"building {[s.name for s in SOURCES]} failed:\n{proc.stdout}\n{proc.stderr}")
    modules = {}
    for name, path in built:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules[name] = module
    return modules


@pytest.fixture(scope="session")
def echo_module(user_modules: dict[str, ModuleType]) -> ModuleType:
    """echo_listener.pyx: written with ``from picows cimport ...``."""
    return user_modules["echo_listener"]


async def test_published_cimport_path(user_modules: dict[str, ModuleType], compiled_backend_active: None) -> None:
    """A listener written with ``from picows.picows cimport ...`` (the published package's path) serves."""
    module = user_modules["published_path"]
    assert isinstance(module.ReverseEcho(), cython_module("transport").WSListener)
    async with ws_server(lambda request: module.ReverseEcho()) as url:
        transport, client = await asyncio.wait_for(picows.ws_connect(collecting_listener_class(), url), TIMEOUT)
        transport.send(WSMsgType.BINARY, b"abc")
        assert await client.get() == (WSMsgType.BINARY, True, False, b"cba")
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


@pytest.fixture
def compiled_backend_active(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ws_connect/ws_create_server use the compiled backend even in a PICOWS_PURE=1 run.

    A cdef listener only works with the compiled protocol; when the suite runs
    the pure backend, the shim's selection is switched for this test only.
    """
    if picows.BACKEND != "cython":
        force_compiled_backend(monkeypatch)


def collecting_listener_class() -> Any:
    """A Python listener on the *compiled* WSListener (support.listeners' one follows the selected backend)."""
    base = cython_module("transport").WSListener

    class Collecting(base):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            self.received: asyncio.Queue[tuple[Any, bool, bool, bytes]] = asyncio.Queue()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            self.received.put_nowait((frame.msg_type, frame.fin, frame.rsv1, frame.get_payload_as_bytes()))

        async def get(self) -> tuple[Any, bool, bool, bytes]:
            return await asyncio.wait_for(self.received.get(), TIMEOUT)

    return Collecting


def payload_of(size: int, seed: int) -> bytes:
    block = bytes((seed * 31 + i) & 0xFF for i in range(256))
    return (block * (size // 256 + 1))[:size]


def test_user_listener_is_a_cdef_subclass(echo_module: ModuleType) -> None:
    transport = cython_module("transport")
    listener = echo_module.EchoListener()
    assert isinstance(listener, transport.WSListener)
    assert listener.frames == 0
    assert not hasattr(listener, "__dict__")  # a cdef class, not a Python subclass
    with pytest.raises(AttributeError):
        listener._frames  # noqa: B018 - C attributes are not visible from Python


@contextlib.asynccontextmanager
async def echo_server(echo_module: ModuleType, listeners: list[Any]) -> AsyncIterator[str]:
    def factory(request: Any) -> Any:
        listener = echo_module.EchoListener()
        listeners.append(listener)
        return listener

    async with ws_server(factory) as url:
        yield url


async def test_picows_client_to_cython_user_server(echo_module: ModuleType, compiled_backend_active: None) -> None:
    listeners: list[Any] = []
    async with echo_server(echo_module, listeners) as url:
        transport, client = await asyncio.wait_for(picows.ws_connect(collecting_listener_class(), url), TIMEOUT)
        sent = 0
        for i, size in enumerate(SIZES):
            payload = payload_of(size, i)
            transport.send(WSMsgType.BINARY, payload)
            sent += 1
            assert await client.get() == (WSMsgType.BINARY, True, False, payload)
        # TEXT, rsv1 and a fragmented message: type, fin and rsv1 go through untouched.
        transport.send(WSMsgType.TEXT, "héllo".encode(), True, True)
        transport.send(WSMsgType.BINARY, b"part1", False)
        transport.send(WSMsgType.CONTINUATION, b"part2", True)
        sent += 3
        assert await client.get() == (WSMsgType.TEXT, True, True, "héllo".encode())
        assert await client.get() == (WSMsgType.BINARY, False, False, b"part1")
        assert await client.get() == (WSMsgType.CONTINUATION, True, False, b"part2")
        # Auto-pong still works (the ping never reaches the user's on_ws_frame).
        rtt = await asyncio.wait_for(transport.measure_roundtrip_time(2), TIMEOUT)
        assert len(rtt) == 2

        (server_listener,) = listeners
        assert server_listener.frames == sent
        assert server_listener.payload_bytes == sum(SIZES) + len("héllo".encode()) + 10

        transport.send_close(WSCloseCode.OK)
        assert (await client.get())[0] == WSMsgType.CLOSE
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        assert server_listener.frames == sent + 1


async def test_websockets_client_to_cython_user_server(echo_module: ModuleType,
                                                       compiled_backend_active: None) -> None:
    from websockets.asyncio.client import connect

    listeners: list[Any] = []
    async with echo_server(echo_module, listeners) as url:
        async with connect(url, max_size=None, compression=None) as ws:
            for i, size in enumerate(SIZES):
                payload = payload_of(size, i + 100)
                await asyncio.wait_for(ws.send(payload), TIMEOUT)
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == payload
            await asyncio.wait_for(ws.send("text ünïcode"), TIMEOUT)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "text ünïcode"
        (server_listener,) = listeners
        assert server_listener.frames == len(SIZES) + 2  # + the CLOSE frame


async def test_cython_user_client_masks_in_place(echo_module: ModuleType, compiled_backend_active: None) -> None:
    """As a client, send_reuse_external_buffer masks the user's buffer in place; the server sees clean data."""
    server_side: list[Any] = []

    class Sender(collecting_listener_class()):  # type: ignore[misc]
        def on_ws_connected(self, transport: Any) -> None:
            for i, size in enumerate(SIZES):
                transport.send(WSMsgType.BINARY, payload_of(size, i + 7))

    def factory(request: Any) -> Any:
        listener = Sender()
        server_side.append(listener)
        return listener

    async with ws_server(factory) as url:
        transport, client = await asyncio.wait_for(picows.ws_connect(echo_module.EchoListener, url), TIMEOUT)
        server = server_side[0]
        for i, size in enumerate(SIZES):
            assert await server.get() == (WSMsgType.BINARY, True, False, payload_of(size, i + 7))
        assert client.frames == len(SIZES)
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
