"""Interoperability with a real browser: headless Chromium's WebSocket against a picows server.

A tiny HTTP server (asyncio streams, in the test's loop) serves
``tests/interop/browser/interop.html`` on 127.0.0.1; the page's JavaScript connects
to the reference echo server, which greets it with a message in three
fragments and a PING; the page then exchanges text, binary, empty and large
(1 MiB+) messages and closes with a code and reason, and POSTs its results
back to the HTTP server. Over ws:// and over wss:// (every TLS path): Chromium
accepts exactly the test server's public key (``--ignore-certificate-errors-spki-list``
with its SHA-256, no blanket "ignore certificate errors"), so a server that does
not speak TLS, or presents another key, fails the test. Once more with
permessage-deflate agreed (Chromium offers it on every connection). Skipped, with
the reason, only when Chromium is not installed (Debian: ``apt-get install chromium``).
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
from support.tls import TLSCerts, server_ssl_context, spki_sha256

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
            self.tls_version: str | None = None
            Greeting.instances.append(self)

        def on_ws_connected(self, transport: WSTransport) -> None:
            super().on_ws_connected(transport)
            ssl_object = transport.underlying_transport.get_extra_info("ssl_object")
            self.tls_version = ssl_object.version() if ssl_object is not None else None
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


async def _run_chromium(
    chromium: str, tmp_path: Path, tls_certs: TLSCerts | None, **server_kwargs: Any
) -> tuple[dict[str, Any], Any]:
    """Chromium's page against a greeting picows server (wss:// with ``tls_certs``); (report, server listener)."""
    listener_class = greeting_listener_class()
    tls: dict[str, Any] = {"ssl": server_ssl_context(tls_certs)} if tls_certs else {}
    # the options of the reference server's start_server(), with the greeting listener
    server = await picows.ws_create_server(
        lambda request: listener_class(), "127.0.0.1", 0, max_frame_size=64 * 1024 * 1024,
        check_fragment_order=True, enable_auto_pong=False, **tls, **server_kwargs,
    )  # fmt: skip
    # trust exactly this server key, nothing else (the page itself is served over http://)
    pin = [f"--ignore-certificate-errors-spki-list={spki_sha256(tls_certs.cert_file)}"] if tls_certs else []
    result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    async with server:
        ws_url = f"{'wss' if tls_certs else 'ws'}://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        async with page_server(ws_url, result) as page_url:
            log = (tmp_path / "chromium.log").open("wb")
            proc = await asyncio.create_subprocess_exec(
                chromium, *CHROMIUM_FLAGS, *pin, f"--user-data-dir={tmp_path / 'profile'}", page_url,
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


async def test_chromium_websocket_with_picows_server(chromium: str, tmp_path: Path) -> None:
    report, listener = await _run_chromium(chromium, tmp_path, None)
    _check_report(report, listener)
    assert listener.tls_version is None
    assert listener.transport.permessage_deflate is None  # Chromium offered it; the server declined


async def test_chromium_with_permessage_deflate(chromium: str, tmp_path: Path) -> None:
    """The same exchange with the extension agreed: Chromium compresses, picows inflates, and back."""
    report, listener = await _run_chromium(chromium, tmp_path, None, permessage_deflate=True)
    _check_report(report, listener)
    assert listener.transport.permessage_deflate is not None
    assert "client_max_window_bits" in listener.transport.request.headers["Sec-WebSocket-Extensions"]


async def test_chromium_websocket_with_picows_server_over_wss(
    chromium: str, tmp_path: Path, tls_certs: TLSCerts
) -> None:
    report, listener = await _run_chromium(chromium, tmp_path, tls_certs)
    _check_report(report, listener)
    assert listener.tls_version == "TLSv1.3"  # Chromium negotiates TLS 1.3 when the server offers it


def _check_report(report: dict[str, Any], listener: Any) -> None:
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
