"""Echo clients, one per library, all measuring the same thing (standard library at module level only).

Every client connects, then for warm-up + duration seconds sends one message,
waits until its whole echo is back, and repeats; the round trips completed in
the measured window are counted by the :class:`clock.Clock`. ``run(impl, url,
payload, clock, ssl_context, kwargs)`` returns what the client learned about
itself (library version, transport implementation, TLS session). With
``deflate`` each client offers permessage-deflate the way its users turn it on
(picows ``permessage_deflate=True``, websockets ``compression="deflate"``,
aiohttp ``compress=15``) and checks that the server accepted it.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from urllib.parse import urlsplit

from common import connection_transport, picows_info, tls_session_info, transport_kind


def _transport_info(transport) -> dict:
    if transport is None:
        return {}
    return {
        "transport": transport_kind(transport),
        **tls_session_info(transport.get_extra_info("ssl_object")),
    }


async def _client_picows(url, payload, clock, ssl_context, kwargs, deflate) -> dict:
    import picows

    BINARY = picows.WSMsgType.BINARY
    size = len(payload)

    class Client(picows.WSListener):
        def __init__(self) -> None:
            self.transport = None
            self.received = 0
            self.done = asyncio.get_running_loop().create_future()

        def on_ws_connected(self, transport) -> None:
            self.transport = transport

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type != BINARY:
                if not self.done.done():
                    self.done.set_exception(RuntimeError(f"unexpected frame {frame}"))
                return
            self.received += len(frame.get_payload_as_memoryview())
            if self.received < size:
                return
            if self.received != size:
                if not self.done.done():
                    self.done.set_exception(RuntimeError(f"echo size {self.received} != {size}"))
                return
            self.received = 0
            if clock.tick():
                self.done.set_result(None)
            else:
                transport.send(BINARY, payload)

        def on_ws_disconnected(self, transport) -> None:
            if not self.done.done():
                self.done.set_exception(ConnectionError("disconnected during the run"))

    if ssl_context is not None:
        kwargs = {"ssl_context": ssl_context, **kwargs}
    if deflate:
        kwargs = {"permessage_deflate": True, **kwargs}
    transport, client = await picows.ws_connect(Client, url, **kwargs)
    if deflate and getattr(transport, "permessage_deflate", None) is None:
        raise RuntimeError("the server did not accept permessage-deflate")
    info = _transport_info(transport.underlying_transport)
    clock.start()
    transport.send(BINARY, payload)
    await client.done
    transport.send_close(picows.WSCloseCode.OK)
    transport.disconnect()
    try:
        await asyncio.wait_for(transport.wait_disconnected(), 5)
    except Exception:
        pass
    return {**picows_info(picows), **info}


async def _client_websockets(url, payload, clock, ssl_context, kwargs, deflate) -> dict:
    import websockets
    from websockets.asyncio.client import connect

    size = len(payload)
    if ssl_context is not None:
        kwargs = {"ssl": ssl_context, **kwargs}
    # Default configuration as users get it (compression is offered; the echo
    # server does not negotiate it).  max_size raised only so 100 KB+ always fit.
    async with connect(url, max_size=None, **kwargs) as ws:
        if deflate and "permessage-deflate" not in (ws.response.headers.get("Sec-WebSocket-Extensions") or ""):
            raise RuntimeError("the server did not accept permessage-deflate")
        info = _transport_info(ws.transport)
        clock.start()
        while True:
            await ws.send(payload)
            msg = await ws.recv()
            if len(msg) != size:
                raise RuntimeError(f"echo size {len(msg)} != {size}")
            if clock.tick():
                break
    return {"websockets_version": websockets.__version__, **info}


async def _client_picows_websockets(url, payload, clock, ssl_context, kwargs, deflate) -> dict:
    """The websockets-compatible API of picows (``picows.websockets``): ours, or the published one's.

    The same loop as the websockets client. ``compression`` is always given
    (``"deflate"``, websockets' default, with ``deflate``; else None) so that
    a row means the same whatever the package's default is; ``proxy=None``
    keeps proxy variables of the environment out of a loopback benchmark.
    """
    import picows
    from picows.websockets import connect

    size = len(payload)
    if ssl_context is not None:
        kwargs = {"ssl": ssl_context, **kwargs}
    kwargs = {"compression": "deflate" if deflate else None, "proxy": None, **kwargs}
    async with connect(url, max_size=None, **kwargs) as ws:
        if deflate and "permessage-deflate" not in (ws.response.headers.get("Sec-WebSocket-Extensions") or ""):
            raise RuntimeError("the server did not accept permessage-deflate")
        info = _transport_info(connection_transport(ws))
        clock.start()
        while True:
            await ws.send(payload)
            msg = await ws.recv()
            if len(msg) != size:
                raise RuntimeError(f"echo size {len(msg)} != {size}")
            if clock.tick():
                break
    return {**picows_info(picows), **info}


async def _client_aiohttp(url, payload, clock, ssl_context, kwargs, deflate) -> dict:
    import aiohttp

    size = len(payload)
    if ssl_context is not None:
        kwargs = {"ssl": ssl_context, **kwargs}
    async with aiohttp.ClientSession() as session:
        if deflate:
            kwargs = {"compress": 15, **kwargs}
        async with session.ws_connect(url, max_msg_size=0, **kwargs) as ws:
            if deflate and not ws.compress:
                raise RuntimeError("the server did not accept permessage-deflate")
            info = tls_session_info(ws.get_extra_info("ssl_object"))
            clock.start()
            while True:
                await ws.send_bytes(payload)
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) != size:
                    raise RuntimeError(f"unexpected echo {msg.type} of {len(msg.data or b'')} bytes")
                if clock.tick():
                    break
    return {"aiohttp_version": aiohttp.__version__, **info}


def _build_masked_frame(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        header = bytes((0x82, 0x80 | n))
    elif n < 65536:
        header = bytes((0x82, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x82, 0x80 | 127)) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    return header + mask + masked


def _echo_len(n: int) -> int:
    return n + (2 if n < 126 else 4 if n < 65536 else 10)


async def _client_raw(url, payload, clock, ssl_context, kwargs, deflate) -> dict:
    """Event-loop ceiling: upgrade once, then pre-built masked frames and a
    minimal buffered protocol that only counts the bytes of the echo (over
    the loop's own TLS transport for wss://)."""
    if deflate:
        raise RuntimeError("the raw client does not speak permessage-deflate")
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if ssl_context is not None else 80)
    loop = asyncio.get_running_loop()
    frame = _build_masked_frame(payload, os.urandom(4))
    expect = _echo_len(len(payload))

    class RawProtocol(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buf = bytearray(max(262144, 2 * expect))
            self.view = memoryview(self.buf)
            self.handshake = loop.create_future()
            self.done = loop.create_future()
            self.upgraded = False
            self.hbuf = b""
            self.pending = 0
            self.transport = None

        def connection_made(self, transport) -> None:
            self.transport = transport

        def get_buffer(self, sizehint: int):
            return self.view

        def buffer_updated(self, nbytes: int) -> None:
            if not self.upgraded:
                self.hbuf += bytes(self.view[:nbytes])
                end = self.hbuf.find(b"\r\n\r\n")
                if end >= 0:
                    self.upgraded = True
                    head = self.hbuf[:end]
                    if len(self.hbuf) != end + 4:
                        self.handshake.set_exception(RuntimeError("unexpected bytes after the 101 response"))
                    elif not head.startswith(b"HTTP/1.1 101"):
                        self.handshake.set_exception(RuntimeError(f"upgrade failed: {head[:200]!r}"))
                    else:
                        self.handshake.set_result(None)
                return
            self.pending += nbytes
            if self.pending < expect:
                return
            if self.pending != expect:
                if not self.done.done():
                    self.done.set_exception(RuntimeError(f"echo of {self.pending} bytes, expected {expect}"))
                return
            self.pending = 0
            if clock.tick():
                self.done.set_result(None)
            else:
                self.transport.write(frame)

        def connection_lost(self, exc) -> None:
            for fut in (self.handshake, self.done):
                if not fut.done():
                    fut.set_exception(ConnectionError(f"connection lost: {exc}"))

    if ssl_context is not None:
        kwargs = {"ssl": ssl_context, "server_hostname": host, **kwargs}
    transport, proto = await loop.create_connection(RawProtocol, host, port, **kwargs)
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    path = parts.path or "/"
    transport.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await asyncio.wait_for(proto.handshake, 5)
    info = _transport_info(transport)
    clock.start()
    transport.write(frame)
    await proto.done
    transport.write(b"\x88\x82" + b"\x00\x00\x00\x00" + (1000).to_bytes(2, "big"))
    transport.close()
    return info


CLIENTS = {
    "picows": _client_picows,
    "websockets": _client_websockets,
    "picows-websockets": _client_picows_websockets,
    "aiohttp": _client_aiohttp,
    "raw": _client_raw,
}


async def run(impl: str, url: str, payload: bytes, clock, ssl_context, kwargs: dict, deflate: bool = False) -> dict:
    return await CLIENTS[impl](url, payload, clock, ssl_context, kwargs, deflate)
