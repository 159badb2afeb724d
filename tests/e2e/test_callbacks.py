"""SPEC "Errors raised by user callbacks" and the WSListener callback contract."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest
from support import TIMEOUT
from support.frames import expect_close, server_frame
from support.listeners import CollectingListener, drain_queue
from support.net import expect_eof, port_of
from support.raw_ws import raw_ws_client, raw_ws_server
from support.servers import connect, finish, picows_server, wait_disconnected_any, ws_server

INTERNAL_ERROR = int(WSCloseCode.INTERNAL_ERROR)


class CallbackError(Exception):
    """Raised by the test listeners; unique so it cannot be confused with library errors."""


def error_records(caplog: pytest.LogCaptureFixture, logger_prefix: str, text: str) -> list[logging.LogRecord]:
    out = []
    for r in caplog.records:
        if r.levelno < logging.ERROR:
            continue
        if not (r.name == logger_prefix or r.name.startswith(logger_prefix + ".")):
            continue
        blob = r.getMessage()
        if r.exc_info and r.exc_info[1] is not None:
            blob += " " + repr(r.exc_info[1])
        if r.exc_text:
            blob += " " + r.exc_text
        if text in blob:
            out.append(r)
    return out


async def wait_for_log(caplog: pytest.LogCaptureFixture, logger_prefix: str, text: str) -> list[logging.LogRecord]:
    for _ in range(500):
        recs = error_records(caplog, logger_prefix, text)
        if recs:
            return recs
        await asyncio.sleep(0.01)
    raise AssertionError(f"no ERROR record on {logger_prefix} mentioning {text!r}; got {[(r.name, r.levelname, r.getMessage()) for r in caplog.records]}")


# ---------------------------------------------------------------------------
# on_ws_connected raising
# ---------------------------------------------------------------------------


class RaiseOnConnected(CollectingListener):
    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)
        raise CallbackError("boom-connected")


async def test_client_on_ws_connected_raises() -> None:
    async with raw_ws_server() as srv:
        transport, _listener = await connect(RaiseOnConnected, srv.url)
        peer = await srv.accept()
        close = await expect_close(peer.reader, INTERNAL_ERROR)
        assert close.masked
        assert await expect_eof(peer.reader) == b""
        with pytest.raises(CallbackError, match="boom-connected"):
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_server_on_ws_connected_raises(caplog: pytest.LogCaptureFixture) -> None:
    async with picows_server(RaiseOnConnected) as srv:
        async with raw_ws_client(srv.port) as peer:
            close = await expect_close(peer.reader, INTERNAL_ERROR)
            assert not close.masked
            assert await expect_eof(peer.reader) == b""
            listener = await srv.next_listener()
            await asyncio.wait_for(listener.transport.wait_disconnected(), TIMEOUT)  # server: returns normally
    await wait_for_log(caplog, "picows.server", "boom-connected")


# ---------------------------------------------------------------------------
# on_ws_frame raising
# ---------------------------------------------------------------------------


class RaiseOnFirstFrame(CollectingListener):
    """Raises on the frame with payload b"raise"; echoes the others."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        super().on_ws_frame(transport, frame)
        if frame.get_payload_as_bytes() == b"raise":
            raise CallbackError("boom-frame")
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, b"echo:" + frame.get_payload_as_bytes())


async def test_client_on_ws_frame_raises_disconnects() -> None:
    async with raw_ws_server() as srv:
        transport, listener = await connect(RaiseOnFirstFrame, srv.url)
        peer = await srv.accept()
        await peer.send(WSMsgType.TEXT, b"raise")
        await expect_close(peer.reader, INTERNAL_ERROR)
        assert await expect_eof(peer.reader) == b""
        with pytest.raises(CallbackError, match="boom-frame"):
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        assert listener.disconnected.is_set()


async def test_client_on_ws_frame_raises_frames_behind_it_are_not_delivered() -> None:
    async with raw_ws_server() as srv:
        transport, listener = await connect(RaiseOnFirstFrame, srv.url)
        peer = await srv.accept()
        await peer.write(peer.frame(WSMsgType.TEXT, b"raise") + peer.frame(WSMsgType.TEXT, b"later"))
        await expect_close(peer.reader, INTERNAL_ERROR)
        with pytest.raises(CallbackError):
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        got = drain_queue(listener.frames)
    assert [g[3] for g in got] == [b"raise"]


async def test_server_on_ws_frame_raises_disconnects(caplog: pytest.LogCaptureFixture) -> None:
    async with picows_server(RaiseOnFirstFrame) as srv:
        async with raw_ws_client(srv.port) as peer:
            listener = await srv.next_listener()
            await peer.send(WSMsgType.BINARY, b"raise")
            await expect_close(peer.reader, INTERNAL_ERROR)
            assert await expect_eof(peer.reader) == b""
            await asyncio.wait_for(listener.transport.wait_disconnected(), TIMEOUT)
    await wait_for_log(caplog, "picows.server", "boom-frame")


async def test_client_on_ws_frame_raises_without_disconnect(caplog: pytest.LogCaptureFixture) -> None:
    async with raw_ws_server() as srv:
        transport, listener = await connect(RaiseOnFirstFrame, srv.url, disconnect_on_exception=False)
        peer = await srv.accept()
        await peer.send(WSMsgType.TEXT, b"raise")
        await wait_for_log(caplog, "picows.client", "boom-frame")
        await peer.send(WSMsgType.TEXT, b"still here")
        f = await peer.read_data_frame()
        assert (f.opcode, f.payload) == (WSMsgType.TEXT, b"echo:still here")
        assert transport.is_close_frame_sent is False
        assert not listener.disconnected.is_set()
        transport.disconnect()
        await wait_disconnected_any(transport)


async def test_server_on_ws_frame_raises_without_disconnect(caplog: pytest.LogCaptureFixture) -> None:
    async with picows_server(RaiseOnFirstFrame, disconnect_on_exception=False) as srv:
        async with raw_ws_client(srv.port) as peer:
            listener = await srv.next_listener()
            await peer.send(WSMsgType.TEXT, b"raise")
            await peer.send(WSMsgType.TEXT, b"still here")
            f = await peer.read_data_frame()
            assert (f.opcode, f.payload) == (WSMsgType.TEXT, b"echo:still here")
            assert listener.transport.is_close_frame_sent is False
            assert not listener.disconnected.is_set()
            await wait_for_log(caplog, "picows.server", "boom-frame")


async def test_custom_logger_name_receives_callback_errors(caplog: pytest.LogCaptureFixture) -> None:
    async with picows_server(RaiseOnFirstFrame, logger_name="my_srv") as srv:
        async with raw_ws_client(srv.port) as peer:
            await srv.next_listener()
            await peer.send(WSMsgType.TEXT, b"raise")
            await expect_close(peer.reader, INTERNAL_ERROR)
    await wait_for_log(caplog, "picows.my_srv", "boom-frame")
    assert not error_records(caplog, "picows.server", "boom-frame")


# ---------------------------------------------------------------------------
# on_ws_disconnected raising
# ---------------------------------------------------------------------------


class RaiseOnDisconnected(CollectingListener):
    def on_ws_disconnected(self, transport: WSTransport) -> None:
        super().on_ws_disconnected(transport)
        raise CallbackError("boom-disconnected")


async def test_client_on_ws_disconnected_raises() -> None:
    async with raw_ws_server() as srv:
        transport, listener = await connect(RaiseOnDisconnected, srv.url)
        peer = await srv.accept()
        peer.close()
        with pytest.raises(CallbackError, match="boom-disconnected"):
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        assert listener.disconnected.is_set()


async def test_client_on_ws_disconnected_raises_after_local_disconnect() -> None:
    async with raw_ws_server() as srv:
        transport, _listener = await connect(RaiseOnDisconnected, srv.url)
        await srv.accept()
        transport.disconnect()
        with pytest.raises(CallbackError, match="boom-disconnected"):
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_server_on_ws_disconnected_raises(caplog: pytest.LogCaptureFixture) -> None:
    async with picows_server(RaiseOnDisconnected) as srv:
        async with raw_ws_client(srv.port) as peer:
            listener = await srv.next_listener()
            peer.close()
            await asyncio.wait_for(listener.transport.wait_disconnected(), TIMEOUT)  # returns normally
            assert listener.disconnected.is_set()
    await wait_for_log(caplog, "picows.server", "boom-disconnected")


async def test_client_first_exception_wins() -> None:
    class L(RaiseOnFirstFrame):
        def on_ws_disconnected(self, transport: WSTransport) -> None:
            super().on_ws_disconnected(transport)
            raise CallbackError("second")

    async with raw_ws_server() as srv:
        transport, _listener = await connect(L, srv.url)
        peer = await srv.accept()
        await peer.send(WSMsgType.TEXT, b"raise")
        await expect_close(peer.reader, INTERNAL_ERROR)
        with pytest.raises(CallbackError, match="boom-frame"):
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


# ---------------------------------------------------------------------------
# callback order and arguments
# ---------------------------------------------------------------------------


class OrderListener(WSListener):
    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.transports: list[WSTransport] = []
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.transport: Any = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.calls.append("connected")
        self.transports.append(transport)
        self.connected.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.calls.append(("frame", frame.get_payload_as_bytes()))
        self.transports.append(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.calls.append("disconnected")
        self.transports.append(transport)
        self.disconnected.set()


async def test_client_callback_order_with_frames_in_101_segment() -> None:
    extra = server_frame(WSMsgType.TEXT, b"a") + server_frame(WSMsgType.TEXT, b"b")
    async with raw_ws_server(extra=extra) as srv:
        transport, listener = await connect(OrderListener, srv.url)
        peer = await srv.accept()
        assert isinstance(listener, OrderListener)
        for _ in range(200):
            if len(listener.calls) >= 3:
                break
            await asyncio.sleep(0.01)
        peer.close()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
    assert listener.calls == ["connected", ("frame", b"a"), ("frame", b"b"), "disconnected"]
    assert all(t is transport for t in listener.transports)


async def test_server_callback_order_and_factory_argument() -> None:
    requests: list[Any] = []
    listeners: list[OrderListener] = []

    def factory(request: Any) -> OrderListener:
        requests.append(request)
        lst = OrderListener()
        listeners.append(lst)
        return lst

    async with ws_server(factory, path="/route") as url:
        async with raw_ws_client(port_of(url), path="/route") as peer:
            for _ in range(500):
                if listeners and listeners[0].connected.is_set():
                    break
                await asyncio.sleep(0.01)
            await peer.send(WSMsgType.BINARY, b"x")
            await peer.send(WSMsgType.BINARY, b"y")
            for _ in range(500):
                if len(listeners[0].calls) >= 3:
                    break
                await asyncio.sleep(0.01)
        await asyncio.wait_for(listeners[0].disconnected.wait(), TIMEOUT)
    assert len(requests) == 1 and isinstance(requests[0], WSUpgradeRequest)
    assert requests[0].path == b"/route"
    lst = listeners[0]
    assert lst.calls == ["connected", ("frame", b"x"), ("frame", b"y"), "disconnected"]
    assert len({id(t) for t in lst.transports}) == 1
    assert lst.transports[0].request is not None and lst.transports[0].request.path == b"/route"


async def test_default_listener_methods_are_harmless() -> None:
    """A bare WSListener subclass (no overrides) can be used on both sides."""

    class Bare(WSListener):
        pass

    async with picows_server(Bare) as srv:
        transport, listener = await connect(Bare, srv.url)
        assert isinstance(listener, Bare)
        transport.send(WSMsgType.TEXT, b"ignored")
        transport.send_ping(b"p")
        transport.send_close(WSCloseCode.OK)
        await finish(transport)
