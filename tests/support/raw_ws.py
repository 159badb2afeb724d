"""Hand-written WebSocket peers on plain asyncio streams, for testing each picows role.

The raw server is :func:`support.net.tcp_server` plus a hand-written upgrade
answer; the raw client writes its own upgrade request. Frames go through the
independent codec of :mod:`support.frames`. Does not import picows.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

from support import TIMEOUT
from support.frames import RawFrame, frame_for, read_frame
from support.http import accept_key, request_key
from support.net import open_raw, read_http_head, tcp_server

__all__ = ["RawPeer", "RawWSServer", "raw_server_handshake", "raw_ws_client", "raw_ws_server"]


async def raw_server_handshake(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, extra: bytes = b"", headers: bytes = b""
) -> bytes:
    """Read a client's upgrade request and answer a correct 101 (then ``extra``, same write); returns the request head.

    ``headers`` (complete ``Name: value\\r\\n`` lines) are added to the 101.
    """
    head = await read_http_head(reader)
    writer.write(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(request_key(head)) + b"\r\n" + headers + b"\r\n" + extra
    )
    await writer.drain()
    return head


class RawPeer:
    """One raw TCP connection with the WebSocket handshake already done."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, role: str) -> None:
        self.reader = reader
        self.writer = writer
        self.head = head  # raw HTTP head received from the picows side
        self.role = role  # role of THIS raw peer: "client" or "server"
        self.done = asyncio.Event()

    def frame(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
        """Encode a well-formed frame for this peer's role (masked for a client)."""
        return frame_for(self.role, opcode, payload, **kwargs)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)

    async def send(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> None:
        await self.write(self.frame(opcode, payload, **kwargs))

    async def read_frame(self, timeout: float = TIMEOUT) -> RawFrame:
        return await read_frame(self.reader, timeout)

    async def read_data_frame(self, timeout: float = TIMEOUT) -> RawFrame:
        """Read the next frame and check the masking rule for the picows side."""
        f = await read_frame(self.reader, timeout)
        expected_masked = self.role == "server"  # a picows client masks
        assert f.masked == expected_masked, (
            f"mask bit {f.masked} in a frame from the picows {'client' if expected_masked else 'server'}"
        )
        return f

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        self.done.set()

    def reset(self) -> None:
        """Drop the TCP connection with a RST (SO_LINGER 0), not a FIN: the other side sees a reset."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()
        self.done.set()


class RawWSServer:
    """What :func:`raw_ws_server` yields: its URL and the connections it accepted."""

    def __init__(self, port: int) -> None:
        self.url = f"ws://127.0.0.1:{port}/"
        self.port = port
        self.peers: asyncio.Queue[RawPeer] = asyncio.Queue()
        self.all_peers: list[RawPeer] = []

    async def accept(self, timeout: float = TIMEOUT) -> RawPeer:
        """The next connection, handshake done."""
        return await asyncio.wait_for(self.peers.get(), timeout)


@contextlib.asynccontextmanager
async def raw_ws_server(
    *, extra: bytes = b"", rcvbuf: int | None = None, headers: bytes = b""
) -> AsyncIterator[RawWSServer]:
    """A hand-written WebSocket server on 127.0.0.1.

    Answers each upgrade with a correct 101 (followed by ``extra`` in the same
    write), then hands a :class:`RawPeer` to the test via ``srv.accept()``; the
    connection stays open until the test calls ``peer.close()`` or leaves the
    block. ``headers`` are added to every 101. ``rcvbuf`` shrinks the accepted sockets' SO_RCVBUF (see :func:`support.net.tcp_server`).
    """
    holder: list[RawWSServer] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await raw_server_handshake(reader, writer, extra, headers)
        except asyncio.TimeoutError:
            return  # the client never sent a complete request
        peer = RawPeer(reader, writer, head, "server")
        holder[0].all_peers.append(peer)
        holder[0].peers.put_nowait(peer)
        await peer.done.wait()

    async with tcp_server(handler, rcvbuf=rcvbuf) as port:
        srv = RawWSServer(port)
        holder.append(srv)  # before the test can connect
        try:
            yield srv
        finally:
            for p in srv.all_peers:
                p.close()


@contextlib.asynccontextmanager
async def raw_ws_client(
    port: int, *, path: str = "/", headers: bytes = b"", rcvbuf: int | None = None
) -> AsyncIterator[RawPeer]:
    """A hand-written WebSocket client connected to 127.0.0.1:port, handshake done (the 101 is checked)."""
    reader, writer = await open_raw(port, rcvbuf=rcvbuf)
    try:
        key = base64.b64encode(os.urandom(16))
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key.decode()}\r\n".encode()
            + headers
            + b"\r\n"
        )
        head = await read_http_head(reader)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert accept_key(key) in head, head
        yield RawPeer(reader, writer, head, "client")
    finally:
        writer.close()
