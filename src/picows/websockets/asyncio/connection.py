"""``Connection``: the websockets-style connection object shared by clients and servers.

The per-message path (receiving, ``recv``, sending one message) is inherited
from the backend's ``MessageListener`` (see ``_messages.py``); this module adds
everything that happens once per connection or rarely: the closing handshake,
pings and keepalive, fragmented sends, properties, ``async for``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
import warnings
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    PayloadTooBig,
    ProtocolError,
    _up,
)
from ..frames import Close, CloseCode, describe_frame, is_sendable_close_code
from ..http11 import Request, Response
from ..protocol import State
from . import _core, _extensions

__all__ = ["Connection", "process_exception"]

_OK_CODES = frozenset((1000, 1001, 1005))
_DATA_TYPES = frozenset((_core.MsgType.TEXT, _core.MsgType.BINARY, _core.MsgType.CONTINUATION))
# What extensions raise: websockets' classes when installed (ours subclass them), else ours.
_PAYLOAD_TOO_BIG: tuple[type[Exception], ...] = (PayloadTooBig, *_up("PayloadTooBig"))
_PROTOCOL_ERRORS: tuple[type[Exception], ...] = (ProtocolError, *_up("ProtocolError"))
_CLOSED = int(State.CLOSED)
_OPEN = int(State.OPEN)
_CLOSING = int(State.CLOSING)


def process_exception(exc: Exception) -> Exception | None:
    """Decide whether ``connect()``'s ``async for`` reconnects after ``exc``.

    Returns None to retry, or the exception to raise. As websockets, it
    retries network errors (:exc:`OSError`, :exc:`asyncio.TimeoutError`, an
    :exc:`InvalidMessage` caused by :exc:`EOFError`) and 500/502/503/504 answers.
    """
    from ..exceptions import InvalidMessage, InvalidStatus

    if isinstance(exc, (OSError, asyncio.TimeoutError)):
        return None
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return None
    if isinstance(exc, InvalidStatus) and exc.response.status_code in (500, 502, 503, 504):
        return None
    return exc


def resolve_logger(logger: Any, default: str) -> logging.Logger | logging.LoggerAdapter[Any]:
    if logger is None:
        return logging.getLogger(default)
    if isinstance(logger, str):
        return logging.getLogger(logger)
    return logger  # type: ignore[no-any-return]


def log_request(logger: Any, direction: str, request: Request) -> None:
    """websockets' DEBUG records of an opening request ("> GET /path HTTP/1.1", one per header)."""
    log = logger.debug
    log("%s %s %s %s", direction, request.method, request.path, request.protocol)
    for name, value in request.headers.raw_items():
        log("%s %s: %s", direction, name, value)


def log_response(logger: Any, direction: str, response: Response) -> None:
    """websockets' DEBUG records of an opening response (status line, one per header, the body's size)."""
    log = logger.debug
    log("%s HTTP/1.1 %d %s", direction, response.status_code, response.reason_phrase)
    for name, value in response.headers.raw_items():
        log("%s %s: %s", direction, name, value)
    if response.body:
        log("%s [body] (%d bytes)", direction, len(response.body))


def watermarks(value: Any, name: str) -> tuple[int | None, int | None]:
    """``(high, low)`` from an int, an (high, low) tuple or None."""
    if value is None:
        return None, None
    if isinstance(value, tuple):
        high, low = value
        if low is None:
            low = high // 4 if high is not None else None
        return high, low
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{name} must be an int, a (high, low) tuple or None")
    return value, value // 4


class Connection(_core.MessageListener):
    """A WebSocket connection: receive with ``recv``/``async for``, send with ``send``.

    Created by :func:`~picows.websockets.asyncio.client.connect` (as a
    :class:`ClientConnection`) or by :func:`~picows.websockets.asyncio.server.serve`
    for each accepted connection (as a :class:`ServerConnection`); not meant
    to be created directly.
    """

    # Class-level defaults, set on the instance only when used (an idle connection stays small):
    # a client's custom extension factories, whose answer is checked on connection, and the
    # handshake failure that check found.
    _extension_factories: list[Any] | None = None
    _handshake_failure: Exception | None = None
    # True when connect()/serve() found DEBUG enabled on the logger: the connection then logs its
    # handshake, frames and state changes as websockets does. Its frames take the Python path
    # (``_extensions`` is set, empty if none were agreed) and the core leaves PINGs to it (it
    # answers them itself, to log both frames); the compiled per-message path stays as it is.
    _debug = False

    def __init__(
        self,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int | None, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        max_message: int | None = None,
        logger: Any = None,
        is_client: bool = True,
    ) -> None:
        super().__init__()
        self._id: uuid.UUID | None = None
        self._logger_base = resolve_logger(logger, "websockets.client" if is_client else "websockets.server")
        self._logger: Any = None  # the adapter, made when something is logged (rarely)
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self.write_limit = write_limit
        self.is_client = is_client
        high, low = watermarks(max_queue, "max_queue")
        self._configure_messages(asyncio.get_running_loop(), max_message, high, low, _core.MAX_FRAGMENTS)
        self.close_rcvd: Close | None = None
        self.close_sent: Close | None = None
        self.close_rcvd_then_sent: bool | None = None
        # Converted from the core's handshake objects on first access (most code never reads them).
        self._request: Request | None = None
        self._response: Response | None = None
        self.subprotocol: str | None = None
        #: Latency of the last ping (seconds); 0 until a pong arrived.
        self.latency: float = 0.0
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._keepalive_handle: asyncio.TimerHandle | None = None
        self._keepalive_timeout: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._closed_waiter: asyncio.Future[None] | None = None  # created when someone waits
        self._fragment_done: asyncio.Future[None] | None = None
        # Why the connection failed, when we know: the __cause__ of the ConnectionClosed we raise.
        self._connection_exc: BaseException | None = None

    @property
    def logger(self) -> Any:
        """This connection's logger: ``logger=`` of connect/serve (default ``websockets.client``/``.server``).

        As websockets, a :class:`logging.LoggerAdapter` that puts the connection in every record's
        ``extra`` as ``websocket`` (a weak proxy), for formatters and adapters that add its ``id`` or
        ``remote_address``.
        """
        adapter = self._logger
        if adapter is None:
            adapter = logging.LoggerAdapter(self._logger_base, {"websocket": weakref.proxy(self)})
            self._logger = adapter
        return adapter

    @logger.setter
    def logger(self, value: Any) -> None:
        self._logger = value

    def _log_info(self, message: str, *args: Any) -> None:
        """``logger.info``, without making the adapter when INFO is off (once per connection at most)."""
        if self._logger is not None or self._logger_base.isEnabledFor(logging.INFO):
            self.logger.info(message, *args)

    # -- DEBUG records (only when _debug), in websockets' wording --------------------------

    def _enter(self, state: int) -> None:
        """Move to ``state`` (logged as websockets: ``= connection is CLOSING``)."""
        if self._state != state:
            self._state = state
            if self._debug:
                self.logger.debug("= connection is %s", State(state).name)

    def _log_frame(self, direction: str, msg_type: Any, payload: Any, fin: bool) -> None:
        self.logger.debug("%s %s", direction, describe_frame(int(msg_type), payload, fin))

    def _log_request(self, direction: str, request: Request) -> None:
        log_request(self.logger, direction, request)

    def _log_response(self, direction: str, response: Response) -> None:
        log_response(self.logger, direction, response)

    # -- core callbacks -------------------------------------------------------

    def on_ws_connected(self, transport: Any) -> None:
        self._transport = transport
        if self._debug and self.is_client:  # (the server logs its handshake as it answers)
            self.logger.debug("= connection is CONNECTING")
            self._log_request(">", self.request)  # type: ignore[arg-type]
            self._log_response("<", self.response)  # type: ignore[arg-type]
        self._enter(_OPEN)
        high, low = watermarks(self.write_limit, "write_limit")
        try:
            transport.underlying_transport.set_write_buffer_limits(high=high, low=low)
        except (AttributeError, NotImplementedError):  # pragma: no cover - exotic transports
            pass
        if self._extension_factories is not None:
            # Before any frame is delivered: frames may follow the 101 in the same read.
            self._accept_extensions(transport)
        if self._debug and self._extensions is None:
            self._extensions = []  # every frame through _on_extension_frame / _send_encoded, logged there
        self._schedule_keepalive()

    def _accept_extensions(self, transport: Any) -> None:
        """The client's side of custom extensions: the server's answer, checked as websockets does."""
        values = transport.response.headers.getall("Sec-WebSocket-Extensions", [])
        try:
            # permessage-deflate, when agreed, is the core's: it checked that element.
            agreed = transport.permessage_deflate is not None
            accepted = _extensions.accept_response(self._extension_factories or [], values, agreed)
        except Exception as exc:  # NegotiationError, or a factory that failed: the handshake fails
            self._handshake_failure = exc
            self._discard = True
            self._enter(_CLOSING)
            transport.disconnect(graceful=False)
            return
        if accepted:
            self._extensions = accepted

    def on_ws_disconnected(self, transport: Any) -> None:
        self._enter(_CLOSED)
        lost = _core.connection_lost_exception(transport)
        if lost is not None and not isinstance(self._connection_exc, TimeoutError):
            # As websockets: the network error is the cause, over a protocol error found
            # before it (but not over close_timeout, which recorded its own cause first).
            self._connection_exc = lost
        for handle in (self._keepalive_handle, self._keepalive_timeout, self._close_timer):
            if handle is not None:
                handle.cancel()
        self._wake_receiver()
        self._release_drain()
        if self._pings:
            exc = self._closed_error()
            for waiter, _ in self._pings.values():
                if not waiter.done():
                    waiter.set_exception(exc)
                    waiter.exception()  # retrieved: nobody may be awaiting it
            self._pings.clear()
        if self._fragment_done is not None and not self._fragment_done.done():
            self._fragment_done.set_result(None)
        if self._closed_waiter is not None and not self._closed_waiter.done():
            self._closed_waiter.set_result(None)

    def _on_close_frame(self, code: int, message: bytes | None) -> None:
        code = int(code) or int(CloseCode.NO_STATUS_RCVD)
        reason = message.decode("utf-8", "replace") if message else ""
        self.close_rcvd = Close(code, reason)
        if self.close_sent is None:
            self._send_close(code, reason)  # echo it (RFC 6455 5.5.1)
        else:
            self.close_rcvd_then_sent = False
        self._enter(_CLOSING)
        # The server closes the TCP connection first (RFC 6455 7.1.1); either way the
        # wait is bounded: a peer that stops reading cannot keep the connection forever.
        self._start_close_timer()
        if not self.is_client:
            self._transport.disconnect()

    def _on_pong(self, data: bytes) -> None:
        if data not in self._pings:
            return
        now = self._loop.time()
        # A pong acknowledges its ping and every earlier one (RFC 6455 5.5.3).
        for key in list(self._pings):
            waiter, sent_at = self._pings.pop(key)
            if not waiter.done():
                waiter.set_result(now - sent_at)
            if key == data:
                self.latency = now - sent_at
                break

    def _fail(
        self, code: int, reason: str, cause: BaseException | None = None, *, by_application: bool = False
    ) -> None:
        """We detected a protocol error: send CLOSE with ``code`` and drop the connection.

        ``cause``: what went wrong, the ``__cause__`` of the ConnectionClosed
        raised from now on (the first one recorded wins), as websockets.

        ``by_application``: found by the application's own call (a ``recv`` that
        cannot decode, a fragmented send or ``close`` that breaks off a message).
        A task woken for a message runs inside the read that brought it, so the
        rest of that read's frames are still delivered (websockets has them
        queued before any task runs); reading ends before the next read.
        """
        if self._state == _CLOSED:
            return
        if self._connection_exc is None:
            self._connection_exc = cause
        if self.close_sent is None:
            self._send_close(code, reason)
        self._enter(_CLOSING)
        self._start_close_timer()  # a graceful close waits for the write buffer to drain: bound it
        if by_application:
            self._loop.call_soon(self._drop_input)  # runs before the loop's next read
        else:
            self._drop_input()

    def _drop_input(self) -> None:
        """Deliver no more frames; end the connection once our CLOSE is written."""
        self._discard = True
        self._transport.disconnect()

    def _send_close(self, code: int, reason: str) -> None:
        # Our timer first: the core's own close_timeout timer starts when the frame is sent, and
        # the one that fires first decides the cause (ours records websockets' TimeoutError).
        self._start_close_timer()
        if code == CloseCode.NO_STATUS_RCVD:
            if self._debug:
                self._log_frame(">", _core.MsgType.CLOSE, b"", True)
            self._transport.send_close()
        else:
            payload = reason.encode("utf-8")
            if self._debug:
                self._log_frame(">", _core.MsgType.CLOSE, code.to_bytes(2, "big") + payload, True)
            self._transport.send_close(code, payload)
        self.close_sent = Close(code, reason)
        if self.close_rcvd is not None:
            self.close_rcvd_then_sent = True

    def _start_close_timer(self) -> None:
        if self._close_timer is None and self.close_timeout is not None:
            self._close_timer = self._loop.call_later(self.close_timeout, self._abort)

    def _abort(self) -> None:
        if self._state != _CLOSED:
            if self._connection_exc is None:
                self._connection_exc = TimeoutError("timed out while closing connection")  # as websockets
            self._transport.disconnect(graceful=False)

    # -- custom extensions (websockets' Extension API: only when negotiated, off the fast path) ------

    def _on_extension_frame(self, frame: Any) -> bool:
        """A frame with reserved bits, or any frame when custom extensions were negotiated; True: handled.

        As websockets: a data frame goes through the extensions' ``decode`` in
        reverse order of negotiation, and the reserved bits must then be 0.
        Control frames are left to the core (they are not decoded: none of
        the extensions in use transforms them) once their bits are checked.
        """
        extensions = self._extensions
        msg_type = frame.msg_type
        is_data = msg_type in _DATA_TYPES
        if extensions is None or not is_data:
            if frame.rsv1 or frame.rsv2 or frame.rsv3:
                self._fail_protocol(_core.messages_module.RESERVED_BITS)
                return True
            if self._debug:
                payload = frame.get_payload_as_bytes()
                self._log_frame("<", msg_type, payload, frame.fin)
                if msg_type is _core.MsgType.PING:
                    # The core leaves PINGs to a connection that logs frames (RFC 6455 5.5.2: answer
                    # each one until our CLOSE is sent; the core drops frames sent after it).
                    if not self._transport.is_close_frame_sent:
                        self._send_pong(payload)
                    return True
            return False
        current = self._partial.size if msg_type is _core.MsgType.CONTINUATION and self._partial else 0
        limit = None if self._max_message < 0 else self._max_message - current
        decoded = _extensions.Frame(
            _extensions.Opcode(int(msg_type)),
            frame.get_payload_as_bytes(),
            bool(frame.fin),
            bool(frame.rsv1),
            bool(frame.rsv2),
            bool(frame.rsv3),
        )
        try:
            for extension in reversed(extensions):
                decoded = extension.decode(decoded, max_size=limit)
        except _PAYLOAD_TOO_BIG as exc:
            self._fail(CloseCode.MESSAGE_TOO_BIG, str(exc), exc)
            return True
        except _PROTOCOL_ERRORS as exc:
            self._fail(CloseCode.PROTOCOL_ERROR, str(exc), exc)
            return True
        except UnicodeDecodeError as exc:
            self._fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}", exc)
            return True
        except Exception as exc:
            self.logger.error("extension failed to decode a frame", exc_info=True)
            # As websockets: the reason does not carry the error's details (they may be sensitive).
            self._fail(CloseCode.INTERNAL_ERROR, "", exc)
            return True
        if decoded.rsv1 or decoded.rsv2 or decoded.rsv3:
            self._fail_protocol(_core.messages_module.RESERVED_BITS)
            return True
        if self._debug:
            self._log_frame("<", msg_type, decoded.data, decoded.fin)
        self._receive_payload(msg_type, bytes(decoded.data), decoded.fin)
        return True

    def _send_encoded(self, msg_type: Any, data: Any, fin: bool) -> None:
        """One data frame through the extensions' ``encode``, in order of negotiation."""
        frame = _extensions.Frame(_extensions.Opcode(int(msg_type)), bytes(data), fin)
        if self._debug:
            self._log_frame(">", msg_type, frame.data, fin)
        for extension in self._extensions or ():
            frame = extension.encode(frame)
        self._transport.send(
            _core.MsgType(int(frame.opcode)), frame.data, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3
        )

    async def _send_through_extensions(self, message: Any, text: bool | None) -> None:
        """``send`` when custom extensions were negotiated."""
        if isinstance(message, str):
            opcode = _core.MsgType.BINARY if text is False else _core.MsgType.TEXT
            self._send_encoded(opcode, message.encode("utf-8"), True)
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self._send_encoded(_core.MsgType.TEXT if text else _core.MsgType.BINARY, message, True)
        else:
            await self._send_fragments(message, text)
            return
        if self._write_paused:
            await self._drain()

    # -- keepalive --------------------------------------------------------------

    def _schedule_keepalive(self) -> None:
        if self.ping_interval is not None and self._state == _OPEN:
            self._keepalive_handle = self._loop.call_later(self.ping_interval, self._keepalive_ping)

    def _keepalive_ping(self) -> None:
        self._keepalive_handle = None
        if self._state != _OPEN:
            return
        waiter = self._send_ping(os.urandom(4))
        if self._debug:
            self.logger.debug("% sent keepalive ping")
        if self.ping_timeout is not None:
            self._keepalive_timeout = self._loop.call_later(
                self.ping_timeout, self._keepalive_expired, waiter
            )
        waiter.add_done_callback(self._keepalive_pong)

    def _keepalive_pong(self, waiter: asyncio.Future[float]) -> None:
        if waiter.cancelled() or waiter.exception() is not None:
            return
        if self._debug:
            self.logger.debug("% received keepalive pong")
        if self._keepalive_timeout is not None:
            self._keepalive_timeout.cancel()
            self._keepalive_timeout = None
        self._schedule_keepalive()

    def _keepalive_expired(self, waiter: asyncio.Future[float]) -> None:
        self._keepalive_timeout = None
        if not waiter.done() and self._state == _OPEN:
            if self._debug:
                self.logger.debug("- timed out waiting for keepalive pong")
            self._fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")

    # -- public API ---------------------------------------------------------------

    @property
    def state(self) -> State:
        """The connection's :class:`~picows.websockets.protocol.State`."""
        return State(self._state)

    @property
    def open(self) -> bool:
        """Deprecated (legacy websockets, the published picows.websockets): ``state is State.OPEN``."""
        warnings.warn("Use state == State.OPEN instead", DeprecationWarning, stacklevel=2)
        return self._state == _OPEN

    @property
    def closed(self) -> bool:
        """Deprecated (legacy websockets, the published picows.websockets): ``state is State.CLOSED``."""
        warnings.warn("Use state == State.CLOSED instead", DeprecationWarning, stacklevel=2)
        return self._state == _CLOSED

    @property
    def id(self) -> uuid.UUID:
        """A unique identifier of the connection (for logs)."""
        if self._id is None:
            self._id = uuid.uuid4()
        return self._id

    async def _wait_closed(self) -> None:
        if self._state == _CLOSED or self._transport is None:
            return  # closed, or never opened (e.g. a rejected handshake)
        if self._closed_waiter is None:
            self._closed_waiter = self._loop.create_future()
        await asyncio.shield(self._closed_waiter)

    @property
    def request(self) -> Request | None:
        """The opening handshake's request (:class:`~picows.websockets.http11.Request`)."""
        if self._request is None and self._transport is not None:
            self._request = _core.request_from_core(self._transport.request)
        return self._request

    @request.setter
    def request(self, value: Request | None) -> None:
        self._request = value

    @property
    def response(self) -> Response | None:
        """The opening handshake's response (:class:`~picows.websockets.http11.Response`)."""
        if self._response is None and self._transport is not None:
            self._response = _core.response_from_core(self._transport.response)
        return self._response

    @response.setter
    def response(self, value: Response | None) -> None:
        self._response = value

    @property
    def local_address(self) -> Any:
        """Local address of the socket (``getsockname()``)."""
        return self._extra_info("sockname")

    @property
    def remote_address(self) -> Any:
        """Remote address of the socket (``getpeername()``)."""
        return self._extra_info("peername")

    def _extra_info(self, name: str) -> Any:
        if self._transport is None:
            return None
        return self._transport.underlying_transport.get_extra_info(name)

    @property
    def close_code(self) -> int | None:
        """The close code received (1006 when none was), or None while not closed."""
        if self._state != _CLOSED:
            return None
        if self.close_rcvd is None:
            return int(CloseCode.ABNORMAL_CLOSURE)
        return self.close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """The close reason received ("" when none was), or None while not closed."""
        if self._state != _CLOSED:
            return None
        return "" if self.close_rcvd is None else self.close_rcvd.reason

    def _closed_error(self) -> ConnectionClosed:
        transport = self._transport
        if self.close_sent is None and transport is not None and transport.is_close_frame_sent:
            # The core closed by itself (a protocol violation it detected, e.g. a frame over max_size).
            by_core = _core.close_sent_by_core(transport)
            if by_core is not None:
                self.close_sent = Close(*by_core)
                if self._connection_exc is None:
                    self._connection_exc = _core.cause_of_core_close(*by_core)
        rcvd, sent = self.close_rcvd, self.close_sent
        if rcvd is None and self._connection_exc is None and self._state == _CLOSED:
            # As websockets: the stream ended without the peer's CLOSE.
            self._connection_exc = EOFError("unexpected end of stream")
        both = rcvd is not None and sent is not None
        ok = both and rcvd.code in _OK_CODES and sent.code in _OK_CODES  # type: ignore[union-attr]
        cls = ConnectionClosedOK if ok else ConnectionClosedError
        exc = cls(rcvd, sent, self.close_rcvd_then_sent if both else None)
        if self._connection_exc is not None:
            exc.__cause__ = self._connection_exc
        return exc

    async def _before_send(self) -> None:
        """Slow path of ``send``: wait for a fragmented send, or fail on a closed connection."""
        while self._fragmenting and self._fragment_done is not None:
            await asyncio.shield(self._fragment_done)
        if self._state == _OPEN:
            return
        if self._state == _CLOSING:
            await self._wait_closed()
        raise self._closed_error()

    async def _send_fragments(self, message: Any, text: bool | None) -> None:
        if isinstance(message, Mapping):
            raise TypeError("data is a dict-like object")
        if isinstance(message, AsyncIterable):
            iterator: Any = message.__aiter__()
            is_async = True
        elif isinstance(message, Iterable):
            iterator = iter(message)
            is_async = False
        else:
            raise TypeError("data must be str, bytes, iterable, or async iterable")
        self._fragmenting = True
        self._fragment_done = self._loop.create_future()
        try:
            await self._send_fragment_items(iterator, is_async, text)
        finally:
            self._fragmenting = False
            if not self._fragment_done.done():
                self._fragment_done.set_result(None)

    async def _send_fragment_items(self, iterator: Any, is_async: bool, text: bool | None) -> None:
        try:
            item = (await iterator.__anext__()) if is_async else next(iterator)
        except (StopIteration, StopAsyncIteration):
            return  # an empty iterable sends nothing, like websockets
        try:
            await self._send_fragment_stream(item, iterator, is_async, text)
        except Exception:
            # As websockets: once a message is started, any error (a bad item, the iterable raising)
            # fails the connection with 1011, so the peer never waits for the rest of the message.
            if self._state == _OPEN:
                self._fail(CloseCode.INTERNAL_ERROR, "error in fragmented message", by_application=True)
            raise

    async def _send_fragment_stream(
        self, item: Any, iterator: Any, is_async: bool, text: bool | None
    ) -> None:
        """Send ``item`` and the rest of ``iterator``, one frame per item, the last one with FIN."""
        send = self._transport.send if self._extensions is None else self._send_encoded
        kind = "async iterable" if is_async else "iterable"  # websockets' wording
        if isinstance(item, str):
            is_str = True
            opcode: Any = _core.MsgType.BINARY if text is False else _core.MsgType.TEXT
        elif isinstance(item, (bytes, bytearray, memoryview)):
            is_str = False
            opcode = _core.MsgType.TEXT if text else _core.MsgType.BINARY
        else:
            raise TypeError(f"{kind} must contain bytes or str")
        first = True
        # Each item is sent when the next one is known, so that the last one carries FIN.
        pending = item.encode("utf-8") if isinstance(item, str) else item
        while True:
            try:
                item = (await iterator.__anext__()) if is_async else next(iterator)
            except (StopIteration, StopAsyncIteration):
                break
            if isinstance(item, str) != is_str or not isinstance(item, (str, bytes, bytearray, memoryview)):
                raise TypeError(f"{kind} must contain uniform types")
            if self._state != _OPEN:
                raise self._closed_error()
            send(opcode if first else _core.MsgType.CONTINUATION, pending, False)
            first = False
            if self._write_paused:
                await self._drain()
            pending = item.encode("utf-8") if isinstance(item, str) else item
        if self._state != _OPEN:
            raise self._closed_error()
        send(opcode if first else _core.MsgType.CONTINUATION, pending, True)
        if self._write_paused:
            await self._drain()

    async def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[Any]:
        """Receive the next message fragment by fragment (an async iterator).

        Text fragments are decoded incrementally, so a UTF-8 character split
        across frames comes out whole.
        """
        if self._recv_active:
            raise ConcurrencyError(
                "cannot call recv_streaming while another coroutine is already running recv or recv_streaming"
            )
        while not self._messages:  # (re-read: the queue is created by the first message)
            if self._state == _CLOSED:
                raise self._closed_error()
            self._streaming = True
            try:
                await self._wait_message()
            finally:
                self._streaming = False
        messages = self._messages
        message = messages[0]
        if not isinstance(message, _core.messages_module._Fragments):
            messages.popleft()
            self._message_taken()
            yield _convert(message, decode)
            return
        message.streamed = True
        messages.popleft()
        self._message_taken()
        index = 0
        while True:
            while index < len(message.parts):
                part = message.parts[index]
                index += 1
                yield _convert(part, decode)
            if message.complete:
                return
            if self._state == _CLOSED:
                raise self._closed_error()
            self._streaming = True
            try:
                await self._wait_message()
            finally:
                self._streaming = False

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake; return when the connection is closed.

        Bounded by ``close_timeout``: then the TCP connection is aborted.
        """
        if self._state == _OPEN:
            if not is_sendable_close_code(code):
                raise ProtocolError("invalid status code")
            if len(reason.encode("utf-8")) > 123:
                raise ProtocolError("control frame too long")
            if self._fragmenting:
                self._fail(CloseCode.INTERNAL_ERROR, "close during fragmented message", by_application=True)
            else:
                self._send_close(code, reason)
                self._enter(_CLOSING)
                self._start_close_timer()
        elif self._state == _CLOSING:
            self._start_close_timer()
        await self._wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        await self._wait_closed()

    async def ping(self, data: Any = None) -> asyncio.Future[float]:
        """Send a ping; return a future that resolves to the latency when the pong arrives.

        :param data: payload (str is UTF-8 encoded); random 4 bytes when None.
        :raises ConcurrencyError: a ping with the same payload awaits its pong.
        """
        if data is None:
            payload = os.urandom(4)
            while payload in self._pings:
                payload = os.urandom(4)
        else:
            payload = _control_payload(data)
        if payload in self._pings:
            raise ConcurrencyError("already waiting for a pong with the same data")
        if self._state != _OPEN:
            await self._before_send()
        return self._send_ping(payload)

    def _send_ping(self, payload: bytes) -> asyncio.Future[float]:
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._pings[payload] = (waiter, self._loop.time())
        if self._debug:
            self._log_frame(">", _core.MsgType.PING, payload, True)
        self._transport.send_ping(payload)
        return waiter

    async def pong(self, data: Any = b"") -> None:
        """Send a pong (an unsolicited one is a unidirectional heartbeat)."""
        if self._state != _OPEN:
            await self._before_send()
        self._send_pong(_control_payload(data))

    def _send_pong(self, payload: bytes) -> None:
        if self._debug:
            self._log_frame(">", _core.MsgType.PONG, payload, True)
        self._transport.send_pong(payload)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.close(CloseCode.INTERNAL_ERROR)


def _control_payload(data: Any) -> bytes:
    if isinstance(data, str):
        payload = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    else:
        raise TypeError("data must be str or bytes-like")
    if len(payload) > 125:
        raise ProtocolError("control frame too long")
    return payload


def _convert(message: Any, decode: bool | None) -> Any:
    if decode is None:
        return message
    if decode:
        return message.decode("utf-8") if isinstance(message, (bytes, bytearray)) else message
    return message.encode("utf-8") if isinstance(message, str) else message
