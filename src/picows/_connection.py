"""The per-connection half of the asyncio protocol, written once for both backends.

One connection is one asyncio protocol object, ``WSProtocol``. Each backend
composes it from two halves::

    class WSProtocol(ProtocolCore, Connection, asyncio.BufferedProtocol): ...

* ``ProtocolCore`` (``_pure/protocol.py`` or ``_cython/protocol.pyx``) is the
  per-read code: the receive buffer, the frame parser, the dispatch of every
  frame to the listener, auto-pong.
* :class:`Connection` (this module) is everything that happens once per
  connection or on a rare event: the opening handshake, ``connection_made`` /
  ``connection_lost``, the listener's lifetime, keep-alive (through
  :class:`~picows._keepalive.Keepalive`), flow-control forwarding, the policy
  for exceptions raised by callbacks, protocol violations and the linger after
  an error close.

The two halves share one object and talk through a small, fixed interface.
``ProtocolCore`` provides the attributes ``_loop``, ``_state``, ``_parser``,
``transport``, ``listener``, ``_expect_pong``, ``_last_recv_time`` and the
methods ``_init_read_path(is_client_side, options)``,
``_attach(underlying, logger, is_secure) -> WSTransport``, ``_set_listener(listener)``,
``_feed(data)``, ``_stop_io()`` and ``_lost()``; it calls back
``_handshake_data(data)``, ``_callback_failed(exc, name)`` and
``_protocol_violation(code, msg)``. When permessage-deflate was agreed, this
half hands the per-connection :class:`~picows._deflate.DeflateState` to the
parser and the transport (``set_deflate(state)`` on each) before the listener
sees the connection. Everything else is private to one half.
This module never imports a backend: the composed class names its backend's
``WSListener`` in ``_listener_class``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any, Callable, cast

from ._closing import CLOSING_SLOTS, Closing, Linger
from ._deflate import DeflateAgreement, DeflateState
from ._errors import WSError
from ._handshake import ClientUpgrade, RoutePending, ServerUpgrade, ServerUpgradeResult
from ._keepalive import Keepalive
from ._limits import HANDSHAKE_READ_SIZE, MAX_HANDSHAKE_EARLY_DATA
from ._listener import check_listener, returned_awaitable
from ._types import PICOWS_DEBUG_LL

if TYPE_CHECKING:

    from ._options import AnyLogger, ConnectionOptions

__all__ = ["CONNECTION_SLOTS", "HANDSHAKE", "OPEN", "CLOSED", "Connection", "set_socket_options"]

# Values of the protocol's ``_state``.
HANDSHAKE = 0
OPEN = 1
CLOSED = 2

#: Instance attributes of :class:`Connection`; the composed WSProtocol class declares them as its slots.
CONNECTION_SLOTS = (
    "_is_client_side",
    "_options",
    "_listener_factory",
    "_client_upgrade",
    "_server_upgrade",
    "_hs_buf",
    "_hs_view",
    "_handshake_timer",
    "_route_task",
    "handshake_complete",
    "_logger",
    "_disconnected",
    "_lost_exc",
    "_keepalive",
    *CLOSING_SLOTS,
)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _no_factory(*args: Any) -> Any:
    raise AssertionError("the listener factory is used only during the opening handshake")


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


class Connection(Closing):
    """Per-connection behaviour of ``WSProtocol`` (a mixin; see the module docstring)."""

    if not TYPE_CHECKING:
        # A mixin of a class with slots: the composed WSProtocol declares CONNECTION_SLOTS.
        # (Hidden from type checkers, which would otherwise reject every attribute.)
        __slots__ = ()

    #: The backend's WSListener class (set by the composed WSProtocol).
    _listener_class: type

    # Declared by ProtocolCore (listed here for type checkers).
    if TYPE_CHECKING:
        _loop: asyncio.AbstractEventLoop
        _state: int
        _parser: Any
        transport: Any
        listener: Any
        _expect_pong: bool
        _last_recv_time: float

        def _init_read_path(self, is_client_side: bool, options: ConnectionOptions) -> None: ...
        def _attach(self, underlying: asyncio.Transport, logger: AnyLogger, is_secure: bool) -> Any: ...
        def _set_listener(self, listener: Any) -> None: ...
        def _feed(self, data: bytes) -> None: ...
        def _stop_io(self) -> None: ...
        def _lost(self) -> None: ...

        _is_client_side: bool
        _options: ConnectionOptions
        _listener_factory: Callable[..., Any]
        _client_upgrade: ClientUpgrade | None
        _server_upgrade: ServerUpgrade | None
        _hs_buf: bytearray | None
        _hs_view: memoryview | None
        _handshake_timer: asyncio.TimerHandle | None
        _route_task: asyncio.Future[Any] | None
        handshake_complete: asyncio.Future[None] | None
        _logger: AnyLogger
        _disconnected: asyncio.Future[None] | bool | None
        _keepalive: Keepalive | None

    def __init__(
        self,
        is_client_side: bool,
        options: ConnectionOptions,
        listener_factory: Callable[..., Any],
        client_upgrade: ClientUpgrade | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._state = HANDSHAKE
        self._is_client_side = is_client_side
        self._options = options
        self._listener_factory = listener_factory
        self._client_upgrade = client_upgrade
        self._server_upgrade = None
        self._hs_buf = bytearray(HANDSHAKE_READ_SIZE)
        self._hs_view = memoryview(self._hs_buf)
        self._handshake_timer = None
        self._route_task = None
        #: Client only: result of the opening handshake (awaited by ws_connect, which may
        #: have given up already: its exception counts as retrieved; it drops it once open).
        self.handshake_complete = None
        if is_client_side:
            self.handshake_complete = loop.create_future()
            self.handshake_complete.add_done_callback(_retrieve)
        # What wait_disconnected() awaits, created by its first call (most connections
        # never have one): None, then a future; True once disconnected without a waiter.
        self._disconnected = None
        #: What asyncio passed to connection_lost (an OSError after a reset), read by picows.websockets.
        self._lost_exc: BaseException | None = None
        self._keepalive = None
        self._init_closing()
        self._init_read_path(is_client_side, options)

    # -- asyncio protocol callbacks --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Stream transports (asyncio's, uvloop's) implement the full Transport API.
        stream = cast(asyncio.Transport, transport)
        set_socket_options(stream)
        logger = self._options.logger
        self._logger = logger
        upgrade = self._client_upgrade
        # is_secure: the WebSocket URL is wss:// (the transport may also be TLS to an https:// proxy).
        if upgrade is not None:
            is_secure = upgrade.url.is_secure
        else:
            is_secure = stream.get_extra_info("sslcontext") is not None
        ws_transport = self._attach(stream, logger, is_secure)
        if self._is_client_side:
            assert upgrade is not None
            ws_transport.request = upgrade.request
            stream.write(upgrade.request_bytes)
            if ws_transport._log_debug:
                logger.log(PICOWS_DEBUG_LL, "sent upgrade request:\n%s", upgrade.request_bytes)
        else:
            self._server_upgrade = ServerUpgrade(
                self._listener_factory,
                self._listener_class,
                logger,
                stream.get_extra_info("peername"),
                self._options.permessage_deflate,
                self._options.lenient_request_line,
                self._options.deflate_after_extensions,
                self._options.head_limits,
                self._options.refuse_large_head,
            )
            timeout = self._options.websocket_handshake_timeout
            if timeout is not None:
                self._handshake_timer = self._loop.call_later(timeout, self._on_handshake_timeout)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: BaseException | None) -> None:
        state = self._state
        self._state = CLOSED
        self._lost_exc = exc
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        if self._route_task is not None:
            self._route_task.cancel()  # the client left while an async ws_listener_factory ran
        self._closing_lost()
        transport = self.transport
        if transport is None:
            return
        self._lost()
        if self._keepalive is not None:
            self._keepalive.stop()
        handshake_complete = self.handshake_complete
        if state == HANDSHAKE and handshake_complete is not None and not handshake_complete.done():
            assert self._client_upgrade is not None
            error: BaseException
            if isinstance(exc, OSError):
                error = exc
            else:
                error = self._client_upgrade.connection_lost_error()
            handshake_complete.set_exception(error)
        if self.listener is not None:
            try:
                result = self.listener.on_ws_disconnected(transport)
                if result is not None and hasattr(result, "__await__"):
                    raise returned_awaitable("on_ws_disconnected", result)
            except Exception as e:
                self._logger.error("on_ws_disconnected raised", exc_info=e)
                self._set_error(e)
        waiter = self._disconnected
        if waiter is None:
            self._disconnected = True
        elif not isinstance(waiter, bool) and not waiter.done():
            waiter.set_result(None)
        if transport._log_debug:
            self._logger.log(PICOWS_DEBUG_LL, "disconnected (%r)", exc)

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport._write_paused = True  # broadcast() skips it meanwhile
        self._forward_flow_control("pause_writing")

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport._write_paused = False
        self._forward_flow_control("resume_writing")

    def _forward_flow_control(self, name: str) -> None:
        if self.listener is None:
            return
        try:
            result = getattr(self.listener, name)()
        except Exception as exc:
            self._callback_failed(exc, name)
        else:
            if result is not None:
                self._callback_returned(result, name)

    # -- opening handshake -------------------------------------------------------------

    def _handshake_data(self, data: bytes) -> None:
        """Bytes received before the connection is open (called by the read path)."""
        if self._is_client_side:
            self._client_handshake_data(data)
        else:
            self._server_handshake_data(data)

    def _client_handshake_data(self, data: bytes) -> None:
        upgrade = self._client_upgrade
        assert upgrade is not None
        underlying = self.transport.underlying_transport
        try:
            result = upgrade.feed(data)
        except WSError as exc:
            self._state = CLOSED
            self._handshake_failed(exc)
            underlying.close()
            return
        if result is None:
            return
        response, leftover = result
        self.transport.response = response
        try:
            if self._options.factory_takes_handshake:
                listener = self._listener_factory(self.transport.request, response)
            else:
                listener = self._listener_factory()
            if not isinstance(listener, self._listener_class):
                raise TypeError(
                    f"ws_listener_factory must return a WSListener, got {type(listener).__name__}"
                )
            check_listener(listener)
        except BaseException as exc:
            self._state = CLOSED
            self._handshake_failed(exc)
            underlying.abort()
            return
        handshake_complete = self.handshake_complete
        if handshake_complete is not None and not handshake_complete.done():
            handshake_complete.set_result(None)
        self._open(listener, leftover, upgrade.deflate_agreement)

    def _handshake_failed(self, exc: BaseException) -> None:
        handshake_complete = self.handshake_complete
        if handshake_complete is not None and not handshake_complete.done():
            handshake_complete.set_exception(exc)

    def _server_handshake_data(self, data: bytes) -> None:
        upgrade = self._server_upgrade
        assert upgrade is not None
        try:
            result = upgrade.feed(data)
        except WSError as exc:
            self._logger.info("dropping connection: %s", exc)
            self._state = CLOSED
            self.transport.underlying_transport.abort()
            return
        if result is None:
            size = upgrade.early_data_size
            if size > MAX_HANDSHAKE_EARLY_DATA >= size - len(data):
                # An async factory runs and the client keeps sending: leave the rest in the socket.
                self.transport.underlying_transport.pause_reading()
            return
        if isinstance(result, RoutePending):
            # The factory is a coroutine (function): await it within the handshake timeout.
            task = self._route_task = asyncio.ensure_future(result.awaitable)
            task.add_done_callback(self._route_done)
            return
        self._answer_upgrade(result)

    def _route_done(self, task: asyncio.Future[Any]) -> None:
        """The awaitable returned by ``ws_listener_factory`` finished (or was cancelled)."""
        self._route_task = None
        if task.cancelled():
            return  # the connection was lost or timed out
        exc = task.exception()
        upgrade = self._server_upgrade
        if self._state != HANDSHAKE or upgrade is None:
            return
        result = upgrade.route_failed(exc) if exc is not None else upgrade.route_finished(task.result())
        self._answer_upgrade(result)

    def _answer_upgrade(self, result: ServerUpgradeResult) -> None:
        """Send the response to the upgrade request; then open the connection or close it."""
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        transport = self.transport
        underlying = transport.underlying_transport
        transport.request = result.request
        transport.response = result.response
        underlying.write(result.response_bytes)
        if transport._log_debug:
            self._logger.log(PICOWS_DEBUG_LL, "sent upgrade response:\n%s", result.response_bytes)
        if result.listener is None:
            self._close_after_refusal(underlying)
            return
        paused = len(result.leftover) > MAX_HANDSHAKE_EARLY_DATA  # see _server_handshake_data
        self._open(result.listener, result.leftover, result.deflate_agreement)
        if paused and self._state == OPEN:
            underlying.resume_reading()

    def _close_after_refusal(self, underlying: Any) -> None:
        """Close after a non-101 answer without an RST that could destroy the answer.

        The client may still be sending (the rest of a head over the limits, a
        body): closing a socket with unread input makes the kernel answer with
        RST, and the client may then lose the response. So: FIN after the
        answer, drain the input until the client is done (see :class:`Linger`),
        then close. The state stays HANDSHAKE meanwhile: the refused
        :class:`ServerUpgrade` counts and discards what arrives.
        """
        upgrade = self._server_upgrade
        if upgrade is None or underlying.is_closing() or not underlying.can_write_eof():
            self._state = CLOSED
            underlying.close()
            return
        underlying.write_eof()
        self._linger = Linger(self._loop, upgrade, underlying.close)

    def _on_handshake_timeout(self) -> None:
        self._handshake_timer = None
        if self._state == HANDSHAKE and self.transport is not None:
            if self._route_task is not None:
                self._logger.info(
                    "ws_listener_factory did not answer within websocket_handshake_timeout=%s s, "
                    "disconnecting",
                    self._options.websocket_handshake_timeout,
                )
                self._route_task.cancel()
            else:
                self._logger.info(
                    "no upgrade request within websocket_handshake_timeout=%s s, disconnecting",
                    self._options.websocket_handshake_timeout,
                )
            self._state = CLOSED
            self.transport.underlying_transport.abort()

    def _open(self, listener: Any, leftover: bytes, agreement: DeflateAgreement | None = None) -> None:
        transport = self.transport
        self._state = OPEN
        if agreement is not None:
            options = self._options
            assert options.permessage_deflate is not None
            state = DeflateState(
                agreement, self._is_client_side, options.permessage_deflate, options.max_frame_size
            )
            self._parser.set_deflate(state)
            transport.set_deflate(state)
        # The handshake's objects are done with (request/response stay on the transport);
        # a client's factory may be a closure holding its caller's state.
        self._hs_buf = self._hs_view = None
        self._client_upgrade = self._server_upgrade = None
        self._listener_factory = _no_factory
        self._set_listener(listener)
        if transport._log_debug:
            self._logger.log(PICOWS_DEBUG_LL, "WebSocket connection established")
        try:
            result = listener.on_ws_connected(transport)
        except Exception as exc:
            self._callback_failed(exc, "on_ws_connected")
            return
        if result is not None and self._callback_returned(result, "on_ws_connected"):
            return
        if self._options.enable_auto_ping:
            self._get_keepalive().start()
        if leftover and self._state == OPEN:
            self._feed(leftover)

    def _disconnection_waiter(self) -> asyncio.Future[None] | None:
        """What wait_disconnected() awaits; None once the connection is gone (nothing to wait for)."""
        waiter = self._disconnected
        if isinstance(waiter, bool):
            return None
        if waiter is None:
            waiter = self._disconnected = self._loop.create_future()
        return waiter

    # -- keep-alive ------------------------------------------------------------------------

    def _get_keepalive(self) -> Keepalive:
        keepalive = self._keepalive
        if keepalive is None:
            keepalive = self._keepalive = Keepalive(self)
        return keepalive
