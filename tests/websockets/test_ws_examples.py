"""The examples in examples/websockets/ (websockets' documentation examples, on picows) run."""

from __future__ import annotations

import asyncio
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.exceptions

from picows.websockets.asyncio.server import serve
from support.ws_api import TIMEOUT, url_of

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples" / "websockets"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"ws_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_example_is_tested() -> None:
    assert SCRIPTS == sorted(
        ["hello.py", "echo.py", "broadcast.py", "authentication.py", "health_check.py", "reconnect.py"]
    )


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_has_help(script: str) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / script), "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and "usage" in result.stdout


async def test_hello() -> None:
    module = example("hello")
    async with serve(module.hello, "127.0.0.1", 0) as server:
        assert await asyncio.wait_for(module.ask(url_of(server), "picows"), TIMEOUT) == "Hello picows!"


async def test_echo_with_websockets_client() -> None:
    module = example("echo")
    async with serve(module.echo, "127.0.0.1", 0) as server, upstream_client.connect(url_of(server)) as ws:
        await ws.send("ping")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ping"


async def test_broadcast() -> None:
    module = example("broadcast")
    server = await module.start("127.0.0.1", 0)
    async with server:
        url = url_of(server)
        async with upstream_client.connect(url) as a, upstream_client.connect(url) as b:
            await asyncio.sleep(0.05)  # both handlers registered
            await a.send("to all")
            assert await asyncio.wait_for(a.recv(), TIMEOUT) == "to all"
            assert await asyncio.wait_for(b.recv(), TIMEOUT) == "to all"


async def test_authentication() -> None:
    module = example("authentication")
    async with module.start("127.0.0.1", 0) as server:
        host = url_of(server).split("//", 1)[1]
        assert await asyncio.wait_for(module.login(f"ws://alice:secret@{host}"), TIMEOUT) == "Hello alice!"
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            await module.login(f"ws://alice:wrong@{host}")
        assert info.value.response.status_code == 401


async def test_health_check_upgrade_request() -> None:
    module = example("health_check")
    async with module.start("127.0.0.1", 0) as server:
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            await upstream_client.connect(url_of(server, path="/healthz"))
        assert info.value.response.status_code == 200 and info.value.response.body == b"OK\n"


async def test_health_check_plain_get() -> None:
    module = example("health_check")
    async with module.start("127.0.0.1", 0) as server:
        port = url_of(server).rsplit(":", 1)[1].rstrip("/")
        reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.read(1024), TIMEOUT)
        writer.close()
        assert head.startswith(b"HTTP/1.1 200")


async def test_reconnecting_client() -> None:
    module = example("reconnect")
    connections = 0

    async def flaky(ws: Any) -> None:
        nonlocal connections
        connections += 1
        await ws.send(f"message {connections}")
        if connections < 3:
            await ws.close(1011, "going down")  # an error close: the client reconnects
        else:
            await ws.wait_closed()

    def no_wait() -> Any:
        while True:
            yield 0.0

    async with serve(flaky, "127.0.0.1", 0) as server:
        got = await asyncio.wait_for(module.consume(url_of(server), 3, no_wait), TIMEOUT)
    assert got == ["message 1", "message 2", "message 3"]
