"""Memory stays flat over a long permessage-deflate run (a test, not a benchmark).

100,000 compressed messages go through picows client -> picows server (echo)
-> client, on two connections at once: one keeping its compression contexts
(a compressor and a decompressor alive on each side) and one without context
takeover (a zlib object created and dropped for every message, and the
process-wide shared compressor). The process's resident memory after the
first 10% must not have grown by more than a small bound at the end: a leak of
a few dozen bytes per message, or one zlib state per message, exceeds it.
"""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from picows import PerMessageDeflate, WSFrame, WSListener, WSMsgType, WSTransport
from support import TIMEOUT
from support.listeners import EchoListener
from support.servers import connect, finish, ws_server

MESSAGES = 100_000
WINDOW = 200  # messages in flight per connection
MAX_GROWTH = 4 * 1024 * 1024

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the resident set size from /proc/self/statm"
)


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def message(i: int) -> bytes:
    return b'{"seq": %d, "symbol": "BTC-USD", "bid": %d.25, "ask": %d.75, "venue": "loopback"}' % (i, i % 997, i % 991)


class Pump(WSListener):
    """Keeps WINDOW messages in flight and checks every echo, until ``total`` came back."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0
        self.received = 0
        self.done = asyncio.get_running_loop().create_future()
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def _send_next(self) -> None:
        if self.sent < self.total:
            assert self.transport is not None
            self.transport.send(WSMsgType.TEXT, message(self.sent), compress=True)
            self.sent += 1

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        if frame.get_payload_as_bytes() != message(self.received) and not self.done.done():
            self.done.set_exception(AssertionError(f"echo {self.received} differs"))
        self.received += 1
        if self.received == self.total and not self.done.done():
            self.done.set_result(None)
        self._send_next()


async def run_batch(pumps: list[Pump], count: int) -> None:
    for pump in pumps:
        pump.total = pump.received + count
        pump.done = asyncio.get_running_loop().create_future()
        for _ in range(min(WINDOW, count)):
            pump._send_next()
    await asyncio.wait_for(asyncio.gather(*(p.done for p in pumps)), TIMEOUT * 4)


async def test_memory_does_not_grow_over_100k_compressed_messages() -> None:
    per_connection = MESSAGES // 2
    server_options = PerMessageDeflate(compress_threshold=0)
    async with ws_server(lambda r: EchoListener(), permessage_deflate=server_options) as url:
        takeover = PerMessageDeflate(compress_threshold=0)
        no_takeover = PerMessageDeflate(
            server_no_context_takeover=True, client_no_context_takeover=True, compress_threshold=0
        )
        pumps, transports = [], []
        for options in (takeover, no_takeover):
            transport, pump = await connect(lambda: Pump(0), url, permessage_deflate=options)
            pumps.append(pump)
            transports.append(transport)
        assert transports[1].permessage_deflate.server_no_context_takeover
        warm_up = per_connection // 10
        await run_batch(pumps, warm_up)
        before = resident_bytes()
        await run_batch(pumps, per_connection - warm_up)
        after = resident_bytes()
        assert [p.received for p in pumps] == [per_connection] * 2
        for transport in transports:
            await finish(transport)
    assert after - before < MAX_GROWTH, f"resident memory grew by {after - before} bytes"
