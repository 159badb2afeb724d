"""Headless Chromium as a WebSocket peer (the browser interop tests of picows and picows.websockets).

A tiny HTTP server (asyncio streams, in the test's loop) serves
``tests/interop/browser/interop.html`` on 127.0.0.1 with the WebSocket URL
filled in; the page's JavaScript runs its exchange against that URL and
POSTs its report back. :func:`run_page` starts Chromium on the page and
returns the report. Skips, saying why, when Chromium is not installed.
Does not import picows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from support import TIMEOUT
from support.tls import TLSCerts, spki_sha256

__all__ = ["BROWSER_TIMEOUT", "CHROMIUM_FLAGS", "PAGE", "find_chromium", "page_server", "run_page"]

PAGE = Path(__file__).resolve().parent.parent / "interop" / "browser" / "interop.html"
BROWSER_TIMEOUT = 50.0  # a cold start of Chromium on a busy 2-CPU machine (the test itself is capped at 60 s)
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
    "--disable-extensions", "--mute-audio",
]  # fmt: skip


def find_chromium() -> str:
    """Chromium's path; skips the test when it is not installed."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path is not None:
            return path
    pytest.skip("browser interop needs Chromium on PATH (Debian: apt-get install chromium)")


@contextlib.asynccontextmanager
async def page_server(ws_url: str, result: asyncio.Future[dict[str, Any]]) -> AsyncIterator[str]:
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


async def run_page(chromium: str, tmp_path: Path, ws_url: str, tls_certs: TLSCerts | None = None) -> dict[str, Any]:
    """Chromium runs the page against ``ws_url``; returns the page's report.

    With ``tls_certs`` Chromium trusts exactly the server's key (an SPKI pin, no blanket
    "ignore certificate errors"), so a server that does not speak TLS, or presents another
    key, fails.
    """
    pin = [f"--ignore-certificate-errors-spki-list={spki_sha256(tls_certs.cert_file)}"] if tls_certs else []
    result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    async with page_server(ws_url, result) as page_url:
        log_path = tmp_path / "chromium.log"
        log = log_path.open("wb")
        proc = await asyncio.create_subprocess_exec(
            chromium, *CHROMIUM_FLAGS, *pin, f"--user-data-dir={tmp_path / 'profile'}", page_url,
            stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            await asyncio.wait([result, asyncio.ensure_future(proc.wait())], timeout=BROWSER_TIMEOUT,
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if not result.done():
                log.flush()
                pytest.fail(
                    f"no result from Chromium (exit code {proc.returncode}):\n"
                    + log_path.read_text(errors="replace")[-3000:]
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
    return result.result()
