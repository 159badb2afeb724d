"""What picows does with listeners and their callbacks (picows 2.x and the newcomer traps of issue 15).

* ``WSProtocolError`` raised by ``on_ws_connected`` / ``on_ws_frame`` closes
  with its code and reason, whatever ``disconnect_on_exception`` says;
* ``UnicodeDecodeError`` escaping ``on_ws_frame`` for a text frame closes
  with INVALID_TEXT and logs one warning line (no traceback);
* ``async def`` callbacks are refused when the connection starts, and a
  callback returning an awaitable is reported the same way;
* ``validate_utf8=True`` checks text messages in the core;
* transports are thread-affine; listener constructors take any arguments on
  both backends; the client's factory may take ``(request, response)``;
  ``read_buffer_init_size`` and ``logger_name`` (str, Logger, LoggerAdapter).
"""

from __future__ import annotations

import asyncio
import logging
import struct
import threading
import warnings
from typing import Any

import pytest

import picows
from picows import WSCloseCode, WSMsgType, WSTransport
from support import TIMEOUT
from support.frames import close_payload
from support.internals import parser_of
from support.listeners import CollectingListener, EchoListener
from support.servers import ROLES, connect, pair, picows_server, wait_disconnected_any, ws_server

CLOSE = WSMsgType.CLOSE


def close_code_of(payload: bytes) -> int:
    return int(struct.unpack("!H", payload[:2])[0])


# -- WSProtocolError from callbacks -----------------------------------------------------------------


class _RaisesProtocolError(CollectingListener):
    def on_ws_frame(self, transport: WSTransport, frame: picows.WSFrame) -> None:
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.TEXT:
            raise picows.WSProtocolError(4003, "forbidden topic ✋")


@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize("disconnect_on_exception", [True, False])
async def test_protocol_error_from_on_ws_frame_closes_with_its_code(picows_role: str, disconnect_on_exception: bool) -> None:
    async with pair(picows_role, _RaisesProtocolError, check_clean=False,
                    disconnect_on_exception=disconnect_on_exception) as (peer, listener, transport):
        await peer.send(WSMsgType.TEXT, b"topic")
        f = await peer.read_data_frame()
        assert (f.opcode, f.payload) == (CLOSE, close_payload(4003, "forbidden topic ✋".encode()))
        peer.close()
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        if picows_role == "client":
            exc = await wait_disconnected_any(transport)
            assert isinstance(exc, picows.WSProtocolError) and exc.code == 4003
    assert transport.close_handshake.sent == picows.WSCloseInfo(4003, "forbidden topic ✋")


class _RejectsOnConnect(CollectingListener):
    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)
        raise picows.WSProtocolError(WSCloseCode.POLICY_VIOLATION, "not allowed")


@pytest.mark.parametrize("picows_role", ROLES)
async def test_protocol_error_from_on_ws_connected_closes_with_its_code(picows_role: str) -> None:
    async with pair(picows_role, _RejectsOnConnect, check_clean=False) as (peer, listener, transport):
        f = await peer.read_data_frame()
        assert (f.opcode, f.payload) == (CLOSE, close_payload(1008, b"not allowed"))
        peer.close()
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)


# -- invalid UTF-8 met by the application ----------------------------------------------------------


class _DecodesText(CollectingListener):
    def on_ws_frame(self, transport: WSTransport, frame: picows.WSFrame) -> None:
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.TEXT:
            frame.get_payload_as_utf8_text()


@pytest.mark.parametrize("picows_role", ROLES)
async def test_unicode_error_in_on_ws_frame_is_1007_and_one_warning(picows_role: str,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="picows")
    async with pair(picows_role, _DecodesText, check_clean=False,
                    disconnect_on_exception=False) as (peer, listener, transport):
        await peer.send(WSMsgType.TEXT, b"ok")
        await peer.send(WSMsgType.TEXT, b"\xff\xfe not utf-8")
        f = await peer.read_data_frame()
        assert (f.opcode, close_code_of(f.payload)) == (CLOSE, WSCloseCode.INVALID_TEXT)
        peer.close()
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    records = [r for r in caplog.records if r.name.startswith("picows") and "UTF-8" in r.getMessage()]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING and records[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("picows")]


# -- validate_utf8 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("picows_role", ROLES)
async def test_validate_utf8(picows_role: str) -> None:
    euro = "€".encode()  # 3 bytes, split across fragments below
    async with pair(picows_role, CollectingListener, check_clean=False, validate_utf8=True) as (peer, listener, transport):
        await peer.send(WSMsgType.TEXT, b"a" + euro[:1], fin=False)
        await peer.send(WSMsgType.CONTINUATION, euro[1:] + b"b")
        await peer.send(WSMsgType.BINARY, b"\xff binary is never checked")
        assert [(await listener.get())[3] for _ in range(3)] == [b"a" + euro[:1], euro[1:] + b"b", b"\xff binary is never checked"]
        await peer.send(WSMsgType.TEXT, b"ok \xed\xa0", fin=False)  # a surrogate: fails at its second byte
        await peer.send(WSMsgType.CONTINUATION, b"\x80")
        f = await peer.read_data_frame()
        assert (f.opcode, close_code_of(f.payload)) == (CLOSE, WSCloseCode.INVALID_TEXT)
        peer.close()
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        assert listener.frames.empty()  # the bad frame was not delivered


@pytest.mark.parametrize("picows_role", ROLES)
async def test_validate_utf8_incomplete_message_end(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener, check_clean=False, validate_utf8=True) as (peer, listener, transport):
        await peer.send(WSMsgType.TEXT, "ok €".encode()[:-1])  # fin=True with a truncated character
        f = await peer.read_data_frame()
        assert (f.opcode, close_code_of(f.payload)) == (CLOSE, WSCloseCode.INVALID_TEXT)
        peer.close()


# -- async callbacks ---------------------------------------------------------------------------------


class _AsyncFrame(picows.WSListener):
    async def on_ws_frame(self, transport: WSTransport, frame: picows.WSFrame) -> None:  # type: ignore[override]
        pass


class _AsyncConnected(picows.WSListener):
    async def on_ws_connected(self, transport: WSTransport) -> None:  # type: ignore[override]
        pass


@pytest.mark.parametrize("listener_cls, name", [(_AsyncFrame, "on_ws_frame"), (_AsyncConnected, "on_ws_connected")])
async def test_async_callbacks_are_refused_by_the_client(listener_cls: type, name: str) -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        with pytest.raises(TypeError) as info:
            await connect(listener_cls, url)
    message = str(info.value)
    assert f"{listener_cls.__name__}.{name} is an async function" in message
    assert "picows.websockets" in message


async def test_async_callbacks_are_refused_by_the_server(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="picows")
    async with ws_server(lambda r: _AsyncFrame()) as url:
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await connect(CollectingListener, url)
    assert info.value.response.status == 500
    assert any("_AsyncFrame.on_ws_frame is an async function" in r.getMessage() for r in caplog.records)


class _ReturnsCoroutine(CollectingListener):
    def on_ws_frame(self, transport: WSTransport, frame: picows.WSFrame) -> Any:
        return self.handle(frame.get_payload_as_bytes())

    async def handle(self, data: bytes) -> None:
        pass


@pytest.mark.parametrize("picows_role", ROLES)
async def test_callback_returning_an_awaitable_is_reported(picows_role: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="picows")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # "coroutine was never awaited" would fail the test
        async with pair(picows_role, _ReturnsCoroutine, check_clean=False) as (peer, listener, transport):
            await peer.send(WSMsgType.TEXT, b"x")
            f = await peer.read_data_frame()
            assert (f.opcode, close_code_of(f.payload)) == (CLOSE, WSCloseCode.INTERNAL_ERROR)
            peer.close()
            await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    assert any("on_ws_frame returned coroutine, an awaitable" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


# -- threads --------------------------------------------------------------------------------------------


async def test_transport_methods_from_another_thread_raise() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        transport, listener = await connect(CollectingListener, url)
        calls = {
            "send": lambda: transport.send(WSMsgType.TEXT, b"x"),
            "send_ping": lambda: transport.send_ping(),
            "send_pong": lambda: transport.send_pong(),
            "send_reuse_external_bytearray": lambda: transport.send_reuse_external_bytearray(WSMsgType.BINARY, bytearray(15), 14),
            "send_close": lambda: transport.send_close(),
            "disconnect": lambda: transport.disconnect(),
            "notify_user_specific_pong_received": lambda: transport.notify_user_specific_pong_received(),
        }
        errors: dict[str, BaseException] = {}

        def worker() -> None:
            for name, call in calls.items():
                try:
                    call()
                except BaseException as exc:  # noqa: BLE001 - checked below
                    errors[name] = exc

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(TIMEOUT)
        assert sorted(errors) == sorted(calls)
        for name, exc in errors.items():
            assert isinstance(exc, RuntimeError), (name, exc)
            assert str(exc).startswith(f"WSTransport.{name} called from a wrong thread"), str(exc)
        # nothing happened to the connection
        transport.send(WSMsgType.TEXT, b"still fine")
        assert (await listener.get())[3] == b"still fine"
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


# -- listener construction and the client factory ---------------------------------------------------------


def test_listener_constructor_takes_any_arguments() -> None:
    """Both backends: a subclass without __init__ accepts (and ignores) arguments."""

    class Plain(picows.WSListener):
        pass

    assert isinstance(Plain(1, "two", three=3), picows.WSListener)


async def test_listener_class_as_server_factory() -> None:
    """ws_create_server(MyListener): the class is called with the request (published picows code does this)."""

    class Echo(EchoListener):
        pass

    async with ws_server(Echo) as url:
        transport, listener = await connect(CollectingListener, url)
        transport.send(WSMsgType.TEXT, b"hello")
        assert (await listener.get())[3] == b"hello"
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_client_factory_may_take_request_and_response() -> None:
    seen: list[Any] = []

    def factory(request: picows.WSUpgradeRequest, response: picows.WSUpgradeResponse) -> CollectingListener:
        seen.append((request, response))
        return CollectingListener()

    async with ws_server(lambda r: EchoListener()) as url:
        transport, _listener = await connect(factory, url)
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
    ((request, response),) = seen
    assert request is transport.request and response is transport.response
    assert request.method == b"GET" and int(response.status) == 101


# -- options ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size, expected", [(16384, 16384), (100, 2048), (2048, 2048)])
async def test_read_buffer_init_size_is_honoured(size: int, expected: int) -> None:
    async with picows_server(CollectingListener, read_buffer_init_size=size) as srv:
        transport, listener = await connect(CollectingListener, srv.url, read_buffer_init_size=size)
        server_listener = await srv.next_listener()
        # Nothing is allocated before the first frame arrives ...
        assert parser_of(transport).buffer_size == 0
        assert parser_of(server_listener.transport).buffer_size == 0
        # ... then the buffer has the configured size.
        transport.send(WSMsgType.BINARY, b"to the server")
        assert (await server_listener.get())[3] == b"to the server"
        server_listener.transport.send(WSMsgType.BINARY, b"to the client")
        assert (await listener.get())[3] == b"to the client"
        assert parser_of(transport).buffer_size == expected
        assert parser_of(server_listener.transport).buffer_size == expected
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_zero_copy_unsafe_ssl_write_is_accepted() -> None:
    async with ws_server(lambda r: EchoListener(), zero_copy_unsafe_ssl_write=True) as url:
        transport, _listener = await connect(CollectingListener, url, zero_copy_unsafe_ssl_write=True)
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize("kind", ["str", "logger", "adapter"])
async def test_logger_name_kinds(kind: str) -> None:
    logger = logging.getLogger(f"test.picows.{kind}")
    logger.setLevel(logging.INFO)
    capture = _Capture()
    logger.addHandler(capture)
    picows_logger = logging.getLogger("picows.custom")
    picows_logger.setLevel(logging.INFO)
    picows_logger.addHandler(capture)
    try:
        logger_name: Any = {"str": "custom", "logger": logger,
                            "adapter": logging.LoggerAdapter(logger, {"conn": "x"})}[kind]
        async with pair("client", CollectingListener, check_clean=False, logger_name=logger_name,
                        max_frame_size=1) as (peer, listener, transport):
            await peer.send(WSMsgType.BINARY, b"too big")  # a violation: logged at INFO
            assert (await peer.read_data_frame()).opcode == CLOSE
            peer.close()
            await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    finally:
        logger.removeHandler(capture)
        picows_logger.removeHandler(capture)
    names = {r.name for r in capture.records if "protocol violation" in r.getMessage()}
    assert names == ({"picows.custom"} if kind == "str" else {f"test.picows.{kind}"})
