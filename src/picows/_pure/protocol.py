"""The per-read half of the asyncio protocol (pure Python twin of ``picows/_cython/protocol.pyx``).

``WSProtocol`` = this module's :class:`ProtocolCore` (receive buffer, frame
parser, dispatch of every frame) + the shared :class:`picows._connection.Connection`
(handshake, lifecycle, keep-alive, error policy). See that module for the
interface between the two halves.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from .._connection import CONNECTION_SLOTS, HANDSHAKE, OPEN, Connection
from .._errors import ProtocolViolation
from .._limits import KEEP_BUFFER_SIZE, SHRINK_DELAY
from .._types import PICOWS_DEBUG_LL, WSMsgType
from .frames import FrameParser
from .transport import WSListener, WSTransport

if TYPE_CHECKING:
    from .._options import AnyLogger, ConnectionOptions

__all__ = ["WSProtocol"]

_PING = WSMsgType.PING
_CLOSE = WSMsgType.CLOSE


class ProtocolCore:
    """Per-read code of one connection: get_buffer/buffer_updated and frame dispatch."""

    __slots__ = (
        "_loop",
        "_state",
        "_parser",
        "transport",
        "listener",
        "_auto_pong",
        "_expect_pong",
        "_track_recv_time",
        "_last_recv_time",
        "_shrink_timer",
    )

    _loop: asyncio.AbstractEventLoop
    _state: int

    if TYPE_CHECKING:
        # Provided by the shared Connection half.
        def _handshake_data(self, data: bytes) -> None: ...
        def _callback_failed(self, exc: BaseException, callback: str, msg_type: Any = None) -> None: ...
        def _callback_returned(self, result: Any, callback: str) -> bool: ...
        def _protocol_violation(self, close_code: Any, msg: str) -> None: ...
        def _close_received(self, frame: Any) -> None: ...
        def _close_frame_delivered(self) -> None: ...

        _hs_view: memoryview | None
        _keepalive: Any

    def _init_read_path(self, is_client_side: bool, options: ConnectionOptions) -> None:
        self._parser = FrameParser(
            is_client_side,
            options.max_frame_size,
            options.check_fragment_order,
            options.validate_utf8,
            options.read_buffer_init_size,
        )
        self.transport: WSTransport | None = None
        self.listener: Any = None
        self._auto_pong = options.enable_auto_pong
        self._expect_pong = False
        self._track_recv_time = options.enable_auto_ping
        self._last_recv_time = 0.0
        self._shrink_timer: asyncio.TimerHandle | None = None

    def _attach(self, underlying: asyncio.Transport, logger: AnyLogger, is_secure: bool) -> WSTransport:
        self.transport = WSTransport(self._parser._is_client_side, is_secure, underlying, logger, self)
        return self.transport

    def _set_listener(self, listener: Any) -> None:
        self.listener = listener

    # -- asyncio buffered-protocol API ----------------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._state == OPEN:
            return self._parser.get_buffer(sizehint)
        return cast(memoryview, self._hs_view)

    def buffer_updated(self, nbytes: int) -> None:
        if self._state == OPEN:
            parser = self._parser
            parser.buffer_updated(nbytes)
            if self._track_recv_time:
                self._last_recv_time = self._loop.time()
            self._process_frames()
            if len(parser._buf) > KEEP_BUFFER_SIZE and self._shrink_timer is None:
                self._shrink_timer = self._loop.call_later(SHRINK_DELAY, self._shrink_buffer)
        elif self._state == HANDSHAKE:
            self._handshake_data(bytes(cast(memoryview, self._hs_view)[:nbytes]))

    def _feed(self, data: bytes) -> None:
        """Bytes that arrived with the handshake: the first frames."""
        self._parser.feed(data)
        self._process_frames()

    def _shrink_buffer(self) -> None:
        # Deferred so a connection streaming large frames keeps its buffer.
        self._shrink_timer = None
        if self._state == OPEN and not self._parser.shrink_if_idle():
            self._shrink_timer = self._loop.call_later(SHRINK_DELAY, self._shrink_buffer)

    def _stop_io(self) -> None:
        """The connection is ending: discard all further input."""
        self._parser.stop()

    def _lost(self) -> None:
        if self._shrink_timer is not None:
            self._shrink_timer.cancel()
            self._shrink_timer = None
        self._parser.stop()
        assert self.transport is not None
        self.transport.is_disconnected = True
        self.transport._compressor = self.transport._msg_compressor = None  # release zlib memory

    # -- data path ----------------------------------------------------------------------

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
                self._protocol_violation(exc.close_code, exc.msg)
                return
            if frame is None:
                return
            if log_debug:
                transport._logger.log(PICOWS_DEBUG_LL, "received %s", frame)
            msg_type = frame.msg_type
            if msg_type is _CLOSE:
                self._close_received(frame)
            if self._expect_pong:
                try:
                    is_pong = listener.is_user_specific_pong(frame)
                except Exception as exc:
                    self._callback_failed(exc, "is_user_specific_pong")
                    return
                if is_pong:
                    self._keepalive.pong_received()
                    continue
            if msg_type is _PING and self._auto_pong:
                transport.send_pong(frame.get_payload_as_bytes())
                continue
            try:
                result = listener.on_ws_frame(transport, frame)
            except Exception as exc:
                self._callback_failed(exc, "on_ws_frame", msg_type)
            else:
                if result is not None:
                    self._callback_returned(result, "on_ws_frame")
            if msg_type is _CLOSE:
                self._close_frame_delivered()


class WSProtocol(ProtocolCore, Connection, asyncio.BufferedProtocol):
    """asyncio protocol of one client or server WebSocket connection."""

    __slots__ = CONNECTION_SLOTS
    _listener_class = WSListener
