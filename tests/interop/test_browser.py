"""Interoperability with a real browser: headless Chromium's WebSocket against a picows server.

A tiny HTTP server (asyncio streams, in the test's loop) serves
``tests/interop/browser/interop.html`` on 127.0.0.1; the page's JavaScript connects
to the reference echo server, which greets it with a message in three
fragments and a PING; the page then exchanges text, binary, empty and large
(1 MiB+) messages and closes with a code and reason, and POSTs its results
back to the HTTP server; once more with permessage-deflate agreed (Chromium
offers it on every connection). Skipped, with the reason, only when Chromium is not
installed (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import picows
from picows import WSFrame, WSMsgType, WSTransport
from support import TIMEOUT
from support.conformance import server_app

PAGE = Path(__file__).resolve().parent / "browser" / "interop.html"
BROWSER_TIMEOUT = 50.0  # a cold start of Chromium on a busy 2-CPU machine (the test itself is capped at 60 s)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
    "--disable-extensions", "--mute-audio",
]  # fmt: skip


@pytest.fixture(scope="session")
def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("browser interop needs Chromium on PATH (Debian: apt-get install chromium)")


def greeting_listener_class() -> Any:
    base = server_app().ConformanceEchoListener

    class Greeting(base):  # type: ignore[misc, valid-type]
        """The reference echo listener, greeting with a fragmented message and a PING."""

        instances: list[Any] = []

        def __init__(self) -> None:
            super().__init__(max_message_size=64 * 1024 * 1024)
            self.pongs: list[bytes] = []
            Greeting.instances.append(self)

        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            parts = ["greeting ", "in fragments", " \u2713"]
            for i, part in enumerate(parts):
                msg_type = WSMsgType.TEXT if i == 0 else WSMsgType.CONTINUATION
                transport.send(msg_type, part.encode(), fin=i == len(parts) - 1)
            transport.send_ping(b"are you there")

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type == WSMsgType.PONG:
                self.pongs.append(frame.get_payload_as_bytes())
            super().on_ws_frame(transport, frame)

    return Greeting


@contextlib.asynccontextmanager
async def page_server(ws_url: str, result: asyncio.Future[dict[str, Any]]) -> Any:
    """Serves the page (GET /) and takes its report (POST /result); one request per connection."""
    html = PAGE.read_text(encoding="utf-8").replace("__WS_URL__", ws_url).encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
            body = await asyncio.wait_for(
                reader.readexactly(int(headers.get("content-length", "0"))), TIMEOUT
            )
            if method == "GET" and path == "/":
                status, ctype, content = "200 OK", "text/html; charset=utf-8", html
            elif method == "POST" and path == "/result":
                if not result.done():
                    result.set_result(json.loads(body))
                status, ctype, content = "204 No Content", "text/plain", b""
            else:
                status, ctype, content = "404 Not Found", "text/plain", b"not found"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(content)}\r\n"
                f"Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode()
                + content
            )
            await asyncio.wait_for(writer.drain(), TIMEOUT)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"


async def run_page(chromium: str, tmp_path: Path, **server_kwargs: Any) -> tuple[dict[str, Any], Any]:
    """Chromium runs the page against the reference server; returns its report and the server's listener."""
    listener_class = greeting_listener_class()
    # the options of the reference server's start_server(), with the greeting listener
    server = await picows.ws_create_server(
        lambda request: listener_class(), "127.0.0.1", 0, max_frame_size=64 * 1024 * 1024,
        check_fragment_order=True, enable_auto_pong=False, **server_kwargs,
    )  # fmt: skip
    result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    async with server:
        ws_url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        async with page_server(ws_url, result) as page_url:
            log = (tmp_path / "chromium.log").open("wb")
            proc = await asyncio.create_subprocess_exec(
                chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", page_url,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
            try:
                done, _ = await asyncio.wait([result, asyncio.ensure_future(proc.wait())], timeout=BROWSER_TIMEOUT,
                                             return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if not result.done():
                    log.flush()
                    pytest.fail(
                        f"no result from Chromium (exit code {proc.returncode}):\n"
                        + (tmp_path / "chromium.log").read_text(errors="replace")[-3000:]
                    )
            finally:
                if proc.returncode is None:
                    proc.terminate()
                    try:
                        await asyncio.wait_for(proc.wait(), TIMEOUT)
                    except asyncio.TimeoutError:
                        proc.kill()
                        await asyncio.wait_for(proc.wait(), TIMEOUT)
                log.close()
    (listener,) = listener_class.instances
    return result.result(), listener


def check_report(report: dict[str, Any], listener: Any) -> None:
    assert report["ok"], report
    assert report["steps"] == [
        "fragmented-greeting",
        "text",
        "binary",
        "empty-binary",
        "binary-1.5MiB",
        "text-1MiB",
    ]
    assert (report["close_code"], report["close_reason"], report["was_clean"]) == (
        4000,
        "bye from the browser",
        True,
    )
    assert listener.pongs == [b"are you there"]  # the browser answered the PING
    assert listener.messages == 5
    assert listener.close_code_received == 4000


async def test_chromium_websocket_with_picows_server(chromium: str, tmp_path: Path) -> None:
    report, listener = await run_page(chromium, tmp_path)
    check_report(report, listener)
    assert listener.transport.permessage_deflate is None  # Chromium offered it; the server declined


async def test_chromium_with_permessage_deflate(chromium: str, tmp_path: Path) -> None:
    """The same exchange with the extension agreed: Chromium compresses, picows inflates, and back."""
    report, listener = await run_page(chromium, tmp_path, permessage_deflate=True)
    check_report(report, listener)
    agreement = listener.transport.permessage_deflate
    assert agreement is not None
    assert "client_max_window_bits" in listener.transport.request.headers["Sec-WebSocket-Extensions"]
