"""Closing a connection: the closing handshake, error closes and the policy for callback exceptions.

Per connection and written once for both backends: :class:`Closing` is a
mixin of :class:`picows._connection.Connection` (see that module for how the
connection object is composed).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable

from ._errors import WSProtocolError
from ._limits import LINGER_QUIET_INTERVAL, LINGER_TIMEOUT
from ._listener import returned_awaitable
from ._rules import close_info_of, is_valid_wire_close_code, truncated_reason
from ._types import WSCloseCode, WSCloseHandshake, WSCloseInfo, WSMsgType

if TYPE_CHECKING:
    from ._options import AnyLogger, ConnectionOptions

__all__ = ["CLOSING_SLOTS", "Closing", "Linger"]

#: Instance attributes of :class:`Closing` (part of the connection's slots).
CLOSING_SLOTS = ("_error", "_recv_close", "_sent_close", "_recv_then_sent", "_close_timer", "_linger")

#: Callbacks whose exceptions ``disconnect_on_exception=False`` lets pass.
_TOLERATED_CALLBACKS = frozenset(("on_ws_frame", "pause_writing", "resume_writing"))
#: Callbacks that may raise WSProtocolError to close the connection with its code.
_PROTOCOL_ERROR_CALLBACKS = frozenset(("on_ws_connected", "on_ws_frame"))
#: Frame types whose payload may be text (a CONTINUATION may continue a TEXT message).
_TEXT_TYPES = frozenset((WSMsgType.TEXT, WSMsgType.CONTINUATION))


class Closing:
    """The closing half of a connection (a mixin of Connection).

    * records both CLOSE frames for :attr:`WSTransport.close_handshake`;
    * ``auto_close``: answers a received CLOSE and disconnects, once the frame
      has been delivered to ``on_ws_frame``;
    * ``close_timeout``: drops the connection when the peer has not finished
      the closing handshake in time after we sent CLOSE;
    * fails the connection for protocol violations and callback errors
      (CLOSE with the right code, then a linger so the CLOSE is not lost).
    """

    if not TYPE_CHECKING:
        __slots__ = ()

    if TYPE_CHECKING:
        _loop: asyncio.AbstractEventLoop
        _options: ConnectionOptions
        _logger: AnyLogger
        _parser: Any
        transport: Any

        def _stop_io(self) -> None: ...

        _error: BaseException | None
        _recv_close: WSCloseInfo | None
        _sent_close: WSCloseInfo | None
        _recv_then_sent: bool
        _close_timer: asyncio.TimerHandle | None
        _linger: Linger | None

    def _init_closing(self) -> None:
        self._error = None
        self._recv_close = None
        self._sent_close = None
        self._recv_then_sent = False
        self._close_timer = None
        self._linger = None

    # -- the closing handshake ---------------------------------------------------------

    def _close_received(self, frame: Any) -> None:
        """The read path parsed the peer's CLOSE frame (before it is delivered)."""
        self._recv_close = WSCloseInfo(frame.get_close_code(), frame.get_close_reason() or "")
        if self._sent_close is None:
            self._recv_then_sent = True

    def _close_frame_delivered(self) -> None:
        """``on_ws_frame`` has seen the peer's CLOSE: with ``auto_close``, answer it and disconnect."""
        transport = self.transport
        if not self._options.auto_close or transport.is_disconnected:
            return
        recv = self._recv_close
        if not transport.is_close_frame_sent and recv is not None:
            transport.send_close(recv.code)
        transport.disconnect()

    def _close_sent(self, payload: bytes) -> None:
        """A CLOSE frame went out (called by the send path): record it and bound the wait for the peer."""
        self._sent_close = close_info_of(payload)
        timeout = self._options.close_timeout
        if timeout is not None and self._close_timer is None and not self.transport.is_disconnected:
            self._close_timer = self._loop.call_later(timeout, self._on_close_timeout)

    def _on_close_timeout(self) -> None:
        self._close_timer = None
        transport = self.transport
        if transport.is_disconnected:
            return
        self._logger.info(
            "the peer did not finish the closing handshake within close_timeout=%s s, disconnecting",
            self._options.close_timeout,
        )
        self._stop_io()
        transport.underlying_transport.abort()

    def _close_handshake(self) -> WSCloseHandshake | None:
        if self._recv_close is None and self._sent_close is None:
            return None
        return WSCloseHandshake(self._recv_close, self._sent_close, self._recv_then_sent)

    def _closing_lost(self) -> None:
        """The connection is gone: stop the timers."""
        for timer in (self._close_timer, self._linger):
            if timer is not None:
                timer.cancel()
        self._close_timer = self._linger = None

    # -- errors ------------------------------------------------------------------------

    def _set_error(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc

    def _callback_failed(self, exc: BaseException, callback: str, msg_type: Any = None) -> None:
        """A listener callback raised (``msg_type``: the frame's type, for ``on_ws_frame``).

        * ``WSProtocolError`` from ``on_ws_connected`` / ``on_ws_frame``: close
          with its code and message, whatever ``disconnect_on_exception`` says;
        * ``UnicodeDecodeError`` from ``on_ws_frame`` for a text frame: the
          peer sent invalid UTF-8, close with INVALID_TEXT and log one line;
        * anything else: log with the traceback and close with INTERNAL_ERROR,
          except that ``disconnect_on_exception=False`` keeps the connection
          open after ``on_ws_frame`` and the flow-control callbacks.
        """
        if isinstance(exc, WSProtocolError) and callback in _PROTOCOL_ERROR_CALLBACKS:
            self._logger.info("%s raised %r; closing with code %s", callback, exc, exc.code)
            self._fail_connection(exc.code, str(exc), exc)
            return
        if isinstance(exc, UnicodeDecodeError) and callback == "on_ws_frame" and msg_type in _TEXT_TYPES:
            self._logger.warning("invalid UTF-8 in a text message (%s); closing with INVALID_TEXT", exc)
            error = WSProtocolError(WSCloseCode.INVALID_TEXT, f"invalid UTF-8 in a text message: {exc}")
            self._fail_connection(WSCloseCode.INVALID_TEXT, "invalid UTF-8 in a text message", error)
            return
        if not self._options.disconnect_on_exception and callback in _TOLERATED_CALLBACKS:
            self._logger.error(
                "%s raised; connection kept open (disconnect_on_exception=False)", callback, exc_info=exc
            )
            return
        self._logger.error("%s raised; closing with INTERNAL_ERROR", callback, exc_info=exc)
        self._fail_connection(WSCloseCode.INTERNAL_ERROR, "", exc)

    def _callback_returned(self, result: Any, callback: str) -> bool:
        """A callback returned something other than None; True if that was an error (an awaitable)."""
        if not hasattr(result, "__await__"):
            return False
        self._callback_failed(returned_awaitable(callback, result), callback)
        return True

    def _protocol_violation(self, close_code: WSCloseCode, msg: str) -> None:
        """The peer broke the protocol (detected by the parser): close with ``close_code``."""
        self._logger.info("protocol violation: %s; closing with %s", msg, close_code.name)
        self._fail_connection(close_code, msg, WSProtocolError(close_code, f"protocol violation: {msg}"))

    def _fail_connection(self, code: Any, reason: str, error: BaseException) -> None:
        """Close because of ``error``: CLOSE(code, reason), then FIN and the linger."""
        self._set_error(error)
        transport = self.transport
        if code == WSCloseCode.NO_INFO:
            transport.send_close()
        elif is_valid_wire_close_code(int(code)):
            transport.send_close(code, truncated_reason(reason))
        else:
            transport.send_close(WSCloseCode.PROTOCOL_ERROR, truncated_reason(reason))
        self._close_after_error()

    def _close_after_error(self) -> None:
        # Closing a socket with unread input makes the kernel send RST, and the
        # peer may then lose our CLOSE frame. So: stop parsing, send FIN after
        # the CLOSE, drain input until the peer closes, and close for good
        # after a short linger time.
        self._stop_io()
        transport = self.transport
        if transport.is_disconnected:
            return
        underlying = transport.underlying_transport
        if underlying.is_closing() or not underlying.can_write_eof():
            transport.disconnect()
            return
        underlying.write_eof()
        if self._linger is None:
            self._linger = Linger(self._loop, self._parser, transport.disconnect)


class Linger:
    """Waits, after our FIN, until the peer stops sending, then closes.

    Closing a socket that still has unread input makes the kernel answer with
    RST, and an RST can destroy our CLOSE frame in the peer's receive queue. So
    after an error picows sends CLOSE and FIN, keeps draining (the parser counts
    what it discards), and calls ``close`` once nothing arrived for
    ``LINGER_QUIET_INTERVAL`` seconds, or after ``LINGER_TIMEOUT`` at the latest.
    """

    __slots__ = ("_loop", "_parser", "_close", "_deadline", "_seen", "_handle")

    def __init__(self, loop: asyncio.AbstractEventLoop, parser: Any, close: Callable[[], None]) -> None:
        self._loop = loop
        self._parser = parser
        self._close = close
        self._deadline = loop.time() + LINGER_TIMEOUT
        self._seen: int = parser.discarded
        self._handle: asyncio.TimerHandle | None = loop.call_later(LINGER_QUIET_INTERVAL, self._on_timer)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _on_timer(self) -> None:
        self._handle = None
        discarded = self._parser.discarded
        if discarded == self._seen or self._loop.time() >= self._deadline:
            self._close()
        else:
            self._seen = discarded
            self._handle = self._loop.call_later(LINGER_QUIET_INTERVAL, self._on_timer)
