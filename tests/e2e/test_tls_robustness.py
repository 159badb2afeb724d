"""TLS peers that do unusual things to an established wss:// connection, on every TLS path.

What happens (the same on the loop's TLS transport and aiofastnet's, on
asyncio and uvloop, with either backend):

* **Renegotiation (TLS 1.2).** A server that asks for renegotiation
  (HelloRequest) gets it: OpenSSL in the picows client completes the secure
  (RFC 5746) renegotiation and the connection carries on. A client that
  starts one is refused by the picows server (OpenSSL 3 refuses
  client-initiated renegotiation: a ``no_renegotiation`` alert); the client
  then gives up, and the picows server ends that connection cleanly and
  keeps serving.
* **KeyUpdate (TLS 1.3)**, from either peer and asking for one back: transparent.
* **Clear text inside the TLS stream** (a broken or hostile middlebox): the
  connection ends, cleanly (no exception escapes into the loop), in both roles.
* **A peer that vanishes while picows writes** (RST, no close_notify, in the
  middle of a multi-megabyte send): the connection ends cleanly in both roles;
  sends after that are dropped without an error.

The peers are OpenSSL's own ``s_server``/``s_client`` (:mod:`support.openssl_peer`)
where Python's ``ssl`` module cannot act (renegotiation, KeyUpdate on
demand), and asyncio TLS streams otherwise.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from typing import Any

import pytest

import picows
from picows import WSMsgType
from support import TIMEOUT
from support.frames import client_frame, decode_frame, read_frame, server_frame
from support.http import accept_key, request_key, upgrade_request
from support.listeners import CollectingListener, EchoListener
from support.net import read_http_head, tcp_server
from support.openssl_peer import OpenSSLPeer, openssl_client, openssl_server
from support.raw_ws import raw_server_handshake
from support.servers import finish, picows_server, wait_disconnected_any
from support.tls import TLSCerts, client_ssl_context, server_ssl_context

# -- helpers ---------------------------------------------------------------------------------------


async def _connect_to_openssl_server(peer: OpenSSLPeer, port: int, tls_certs: TLSCerts) -> tuple[Any, Any]:
    """picows client -> ``openssl s_server``; the test answers the upgrade through the tool's stdin."""
    connecting = asyncio.ensure_future(
        picows.ws_connect(
            CollectingListener, f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context(tls_certs)
        )
    )
    start = peer.output.find(b"GET / HTTP/1.1")
    if start < 0:
        await peer.read_until(b"GET / HTTP/1.1")
        start = peer.output.find(b"GET / HTTP/1.1")
    end = await peer.read_until(b"\r\n\r\n", start)
    head = bytes(peer.output[start:end])
    peer.send(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(request_key(head)) + b"\r\n\r\n"
    )
    transport, listener = await asyncio.wait_for(connecting, TIMEOUT)
    peer.seen = end
    return transport, listener


async def _client_frame_at_openssl_server(peer: OpenSSLPeer, payload: bytes) -> None:
    """Find the picows client's (masked) TEXT frame carrying ``payload`` in what ``s_server`` printed."""
    assert len(payload) < 126
    header = bytes([0x81, 0x80 | len(payload)])
    size = len(header) + 4 + len(payload)
    start = peer.seen
    for _ in range(1000):
        pos = await peer.read_until(header, start) - len(header)
        await peer.read_to(pos + size)
        decoded = decode_frame(bytes(peer.output[pos : pos + size]))
        assert decoded is not None
        if decoded[0].payload == payload:
            peer.seen = pos + size
            return
        start = pos + 1  # the header bytes happened to be inside something else
    raise AssertionError(f"no frame with {payload!r} from the client")


async def _exchange_with_openssl_server(
    peer: OpenSSLPeer, transport: Any, listener: CollectingListener, tag: bytes
) -> None:
    """One frame each way between a picows client and ``s_server``."""
    peer.send(server_frame(WSMsgType.TEXT, b"server " + tag))
    assert await listener.get() == (WSMsgType.TEXT, True, False, b"server " + tag)
    transport.send(WSMsgType.TEXT, b"client " + tag)
    await _client_frame_at_openssl_server(peer, b"client " + tag)


async def _openssl_client_upgrade(peer: OpenSSLPeer, port: int) -> int:
    """``s_client`` -> picows server: send the upgrade request, wait for the 101; returns where it ended."""
    await peer.read_until(b"---\n")  # the session report is printed: TLS is up
    peer.send(upgrade_request(port))
    status_line = b"HTTP/1.1 101 Switching Protocols\r\n"
    start = await peer.read_until(status_line) - len(status_line)
    return await peer.read_until(b"\r\n\r\n", start)


async def _server_frame_at_openssl_client(peer: OpenSSLPeer, payload: bytes, start: int) -> int:
    """Wait for the picows server's (unmasked) frame with ``payload`` in what ``s_client`` printed."""
    return await peer.read_until(server_frame(WSMsgType.BINARY, payload), start)


# -- renegotiation and key updates -----------------------------------------------------------------


async def test_server_initiated_renegotiation_is_completed_by_the_client(tls_certs: TLSCerts) -> None:
    async with openssl_server(tls_certs, "1.2") as (peer, port):
        transport, listener = await _connect_to_openssl_server(peer, port, tls_certs)
        try:
            assert transport.underlying_transport.get_extra_info("ssl_object").version() == "TLSv1.2"
            await _exchange_with_openssl_server(peer, transport, listener, b"before")
            await peer.command("r")  # HelloRequest
            # The client answers with a new ClientHello and the second handshake completes.
            await peer.wait_trace("read client hello", 2)
            await peer.wait_trace("read finished", 2)
            await _exchange_with_openssl_server(peer, transport, listener, b"after")
            assert not listener.disconnected.is_set()
        finally:
            await finish(transport)


async def test_client_initiated_renegotiation_is_refused_by_the_server(tls_certs: TLSCerts) -> None:
    async with picows_server(CollectingListener, ssl=server_ssl_context(tls_certs)) as srv:
        async with openssl_client(srv.port, tls_certs, "1.2") as peer:
            await _openssl_client_upgrade(peer, srv.port)
            listener = await srv.next_listener()
            peer.send(client_frame(WSMsgType.TEXT, b"before"))
            assert await listener.get() == (WSMsgType.TEXT, True, False, b"before")
            await peer.command("R")
            await peer.wait_trace("no renegotiation")  # the server's warning alert
            # s_client gives up on a refused renegotiation: the connection ends, cleanly on our side.
            assert await peer.wait_exit() != 0
            await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
            assert listener.frames.empty()
        # the server carries on
        transport, client = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, srv.url, ssl_context=client_ssl_context(tls_certs)), TIMEOUT
        )
        try:
            transport.send(WSMsgType.TEXT, b"still served")
            assert await (await srv.next_listener()).get() == (WSMsgType.TEXT, True, False, b"still served")
        finally:
            await finish(transport)


async def test_key_update_from_the_server_is_transparent(tls_certs: TLSCerts) -> None:
    async with openssl_server(tls_certs, "1.3") as (peer, port):
        transport, listener = await _connect_to_openssl_server(peer, port, tls_certs)
        try:
            assert transport.underlying_transport.get_extra_info("ssl_object").version() == "TLSv1.3"
            await _exchange_with_openssl_server(peer, transport, listener, b"before")
            await peer.command("K")  # update our keys and ask the client to update its own
            await peer.wait_trace("write server key update")
            await _exchange_with_openssl_server(peer, transport, listener, b"after")
            await peer.wait_trace("read client key update")
            await _exchange_with_openssl_server(peer, transport, listener, b"later")
        finally:
            await finish(transport)


async def test_key_update_from_the_client_is_transparent(tls_certs: TLSCerts) -> None:
    payloads = [b"before", b"after", b"later"]

    class Echo(CollectingListener, EchoListener):
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            CollectingListener.on_ws_frame(self, transport, frame)
            EchoListener.on_ws_frame(self, transport, frame)

    async with picows_server(Echo, ssl=server_ssl_context(tls_certs)) as srv:
        async with openssl_client(srv.port, tls_certs, "1.3") as peer:
            pos = await _openssl_client_upgrade(peer, srv.port)
            listener = await srv.next_listener()
            for i, payload in enumerate(payloads):
                if i == 1:
                    await peer.command("K")
                    await peer.wait_trace("write client key update")
                peer.send(client_frame(WSMsgType.BINARY, payload))
                assert await listener.get() == (WSMsgType.BINARY, True, False, payload)
                pos = await _server_frame_at_openssl_client(peer, payload, pos)
            await peer.wait_trace("read server key update")  # the server updated its keys as asked
            assert not listener.disconnected.is_set()


# -- clear text inside the TLS stream --------------------------------------------------------------


def _write_under_tls(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write ``data`` straight to the TCP socket under the TLS layer (via a dup: uvloop's socket is a proxy)."""
    raw = socket.socket(fileno=os.dup(writer.get_extra_info("socket").fileno()))
    try:
        raw.sendall(data)
    finally:
        raw.close()


async def test_clear_text_in_the_tls_stream_ends_the_client_connection(tls_certs: TLSCerts) -> None:
    written = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        writer.write(server_frame(WSMsgType.TEXT, b"encrypted"))
        await writer.drain()
        await asyncio.sleep(0.05)  # let the record go out before bytes bypass the TLS layer
        _write_under_tls(writer, b"HTTP/1.1 200 OK\r\n\r\nclear text")
        written.set()
        await reader.read()  # until picows drops the connection

    async with tcp_server(handler, ssl=server_ssl_context(tls_certs)) as port:
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(
                CollectingListener, f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context(tls_certs)
            ),
            TIMEOUT,
        )
        assert await listener.get() == (WSMsgType.TEXT, True, False, b"encrypted")
        await asyncio.wait_for(written.wait(), TIMEOUT)
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        # a transport failure, not a WebSocket protocol violation: wait_disconnected returns normally
        assert await wait_disconnected_any(transport) is None
        assert listener.frames.empty()
        transport.send(WSMsgType.TEXT, b"after the end")  # dropped, no error


async def test_clear_text_in_the_tls_stream_ends_the_server_connection(tls_certs: TLSCerts) -> None:
    async with picows_server(CollectingListener, ssl=server_ssl_context(tls_certs)) as srv:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", srv.port, ssl=client_ssl_context(tls_certs), server_hostname="127.0.0.1"
            ),
            TIMEOUT,
        )
        try:
            writer.write(upgrade_request(srv.port))
            assert (await read_http_head(reader)).startswith(b"HTTP/1.1 101")
            listener = await srv.next_listener()
            writer.write(client_frame(WSMsgType.TEXT, b"encrypted"))
            assert await listener.get() == (WSMsgType.TEXT, True, False, b"encrypted")
            _write_under_tls(writer, client_frame(WSMsgType.TEXT, b"clear text"))
            await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
            assert listener.frames.empty()
            listener.transport.send(WSMsgType.TEXT, b"after the end")  # dropped, no error
        finally:
            writer.transport.abort()


# -- a peer that vanishes while picows writes ------------------------------------------------------

BIG = 4 * 1024 * 1024


def _reset(writer: asyncio.StreamWriter) -> None:
    """Drop the TCP connection with RST, no close_notify (a crashed peer)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Streamer(CollectingListener):
    """Sends 4 MiB frames back to back whenever told to ("go"), ignoring flow control on purpose."""

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"go":
            for _ in range(4):
                transport.send(WSMsgType.BINARY, b"\x5a" * BIG)


async def test_client_vanishing_while_the_server_writes(tls_certs: TLSCerts) -> None:
    async with picows_server(_Streamer, ssl=server_ssl_context(tls_certs)) as srv:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", srv.port, ssl=client_ssl_context(tls_certs), server_hostname="127.0.0.1"
            ),
            TIMEOUT,
        )
        try:
            writer.write(upgrade_request(srv.port))
            assert (await read_http_head(reader)).startswith(b"HTTP/1.1 101")
            listener = await srv.next_listener()
            writer.write(client_frame(WSMsgType.TEXT, b"go"))
            await asyncio.wait_for(reader.readexactly(64 * 1024), TIMEOUT)  # mid-frame, 16 MiB queued
            assert listener.transport.underlying_transport.get_write_buffer_size() > 0
        finally:
            _reset(writer)
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        assert await wait_disconnected_any(listener.transport) is None
        listener.transport.send(WSMsgType.BINARY, b"after the end")  # dropped, no error


async def test_server_vanishing_while_the_client_writes(tls_certs: TLSCerts) -> None:
    received = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        try:
            await asyncio.wait_for(reader.readexactly(64 * 1024), TIMEOUT)  # mid-frame
            received.set()
        finally:
            _reset(writer)

    async with tcp_server(handler, ssl=server_ssl_context(tls_certs)) as port:
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(
                CollectingListener, f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context(tls_certs)
            ),
            TIMEOUT,
        )
        for _ in range(4):
            transport.send(WSMsgType.BINARY, b"\xa5" * BIG)
        await asyncio.wait_for(received.wait(), TIMEOUT)
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        # the peer broke no WebSocket rule: wait_disconnected returns normally
        assert await wait_disconnected_any(transport) is None
        transport.send(WSMsgType.BINARY, b"after the end")  # dropped, no error


@pytest.mark.parametrize("frames_before", [0, 1])
async def test_server_vanishing_idle_after_close_notify_less_eof(tls_certs: TLSCerts, frames_before: int) -> None:
    """An idle connection whose server's TCP stream ends (FIN) without close_notify: a clean end."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        for i in range(frames_before):
            writer.write(server_frame(WSMsgType.BINARY, b"frame %d" % i))
        await writer.drain()
        await asyncio.sleep(0.05)
        raw = socket.socket(fileno=os.dup(writer.get_extra_info("socket").fileno()))
        try:
            raw.shutdown(socket.SHUT_WR)  # FIN under TLS, no close_notify
        finally:
            raw.close()
        await read_frame(reader)  # keeps the handler (and the socket) open until picows is gone

    async with tcp_server(handler, ssl=server_ssl_context(tls_certs)) as port:
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(
                CollectingListener, f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context(tls_certs)
            ),
            TIMEOUT,
        )
        for i in range(frames_before):
            assert await listener.get() == (WSMsgType.BINARY, True, False, b"frame %d" % i)
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        assert await wait_disconnected_any(transport) is None
