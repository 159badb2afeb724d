"""The asyncio protocol object (pure Python twin of ``picows/_cython/protocol.pyx``).

One ``WSProtocol`` per connection. During the opening handshake it feeds
received bytes to the shared :mod:`picows._handshake` objects; afterwards it
reads straight into the frame parser's buffer (buffered-protocol API) and
dispatches frames to the listener.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Callable, cast

from .._errors import ProtocolViolation, WSError
from .._handshake import ClientUpgrade, ServerUpgrade
from .._logging import connection_logger
from .._options import ConnectionOptions
from .._types import PICOWS_DEBUG_LL, WSMsgType
from .frames import KEEP_BUFFER_SIZE, SHRINK_DELAY, FrameParser
from .transport import WSListener, WSTransport

__all__ = ["WSProtocol"]

_HANDSHAKE = 0
_OPEN = 1
_CLOSED = 2
_HANDSHAKE_READ_SIZE = 4096
_PING = WSMsgType.PING


def set_socket_options(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY (and TCP_QUICKACK where available): latency over batching."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        quickack = getattr(socket, "TCP_QUICKACK", None)
        if quickack is not None:
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
    except OSError:
        pass


class WSProtocol(asyncio.BufferedProtocol):
    """asyncio protocol for one client or server WebSocket connection."""

    def __init__(
        self,
        is_client_side: bool,
        options: ConnectionOptions,
        listener_factory: Callable[..., Any],
        client_upgrade: ClientUpgrade | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._is_client_side = is_client_side
        self._options = options
        self._listener_factory = listener_factory
        self._client_upgrade = client_upgrade
        self._server_upgrade: ServerUpgrade | None = None
        self._state = _HANDSHAKE
        self._parser = FrameParser(is_client_side, options.max_frame_size, options.check_fragment_order)
        self._hs_buf = bytearray(_HANDSHAKE_READ_SIZE)
        self._hs_view = memoryview(self._hs_buf)
        self._handshake_timer: asyncio.TimerHandle | None = None
        self._shrink_timer: asyncio.TimerHandle | None = None
        self._track_recv_time = options.enable_auto_ping
        self._auto_pong = options.enable_auto_pong
        self._disconnect_on_exception = options.disconnect_on_exception
        self._underlying: asyncio.Transport | None = None
        self.transport: WSTransport | None = None
        self.listener: Any = None
        #: Client only: result of the opening handshake (awaited by ws_connect).
        self.handshake_complete: asyncio.Future[None] = self._loop.create_future()

    # -- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Stream transports (asyncio's, uvloop's) implement the full Transport API.
        stream = cast(asyncio.Transport, transport)
        set_socket_options(stream)
        self._underlying = stream
        logger = connection_logger(self._options.logger_name)
        self.transport = WSTransport(
            self._is_client_side, stream, logger, self._loop, self._options, self._parser
        )
        if self._is_client_side:
            assert self._client_upgrade is not None
            self.transport.request = self._client_upgrade.request
            stream.write(self._client_upgrade.request_bytes)
            if self.transport._log_debug:
                logger.log(PICOWS_DEBUG_LL, "sent upgrade request:\n%s", self._client_upgrade.request_bytes)
        else:
            self._server_upgrade = ServerUpgrade(self._listener_factory, logger)
            self._handshake_timer = self._loop.call_later(
                self._options.websocket_handshake_timeout, self._on_handshake_timeout
            )

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._state == _OPEN:
            return self._parser.get_buffer(sizehint)
        return self._hs_view

    def buffer_updated(self, nbytes: int) -> None:
        if self._state == _OPEN:
            self._parser.buffer_updated(nbytes)
            if self._track_recv_time:
                self.transport._last_recv_time = self._loop.time()  # type: ignore[union-attr]
            self._process_frames()
            if self._shrink_timer is None and len(self._parser._buf) > KEEP_BUFFER_SIZE:
                self._shrink_timer = self._loop.call_later(SHRINK_DELAY, self._shrink_buffer)
        elif self._state == _HANDSHAKE:
            data = bytes(self._hs_view[:nbytes])
            if self._is_client_side:
                self._client_handshake_data(data)
            else:
                self._server_handshake_data(data)

    def _shrink_buffer(self) -> None:
        # Deferred so a connection streaming large frames keeps its buffer.
        self._shrink_timer = None
        if self._state == _OPEN and not self._parser.shrink_if_idle():
            self._shrink_timer = self._loop.call_later(SHRINK_DELAY, self._shrink_buffer)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: BaseException | None) -> None:
        state = self._state
        self._state = _CLOSED
        for timer in (self._handshake_timer, self._shrink_timer):
            if timer is not None:
                timer.cancel()
        self._handshake_timer = self._shrink_timer = None
        transport = self.transport
        if transport is None:
            return
        transport._connection_lost()
        if state == _HANDSHAKE and self._is_client_side and not self.handshake_complete.done():
            assert self._client_upgrade is not None
            error: BaseException
            if isinstance(exc, OSError):
                error = exc
            else:
                error = self._client_upgrade.connection_lost_error()
            self.handshake_complete.set_exception(error)
        if self.listener is not None:
            try:
                self.listener.on_ws_disconnected(transport)
            except Exception as e:
                transport._logger.error("on_ws_disconnected raised", exc_info=e)
                transport._set_error(e)
        transport._mark_disconnected()
        if transport._log_debug:
            transport._logger.log(PICOWS_DEBUG_LL, "disconnected (%r)", exc)

    def pause_writing(self) -> None:
        self._forward_flow_control("pause_writing")

    def resume_writing(self) -> None:
        self._forward_flow_control("resume_writing")

    def _forward_flow_control(self, name: str) -> None:
        if self.listener is None or self.transport is None:
            return
        try:
            getattr(self.listener, name)()
        except Exception as exc:
            self.transport._callback_failed(exc, name, self._disconnect_on_exception)

    # -- opening handshake --------------------------------------------------------

    def _client_handshake_data(self, data: bytes) -> None:
        assert self._client_upgrade is not None and self._underlying is not None
        try:
            result = self._client_upgrade.feed(data)
        except WSError as exc:
            self._state = _CLOSED
            if not self.handshake_complete.done():
                self.handshake_complete.set_exception(exc)
            self._underlying.close()
            return
        if result is None:
            return
        response, leftover = result
        transport = self.transport
        assert transport is not None
        transport.response = response
        try:
            listener = self._listener_factory()
            if not isinstance(listener, WSListener):
                raise TypeError(
                    f"ws_listener_factory must return a WSListener, got {type(listener).__name__}"
                )
        except BaseException as exc:
            self._state = _CLOSED
            if not self.handshake_complete.done():
                self.handshake_complete.set_exception(exc)
            self._underlying.abort()
            return
        if not self.handshake_complete.done():
            self.handshake_complete.set_result(None)
        self._open(listener, leftover)

    def _server_handshake_data(self, data: bytes) -> None:
        assert self._server_upgrade is not None and self._underlying is not None
        transport = self.transport
        assert transport is not None
        try:
            result = self._server_upgrade.feed(data)
        except WSError as exc:
            transport._logger.info("dropping connection: %s", exc)
            self._state = _CLOSED
            self._underlying.abort()
            return
        if result is None:
            return
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        transport.request = result.request  # type: ignore[assignment]  # None only for a 400
        transport.response = result.response
        self._underlying.write(result.response_bytes)
        if result.listener is None:
            self._state = _CLOSED
            self._underlying.close()
            return
        self._open(result.listener, result.leftover)

    def _on_handshake_timeout(self) -> None:
        self._handshake_timer = None
        if self._state == _HANDSHAKE and self._underlying is not None:
            assert self.transport is not None
            self.transport._logger.info(
                "no upgrade request within websocket_handshake_timeout=%s s, disconnecting",
                self._options.websocket_handshake_timeout,
            )
            self._state = _CLOSED
            self._underlying.abort()

    def _open(self, listener: Any, leftover: bytes) -> None:
        transport = self.transport
        assert transport is not None
        self._state = _OPEN
        self.listener = listener
        transport._listener = listener
        self._hs_buf = self._hs_view = None  # type: ignore[assignment]
        if transport._log_debug:
            transport._logger.log(PICOWS_DEBUG_LL, "WebSocket connection established")
        try:
            listener.on_ws_connected(transport)
        except Exception as exc:
            transport._callback_failed(exc, "on_ws_connected", True)
            return
        transport._start_auto_ping()
        if leftover and self._state == _OPEN:
            self._parser.feed(leftover)
            self._process_frames()

    # -- data path --------------------------------------------------------------------

    def _process_frames(self) -> None:
        transport = self.transport
        assert transport is not None
        listener = self.listener
        get_next_frame = self._parser.get_next_frame
        log_debug = transport._log_debug
        while True:
            try:
                frame = get_next_frame()
            except ProtocolViolation as exc:
                transport._protocol_violation(exc.close_code, exc.msg)
                return
            if frame is None:
                return
            if log_debug:
                transport._logger.log(PICOWS_DEBUG_LL, "received %s", frame)
            if transport._pong_waiter is not None:
                try:
                    is_pong = listener.is_user_specific_pong(frame)
                except Exception as exc:
                    transport._callback_failed(exc, "is_user_specific_pong", True)
                    return
                if is_pong:
                    transport.notify_user_specific_pong_received()
                    continue
            if frame.msg_type is _PING and self._auto_pong:
                transport.send_pong(frame.get_payload_as_bytes())
                continue
            try:
                listener.on_ws_frame(transport, frame)
            except Exception as exc:
                transport._callback_failed(exc, "on_ws_frame", self._disconnect_on_exception)
