"""The per-message path's rare cases: fragment order violations, recv(decode=), async for misuse, streaming.

Our client and websockets' client read the same frames from the same hand-written server, so the
close code/reason they send and what their calls return or raise are compared directly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.asyncio.messages as upstream_messages
import websockets.exceptions

from picows.websockets import exceptions as ours_exceptions
from picows.websockets.asyncio.client import connect
from support.frames import expect_close
from support.raw_ws import RawPeer, raw_ws_server
from support.ws_api import TIMEOUT

TEXT, BINARY, CONTINUATION, CLOSE = 0x1, 0x2, 0x0, 0x8
CLIENTS = {"ours": connect, "websockets": upstream_client.connect}


@contextlib.asynccontextmanager
async def client_and_peer(client: str) -> AsyncIterator[tuple[Any, RawPeer]]:
    """One library's client connected to a hand-written server: (client connection, server side peer)."""
    async with raw_ws_server() as server:
        ws = await CLIENTS[client](server.url, proxy=None, compression=None, ping_interval=None)
        peer = await server.accept()
        try:
            yield ws, peer
        finally:
            peer.close()
            await asyncio.wait_for(ws.close(), TIMEOUT)


VIOLATIONS = {
    "data-frame-inside-a-fragmented-message": [(TEXT, b"a", False), (TEXT, b"b", True)],
    "continuation-without-a-message": [(CONTINUATION, b"x", True)],
}


@pytest.mark.parametrize("case", sorted(VIOLATIONS))
@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_fragment_order_violation_closes_1002_like_websockets(case: str, client: str) -> None:
    async with client_and_peer(client) as (ws, peer):
        for opcode, payload, fin in VIOLATIONS[case]:
            await peer.send(opcode, payload, fin=fin)
        close = await expect_close(peer.reader, 1002)
        peer.close()  # no closing handshake: websockets' recv would wait for it until close_timeout
        with pytest.raises(websockets.exceptions.ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    reason = {"data-frame-inside-a-fragmented-message": b"expected a continuation frame"}.get(case)
    if reason is not None:  # the core refuses a lone continuation frame itself, with its own wording
        assert close.close_message == reason


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_recv_decode_conversions_like_websockets(client: str) -> None:
    async with client_and_peer(client) as (ws, peer):
        await peer.send(TEXT, "é".encode())
        await peer.send(BINARY, b"bin")
        await peer.send(TEXT, b"text", fin=False)
        await peer.send(CONTINUATION, b"!", fin=True)
        assert await asyncio.wait_for(ws.recv(decode=False), TIMEOUT) == "é".encode()
        assert await asyncio.wait_for(ws.recv(decode=True), TIMEOUT) == "bin"
        assert await asyncio.wait_for(ws.recv(decode=True), TIMEOUT) == "text!"
        await peer.send(TEXT, b"as is")
        await peer.send(BINARY, b"as is")
        assert await asyncio.wait_for(ws.recv(decode=True), TIMEOUT) == "as is"
        assert await asyncio.wait_for(ws.recv(decode=False), TIMEOUT) == b"as is"


@pytest.mark.parametrize("recv_waits", [False, True], ids=["data-first", "recv-waits"])
@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_recv_decode_of_binary_that_is_not_utf8_like_websockets(client: str, recv_waits: bool) -> None:
    """Binary data that is not UTF-8, asked for as text: 1007, and messages already received still come out.

    Both frames come in one write, so in one read: websockets queues both before any task runs. Ours
    resumes a waiting recv inside that read (recv-waits); the failure must not drop the frame after it.
    """
    async with client_and_peer(client) as (ws, peer):
        receiving = asyncio.ensure_future(ws.recv(decode=True)) if recv_waits else None
        for _ in range(3):
            await asyncio.sleep(0)  # the receiving task starts waiting
        await peer.write(peer.frame(BINARY, b"\xff\xfe") + peer.frame(TEXT, b"queued"))
        if receiving is None:
            receiving = asyncio.ensure_future(ws.recv(decode=True))
        close = await expect_close(peer.reader, 1007)
        assert close.close_message == b"invalid start byte at position 0"
        peer.close()
        with pytest.raises(websockets.exceptions.ConnectionClosedError):
            await asyncio.wait_for(receiving, TIMEOUT)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "queued"


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_async_for_while_recv_waits_is_concurrency_error(client: str) -> None:
    async with client_and_peer(client) as (ws, peer):
        receiving = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)
        with pytest.raises(websockets.exceptions.ConcurrencyError):
            async for _ in ws:
                pass
        await peer.send(TEXT, b"for recv")
        assert await asyncio.wait_for(receiving, TIMEOUT) == "for recv"


async def test_async_for_iterator_aclose_ends_it() -> None:
    async with client_and_peer("ours") as (ws, peer):
        await peer.send(TEXT, b"one")
        iterator = ws.__aiter__()
        assert await asyncio.wait_for(iterator.__anext__(), TIMEOUT) == "one"
        await iterator.aclose()
        await peer.send(TEXT, b"two")
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "two"  # the message stays for recv


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_recv_streaming_waiting_before_the_first_fragment(client: str) -> None:
    """A stream started before the message arrives yields each fragment as its frame arrives."""
    async with client_and_peer(client) as (ws, peer):
        stream = ws.recv_streaming()
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)
        await peer.send(BINARY, b"1", fin=False)
        assert await asyncio.wait_for(first, TIMEOUT) == b"1"
        second = asyncio.ensure_future(stream.__anext__())
        await peer.send(CONTINUATION, b"2", fin=False)
        assert await asyncio.wait_for(second, TIMEOUT) == b"2"
        await peer.send(CONTINUATION, b"3", fin=True)
        assert [part async for part in stream] == [b"3"]
        receiving = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)
        with pytest.raises(websockets.exceptions.ConcurrencyError):
            async for _ in ws.recv_streaming():
                pass
        await peer.send(TEXT, b"last")
        assert await asyncio.wait_for(receiving, TIMEOUT) == "last"


# The websockets of the CPython jobs (17.x) limits fragments and chains the cause of a failure to
# ConnectionClosedError; the PyPy job's older one does neither: its legs of these comparisons are skipped.
UPSTREAM_HAS_LIMITS = hasattr(upstream_messages, "MAX_FRAGMENTS")
OLD_UPSTREAM = "the installed websockets predates this behaviour (ours is checked in the 'ours' case)"


def _limit_fragments(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    """Set both libraries' fragment limit (WEBSOCKETS_MAX_FRAGMENTS) for new connections."""
    from picows.websockets.asyncio import _core

    monkeypatch.setattr(_core, "MAX_FRAGMENTS", limit)  # read by each new connection
    if UPSTREAM_HAS_LIMITS:
        monkeypatch.setattr(upstream_messages, "MAX_FRAGMENTS", limit)


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_too_many_fragments_fails_1009_like_websockets(client: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """recv reassembles at most MAX_FRAGMENTS frames: one more fails the connection (1009), as websockets."""
    if client == "websockets" and not UPSTREAM_HAS_LIMITS:
        pytest.skip(OLD_UPSTREAM)
    _limit_fragments(monkeypatch, 8)
    async with client_and_peer(client) as (ws, peer):
        await peer.send(TEXT, b"a", fin=False)
        for _ in range(6):
            await peer.send(CONTINUATION, b"a", fin=False)
        await peer.send(CONTINUATION, b"a", fin=True)  # 8 frames: within the limit
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "a" * 8
        receiving = asyncio.ensure_future(ws.recv())
        await peer.send(BINARY, b"b", fin=False)
        for _ in range(8):  # the 9th frame of this message is one too many
            await peer.send(CONTINUATION, b"b", fin=False)
        close = await expect_close(peer.reader, 1009)
        assert close.close_message == b"too many fragments"
        peer.close()
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
            await asyncio.wait_for(receiving, TIMEOUT)
    assert info.value.sent is not None and info.value.sent.code == 1009
    too_many = ours_exceptions.TooManyFragments if client == "ours" else websockets.exceptions.TooManyFragments
    assert isinstance(info.value.__cause__, too_many)
    assert str(info.value.__cause__) == "fragmented message exceeds limit of 8 frames"


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_recv_streaming_has_no_fragment_limit(client: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _limit_fragments(monkeypatch, 4)
    async with client_and_peer(client) as (ws, peer):
        stream = ws.recv_streaming()
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)
        await peer.send(BINARY, b"0", fin=False)
        fragments = [await asyncio.wait_for(first, TIMEOUT)]
        for index in range(1, 12):
            await peer.send(CONTINUATION, str(index % 10).encode(), fin=index == 11)
            fragments.append(await asyncio.wait_for(stream.__anext__(), TIMEOUT))
        assert b"".join(fragments) == b"012345678901"
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(stream.__anext__(), TIMEOUT)


FAILURES = {
    # frames -> (close code sent, the exception class websockets chains as __cause__)
    "invalid UTF-8": ([(TEXT, b"\xff", True)], 1007, UnicodeDecodeError),
    "invalid UTF-8 across fragments": ([(TEXT, b"a", False), (CONTINUATION, b"\xc3(", True)], 1007, UnicodeDecodeError),
    "data frame inside a fragmented message": ([(TEXT, b"a", False), (TEXT, b"b", True)], 1002,
                                               websockets.exceptions.ProtocolError),
    "reserved bit": ([(BINARY, b"x", True, {"rsv2": True})], 1002, websockets.exceptions.ProtocolError),
    "message over max_size": ([(BINARY, b"x" * 40, False), (CONTINUATION, b"x" * 40, True)], 1009,
                              websockets.exceptions.PayloadTooBig),
    "frame over max_size": ([(BINARY, b"x" * 80, True)], 1009, websockets.exceptions.PayloadTooBig),
}


@pytest.mark.parametrize("case", sorted(FAILURES))
@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_connection_closed_is_chained_to_the_failure(client: str, case: str) -> None:
    """After a protocol failure, recv's ConnectionClosedError has the failure as __cause__, as websockets."""
    if client == "websockets" and not UPSTREAM_HAS_LIMITS:
        pytest.skip(OLD_UPSTREAM)
    frames, code, cause = FAILURES[case]
    async with raw_ws_server() as server:
        ws = await CLIENTS[client](server.url, proxy=None, compression=None, ping_interval=None, max_size=64)
        peer = await server.accept()
        try:
            receiving = asyncio.ensure_future(ws.recv())
            for opcode, payload, fin, *extra in frames:
                await peer.send(opcode, payload, fin=fin, **(extra[0] if extra else {}))
            await expect_close(peer.reader, code)
        finally:
            peer.close()
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
            await asyncio.wait_for(receiving, TIMEOUT)
    assert isinstance(info.value.__cause__, cause), repr(info.value.__cause__)
    if cause is websockets.exceptions.ProtocolError or cause is websockets.exceptions.PayloadTooBig:
        assert info.value.sent is not None
        if client == "ours" and case != "frame over max_size":  # that one's reason is the core's wording
            assert str(info.value.__cause__) == info.value.sent.reason


# How the peer drops the TCP connection without a CLOSE, and the cause websockets chains then.
DROPS = {"close": EOFError, "reset": ConnectionResetError}


@pytest.mark.parametrize("drop", sorted(DROPS))
@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_connection_dropped_without_close_is_chained_like_websockets(client: str, drop: str) -> None:
    """A FIN without CLOSE: the cause is an EOFError; a reset: the OSError asyncio reported."""
    if client == "websockets" and not UPSTREAM_HAS_LIMITS:
        pytest.skip(OLD_UPSTREAM)
    async with client_and_peer(client) as (ws, peer):
        receiving = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)
        if drop == "close":
            peer.close()
        else:
            peer.reset()
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
            await asyncio.wait_for(receiving, TIMEOUT)
    assert info.value.rcvd is None and info.value.sent is None
    assert isinstance(info.value.__cause__, DROPS[drop]), repr(info.value.__cause__)


async def test_our_close_timer_is_due_before_the_cores() -> None:
    """Our close_timeout timer is due no later than the core's (which starts when the CLOSE is written).

    Whichever fires first ends the connection; only ours records websockets' TimeoutError as the cause.
    A loop iteration between the two (a loaded PyPy run) made the cause EOFError.
    """
    async with raw_ws_server() as server:
        ws = await connect(server.url, proxy=None, compression=None, ping_interval=None, close_timeout=5)
        peer = await server.accept()
        try:
            closing = asyncio.ensure_future(ws.close())
            await asyncio.sleep(0)  # close() has sent the CLOSE
            core_timer = ws._transport._protocol._close_timer
            assert ws._close_timer is not None and core_timer is not None
            assert ws._close_timer.when() <= core_timer.when()
            await peer.write(peer.frame(CLOSE, b"\x03\xe8"))
            await asyncio.wait_for(closing, TIMEOUT)
        finally:
            peer.close()


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_close_timeout_is_chained_to_timeout_error(client: str) -> None:
    """The peer never answers our CLOSE: after close_timeout, the cause is websockets' TimeoutError."""
    if client == "websockets" and not UPSTREAM_HAS_LIMITS:
        pytest.skip(OLD_UPSTREAM)
    async with raw_ws_server() as server:
        ws = await CLIENTS[client](server.url, proxy=None, compression=None, ping_interval=None, close_timeout=0.2)
        peer = await server.accept()
        try:
            await asyncio.wait_for(ws.close(), TIMEOUT)  # the peer reads our CLOSE and stays silent
            with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        finally:
            peer.close()
    assert info.value.sent is not None and info.value.sent.code == 1000 and info.value.rcvd is None
    assert isinstance(info.value.__cause__, TimeoutError)
    assert str(info.value.__cause__) == "timed out while closing connection"
