"""Slow consumers over wss://, on every TLS path: flow control holds and memory stays bounded.

* A picows producer that honours pause_writing against a picows consumer that
  pauses reading while its queue is long (``support.flow``, the same exchange
  as the ws:// one in ``test_load.py``), in both roles: the producer's write
  buffer never holds much more than its high-water mark, the consumer's queue
  and receive buffer stay bounded, every message arrives, in order.
* A receiver that stops reading altogether (``pause_reading`` on the
  underlying transport): while it is paused nothing is delivered beyond what
  one read had already brought, the sender is paused by backpressure through
  both TLS layers, and after ``resume_reading`` everything arrives in order and
  the sender is resumed.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport
from support import TIMEOUT
from support.flow import FRAMES_PER_READ, HIGH_WATER, check_slow_consumer, run_slow_consumer
from support.internals import limits, parser_of
from support.listeners import CollectingListener
from support.servers import finish, picows_server
from support.tls import TLSCerts, client_ssl_context, server_ssl_context


@pytest.mark.parametrize("producer_role", ["server", "client"])
async def test_slow_consumer_over_tls(tls_certs: TLSCerts, producer_role: str) -> None:
    producer, consumer = await run_slow_consumer(
        producer_role, {"ssl": server_ssl_context(tls_certs)}, {"ssl_context": client_ssl_context(tls_certs)}
    )
    check_slow_consumer(producer, consumer)


MESSAGE = 16 * 1024
LIMIT = 4000  # 64 MiB: far more than the socket buffers and both TLS layers can hold


class _Sender(WSListener):
    """Sends numbered 16 KiB messages while not paused (again on resume_writing), up to ``target``."""

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.sent = 0
        self.target = 0
        self.paused = False
        self.resumes = 0
        self.max_buffered = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        transport.underlying_transport.set_write_buffer_limits(high=HIGH_WATER, low=HIGH_WATER // 4)

    def push(self) -> None:
        assert self.transport is not None
        while not self.paused and self.sent < self.target:
            self.transport.send(WSMsgType.BINARY, self.sent.to_bytes(4, "big") * (MESSAGE // 4))
            self.sent += 1
            self.max_buffered = max(self.max_buffered, self.transport.underlying_transport.get_write_buffer_size())

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.resumes += 1
        asyncio.get_running_loop().call_soon(self.push)


class _Receiver(CollectingListener):
    """Collects frames and the largest receive buffer seen."""

    def __init__(self) -> None:
        super().__init__()
        self.max_receive_buffer = 0

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.max_receive_buffer = max(self.max_receive_buffer, parser_of(transport).buffer_size)
        super().on_ws_frame(transport, frame)


async def _settled(sender: _Sender) -> None:
    """Wait until the sender is paused and stays paused (every buffer on the way is full), bounded."""
    last = -1
    for _ in range(200):
        await asyncio.sleep(0.05)
        if sender.paused and sender.sent == last:
            return
        last = sender.sent
        assert sender.sent < LIMIT, "the sender was never held back"
    raise AssertionError(f"the sender did not settle ({sender.sent} messages sent)")


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(int(TIMEOUT / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(what)


@pytest.mark.parametrize("paused_role", ["client", "server"])
async def test_receiver_that_stops_reading_pauses_the_sender(tls_certs: TLSCerts, paused_role: str) -> None:
    server_listener: Any = _Receiver if paused_role == "server" else _Sender
    client_listener: Any = _Sender if paused_role == "server" else _Receiver
    async with picows_server(server_listener, ssl=server_ssl_context(tls_certs)) as srv:
        transport, client = await asyncio.wait_for(
            picows.ws_connect(client_listener, srv.url, ssl_context=client_ssl_context(tls_certs)), TIMEOUT
        )
        try:
            server = await srv.next_listener()
            sender, receiver = (client, server) if paused_role == "server" else (server, client)
            assert receiver.transport is not None
            received = 0
            for _cycle in range(2):  # pause/resume more than once
                receiver.transport.underlying_transport.pause_reading()
                sender.target = LIMIT
                sender.push()
                await _settled(sender)  # backpressure through both TLS layers held the sender
                # nothing (or at most what one read had already brought) was delivered while paused
                assert receiver.frames.qsize() <= FRAMES_PER_READ, receiver.frames.qsize()
                sender.target = sender.sent  # no more new messages: everything sent must now arrive
                resumes = sender.resumes
                receiver.transport.underlying_transport.resume_reading()
                got = [(await receiver.get())[3] for _ in range(sender.sent - received)]
                assert [int.from_bytes(p[:4], "big") for p in got] == list(range(received, sender.sent))
                assert all(p == p[:4] * (MESSAGE // 4) for p in got)
                received = sender.sent
                await _until(lambda n=resumes: sender.resumes > n, "the drained sender was not resumed")
            assert sender.max_buffered <= HIGH_WATER + MESSAGE + 14, sender.max_buffered
            bound = 2 * (limits.MAX_READ_SIZE + MESSAGE + 14)
            assert receiver.max_receive_buffer <= bound, receiver.max_receive_buffer
        finally:
            await finish(transport)
