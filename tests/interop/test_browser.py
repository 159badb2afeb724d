"""Interoperability with a real browser: headless Chromium's WebSocket against a picows server.

``support/browser.py`` serves ``tests/interop/browser/interop.html`` on 127.0.0.1
and runs Chromium on it; the page's JavaScript connects
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

from pathlib import Path
from typing import Any

import pytest

import picows
from picows import WSFrame, WSMsgType, WSTransport
from support.browser import find_chromium, run_page
from support.conformance import server_app
from support.tls import TLSCerts, server_ssl_context


@pytest.fixture(scope="session")
def chromium() -> str:
    return find_chromium()


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
    async with server:
        ws_url = f"{'wss' if tls_certs else 'ws'}://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        report = await run_page(chromium, tmp_path, ws_url, tls_certs)
    (listener,) = listener_class.instances
    return report, listener


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
