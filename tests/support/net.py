"""Sockets for the tests: the one free-port helper, the one raw TCP server, bounded reads.

Everything listens on 127.0.0.1 and every wait is bounded. Does not import picows.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Callable

from support import TIMEOUT

__all__ = [
    "QUIET_PERIOD",
    "Hung",
    "close_writer",
    "collect_garbage",
    "exchange",
    "expect_eof",
    "expect_silence",
    "free_port",
    "open_raw",
    "port_of",
    "read_http_head",
    "relay_byte_counts",
    "read_until_eof",
    "run_bounded",
    "tcp_server",
]

#: How long a raw peer waits to be reasonably sure that *nothing* arrives.
QUIET_PERIOD = 0.15

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_of(url: str) -> int:
    """The port of a ``ws://127.0.0.1:PORT/...`` URL."""
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def close_writer(writer: asyncio.StreamWriter) -> None:
    """Abort the connection now (no FIN handshake), unless it is already closing."""
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


@contextlib.asynccontextmanager
async def tcp_server(handler: Handler, *, rcvbuf: int | None = None, **kwargs: Any) -> AsyncIterator[int]:
    """A stream server on 127.0.0.1 running ``handler`` per connection; yields its port.

    ``kwargs`` go to ``asyncio.start_server`` (e.g. ``ssl=``). ``rcvbuf``
    shrinks SO_RCVBUF of the listening socket, so that accepted sockets
    inherit it before the TCP window is negotiated. A connection still open
    when its handler returns is aborted. An exception raised by a handler
    (other than the peer going away) is re-raised when the block exits, so a
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

    if rcvbuf is None:
        server = await asyncio.start_server(wrapped, "127.0.0.1", 0, **kwargs)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind(("127.0.0.1", 0))
        server = await asyncio.start_server(wrapped, sock=sock, **kwargs)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    if errors:
        raise errors[0]


async def open_raw(port: int, *, rcvbuf: int | None = None) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A plain TCP connection to 127.0.0.1:port; ``rcvbuf`` shrinks SO_RCVBUF before connecting."""
    if rcvbuf is None:
        return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return await asyncio.wait_for(asyncio.open_connection(sock=sock), TIMEOUT)


async def read_http_head(reader: asyncio.StreamReader) -> bytes:
    """An HTTP head, up to and including the blank line."""
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)


async def read_until_eof(reader: asyncio.StreamReader, timeout: float = TIMEOUT, limit: int = 1 << 20) -> bytes:
    """Everything the peer sends until it closes the connection (a reset counts as closed)."""
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


async def expect_eof(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> bytes:
    """Wait until the peer closes the connection; returns what arrived before the end."""
    return await read_until_eof(reader, timeout, limit=100000 * 65536)


async def expect_silence(reader: asyncio.StreamReader, period: float = QUIET_PERIOD) -> None:
    """Assert that nothing arrives (and the connection is not closed) for ``period`` seconds."""
    try:
        data = await asyncio.wait_for(reader.read(1), period)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"expected silence, got {data!r}")


async def exchange(port: int, data: bytes, *, timeout: float = TIMEOUT) -> bytes:
    """Send ``data`` on a fresh connection; return everything received until the server disconnects."""
    reader, writer = await open_raw(port)
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(writer.drain(), timeout)
        return await read_until_eof(reader, timeout)
    finally:
        close_writer(writer)


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


async def relay_byte_counts(url: str, exchange: Any) -> list[int]:
    """Bytes that went client->server and server->client through a counting TCP relay to ``url``."""
    counts = [0, 0]

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        while data := await reader.read(65536):
            counts[index] += len(data)
            writer.write(data)
            await writer.drain()
        writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port_of(url))
        await asyncio.gather(pipe(reader, up_writer, 0), pipe(up_reader, writer, 1), return_exceptions=True)

    async with tcp_server(relay) as port:
        await exchange(f"ws://127.0.0.1:{port}/")
    return counts
