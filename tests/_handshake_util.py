"""Helpers for the handshake / connection tests (raw HTTP peers, response parsing).

Only raw sockets and picows' public API are used here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import os
import socket
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Callable

from helpers import TIMEOUT, build_frame

#: The example from RFC 6455, section 1.3.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def new_key() -> str:
    return base64.b64encode(os.urandom(16)).decode("ascii")


def upgrade_request(
    port: int,
    *,
    path: str = "/",
    method: str = "GET",
    version: str = "HTTP/1.1",
    key: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    drop: tuple[str, ...] = (),
    replace: dict[str, str] | None = None,
) -> bytes:
    """A hand-written upgrade request.

    ``drop`` removes standard headers (by lower-case name), ``replace`` changes
    their value, ``headers`` appends more.
    """
    std = [
        ("Host", f"127.0.0.1:{port}"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", key if key is not None else new_key()),
    ]
    replace = {k.lower(): v for k, v in (replace or {}).items()}
    lines = [f"{method} {path} {version}"]
    for name, value in std:
        if name.lower() in drop:
            continue
        lines.append(f"{name}: {replace.get(name.lower(), value)}")
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class RawResponse:
    """A parsed HTTP response as seen by a raw client."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        head, sep, body = raw.partition(b"\r\n\r\n")
        assert sep, f"no complete HTTP head in {raw[:200]!r}"
        lines = head.split(b"\r\n")
        self.status_line = lines[0]
        parts = lines[0].split(b" ", 2)
        self.version = parts[0]
        self.status = int(parts[1])
        self.headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers.setdefault(name.strip().decode().lower(), []).append(value.strip().decode("latin1"))
        self.body = body

    def header(self, name: str) -> str | None:
        values = self.headers.get(name.lower())
        if not values:
            return None
        assert len(values) == 1, f"{name} repeated: {values}"
        return values[0]

    def tokens(self, name: str) -> list[str]:
        out: list[str] = []
        for v in self.headers.get(name.lower(), []):
            out.extend(t.strip().lower() for t in v.split(",") if t.strip())
        return out


async def read_until_eof(reader: asyncio.StreamReader, timeout: float = TIMEOUT, limit: int = 1 << 20) -> bytes:
    """Everything the peer sends until it closes the connection (reset counts as closed)."""
    out = bytearray()

    async def run() -> None:
        while len(out) < limit:
            try:
                chunk = await reader.read(65536)
            except (ConnectionResetError, BrokenPipeError):
                return
            if not chunk:
                return
            out.extend(chunk)
        raise AssertionError("peer sent too much data without closing")

    await asyncio.wait_for(run(), timeout)
    return bytes(out)


async def open_raw(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)


def close_writer(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


async def exchange(port: int, data: bytes, *, timeout: float = TIMEOUT) -> bytes:
    """Send ``data`` on a fresh connection, return everything received until the server disconnects."""
    reader, writer = await open_raw(port)
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(writer.drain(), timeout)
        return await read_until_eof(reader, timeout)
    finally:
        close_writer(writer)


async def read_response_head(reader: asyncio.StreamReader) -> RawResponse:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    return RawResponse(head)


def masked(opcode: int, payload: bytes = b"", *, fin: bool = True) -> bytes:
    """A client-to-server frame (masked with a random key)."""
    return build_frame(opcode, payload, fin=fin, mask=os.urandom(4))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound then closed)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
    finally:
        s.close()


@contextlib.asynccontextmanager
async def tcp_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], **kwargs: Any
) -> AsyncIterator[int]:
    """Plain (or TLS with ``ssl=``) stream server on 127.0.0.1; yields its port.

    Handler exceptions are collected and re-raised when the block exits so a
    failing assertion inside a handler fails the test.
    """
    errors: list[BaseException] = []

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            close_writer(writer)

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    if errors:
        raise errors[0]


class Hung(AssertionError):
    """The awaited operation did not finish within the test's own bound."""


async def run_bounded(coro: Awaitable[Any], timeout: float = TIMEOUT) -> Any:
    """Await ``coro`` at most ``timeout`` seconds.

    Unlike ``asyncio.wait_for`` a hang is reported as :class:`Hung`, so tests
    that expect ``asyncio.TimeoutError`` from picows itself cannot pass by
    accident when picows hangs.
    """
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
        raise Hung(f"operation did not finish within {timeout} s")
    return task.result()


async def collect_garbage() -> None:
    """Let pending callbacks run, then collect garbage.

    An exception left in a future nobody awaited (e.g. of an abandoned
    handshake) is reported to the loop's exception handler when the future is
    collected; doing it here makes that happen while the test's loop is still
    checked, instead of silently in some later test.
    """
    await asyncio.sleep(0.01)
    gc.collect()
    await asyncio.sleep(0)
