"""Load and faults on loopback: many clients, a slow consumer, vanishing peers, floods, TLS without close_notify.

Everything runs on 127.0.0.1, in the test's event loop (asyncio and uvloop),
with bounded counts and bounded waits; no assertion depends on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import socket
import struct
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport
from support import TIMEOUT
from support.flow import check_slow_consumer, run_slow_consumer
from support.frames import client_frame, close_payload, expect_close_then_eof, read_frame, server_frame
from support.http import upgrade_request
from support.listeners import CollectingListener, EchoListener, SnapshotListener
from support.raw_ws import raw_server_handshake, raw_ws_client
from support.servers import finish, wait_disconnected_any
from support.tls import TLSCerts, client_ssl_context, server_ssl_context

CLIENTS = int(os.environ.get("PICOWS_LOAD_CLIENTS", "2000"))
FDS_PER_CLIENT = 2  # the client's socket and the server's socket, both in this process
FD_HEADROOM = 100


@contextlib.contextmanager
def nofile_limit(wanted: int) -> Iterator[int]:
    """Raise RLIMIT_NOFILE to ``wanted`` if possible (root may raise the hard limit); yields the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new_soft = soft
    if soft < wanted:
        for candidate_hard in (max(hard, wanted), hard):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, candidate_hard), candidate_hard))
                new_soft = min(wanted, candidate_hard)
                break
            except (ValueError, OSError):
                continue
    try:
        yield new_soft
    finally:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


# ---------------------------------------------------------------------------
# 2,000 concurrent clients
# ---------------------------------------------------------------------------

MESSAGES_PER_CLIENT = 5


class LoadClient(WSListener):
    """Sends numbered messages once told to; checks that the echoes come back complete and in order."""

    def __init__(self, ident: int, finished: list[int], all_done: asyncio.Event, total: int) -> None:
        self.ident = ident
        self.finished = finished
        self.all_done = all_done
        self.total = total
        self.received: list[bytes] = []
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def go(self) -> None:
        assert self.transport is not None
        for seq in range(MESSAGES_PER_CLIENT):  # pipelined: all sent before any echo arrives
            self.transport.send(WSMsgType.BINARY if seq % 2 else WSMsgType.TEXT, self.message(seq))

    def message(self, seq: int) -> bytes:
        return b"client %d message %d " % (self.ident, seq) + b"." * (seq * 100)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()
            return
        self.received.append(frame.get_payload_as_bytes())
        if len(self.received) == MESSAGES_PER_CLIENT:
            self.finished.append(self.ident)
            if len(self.finished) == self.total:
                self.all_done.set()
            transport.send_close(picows.WSCloseCode.OK)


async def test_2000_concurrent_clients() -> None:
    wanted = CLIENTS * FDS_PER_CLIENT + FD_HEADROOM
    with nofile_limit(wanted) as limit:
        clients = min(CLIENTS, (limit - FD_HEADROOM) // FDS_PER_CLIENT)
        if clients < CLIENTS:  # say so in the test report instead of failing on EMFILE
            warnings.warn(
                f"RLIMIT_NOFILE is {limit}, below {wanted}: scaled down to {clients} clients", stacklevel=1
            )
        await _run_clients(clients)


async def _run_clients(count: int) -> None:
    server_listeners: list[EchoListener] = []
    disconnected: list[int] = []

    class CountingEcho(EchoListener):
        def on_ws_disconnected(self, transport: WSTransport) -> None:
            disconnected.append(1)

    def factory(request: Any) -> EchoListener:
        server_listeners.append(CountingEcho())
        return server_listeners[-1]

    finished: list[int] = []
    all_done = asyncio.Event()
    server = await picows.ws_create_server(factory, "127.0.0.1", 0, backlog=4096)
    transports: list[WSTransport] = []
    try:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        gate = asyncio.Semaphore(200)  # bounded connect burst (listen backlog), all stay connected

        async def connect(ident: int) -> LoadClient:
            async with gate:
                # The handshake's own timeout as long as the wait: on a loaded 2-CPU machine (PyPy
                # warming up, 200 handshakes in flight) one can take longer than the default 5 s.
                transport, client = await asyncio.wait_for(
                    picows.ws_connect(
                        lambda: LoadClient(ident, finished, all_done, count),
                        url,
                        websocket_handshake_timeout=TIMEOUT * 3,
                    ),
                    TIMEOUT * 3,
                )
            transports.append(transport)
            return client  # type: ignore[no-any-return]

        clients = await asyncio.gather(*(connect(i) for i in range(count)))
        assert len(server_listeners) == count  # all connected at the same time
        for client in clients:
            client.go()
        await asyncio.wait_for(all_done.wait(), TIMEOUT * 6)
        for client in clients:
            assert client.received == [client.message(seq) for seq in range(MESSAGES_PER_CLIENT)], (
                client.ident
            )
        await asyncio.wait_for(asyncio.gather(*(t.wait_disconnected() for t in transports)), TIMEOUT * 3)
        for _ in range(1000):  # the server side finishes its connection_lost callbacks
            if len(disconnected) == count:
                break
            await asyncio.sleep(0.005)
        assert len(disconnected) == count
    finally:
        for t in transports:
            t.disconnect(graceful=False)
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


# ---------------------------------------------------------------------------
# A slow consumer: flow control end to end, bounded memory
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("producer_role", ["server", "client"])
async def test_slow_consumer_flow_control(producer_role: str) -> None:
    """The producer sees pause_writing/resume_writing and never buffers much more than the high-water
    mark; the consumer's queue stays bounded; every message arrives, in order (wss://: test_tls_flow_control)."""
    producer, consumer = await run_slow_consumer(producer_role)
    check_slow_consumer(producer, consumer)


# ---------------------------------------------------------------------------
# Peers that vanish or stall; handshake floods and slow-loris clients
# ---------------------------------------------------------------------------


class ServerBook:
    """A picows echo server that counts connections and disconnections."""

    def __init__(self) -> None:
        self.connected = 0
        self.disconnected = 0

    def factory(self, request: Any) -> WSListener:
        book = self

        class Counted(EchoListener):
            def on_ws_connected(self, transport: WSTransport) -> None:
                book.connected += 1

            def on_ws_disconnected(self, transport: WSTransport) -> None:
                book.disconnected += 1

        return Counted()

    async def settled(self) -> None:
        for _ in range(2000):
            if self.connected == self.disconnected:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"{self.connected} connected, {self.disconnected} disconnected")


async def _echo_once(port: int, payload: bytes) -> None:
    """A well-behaved client: connects, gets one echo, closes."""
    async with raw_ws_client(port) as peer:
        await peer.send(WSMsgType.BINARY, payload)
        f = await read_frame(peer.reader)
        assert (f.opcode, f.payload) == (WSMsgType.BINARY, payload)
        await peer.send(WSMsgType.CLOSE, close_payload(1000))
        await expect_close_then_eof(peer.reader, 1000)


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


async def _misbehave(
    port: int, kind: str, stalled: list[tuple[str, asyncio.StreamReader, asyncio.StreamWriter]]
) -> None:
    reader, writer = await _open(port)
    request = upgrade_request(port)
    if kind.startswith("handshake"):
        writer.write(request[: len(request) // 2])
    else:  # complete the upgrade first
        writer.write(request)
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        frame = client_frame(WSMsgType.BINARY, b"v" * 300)
        writer.write(frame[:1] if "header" in kind else frame[:150])
    await writer.drain()
    if kind.endswith("stall"):
        stalled.append((kind, reader, writer))
    elif kind.endswith("reset"):
        _rst(writer)
    else:
        writer.close()


VANISHING = [
    f"{where}-{how}"
    for where in ("handshake", "half-header", "mid-payload")
    for how in ("close", "reset", "stall")
]
EACH = 40
GOOD = 60


async def test_vanishing_and_stalling_peers_do_not_disturb_others() -> None:
    """Peers that disappear (FIN or RST) or stall mid-handshake, after half a frame header and mid-payload,
    40 of each, interleaved with well-behaved clients: these are all served, stalled handshakes are cut
    by websocket_handshake_timeout, and the server's bookkeeping balances."""
    book = ServerBook()
    stalled: list[tuple[str, asyncio.StreamReader, asyncio.StreamWriter]] = []
    server = await picows.ws_create_server(
        book.factory, "127.0.0.1", 0, websocket_handshake_timeout=0.5, backlog=1024
    )
    async with server:
        port = server.sockets[0].getsockname()[1]
        jobs = [_misbehave(port, kind, stalled) for kind in VANISHING for _ in range(EACH)]
        jobs += [_echo_once(port, b"good client %d" % i) for i in range(GOOD)]
        await asyncio.wait_for(asyncio.gather(*jobs), TIMEOUT * 3)
        await _echo_once(port, b"still served while peers stall")
        for kind, reader, writer in stalled:
            if kind.startswith("handshake"):
                # slow-loris protection: the server hangs up on its own
                rest = await asyncio.wait_for(reader.read(), TIMEOUT)
                assert rest == b"", rest
            writer.close()  # a stalled WebSocket stays open (no data timeout) until its peer leaves
        await book.settled()
        assert book.connected == GOOD + 1 + 2 * 3 * EACH  # every upgrade, misbehaving ones included


async def test_handshake_flood_and_slow_loris() -> None:
    """While 300 slow-loris clients trickle their request byte by byte and 600 connections flood the
    server with complete, partial, garbage and oversized requests, well-behaved clients are served."""
    book = ServerBook()
    server = await picows.ws_create_server(
        book.factory, "127.0.0.1", 0, websocket_handshake_timeout=1.0, backlog=1024
    )
    async with server:
        port = server.sockets[0].getsockname()[1]
        stop = asyncio.Event()

        async def loris() -> bool:
            """True once the server hung up on us."""
            reader, writer = await _open(port)
            request = upgrade_request(port)
            try:
                for i in range(len(request) - 4):  # never finishes on its own
                    if stop.is_set():
                        return False
                    if reader.at_eof() or reader.exception() is not None or writer.transport.is_closing():
                        return True  # FIN, or RST from the server's abort()
                    writer.write(request[i : i + 1])
                    await asyncio.sleep(0.05)
                return False
            except ConnectionError:
                return True
            finally:
                writer.close()

        async def flood(i: int) -> None:
            reader, writer = await _open(port)
            kind = i % 4
            try:
                if kind == 0:
                    writer.write(upgrade_request(port))  # then leave at once
                elif kind == 1:
                    writer.write(upgrade_request(port)[:30])
                elif kind == 2:
                    writer.write(b"\x16\x03\x01garbage\r\n\r\n")
                else:
                    writer.write(b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")  # over 16 KiB
                await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        lorises = [asyncio.ensure_future(loris()) for _ in range(300)]
        try:
            await asyncio.wait_for(asyncio.gather(*(flood(i) for i in range(600))), TIMEOUT * 3)
            await asyncio.wait_for(
                asyncio.gather(*(_echo_once(port, b"good %d" % i) for i in range(30))), TIMEOUT * 3
            )
            # the lorises are cut by the handshake timeout, not by us
            done, pending = await asyncio.wait(lorises, timeout=TIMEOUT * 2)
            assert not pending, f"{len(pending)} slow-loris connections still open"
            assert all(t.result() for t in done), "a slow-loris client was not disconnected by the server"
        finally:
            stop.set()
            for t in lorises:
                t.cancel()
            await asyncio.gather(*lorises, return_exceptions=True)
        await book.settled()


# ---------------------------------------------------------------------------
# TLS peers that close without close_notify
# ---------------------------------------------------------------------------


async def _tls_open(port: int, tls_certs: TLSCerts) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ctx = client_ssl_context(tls_certs)
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"), TIMEOUT
    )


def _abort_tcp(writer: asyncio.StreamWriter) -> None:
    """Drop the TCP connection under TLS: no close_notify alert (RST, like a crashed peer)."""
    _rst(writer)
    writer.transport.abort()


async def test_tls_server_with_peers_vanishing_without_close_notify(tls_certs: TLSCerts) -> None:
    book = ServerBook()
    server = await picows.ws_create_server(
        book.factory, "127.0.0.1", 0, ssl=server_ssl_context(tls_certs), websocket_handshake_timeout=2.0
    )
    async with server:
        port = server.sockets[0].getsockname()[1]

        async def vanish(kind: str) -> None:
            if kind == "mid-tls-handshake":
                reader, writer = await _open(port)
                writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # the start of a ClientHello
                await writer.drain()
                _rst(writer)
                return
            reader, writer = await _tls_open(port, tls_certs)
            if kind != "after-tls-handshake":
                writer.write(upgrade_request(port))
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
                frame = client_frame(WSMsgType.BINARY, b"m" * 1000)
                writer.write(frame if kind == "after-message" else frame[:400])
                await writer.drain()
                if kind == "after-message":
                    echo = await read_frame(reader)
                    assert echo.payload == b"m" * 1000
            _abort_tcp(writer)

        kinds = ["mid-tls-handshake", "after-tls-handshake", "mid-frame", "after-message"]
        await asyncio.wait_for(asyncio.gather(*(vanish(k) for k in kinds * 10)), TIMEOUT * 3)
        # a well-behaved TLS client is still served
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(
                CollectingListener, f"wss://localhost:{port}/", ssl_context=client_ssl_context(tls_certs)
            ),
            TIMEOUT,
        )
        transport.send(WSMsgType.TEXT, b"secure")
        assert await listener.get() == (WSMsgType.TEXT, True, False, b"secure")
        await finish(transport)
        await book.settled()
        assert book.connected == 1 + 2 * 10


@pytest.mark.parametrize("when", ["after-message", "mid-frame"])
async def test_tls_client_when_server_vanishes_without_close_notify(tls_certs: TLSCerts, when: str) -> None:
    ready = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await raw_server_handshake(reader, writer)
            frame = server_frame(WSMsgType.BINARY, b"s" * 5000)
            writer.write(frame if when == "after-message" else frame[:2000])
            await writer.drain()
            await asyncio.wait_for(ready.wait(), TIMEOUT)
        finally:
            _abort_tcp(writer)

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_ssl_context(tls_certs))
    async with server:
        port = server.sockets[0].getsockname()[1]
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(
                SnapshotListener, f"wss://localhost:{port}/", ssl_context=client_ssl_context(tls_certs)
            ),
            TIMEOUT,
        )
        if when == "after-message":
            assert (await listener.get())["payload"] == b"s" * 5000
        ready.set()
        error = await wait_disconnected_any(transport)
        assert error is None, error  # the peer broke no WebSocket rule; wait_disconnected returns normally
        assert listener.events[0] == "connected" and listener.events[-1] == "disconnected"
        assert listener.events.count("disconnected") == 1
