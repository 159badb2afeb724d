"""Flow control end to end: a producer that honours pause_writing and a consumer that pauses reading.

:func:`run_slow_consumer` runs one picows producer against one picows slow
consumer (either role), over ws:// or, with the server's ``ssl`` and the
client's ``ssl_context``, over wss://; :func:`check_slow_consumer` asserts
what must hold on every transport: the producer is paused and resumed, its
write buffer never holds much more than the high-water mark, the consumer's
queue and receive buffer stay bounded, every message arrives in order.
Used by ``system/test_load.py`` (ws://) and ``system/test_tls_flow_control.py``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport
from support import TIMEOUT
from support.internals import limits, parser_of

__all__ = [
    "HIGH_WATER",
    "PUSH_MESSAGES",
    "PUSH_SIZE",
    "Producer",
    "SlowConsumer",
    "check_slow_consumer",
    "run_slow_consumer",
]

PUSH_MESSAGES = 1500
PUSH_SIZE = 8 * 1024
HIGH_WATER = 64 * 1024
FRAME_SIZE = PUSH_SIZE + 14  # header of a masked 8 KiB frame: 2 + 2 (length) + 4 (mask) bytes, rounded up
#: One read after pause_reading may still bring this many frames (a read is at most MAX_READ_SIZE).
FRAMES_PER_READ = limits.MAX_READ_SIZE // FRAME_SIZE + 1
QUEUE_LIMIT = 64  # the consumer pauses reading with this many messages queued
RESUME_AT = 8  # ... and resumes once it is down to this many


class Producer(WSListener):
    """Pushes PUSH_MESSAGES numbered messages as fast as the transport takes them, pausing on pause_writing."""

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.next = 0
        self.paused = False
        self.pauses = 0
        self.resumes = 0
        self.max_buffered = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        transport.underlying_transport.set_write_buffer_limits(high=HIGH_WATER, low=HIGH_WATER // 4)
        self.push()

    def push(self) -> None:
        assert self.transport is not None
        while not self.paused and self.next < PUSH_MESSAGES:
            payload = self.next.to_bytes(4, "big") * (PUSH_SIZE // 4)
            self.transport.send(WSMsgType.BINARY, payload)
            self.next += 1
            buffered = self.transport.underlying_transport.get_write_buffer_size()
            self.max_buffered = max(self.max_buffered, buffered)

    def pause_writing(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_writing(self) -> None:
        self.paused = False
        self.resumes += 1
        asyncio.get_running_loop().call_soon(self.push)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


class SlowConsumer(WSListener):
    """Queues what arrives; stops reading (pause_reading on the socket) while the queue is long.

    Also records the largest receive buffer of its connection (the parser's, see test_buffer_policy).
    """

    def __init__(self) -> None:
        self.transport: WSTransport | None = None
        self.queue: list[bytes] = []
        self.max_queue = 0
        self.max_receive_buffer = 0
        self.reading_paused = False
        self.read_pauses = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()
            return
        self.max_receive_buffer = max(self.max_receive_buffer, parser_of(transport).buffer_size)
        self.queue.append(frame.get_payload_as_bytes())
        self.max_queue = max(self.max_queue, len(self.queue))
        if len(self.queue) >= QUEUE_LIMIT and not self.reading_paused:
            self.reading_paused = True
            self.read_pauses += 1
            transport.underlying_transport.pause_reading()

    async def consume(self) -> list[int]:
        """Take a few messages per loop iteration; resume reading once the queue is short."""
        got: list[int] = []
        for _ in range(PUSH_MESSAGES * 100):
            if len(got) == PUSH_MESSAGES:
                return got
            await asyncio.sleep(0.0005 if self.queue else 0.002)
            for payload in self.queue[:4]:
                seq = int.from_bytes(payload[:4], "big")
                assert payload == seq.to_bytes(4, "big") * (PUSH_SIZE // 4)
                got.append(seq)
            del self.queue[:4]
            if self.reading_paused and len(self.queue) <= RESUME_AT:
                self.reading_paused = False
                assert self.transport is not None
                self.transport.underlying_transport.resume_reading()
        raise AssertionError(f"consumer got only {len(got)} messages")


async def run_slow_consumer(
    producer_role: str, server_kwargs: dict[str, Any] | None = None, client_kwargs: dict[str, Any] | None = None
) -> tuple[Producer, SlowConsumer]:
    """A Producer and a SlowConsumer, one as picows server, one as picows client; returns both when done.

    ``server_kwargs`` go to ws_create_server (``ssl=...`` makes it wss://), ``client_kwargs`` to ws_connect.
    """
    server_kwargs = server_kwargs or {}
    consumer_side: list[SlowConsumer] = []
    producer_side: list[Producer] = []

    def server_factory(request: Any) -> WSListener:
        if producer_role == "server":
            producer_side.append(Producer())
            return producer_side[-1]
        consumer_side.append(SlowConsumer())
        return consumer_side[-1]

    server = await picows.ws_create_server(server_factory, "127.0.0.1", 0, **server_kwargs)
    async with server:
        scheme = "wss" if server_kwargs.get("ssl") is not None else "ws"
        url = f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        client_listener = SlowConsumer if producer_role == "server" else Producer
        transport, client = await asyncio.wait_for(
            picows.ws_connect(client_listener, url, **(client_kwargs or {})), TIMEOUT
        )
        (consumer_side if producer_role == "server" else producer_side).append(client)  # type: ignore[arg-type]
        for _ in range(1000):
            if consumer_side and producer_side:
                break
            await asyncio.sleep(0.001)
        consumer, producer = consumer_side[0], producer_side[0]
        got = await asyncio.wait_for(consumer.consume(), TIMEOUT * 6)
        assert got == list(range(PUSH_MESSAGES))
        transport.send_close(picows.WSCloseCode.OK)
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
    return producer, consumer


def check_slow_consumer(producer: Producer, consumer: SlowConsumer) -> None:
    """What flow control guarantees, on every transport (see the module docstring)."""
    assert producer.pauses >= 1 and producer.resumes == producer.pauses
    assert consumer.read_pauses >= 1
    assert producer.max_buffered <= HIGH_WATER + FRAME_SIZE, producer.max_buffered
    assert consumer.max_queue <= QUEUE_LIMIT + FRAMES_PER_READ, consumer.max_queue
    # The receive buffer holds at most a read plus a frame, doubled at most by its growth policy.
    assert consumer.max_receive_buffer <= 2 * (limits.MAX_READ_SIZE + FRAME_SIZE), consumer.max_receive_buffer
