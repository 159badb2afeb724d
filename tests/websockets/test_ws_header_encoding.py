"""Header values that are not ASCII: the bytes on the wire and the strings users see, as websockets.

websockets decodes received header values as ISO-8859-1 (each byte one character) and encodes the
ones it sends the same way; picows' core uses UTF-8. picows.websockets converts at its edge.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.asyncio.server as upstream_server
import websockets.datastructures

from picows.websockets.asyncio.client import connect
from picows.websockets.asyncio.server import serve
from picows.websockets.datastructures import Headers
from support.http import RawResponse, accept_key, read_response_head, request_key
from support.net import close_writer, open_raw, read_http_head, tcp_server
from support.ws_api import TIMEOUT

#: websockets 17 reads and writes ISO-8859-1 (picows.websockets follows it); websockets 15, the last
#: release for the PyPy job's Python 3.9, still used UTF-8: there, ours is checked alone.
UPSTREAM_LATIN1 = websockets.datastructures.Headers([("X", "\xe9")]).serialize() == b"X: \xe9\r\n\r\n"

SERVERS = {"ours": serve, "websockets": upstream_server.serve}
CLIENTS = {"ours": connect, "websockets": upstream_client.connect}

# Raw header values received, and the str websockets makes of each.
RECEIVED = {
    b"caf\xe9": "caf\xe9",  # ISO-8859-1 bytes
    b"caf\xc3\xa9": "caf\xc3\xa9",  # UTF-8 bytes: still one character per byte
    b"\xff\x80 plain": "\xff\x80 plain",
}


async def answer_head(server: Any, extra_headers: bytes = b"") -> RawResponse:
    """The head of a server's answer to an upgrade request carrying ``extra_headers``."""
    port = next(iter(server.sockets)).getsockname()[1]
    reader, writer = await open_raw(port)
    try:
        writer.write(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + extra_headers + b"\r\n"
        )
        return await read_response_head(reader)
    finally:
        close_writer(writer)


async def received_by_server(library: str) -> list[str]:
    seen: list[str] = []
    handled = asyncio.Event()

    async def handler(ws: Any) -> None:
        seen.extend(ws.request.headers.get_all("X-Value"))
        handled.set()

    async with SERVERS[library](handler, "127.0.0.1", 0) as server:
        extra = b"".join(b"X-Value: " + raw + b"\r\n" for raw in RECEIVED)
        assert (await answer_head(server, extra)).status == 101
        await asyncio.wait_for(handled.wait(), TIMEOUT)
    return seen


async def test_request_headers_are_decoded_like_websockets() -> None:
    ours = await received_by_server("ours")
    assert ours == list(RECEIVED.values())
    if UPSTREAM_LATIN1:
        assert ours == await received_by_server("websockets")


async def sent_by_server(library: str) -> bytes:
    def process_response(connection: Any, request: Any, response: Any) -> None:
        response.headers["X-Value"] = "caf\xe9 \xff"

    async with SERVERS[library](lambda ws: ws.wait_closed(), "127.0.0.1", 0, process_response=process_response) as server:
        return (await answer_head(server)).raw


async def test_response_headers_are_sent_like_websockets() -> None:
    assert b"\r\nX-Value: caf\xe9 \xff\r\n" in await sent_by_server("ours")
    if UPSTREAM_LATIN1:
        assert b"\r\nX-Value: caf\xe9 \xff\r\n" in await sent_by_server("websockets")


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_client_sends_and_receives_headers_like_websockets(client: str) -> None:
    if client == "websockets" and not UPSTREAM_LATIN1:
        pytest.skip("websockets < 17 uses UTF-8 for header values")
    requests: list[bytes] = []

    async def raw_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        requests.append(head)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(request_key(head)) + b"\r\n"
            + b"".join(b"X-Value: " + raw + b"\r\n" for raw in RECEIVED)
            + b"\r\n"
            + b"\x88\x02\x03\xe8"  # CLOSE 1000 at once: the client answers it and the TCP connection ends
        )
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(8), TIMEOUT)  # the client's masked CLOSE 1000

    kwargs: dict[str, Any] = {"additional_headers": {"X-Sent": "caf\xe9"}, "open_timeout": 5}
    if client == "ours":
        kwargs["proxy"] = None
    async with tcp_server(raw_server) as port:
        async with CLIENTS[client](f"ws://127.0.0.1:{port}/", **kwargs) as ws:
            assert ws.response.headers.get_all("X-Value") == list(RECEIVED.values())
            assert ws.request.headers["X-Sent"] == "caf\xe9"
    assert b"\r\nX-Sent: caf\xe9\r\n" in requests[0]


def test_serialize_uses_iso_8859_1_like_websockets() -> None:
    pairs = [("X-Value", "caf\xe9"), ("Y", "\xff")]
    assert Headers(pairs).serialize() == b"X-Value: caf\xe9\r\nY: \xff\r\n\r\n"
    if UPSTREAM_LATIN1:
        assert Headers(pairs).serialize() == websockets.datastructures.Headers(pairs).serialize()
