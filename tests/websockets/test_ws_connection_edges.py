"""The connection's rare paths: pings and pongs, closing, fragmented sends, recv_streaming, options (vs websockets).

Most tests put our client in front of a hand-written server (support.raw_ws), which decides exactly
which frame arrives when; the rest compare with the websockets package side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.datastructures
import websockets.exceptions
import websockets.http11

from picows.websockets.asyncio.client import connect
from picows.websockets.asyncio.connection import process_exception
from picows.websockets.datastructures import Headers
from picows.websockets.exceptions import (
    ConcurrencyError,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    ProtocolError,
)
from picows.websockets.http11 import Response
from picows.websockets.protocol import State
from support.frames import CLOSE, close_payload, expect_close
from support.raw_ws import RawPeer, raw_ws_server
from support.ws_api import TIMEOUT, UPSTREAM_MAJOR, echo, our_server, their_server

TEXT, BINARY, CONTINUATION, PING, PONG = 0x1, 0x2, 0x0, 0x9, 0xA


@contextlib.asynccontextmanager
async def raw_client() -> AsyncIterator[tuple[Any, RawPeer]]:
    """Our client connected to a hand-written server: (client connection, server side peer)."""
    async with raw_ws_server() as server:
        ws = await connect(server.url, proxy=None, compression=None, ping_interval=None, close_timeout=TIMEOUT)
        peer = await server.accept()
        try:
            yield ws, peer
        finally:
            await drop(ws, peer)


async def drop(ws: Any, peer: RawPeer) -> None:
    """End the test's connection at once: the peer closes TCP, our side notices."""
    peer.writer.transport.abort()
    await asyncio.wait_for(ws.wait_closed(), TIMEOUT)


async def read_non_control(peer: RawPeer) -> Any:
    """The next frame that is not a PING/PONG."""
    while True:
        frame = await peer.read_frame()
        if frame.opcode not in (PING, PONG):
            return frame


# -- process_exception, arguments ---------------------------------------------------------------------


def _eof_invalid_message(lib: Any) -> Exception:
    exc = lib.InvalidMessage("did not receive a valid HTTP response")
    exc.__cause__ = EOFError("connection closed while reading HTTP status line")
    return exc  # type: ignore[no-any-return]


def _status(lib: Any, status: int) -> Exception:
    if lib is websockets.exceptions:
        return lib.InvalidStatus(websockets.http11.Response(status, "", websockets.datastructures.Headers()))
    return InvalidStatus(Response(status, "", Headers()))


PROCESS_CASES: dict[str, Any] = {
    "oserror": lambda lib: ConnectionRefusedError(111, "refused"),
    "timeout": lambda lib: TimeoutError("timed out during opening handshake"),
    "eof-during-handshake": _eof_invalid_message,
    "invalid-message-other-cause": lambda lib: lib.InvalidMessage("did not receive a valid HTTP response"),
    **{f"status-{code}": functools.partial(_status, status=code) for code in (500, 502, 503, 504, 404)},
    "value-error": lambda lib: ValueError("other"),
}


@pytest.mark.parametrize("case", sorted(PROCESS_CASES))
def test_process_exception_decides_like_websockets(case: str) -> None:
    """None (retry) or the exception itself (fatal), for the same errors as websockets' process_exception."""
    make = PROCESS_CASES[case]
    import picows.websockets.exceptions as ours_module

    ours_exc = make(ours_module)
    theirs_exc = make(websockets.exceptions)
    ours_decision = process_exception(ours_exc)
    theirs_decision = upstream_client.process_exception(theirs_exc)
    assert (ours_decision is None) == (theirs_decision is None)
    assert ours_decision is None or ours_decision is ours_exc


async def test_queue_and_write_limits_and_loggers() -> None:
    adapter = logging.LoggerAdapter(logging.getLogger("adapted"), {})
    async with our_server() as url:
        for kwargs in [
            {"max_queue": None, "write_limit": (4096, None), "logger": "named.logger"},
            {"max_queue": (8, None), "write_limit": (4096, 1024), "logger": adapter},
            {"max_queue": (None, None), "write_limit": 0},
        ]:
            async with connect(url, proxy=None, **kwargs) as ws:
                for i in range(20):
                    await ws.send(str(i))
                assert [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(20)] == [str(i) for i in range(20)]
                logger = kwargs.get("logger")
                # As websockets: the connection's logger wraps the given one, adding the connection.
                assert isinstance(ws.logger, logging.LoggerAdapter) and ws.logger.extra["websocket"].id == ws.id
                if logger == "named.logger":
                    assert ws.logger.logger is logging.getLogger("named.logger")
                elif logger is not None:
                    assert ws.logger.logger is adapter
                else:
                    assert ws.logger.name == "websockets.client"
        for bad in (-1, "16", True, 1.5):
            with pytest.raises(TypeError, match="max_queue must be"):
                await connect(url, proxy=None, max_queue=bad)


# -- pings and pongs ---------------------------------------------------------------------------------


async def test_ping_payloads_and_pending_duplicates() -> None:
    async with raw_client() as (ws, peer):
        waiter = await ws.ping("héllo")
        frame = await peer.read_frame()
        assert (frame.opcode, frame.payload) == (PING, "héllo".encode())
        with pytest.raises(ConcurrencyError, match="already waiting for a pong with the same data"):
            await ws.ping(b"h\xc3\xa9llo")
        with pytest.raises(TypeError):
            await ws.ping(42)
        with pytest.raises(ProtocolError, match="control frame too long"):
            await ws.ping(b"x" * 126)
        await peer.send(PONG, b"unknown")  # a pong nobody waits for is ignored
        await peer.send(PONG, frame.payload)
        latency = await asyncio.wait_for(waiter, TIMEOUT)
        assert latency >= 0 and ws.latency == latency
        random_waiter = await ws.ping()  # random payload
        random_frame = await peer.read_frame()
        assert random_frame.opcode == PING and len(random_frame.payload) == 4
        await peer.send(PONG, random_frame.payload)
        await asyncio.wait_for(random_waiter, TIMEOUT)


async def test_pong_acknowledges_earlier_pings() -> None:
    """RFC 6455 5.5.3: a pong answers the latest ping; the earlier ones are answered with it (as websockets)."""
    async with raw_client() as (ws, peer):
        first, second, third = await ws.ping(b"1"), await ws.ping(b"2"), await ws.ping(b"3")
        payloads = [(await peer.read_frame()).payload for _ in range(3)]
        assert payloads == [b"1", b"2", b"3"]
        await peer.send(PONG, b"2")
        await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
        assert not third.done()
        await peer.send(PONG, b"3")
        await asyncio.wait_for(third, TIMEOUT)


async def test_pending_ping_fails_when_the_connection_is_lost() -> None:
    async with raw_client() as (ws, peer):
        waiter = await ws.ping(b"lost")
        await peer.read_frame()
        peer.writer.transport.abort()
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(waiter, TIMEOUT)
        with pytest.raises(ConnectionClosedError):
            await ws.ping()
        with pytest.raises(ConnectionClosedError):
            await ws.pong(b"late")


async def test_unsolicited_pong() -> None:
    async with raw_client() as (ws, peer):
        await ws.pong("beat")
        await ws.pong()
        assert [(f.opcode, f.payload) for f in [await peer.read_frame(), await peer.read_frame()]] == [
            (PONG, b"beat"), (PONG, b""),
        ]


async def test_keepalive_pings_again_after_each_pong() -> None:
    """After a pong the next keepalive ping is scheduled; without ping_timeout an unanswered one never closes."""
    async with raw_ws_server() as server:
        ws = await connect(server.url, proxy=None, ping_interval=0.01, ping_timeout=None)
        peer = await server.accept()
        try:
            for _ in range(3):
                ping = await peer.read_frame()
                assert ping.opcode == PING
                await peer.send(PONG, ping.payload)
            await peer.read_frame()  # a fourth ping: left unanswered
            await peer.send(TEXT, b"still open")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "still open"
            assert ws.state is State.OPEN
        finally:
            await drop(ws, peer)


# -- closing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["ours", "websockets"])
async def test_close_argument_errors_like_websockets(client: str) -> None:
    factory = connect if client == "ours" else upstream_client.connect
    async with our_server() as url, factory(url, proxy=None) as ws:
        with pytest.raises(websockets.exceptions.ProtocolError, match="invalid status code"):
            await ws.close(1005)
        with pytest.raises(websockets.exceptions.ProtocolError, match="invalid status code"):
            await ws.close(999)
        with pytest.raises(websockets.exceptions.ProtocolError, match="control frame too long"):
            await ws.close(1000, "é" * 62)
        assert int(ws.state) == int(State.OPEN)
        await ws.close(4000, "custom")
        assert ws.close_code == 4000 and ws.close_reason == "custom"


async def test_close_frame_without_code_is_echoed_empty() -> None:
    async with raw_client() as (ws, peer):
        await peer.send(CLOSE, b"")
        echoed = await peer.read_frame()
        assert echoed.opcode == CLOSE and echoed.payload == b""
        peer.close()
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert (ws.close_code, ws.close_reason) == (1005, "")
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.recv()
        assert info.value.rcvd.code == info.value.sent.code == 1005
        assert info.value.rcvd_then_sent is True


async def test_close_while_closing_is_bounded_by_close_timeout() -> None:
    """The peer's CLOSE was echoed but it keeps the TCP connection: close() aborts after close_timeout."""
    async with raw_ws_server() as server:
        ws = await connect(server.url, proxy=None, ping_interval=None, close_timeout=0.05)
        peer = await server.accept()
        await peer.send(CLOSE, close_payload(1001, b"going"))
        assert (await peer.read_frame()).close_code == 1001
        with pytest.raises(ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        await asyncio.wait_for(ws.close(), TIMEOUT)
        assert ws.state is State.CLOSED and ws.close_code == 1001


async def test_send_while_closing_waits_then_raises() -> None:
    async with raw_client() as (ws, peer):
        await ws.send("before")
        assert (await read_non_control(peer)).payload == b"before"
        closing = asyncio.ensure_future(ws.close(1000, "bye"))
        assert (await peer.read_frame()).close_code == 1000
        assert ws.state is State.CLOSING
        sending = asyncio.ensure_future(ws.send("during"))
        await peer.send(CLOSE, close_payload(1000, b"bye"))
        peer.close()
        with pytest.raises(ConnectionClosedOK) as info:
            await asyncio.wait_for(sending, TIMEOUT)
        assert info.value.rcvd_then_sent is False  # we sent first
        await asyncio.wait_for(closing, TIMEOUT)
        with pytest.raises(ConnectionClosedOK):
            await ws.send("after")


async def closes_seen_by(server_closes: list[tuple[int | None, str | None]]) -> Any:
    """A handler of our server that records the close code and reason it received."""
    async def handler(ws: Any) -> None:
        try:
            async for _ in ws:
                pass
        except websockets.exceptions.ConnectionClosed:
            pass
        server_closes.append((ws.close_code, ws.close_reason))

    return handler


async def wait_for_item(items: list[Any]) -> Any:
    while not items:
        await asyncio.sleep(0.005)
    return items[0]


@pytest.mark.parametrize("client", ["ours", "websockets"])
async def test_aexit_with_an_exception_closes_1011_like_websockets(client: str) -> None:
    seen: list[tuple[int | None, str | None]] = []
    factory = connect if client == "ours" else upstream_client.connect
    async with our_server(await closes_seen_by(seen)) as url:
        with pytest.raises(RuntimeError):
            async with factory(url, proxy=None):
                raise RuntimeError("inside")
        expected = 1011 if client == "ours" or UPSTREAM_MAJOR >= 17 else 1000  # 1000 before websockets 17
        assert await asyncio.wait_for(wait_for_item(seen), TIMEOUT) == (expected, "")


# -- fragmented sends ---------------------------------------------------------------------------------


async def agen(*items: Any, fail: bool = False) -> AsyncIterator[Any]:
    for item in items:
        await asyncio.sleep(0)
        yield item
    if fail:
        raise ValueError("the producer failed")


def gen(*items: Any, fail: bool = False) -> Iterator[Any]:
    yield from items
    if fail:
        raise ValueError("the producer failed")


BAD_FRAGMENTS = {
    "bad-first": (lambda: ["x", 1], False, TypeError, "iterable must contain uniform types"),
    "bad-first-item": (lambda: [1, "x"], False, TypeError, "iterable must contain bytes or str"),
    "mixed": (lambda: ["a", b"b"], False, TypeError, "iterable must contain uniform types"),
    "async-mixed": (lambda: agen(b"a", "b"), True, TypeError, "async iterable must contain uniform types"),
    "async-bad-first-item": (lambda: agen(None), True, TypeError, "async iterable must contain bytes or str"),
    "producer-raises": (lambda: gen("a", "b", fail=True), False, ValueError, "the producer failed"),
    "async-producer-raises": (lambda: agen("a", fail=True), True, ValueError, "the producer failed"),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAGMENTS))
@pytest.mark.parametrize("client", ["ours", "websockets"])
async def test_failed_fragmented_send_closes_1011_like_websockets(case: str, client: str) -> None:
    """A bad item or a failing producer raises to the sender and fails the connection with 1011."""
    make, _, error, message = BAD_FRAGMENTS[case]
    seen: list[tuple[int | None, str | None]] = []
    factory = connect if client == "ours" else upstream_client.connect
    async with our_server(await closes_seen_by(seen)) as url, factory(url, proxy=None) as ws:
        with pytest.raises(error, match=message):
            await ws.send(make())
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert await asyncio.wait_for(wait_for_item(seen), TIMEOUT) == (1011, "error in fragmented message")


async def test_send_waits_for_a_fragmented_send_in_progress() -> None:
    async with raw_client() as (ws, peer):
        release = asyncio.Event()

        async def slow() -> AsyncIterator[str]:
            yield "frag"
            await release.wait()
            yield "ment"

        fragmented = asyncio.ensure_future(ws.send(slow()))
        whole = asyncio.ensure_future(ws.send("whole"))
        await asyncio.sleep(0)
        assert not whole.done()
        release.set()
        await asyncio.wait_for(asyncio.gather(fragmented, whole), TIMEOUT)
        frames = [await read_non_control(peer) for _ in range(3)]
        assert [(f.opcode, f.fin, f.payload) for f in frames] == [
            (TEXT, False, b"frag"), (CONTINUATION, True, b"ment"), (TEXT, True, b"whole"),
        ]


async def test_close_during_a_fragmented_send_fails_1011() -> None:
    """As websockets: close() in the middle of a fragmented message closes with 1011, the send raises."""
    async with raw_client() as (ws, peer):
        release = asyncio.Event()

        async def stalled() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"
            await release.wait()
            yield b"c"

        sending = asyncio.ensure_future(ws.send(stalled()))
        first = await read_non_control(peer)
        assert (first.opcode, first.fin) == (BINARY, False)
        closing = asyncio.ensure_future(ws.close())
        assert (await expect_close(peer.reader, 1011)).close_message == b"close during fragmented message"
        release.set()
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(sending, TIMEOUT)
        peer.close()
        await asyncio.wait_for(closing, TIMEOUT)


async def test_peer_closing_during_a_fragmented_send() -> None:
    async with raw_client() as (ws, peer):
        release = asyncio.Event()

        async def stalled() -> AsyncIterator[str]:
            yield "a"
            yield "b"
            await release.wait()
            yield "c"

        sending = asyncio.ensure_future(ws.send(stalled()))
        assert (await read_non_control(peer)).payload == b"a"
        await peer.send(CLOSE, close_payload(1001))
        assert (await peer.read_frame()).opcode == CLOSE
        peer.close()
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        release.set()
        with pytest.raises(ConnectionClosedOK):
            await asyncio.wait_for(sending, TIMEOUT)


async def test_fragmented_send_waits_for_a_slow_reader() -> None:
    """With a small write_limit, each fragment waits for the buffer to drain; the message arrives whole."""
    parts = [bytes([i]) * 65536 for i in range(64)]
    async with raw_ws_server(rcvbuf=4096) as server:
        ws = await connect(server.url, proxy=None, compression=None, ping_interval=None, write_limit=1024)
        peer = await server.accept()
        try:
            sending = asyncio.ensure_future(ws.send(iter(parts)))
            received = []
            while True:
                frame = await read_non_control(peer)
                received.append(frame.payload)
                if frame.fin:
                    break
            await asyncio.wait_for(sending, TIMEOUT)
            assert received == parts
        finally:
            await drop(ws, peer)


# -- recv_streaming, properties ------------------------------------------------------------------------


async def test_recv_streaming_edges() -> None:
    async with raw_client() as (ws, peer):
        await peer.send(TEXT, b"whole")
        assert [part async for part in ws.recv_streaming(decode=False)] == [b"whole"]
        await peer.send(BINARY, b"bytes")
        assert [part async for part in ws.recv_streaming(decode=True)] == ["bytes"]
        receiving = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)
        with pytest.raises(ConcurrencyError, match="cannot call recv_streaming while another coroutine"):
            async for _ in ws.recv_streaming():
                pass
        await peer.send(TEXT, b"to recv")
        assert await asyncio.wait_for(receiving, TIMEOUT) == "to recv"
        # A message cut by the end of the connection raises after its first fragments.
        await peer.send(TEXT, b"par", fin=False)
        stream = ws.recv_streaming()
        assert await asyncio.wait_for(stream.__anext__(), TIMEOUT) == "par"
        peer.writer.transport.abort()
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(stream.__anext__(), TIMEOUT)
        with pytest.raises(ConnectionClosedError):
            async for _ in ws.recv_streaming():
                pass


async def test_properties_before_and_after_close() -> None:
    async with their_server() as url:
        ws = await connect(url, proxy=None)
        assert ws.id == ws.id
        assert ws.close_code is None and ws.close_reason is None
        assert ws.local_address[0] == ws.remote_address[0] == "127.0.0.1"
        assert ws.request is not None and ws.response is not None and ws.response.status_code == 101
        ws.request = None  # assignable, as websockets' attributes
        assert ws.request is not None  # re-read from the handshake
        await ws.close()
        await ws.wait_closed()
        await ws.close()  # closing twice is a no-op
        assert (ws.close_code, ws.close_reason) == (1000, "")


async def test_max_queue_pauses_and_resumes_with_echo() -> None:
    async with our_server(echo) as url, connect(url, proxy=None, max_queue=(2, 1)) as ws:
        for i in range(10):
            await ws.send(f"m{i}")
        got = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(10)]
        assert got == [f"m{i}" for i in range(10)]


async def test_deprecated_open_and_closed_of_the_published_module() -> None:
    """``open``/``closed`` (legacy websockets, kept by the published picows.websockets) warn and answer."""
    async with our_server() as url:
        ws = await connect(url, proxy=None)
        with pytest.warns(DeprecationWarning, match="state == State.OPEN"):
            assert ws.open is True
        with pytest.warns(DeprecationWarning, match="state == State.CLOSED"):
            assert ws.closed is False
        await ws.close()
        with pytest.warns(DeprecationWarning):
            assert ws.open is False
        with pytest.warns(DeprecationWarning):
            assert ws.closed is True
