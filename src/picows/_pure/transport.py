"""WSListener and WSTransport (pure Python twin of ``picows/_cython/transport.pyx``)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Union

from .._errors import WSError
from .._types import PICOWS_DEBUG_LL, WSAutoPingStrategy, WSCloseCode, WSMsgType, is_valid_wire_close_code
from .frames import WSFrame, encode_frame, frame_header, mask_in_place, random_mask_key

if TYPE_CHECKING:
    from .._handshake import WSUpgradeRequest, WSUpgradeResponse
    from .._options import ConnectionOptions
    from .frames import FrameParser

__all__ = ["WSListener", "WSTransport"]

Payload = Union[bytes, bytearray, memoryview, None]

_OP_CLOSE = 0x8
_OP_PING = 0x9
_OP_PONG = 0xA
_VALID_OPCODES = frozenset((0x0, 0x1, 0x2, 0x8, 0x9, 0xA))
#: Seconds to wait for the peer to close after picows closed a connection because of an error.
LINGER_TIMEOUT = 1.0
#: ... or until it has sent nothing for this long.
LINGER_QUIET_INTERVAL = 0.05


def _opcode_of(msg_type: Any) -> int:
    if type(msg_type) is WSMsgType:
        return msg_type
    if isinstance(msg_type, int) and not isinstance(msg_type, bool) and msg_type in _VALID_OPCODES:
        return int(msg_type)
    raise ValueError(f"msg_type must be a WSMsgType, got {msg_type!r}")


def _payload_of(message: Any, arg: str = "message") -> bytes | bytearray | memoryview:
    t = type(message)
    if t is bytes or t is bytearray:
        return message  # type: ignore[no-any-return]
    if message is None:
        return b""
    if isinstance(message, str):
        raise TypeError(f"{arg} must be a bytes-like object or None, not str (encode text first)")
    try:
        view = message if t is memoryview else memoryview(message)
    except TypeError:
        raise TypeError(f"{arg} must be a bytes-like object or None, not {t.__name__}") from None
    if view.ndim != 1 or view.itemsize != 1 or not view.c_contiguous:
        try:
            view = view.cast("B")
        except TypeError:
            raise TypeError(f"{arg} must be a contiguous buffer") from None
    return view


class WSListener:
    """Base class for the user's handler of one WebSocket connection.

    Subclass it and override the callbacks you need. All callbacks are plain
    (non-async) methods called on the event loop thread, always with the same
    :class:`WSTransport` for one connection.
    """

    def on_ws_connected(self, transport: WSTransport) -> None:
        """The opening handshake has completed; sending is allowed from now on.

        If it raises, picows sends CLOSE(INTERNAL_ERROR) and disconnects; on the
        client :meth:`WSTransport.wait_disconnected` re-raises the exception.
        """

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """A data or control frame was received.

        ``frame`` is valid only during this call. Incoming CLOSE frames are
        delivered here too; picows does not answer them itself (see the
        graceful-shutdown guide: echo CLOSE, then ``transport.disconnect()``).
        PING frames are answered automatically and not delivered while auto-pong
        is enabled.
        """

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """The connection is gone. Called once, and only if :meth:`on_ws_connected` was called."""

    def send_user_specific_ping(self, transport: WSTransport) -> None:
        """Send a ping for auto-ping and :meth:`WSTransport.measure_roundtrip_time`.

        The default sends a PING frame. Override it to use an application-level
        ping message instead, together with :meth:`is_user_specific_pong`.
        """
        transport.send_ping()

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        """Tell whether ``frame`` answers the outstanding ping.

        Called only while a pong is awaited. Returning True consumes the frame
        (it is not passed to :meth:`on_ws_frame`). The default recognises PONG frames.
        """
        return frame.msg_type == WSMsgType.PONG

    def pause_writing(self) -> None:
        """The transport's write buffer went over its high watermark.

        A backpressure hint: sends still work, but the peer is not keeping up.
        """

    def resume_writing(self) -> None:
        """The transport's write buffer drained below its low watermark."""


class WSTransport:
    """Sends frames on one WebSocket connection and controls its lifetime.

    Created by picows and handed to the listener's callbacks; never construct one.
    All ``send`` methods never block: data the socket cannot take right away is
    buffered by the underlying asyncio transport. Once a CLOSE frame has been
    sent, every send method is a silent no-op.

    ``is_client_side`` is True for connections opened by :func:`ws_connect`
    (False on the server side); ``is_secure`` is True when the connection runs
    over TLS.
    """

    __slots__ = (
        "underlying_transport",
        "is_client_side",
        "is_secure",
        "is_close_frame_sent",
        "request",
        "response",
        "_loop",
        "_logger",
        "_log_debug",
        "_write",
        "_lost",
        "_error",
        "_disconnected_future",
        "_listener",
        "_parser",
        "_disconnect_on_exception",
        "_auto_ping",
        "_auto_ping_idle_timeout",
        "_auto_ping_reply_timeout",
        "_auto_ping_strategy",
        "_ping_handle",
        "_reply_handle",
        "_pong_waiter",
        "_last_recv_time",
        "_linger_handle",
        "_linger_deadline",
        "_linger_seen",
    )

    underlying_transport: asyncio.Transport
    is_client_side: bool
    is_secure: bool
    is_close_frame_sent: bool
    # Set before the listener sees the transport (on_ws_connected); None only internally before that.
    request: WSUpgradeRequest
    response: WSUpgradeResponse

    def __init__(
        self,
        is_client_side: bool,
        underlying_transport: asyncio.Transport,
        logger: logging.Logger,
        loop: asyncio.AbstractEventLoop,
        options: ConnectionOptions,
        parser: FrameParser,
    ) -> None:
        self.underlying_transport = underlying_transport
        self.is_client_side = is_client_side
        self.is_secure = underlying_transport.get_extra_info("sslcontext") is not None
        self.is_close_frame_sent = False
        self.request = None  # type: ignore[assignment]
        self.response = None  # type: ignore[assignment]
        self._loop = loop
        self._logger = logger
        self._log_debug = logger.isEnabledFor(PICOWS_DEBUG_LL)
        self._write = underlying_transport.write
        self._lost = False
        self._error: BaseException | None = None
        self._disconnected_future: asyncio.Future[None] = loop.create_future()
        self._listener: Any = None
        self._parser = parser
        self._disconnect_on_exception = options.disconnect_on_exception
        self._auto_ping = options.enable_auto_ping
        self._auto_ping_idle_timeout = options.auto_ping_idle_timeout
        self._auto_ping_reply_timeout = options.auto_ping_reply_timeout
        self._auto_ping_strategy = options.auto_ping_strategy
        self._ping_handle: asyncio.TimerHandle | None = None
        self._reply_handle: asyncio.TimerHandle | None = None
        self._pong_waiter: asyncio.Future[None] | None = None
        self._last_recv_time = 0.0
        self._linger_handle: asyncio.TimerHandle | None = None
        self._linger_deadline = 0.0
        self._linger_seen = 0

    # -- sending ---------------------------------------------------------------

    def send(self, msg_type: WSMsgType, message: Payload, fin: bool = True, rsv1: bool = False) -> None:
        """Send one frame.

        :param msg_type: frame type; a CLOSE sent this way also counts as the closing frame.
        :param message: payload: bytes, bytearray, memoryview or any contiguous
            buffer, or None for an empty payload. ``str`` is rejected with TypeError.
        :param fin: last frame of the message (False for all but the last fragment).
        :param rsv1: the RSV1 bit (for user-implemented extensions).
        """
        if self.is_close_frame_sent:
            return
        opcode = _opcode_of(msg_type)
        payload = _payload_of(message)
        if opcode >= _OP_CLOSE:
            if len(payload) > 125:
                raise ValueError(f"control frame payload must be <= 125 bytes, got {len(payload)}")
            if not fin:
                raise ValueError("control frames cannot be fragmented (fin must be True)")
            if opcode == _OP_CLOSE:
                self.is_close_frame_sent = True
        if self._lost:
            return
        self._send_frame(opcode, payload, fin, rsv1)

    def send_reuse_external_bytearray(
        self, msg_type: WSMsgType, buffer: bytearray, msg_offset: int, fin: bool = True, rsv1: bool = False
    ) -> None:
        """Send ``buffer[msg_offset:]`` as one frame, writing the frame header in place.

        The header is written into the bytes just before ``msg_offset``, which
        must therefore be at least 14 (the largest header); on the client the
        payload is masked in place, so ``buffer`` is modified. Reuse one
        bytearray for many sends to avoid building a new payload object per frame.
        """
        if self.is_close_frame_sent:
            return
        opcode = _opcode_of(msg_type)
        if type(buffer) is not bytearray:
            raise TypeError(f"buffer must be a bytearray, got {type(buffer).__name__}")
        if isinstance(msg_offset, bool) or not isinstance(msg_offset, int):
            raise TypeError(f"msg_offset must be an int, got {type(msg_offset).__name__}")
        if msg_offset < 14 or msg_offset > len(buffer):
            raise ValueError(f"msg_offset must be in [14, len(buffer)], got {msg_offset}")
        n = len(buffer) - msg_offset
        if opcode >= _OP_CLOSE:
            if n > 125:
                raise ValueError(f"control frame payload must be <= 125 bytes, got {n}")
            if not fin:
                raise ValueError("control frames cannot be fragmented (fin must be True)")
            if opcode == _OP_CLOSE:
                self.is_close_frame_sent = True
        if self._lost:
            return
        key = random_mask_key() if self.is_client_side else None
        header = frame_header(opcode, fin, rsv1, n, key)
        if key is not None:
            mask_in_place(buffer, msg_offset, len(buffer), key)
        mv = memoryview(buffer)
        start = msg_offset - len(header)
        mv[start:msg_offset] = header
        if self._log_debug:
            self._logger.log(
                PICOWS_DEBUG_LL, "send %s fin=%s rsv1=%s payload_sz=%d", WSMsgType(opcode).name, fin, rsv1, n
            )
        # asyncio (3.12+) and uvloop may keep a reference to unsent data, and
        # the caller reuses this buffer: hand them a snapshot.
        self._write(bytes(mv[start:]))

    def send_ping(self, message: Payload = None) -> None:
        """Send a PING frame (payload at most 125 bytes)."""
        self._send_control(_OP_PING, _payload_of(message))

    def send_pong(self, message: Payload = None) -> None:
        """Send a PONG frame (payload at most 125 bytes)."""
        self._send_control(_OP_PONG, _payload_of(message))

    def _send_control(self, opcode: int, payload: bytes | bytearray | memoryview) -> None:
        if len(payload) > 125:
            raise ValueError(f"message must be at most 125 bytes for a control frame, got {len(payload)}")
        if self.is_close_frame_sent or self._lost:
            return
        self._send_frame(opcode, payload, True, False)

    def _send_frame(
        self, opcode: int, payload: bytes | bytearray | memoryview, fin: bool, rsv1: bool
    ) -> None:
        if self._log_debug:
            self._logger.log(
                PICOWS_DEBUG_LL,
                "send %s fin=%s rsv1=%s payload_sz=%d",
                WSMsgType(opcode).name,
                fin,
                rsv1,
                len(payload),
            )
        self._write(
            encode_frame(opcode, payload, fin, rsv1, random_mask_key() if self.is_client_side else None)
        )

    def send_close(
        self,
        close_code: WSCloseCode | int = WSCloseCode.NO_INFO,
        close_message: bytes | bytearray | memoryview | str | None = None,
    ) -> None:
        """Send a CLOSE frame; it does not disconnect.

        :param close_code: status code; ``WSCloseCode.NO_INFO`` sends an empty
            payload. Codes that may not appear on the wire (1004-1006, 1015-2999,
            >= 5000) raise ValueError.
        :param close_message: optional reason (bytes, or str encoded as UTF-8),
            at most 123 bytes; needs a close code.

        A no-op once a CLOSE was sent or when the underlying transport is closing.
        """
        if isinstance(close_code, bool) or not isinstance(close_code, int):
            raise TypeError(f"close_code must be a WSCloseCode or int, got {type(close_code).__name__}")
        if isinstance(close_message, str):
            reason: bytes | bytearray | memoryview = close_message.encode("utf-8")
        else:
            reason = _payload_of(close_message, "close_message")
        if close_code == WSCloseCode.NO_INFO:
            if len(reason):
                raise ValueError("close_message needs a close_code other than NO_INFO")
            payload = b""
        else:
            if not is_valid_wire_close_code(close_code):
                raise ValueError(f"close_code {int(close_code)} may not be sent in a CLOSE frame")
            if len(reason) > 123:
                raise ValueError(f"close_message must be at most 123 bytes, got {len(reason)}")
            payload = int(close_code).to_bytes(2, "big") + bytes(reason)
        if self.is_close_frame_sent or self._lost or self.underlying_transport.is_closing():
            return
        self.is_close_frame_sent = True
        self._send_frame(_OP_CLOSE, payload, True, False)

    # -- connection lifetime ---------------------------------------------------

    def disconnect(self, graceful: bool = True) -> None:
        """Close the connection; it does not send CLOSE by itself. Idempotent.

        :param graceful: True flushes queued data before closing (``close()``);
            False drops it (``abort()``).
        """
        self._parser.stop()
        if self._lost:
            return
        if graceful:
            self.underlying_transport.close()
        else:
            self.underlying_transport.abort()

    async def wait_disconnected(self) -> None:
        """Wait until the socket is closed and ``on_ws_disconnected`` has returned.

        Shielded: cancelling the waiter does not affect the connection. On the
        client it re-raises the first exception raised by a listener callback,
        or a :class:`WSError` (with ``close_code``) describing the protocol
        violation that ended the connection. On the server it returns normally.
        """
        await asyncio.shield(self._disconnected_future)
        if self.is_client_side and self._error is not None:
            raise self._error

    # -- ping / pong -------------------------------------------------------------

    async def measure_roundtrip_time(self, rounds: int) -> list[float]:
        """Measure the round-trip time with ``rounds`` sequential ping/pong exchanges.

        Uses the listener's :meth:`WSListener.send_user_specific_ping` and
        :meth:`WSListener.is_user_specific_pong` hooks. If an auto-ping is
        outstanding, its pong is awaited first. Raises ConnectionResetError if
        the connection is lost meanwhile.

        :return: round-trip times in seconds, one per round.
        """
        if isinstance(rounds, bool) or not isinstance(rounds, int):
            raise TypeError(f"rounds must be an int, got {type(rounds).__name__}")
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        results = []
        for _ in range(rounds):
            while self._pong_waiter is not None:
                await asyncio.shield(self._pong_waiter)
            if self._lost:
                raise ConnectionResetError("the WebSocket connection is closed")
            waiter = self._loop.create_future()
            self._pong_waiter = waiter
            start = time.perf_counter()
            try:
                self._listener.send_user_specific_ping(self)
            except Exception as exc:
                self._pong_waiter = None
                self._callback_failed(exc, "send_user_specific_ping", True)
                raise
            try:
                await waiter
            finally:
                if self._pong_waiter is waiter:
                    self._pong_waiter = None
            results.append(time.perf_counter() - start)
        return results

    def notify_user_specific_pong_received(self) -> None:
        """Tell the ping machinery that the awaited pong arrived.

        For pongs recognised inside ``on_ws_frame`` rather than by
        :meth:`WSListener.is_user_specific_pong`. Harmless when no pong is awaited.
        """
        waiter = self._pong_waiter
        if waiter is None:
            return
        self._pong_waiter = None
        if self._reply_handle is not None:
            self._reply_handle.cancel()
            self._reply_handle = None
        if not waiter.done():
            waiter.set_result(None)
        if self._auto_ping and self._ping_handle is None and not self._lost:
            self._ping_handle = self._loop.call_later(self._auto_ping_idle_timeout, self._on_ping_timer)

    def _start_auto_ping(self) -> None:
        if self._auto_ping and not self._lost:
            self._last_recv_time = self._loop.time()
            self._ping_handle = self._loop.call_later(self._auto_ping_idle_timeout, self._on_ping_timer)

    def _on_ping_timer(self) -> None:
        self._ping_handle = None
        if self._lost or self.is_close_frame_sent:
            return
        delay = self._auto_ping_idle_timeout
        if self._auto_ping_strategy == WSAutoPingStrategy.PING_WHEN_IDLE:
            idle_for = self._loop.time() - self._last_recv_time
            if idle_for < delay:
                self._ping_handle = self._loop.call_later(delay - idle_for, self._on_ping_timer)
                return
        if self._pong_waiter is not None:
            # A round-trip measurement is in flight; it serves as the keep-alive.
            self._ping_handle = self._loop.call_later(delay, self._on_ping_timer)
            return
        self._pong_waiter = self._loop.create_future()
        if self._log_debug:
            self._logger.log(PICOWS_DEBUG_LL, "auto-ping: sending ping")
        try:
            self._listener.send_user_specific_ping(self)
        except Exception as exc:
            self._callback_failed(exc, "send_user_specific_ping", True)
            return
        self._reply_handle = self._loop.call_later(self._auto_ping_reply_timeout, self._on_reply_timeout)

    def _on_reply_timeout(self) -> None:
        self._reply_handle = None
        if self._lost:
            return
        self._logger.info(
            "no pong within auto_ping_reply_timeout=%s s, closing with GOING_AWAY",
            self._auto_ping_reply_timeout,
        )
        self.send_close(WSCloseCode.GOING_AWAY, b"no pong")
        self.disconnect(graceful=False)

    # -- internal helpers used by the protocol --------------------------------------

    def _set_error(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc

    def _callback_failed(self, exc: BaseException, callback: str, disconnect: bool) -> None:
        if not disconnect:
            self._logger.error(
                "%s raised; connection kept open (disconnect_on_exception=False)", callback, exc_info=exc
            )
            return
        self._logger.error("%s raised; closing with INTERNAL_ERROR", callback, exc_info=exc)
        self._set_error(exc)
        self.send_close(WSCloseCode.INTERNAL_ERROR)
        self._close_after_error()

    def _protocol_violation(self, close_code: WSCloseCode, msg: str) -> None:
        self._logger.info("protocol violation: %s; closing with %s", msg, close_code.name)
        self._set_error(WSError(f"protocol violation: {msg}", close_code=close_code))
        self.send_close(close_code, msg.encode("utf-8")[:123])
        self._close_after_error()

    def _close_after_error(self) -> None:
        # Closing a socket with unread input makes the kernel send RST, and the
        # peer may then lose our CLOSE frame. So: stop parsing, send FIN after
        # the CLOSE, drain input until the peer closes, and close for good
        # after a short linger time.
        self._parser.stop()
        if self._lost:
            return
        underlying = self.underlying_transport
        if underlying.is_closing() or not underlying.can_write_eof():
            self.disconnect()
            return
        underlying.write_eof()
        if self._linger_handle is None:
            self._linger_deadline = self._loop.time() + LINGER_TIMEOUT
            self._linger_seen = self._parser.discarded
            self._linger_handle = self._loop.call_later(LINGER_QUIET_INTERVAL, self._on_linger_timer)

    def _on_linger_timer(self) -> None:
        # Close once the peer has stopped sending (nothing left to trigger RST) or time is up.
        self._linger_handle = None
        discarded = self._parser.discarded
        if discarded == self._linger_seen or self._loop.time() >= self._linger_deadline:
            self.disconnect()
        else:
            self._linger_seen = discarded
            self._linger_handle = self._loop.call_later(LINGER_QUIET_INTERVAL, self._on_linger_timer)

    def _connection_lost(self) -> None:
        self._lost = True
        self._parser.stop()
        for handle in (self._ping_handle, self._reply_handle, self._linger_handle):
            if handle is not None:
                handle.cancel()
        self._ping_handle = self._reply_handle = self._linger_handle = None
        waiter = self._pong_waiter
        self._pong_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(
                ConnectionResetError("the WebSocket connection was lost while waiting for a pong")
            )
            # Mark retrieved: nobody may be awaiting an auto-ping's waiter.
            waiter.exception()

    def _mark_disconnected(self) -> None:
        if not self._disconnected_future.done():
            self._disconnected_future.set_result(None)
