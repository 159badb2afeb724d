"""Small building blocks shared by the tests (imported as ``helpers``).

Everything here uses only picows' public API or raw sockets, so the same
helpers exercise whichever backend is under test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import struct
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Callable

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT = 10.0


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length_override: int | None = None,
) -> bytes:
    """Independent reference frame encoder (does not use picows)."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0) | opcode
    n = len(payload) if length_override is None else length_override
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class CollectingListener(WSListener):
    """Records every frame it receives; awaitable helpers to wait for them."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[tuple[WSMsgType, bool, bool, bytes]] = asyncio.Queue()
        self.transport: WSTransport | None = None
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connected.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.frames.put_nowait((frame.msg_type, frame.fin, frame.rsv1, frame.get_payload_as_bytes()))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnected.set()

    async def get(self, timeout: float = TIMEOUT) -> tuple[WSMsgType, bool, bool, bytes]:
        return await asyncio.wait_for(self.frames.get(), timeout)


class EchoListener(WSListener):
    """Echoes data frames as they come (same type, fin, rsv1); echoes CLOSE then disconnects."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type != WSMsgType.PONG:
            transport.send(frame.msg_type, frame.get_payload_as_bytes(), frame.fin, frame.rsv1)


@contextlib.asynccontextmanager
async def ws_server(
    ws_listener_factory: Callable[[Any], Any], *, path: str = "/", **kwargs: Any
) -> AsyncIterator[str]:
    """Run a picows server on 127.0.0.1 (ephemeral port); yields its ``ws://`` or ``wss://`` URL."""
    server = await picows.ws_create_server(ws_listener_factory, "127.0.0.1", 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    scheme = "wss" if kwargs.get("ssl") is not None else "ws"
    try:
        yield f"{scheme}://127.0.0.1:{port}{path}"
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


@contextlib.asynccontextmanager
async def echo_server(**kwargs: Any) -> AsyncIterator[str]:
    async with ws_server(lambda request: EchoListener(), **kwargs) as url:
        yield url


@contextlib.asynccontextmanager
async def raw_server(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
) -> AsyncIterator[str]:
    """Plain TCP server on 127.0.0.1 for hand-written peers; yields ``ws://127.0.0.1:port/``."""

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


async def read_http_head(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)


async def raw_server_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, extra: bytes = b"") -> bytes:
    """Read a client upgrade request and answer a correct 101; returns the raw request head."""
    head = await read_http_head(reader)
    key = b""
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            key = line.split(b":", 1)[1].strip()
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key) + b"\r\n\r\n" + extra
    )
    await writer.drain()
    return head


async def raw_client_connect(url_port: int, *, path: str = "/", headers: bytes = b"") -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """Open a raw TCP connection to 127.0.0.1:port and perform a valid upgrade; returns reader, writer, response head."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", url_port), TIMEOUT)
    key = base64.b64encode(os.urandom(16))
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{url_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key.decode()}\r\n".encode()
        + headers
        + b"\r\n"
    )
    head = await read_http_head(reader)
    return reader, writer, head


async def read_raw_frame(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """Read one unmasked or masked frame from a raw stream: (opcode, fin, payload)."""
    b0, b1 = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if b1 & 0x80 else None
    payload = await asyncio.wait_for(reader.readexactly(n), TIMEOUT)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return b0 & 0x0F, bool(b0 & 0x80), payload


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])
