"""An HTTP CONNECT proxy written for the tests, plain or behind TLS (an "https://" proxy).

pproxy (support.proxies) covers the common case; this one runs in the test's own
event loop so that tests can make it misbehave on purpose (refuse, stay silent,
answer with a huge head) and can check exactly what it received. Does not
import picows.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from support import TIMEOUT

__all__ = ["ConnectProxy", "connect_proxy"]


@dataclass
class ConnectProxy:
    """What the tests see of a running proxy."""

    url: str
    requests: list[bytes] = field(default_factory=list)  # the CONNECT heads received
    tunnels: int = 0  # tunnels opened to a target


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:  # TLS has no half-close: the end of one direction ends the connection
                writer.close()


@contextlib.asynccontextmanager
async def connect_proxy(
    *,
    ssl_context: ssl.SSLContext | None = None,
    credentials: tuple[str, str] | None = None,
    behaviour: str = "normal",
) -> AsyncIterator[ConnectProxy]:
    """A CONNECT proxy on 127.0.0.1; ``ssl_context`` makes it an https:// proxy.

    ``credentials`` requires ``Proxy-Authorization: Basic`` (else 407).
    ``behaviour``: ``"normal"``; ``"refuse"`` (403); ``"silent"`` (reads the
    request, never answers); ``"huge-head"`` (a 200 whose head never ends).
    """
    scheme = "https" if ssl_context is not None else "http"
    proxy = ConnectProxy(url="")
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve_one(reader, writer)
        finally:
            # Also when cancelled at teardown: from Python 3.12 on, the server's wait_closed()
            # waits for every connection it accepted.
            writer.close()

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, asyncio.TimeoutError):
            writer.close()
            return
        proxy.requests.append(head)
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if behaviour == "silent":
            await asyncio.sleep(TIMEOUT)
            writer.close()
            return
        if behaviour == "refuse" or method != "CONNECT":
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        if credentials is not None:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            if headers.get("proxy-authorization") != f"Basic {token}":
                writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                writer.close()
                return
        if behaviour == "huge-head":
            writer.write(b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"y" * (100 * 1024) + b"\r\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            await asyncio.sleep(TIMEOUT)
            writer.close()
            return
        host, _, port = target.rpartition(":")
        try:
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
        except OSError:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        proxy.tunnels += 1
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()

    def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(handle(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=ssl_context)
    port = server.sockets[0].getsockname()[1]
    userinfo = f"{credentials[0]}:{credentials[1]}@" if credentials else ""
    proxy.url = f"{scheme}://{userinfo}127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=TIMEOUT)
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
