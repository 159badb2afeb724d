"""Every script in ``examples/`` runs against a real loopback peer.

Most examples are imported from their file and their coroutines run in the
test's event loop (so they run on asyncio and uvloop, with the backend under
test); ``echo_server.py``/``echo_client.py`` and the Cython client also run
as real processes, the way a reader would start them. Every wait is bounded.
The Cython example is built and run only where the compiled backend exists
(skipped with the reason otherwise; a failing build is an error).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import picows
from picows import WSCloseCode, WSInvalidURL, WSMsgType
from support import REPO_ROOT, TIMEOUT
from support.backends import cython_module
from support.tls import TLSCerts, client_ssl_context

EXAMPLES = REPO_ROOT / "examples"
HOST = "127.0.0.1"
PROCESS_TIMEOUT = 60.0  # seconds for one example process (start-up included)
BUILD_TIMEOUT = 600.0

#: Every example script and the test(s) below that run it.
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))
TESTED = {
    "async_callbacks.py",
    "async_iteration.py",
    # The conformance reference apps are what tests/conformance/ drive.
    "conformance_echo_client.py",
    "conformance_echo_server.py",
    "broadcast_client.py",
    "broadcast_server.py",
    "echo_client.py",
    "echo_server.py",
    "fragmented_messages.py",
    "graceful_shutdown.py",
    "picows_1_15_style_client.py",
    "picows_2_3_style_client.py",
    "reconnecting_client.py",
    "roundtrip_time.py",
    "slow_client_backpressure.py",
    "subprotocol_negotiation.py",
    "tls_server.py",
}

_modules: dict[str, ModuleType] = {}


def example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` (once) without putting examples/ on sys.path."""
    if name not in _modules:
        spec = importlib.util.spec_from_file_location(f"picows_example_{name}", EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        _modules[name] = module
    return _modules[name]


def url_of(server: asyncio.AbstractServer, scheme: str = "ws") -> str:
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    return f"{scheme}://{HOST}:{port}/"


def bounded(coro: Any) -> Any:
    return asyncio.wait_for(coro, TIMEOUT)


# ---------------------------------------------------------------- inventory ---


def test_every_example_is_tested() -> None:
    assert set(SCRIPTS) == TESTED, "add a test for each new example (and list it in TESTED)"
    assert (EXAMPLES / "cython_client" / "echo_client.pyx").is_file()


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_has_docstring_and_cli(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    module = example(script[:-3])
    assert module.__doc__ and module.__doc__.strip(), f"{script} needs a module docstring"
    with pytest.raises(SystemExit) as exc_info:
        module.main(["--help"])
    assert exc_info.value.code == 0
    summary = " ".join(module.__doc__.splitlines()[0].split())
    assert summary in " ".join(capsys.readouterr().out.split())  # argparse re-wraps the text


# ------------------------------------------------------------ real processes ---


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


@contextlib.contextmanager
def server_process(script: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run an example server on a free port; yield its URL; stop it with SIGINT and check it exits cleanly."""
    proc = subprocess.Popen(
        [sys.executable, str(script), "--host", HOST, "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + PROCESS_TIMEOUT
        line = ""
        while "://" not in line:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                pytest.fail(f"{script.name} did not start: {proc.stderr.read() if proc.stderr else ''}")
            if select.select([proc.stdout], [], [], remaining)[0]:
                line = proc.stdout.readline()
        url = line[line.index("ws") :].strip()
        yield url
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
        assert proc.returncode == 0, f"{script.name} exited with {proc.returncode}: {err}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_echo_server_and_client_processes() -> None:
    with server_process(EXAMPLES / "echo_server.py") as url:
        assert url.startswith(f"ws://{HOST}:")
        result = subprocess.run(
            [sys.executable, str(EXAMPLES / "echo_client.py"), url, "hello", "wörld"],
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == ["echo: hello", "echo: wörld"]


# --------------------------------------------------- examples run in-process ---


async def test_echo_server_and_client() -> None:
    server = await example("echo_server").start_server(HOST, 0)
    async with server:
        messages = ["Hello world", "", "ünïcode ✓", "x" * 70000]
        assert await bounded(example("echo_client").run(url_of(server), messages)) == messages


async def test_tls_server(tls_certs: TLSCerts) -> None:
    tls_server = example("tls_server")
    context = tls_server.server_ssl_context(tls_certs.cert_file, tls_certs.key_file)
    server = await tls_server.start_server(HOST, 0, context)
    async with server:
        url = url_of(server, "wss")
        echoes = await bounded(example("echo_client").run(url, ["secret"], client_ssl_context(tls_certs)))
        assert echoes == ["secret"]


@pytest.mark.parametrize("fragment_size", [1, 5, 1000])
async def test_fragmented_messages(fragment_size: int) -> None:
    text = "Hello fragmented world"
    frames, reply = await bounded(example("fragmented_messages").run(HOST, 0, text, fragment_size))
    assert frames == -(-len(text) // fragment_size)
    assert reply == text


async def test_async_iteration() -> None:
    mod = example("async_iteration")
    server = await example("echo_server").start_server(HOST, 0)
    async with server:
        assert await bounded(mod.run(url_of(server), ["one", "two", "three"])) == ["one", "two", "three"]
        conn = await bounded(mod.Connection.connect(url_of(server)))
        conn.send(b"\x00\xff")
        conn.send("text")
        assert await bounded(conn.recv()) == b"\x00\xff"
        assert await bounded(conn.recv()) == "text"
        await bounded(conn.close())
        with pytest.raises(ConnectionError):
            await bounded(conn.recv())
        assert [m async for m in conn] == []


async def test_async_callbacks() -> None:
    mod = example("async_callbacks")
    server = await mod.start_server(HOST, 0)
    async with server:
        replies = await bounded(example("echo_client").run(url_of(server), ["hello", "world"]))
        assert replies == ["HELLO", "WORLD"]

    # Tasks still running when the client goes away are cancelled.
    listeners: list[Any] = []

    def factory(request: Any) -> Any:
        listeners.append(mod.AsyncHandlerListener())
        return listeners[-1]

    server = await picows.ws_create_server(factory, HOST, 0)
    async with server:
        transport, _ = await bounded(picows.ws_connect(picows.WSListener, url_of(server)))
        for _ in range(3):
            transport.send(WSMsgType.TEXT, b"slow")
        transport.send_close(WSCloseCode.OK)
        await bounded(transport.wait_disconnected())
        while not listeners or listeners[0].tasks:
            await asyncio.sleep(0.005)  # bounded by the test timeout


async def test_reconnecting_client() -> None:
    from picows import WSUpgradeResponse, WSUpgradeResponseWithListener

    mod = example("reconnecting_client")
    requests = 0

    class Restarting(picows.WSListener):
        """Greets, then closes the connection like a restarting server."""

        def on_ws_connected(self, transport: Any) -> None:
            transport.send(WSMsgType.TEXT, f"welcome {requests}".encode())

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.TEXT:  # the client's hello
                transport.send_close(WSCloseCode.SERVICE_RESTART)
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()

    def factory(request: Any) -> Any:
        nonlocal requests
        requests += 1
        if requests <= 2:  # the first two attempts fail: "server still starting"
            response = WSUpgradeResponse.create_error_response(503, b"starting")
            return WSUpgradeResponseWithListener(response, None)
        return Restarting()

    server = await picows.ws_create_server(factory, HOST, 0)
    async with server:
        received = await bounded(mod.run(url_of(server), base_delay=0.001, max_delay=0.01, max_sessions=2))
    assert received == ["welcome 3", "welcome 4"]
    assert requests == 4


async def test_reconnecting_client_gives_up() -> None:
    mod = example("reconnecting_client")
    with socket.socket() as sock:  # a port with nobody listening
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError, match="giving up after 3 failed attempts"):
        await bounded(mod.run(f"ws://{HOST}:{port}/", max_attempts=3, base_delay=0.001, max_delay=0.01))
    with pytest.raises(WSInvalidURL):  # not retried
        await bounded(mod.run("http://example.invalid/", base_delay=10))


async def test_broadcast() -> None:
    server_mod, client_mod = example("broadcast_server"), example("broadcast_client")
    hub = server_mod.Hub()
    server = await server_mod.start_server(HOST, 0, hub)
    async with server:
        url = url_of(server)
        listeners = [asyncio.ensure_future(client_mod.run(url, [], count=2)) for _ in range(2)]
        while len(hub.clients) < 2:
            await asyncio.sleep(0.005)  # bounded by the test timeout
        talker = await bounded(client_mod.run(url, ["hi", "there"], count=2))
        assert talker == ["hi", "there"]
        assert await bounded(asyncio.gather(*listeners)) == [["hi", "there"], ["hi", "there"]]
        while hub.clients:
            await asyncio.sleep(0.005)


async def test_subprotocol_negotiation() -> None:
    lines = await bounded(
        example("subprotocol_negotiation").run(HOST, 0, ["chat.v1, chat.v2", "chat.v1", "chat.v3"])
    )
    assert lines == [
        "offered 'chat.v1, chat.v2': server chose 'chat.v2' and said 'welcome, we speak chat.v2'",
        "offered 'chat.v1': server chose 'chat.v1' and said 'welcome, we speak chat.v1'",
        "offered 'chat.v3': rejected with 400: b'unsupported subprotocol; this server speaks chat.v2, chat.v1'",
    ]


async def test_slow_client_backpressure() -> None:
    total = 2 * 1024 * 1024
    pauses, received = await bounded(example("slow_client_backpressure").run(HOST, 0, total, 0.05))
    assert pauses >= 1
    assert received == total


async def test_graceful_shutdown() -> None:
    closes = await bounded(example("graceful_shutdown").demo(HOST, 0, 3))
    assert closes == [(WSCloseCode.GOING_AWAY, b"server shutting down")] * 3


@pytest.mark.parametrize("app_ping", [False, True], ids=["ping-frames", "app-ping"])
async def test_roundtrip_time(app_ping: bool) -> None:
    server = await example("echo_server").start_server(HOST, 0)
    async with server:
        times = await bounded(example("roundtrip_time").run(url_of(server), 3, app_ping))
    assert len(times) == 3
    assert all(isinstance(t, float) and t > 0 for t in times)


# ------------------------------------- code written for the published picows ---


class ClosesFirst(picows.WSListener):
    """Answers the first message by starting the closing handshake; records the CLOSE it gets back."""

    def __init__(self, answers: list[tuple[int, bytes | None]]) -> None:
        self.answers = answers

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.answers.append((frame.get_close_code(), frame.get_close_message()))
            transport.disconnect()
        else:
            transport.send_close(WSCloseCode.GOING_AWAY, b"restarting")


class SendsBinary(picows.WSListener):
    """Answers every message with a BINARY frame (which the 2.3-style client refuses)."""

    def __init__(self, answers: list[tuple[int, bytes | None]]) -> None:
        self.answers = answers

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.answers.append((frame.get_close_code(), frame.get_close_message()))
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        else:
            transport.send(WSMsgType.BINARY, b"\x00\x01")


@contextlib.asynccontextmanager
async def compat_peer() -> Any:
    """A server for the compatibility examples: echo on /, 403 on /private, and the two listeners above."""
    from picows import WSUpgradeResponse, WSUpgradeResponseWithListener

    answers: list[tuple[int, bytes | None]] = []
    echo = example("echo_server")

    def route(request: Any) -> Any:
        if request.path == b"/closes-first":
            return ClosesFirst(answers)
        if request.path == b"/binary":
            return SendsBinary(answers)
        if request.path == b"/private":
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(403, b"no"), None)
        return echo.EchoListener()

    server = await picows.ws_create_server(route, HOST, 0)
    async with server:
        yield url_of(server), answers


async def test_picows_1_15_style_client() -> None:
    run = example("picows_1_15_style_client").run
    async with compat_peer() as (url, answers):
        result = await bounded(run(url, [b"one", b"\x00\xff", b""]))
        assert result.echoes == [b"one", b"\x00\xff", b""]
        assert result.close_code == WSCloseCode.OK  # the server echoed our CLOSE
        assert result.rejected is None

        # The server closes first: the client echoes its CLOSE by hand.
        result = await bounded(run(url + "closes-first", [b"hello"]))
        assert result.close_code == WSCloseCode.GOING_AWAY
        assert answers == [(WSCloseCode.GOING_AWAY, b"restarting")]

        # A refused upgrade is caught as a RuntimeError; its raw_header has the status line.
        result = await bounded(run(url + "private", [b"never sent"]))
        assert result.rejected == "HTTP/1.1 403 Forbidden"


async def test_picows_2_3_style_client() -> None:
    run = example("picows_2_3_style_client").run
    async with compat_peer() as (url, answers):
        outcome = await bounded(run(url, ["one", "ünïcode ✓"]))
        assert outcome.echoes == ["one", "ünïcode ✓"]
        assert outcome.error is None and outcome.rejected_status is None
        assert outcome.subprotocol is None  # read from the response the factory was given
        handshake = outcome.close_handshake
        assert handshake is not None and not handshake.recv_then_sent
        assert handshake.sent == picows.WSCloseInfo(WSCloseCode.OK, "done")
        assert handshake.recv == picows.WSCloseInfo(WSCloseCode.OK, "done")  # echoed by the server

        # WSProtocolError raised by on_ws_frame closes with its code; wait_disconnected raises it.
        outcome = await bounded(run(url + "binary", ["send me binary"]))
        assert outcome.error == "closed with 1003: this client only takes text"
        assert outcome.close_handshake is not None
        assert outcome.close_handshake.sent == picows.WSCloseInfo(
            WSCloseCode.UNSUPPORTED_DATA, "this client only takes text"
        )
        assert answers == [(WSCloseCode.UNSUPPORTED_DATA, b"this client only takes text")]


async def test_picows_2_3_style_client_refused() -> None:
    """A non-101 answer is a WSInvalidStatusError (a WSError, so 1.15 code still catches it)."""
    async with compat_peer() as (url, _):
        outcome = await bounded(example("picows_2_3_style_client").run(url + "private", ["never sent"]))
    assert outcome.rejected_status == 403


def test_compat_examples_as_processes() -> None:
    """Both scripts, run the way a reader would, against the echo server process."""
    with server_process(EXAMPLES / "echo_server.py") as url:
        for script, expected in (
            ("picows_1_15_style_client.py", ["echo: b'hello'", "closed with 1000"]),
            (
                "picows_2_3_style_client.py",
                [
                    "echo: hello",
                    "sent CLOSE: WSCloseInfo(code=<WSCloseCode.OK: 1000>, reason='done'), "
                    "received CLOSE: WSCloseInfo(code=<WSCloseCode.OK: 1000>, reason='done')",
                ],
            ),
        ):
            result = subprocess.run(
                [sys.executable, str(EXAMPLES / script), url, "hello"],
                capture_output=True,
                text=True,
                timeout=PROCESS_TIMEOUT,
            )
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines() == expected


# ------------------------------------------------------------ Cython client ---


@pytest.fixture(scope="module")
def cython_client_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/cython_client copied to a temporary directory and built there with its build.py."""
    cython_module("transport")  # skips without a compiled backend, fails if it is broken
    directory = tmp_path_factory.mktemp("examples") / "cython_client"
    shutil.copytree(EXAMPLES / "cython_client", directory, ignore=shutil.ignore_patterns("build", "*.so"))
    env = {k: v for k, v in os.environ.items() if k not in ("PICOWS_PURE", "PICOWS_TEST_BACKEND")}
    env["CFLAGS"] = "-O0"  # a faster build; this is a functional test
    result = subprocess.run(
        [sys.executable, "build.py"], cwd=directory, capture_output=True, text=True, env=env,
        timeout=BUILD_TIMEOUT,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"building the Cython example failed:\n{result.stdout}\n{result.stderr}")
    return directory


def test_cython_client(cython_client_dir: Path) -> None:
    env = _env(PICOWS_PURE="0")  # a cdef listener needs the compiled backend
    with server_process(EXAMPLES / "echo_server.py") as url:  # the server runs the backend under test
        result = subprocess.run(
            [sys.executable, str(cython_client_dir / "run.py"), url, "--count", "300", "--size", "70000"],
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
            env=env,
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("300 echoes of 70000 bytes, 0 mismatches"), result.stdout
