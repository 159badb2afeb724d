"""Server side: ``serve()``, ``Server``, ``ServerConnection``, ``basic_auth``, ``broadcast``."""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hmac
import http
import inspect
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Callable

from ..datastructures import Headers
from ..exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidOrigin,
    InvalidUpgrade,
    NegotiationError,
    RequestLineTooLong,
)
from ..http11 import SERVER, Request, Response
from ..protocol import State
from . import _core
from ._extensions import accept_offers, split_extensions
from ._header_lists import check_extensions, subprotocols
from .connection import Connection, log_response, resolve_logger

__all__ = [
    "Server",
    "ServerConnection",
    "ServerHandshakeConnection",
    "basic_auth",
    "broadcast",
    "serve",
    "unix_serve",
]


class ServerConnection(Connection):
    """A server-side connection, passed to the handler of :func:`serve`."""

    #: Set by :meth:`Router.route_request <picows.websockets.asyncio.router.Router.route_request>`
    #: (servers made by ``route()``): the matched endpoint and its URL arguments.
    handler: Callable[..., Awaitable[None]]
    handler_kwargs: Mapping[str, Any]

    def __init__(self, server: Server, **kwargs: Any) -> None:
        super().__init__(is_client=False, **kwargs)
        self.server = server
        #: Set by :func:`basic_auth` when authentication succeeds.
        self.username: str | None = None
        self._handler_task: asyncio.Task[None] | None = None
        # The client's address from the core's request: known during the handshake already.
        self._handshake_peer: Any = None

    @property
    def remote_address(self) -> Any:
        """Remote address of the socket (``getpeername()``), also inside ``process_request``."""
        if self._transport is None:
            return self._handshake_peer
        return self._extra_info("peername")

    def respond(self, status: http.HTTPStatus | int, text: str) -> Response:
        """A plain-text HTTP response, e.g. to return from ``process_request``."""
        return plain_response(status, text)

    def on_ws_connected(self, transport: Any) -> None:
        super().on_ws_connected(transport)
        self.server._connections.add(self)
        self._handler_task = self._loop.create_task(self.server._run_handler(self))
        self._log_info("connection open")

    def on_ws_disconnected(self, transport: Any) -> None:
        super().on_ws_disconnected(transport)
        self.server._connections.discard(self)
        self._log_info("connection closed")


def plain_response(status: http.HTTPStatus | int, text: str) -> Response:
    """websockets' plain-text answer (``respond`` / ``reject``): ``text`` in UTF-8, ``Connection: close``."""
    status = http.HTTPStatus(status)
    body = text.encode()
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def socket_name(sock: socket.socket) -> str:
    """How websockets names a listening socket in its log: ``host:port``, ``[host]:port`` or the path."""
    name = sock.getsockname()
    if sock.family == socket.AF_INET:
        return f"{name[0]}:{name[1]}"
    if sock.family == socket.AF_INET6:
        return f"[{name[0]}]:{name[1]}"
    return str(name)


def _default_subprotocol(available: Sequence[str] | None, offered: Sequence[str]) -> str | None:
    if not available:
        return None
    if not offered:
        raise NegotiationError("missing subprotocol")
    for subprotocol in available:
        if subprotocol in offered:
            return subprotocol
    raise NegotiationError("invalid subprotocol; expected one of " + ", ".join(available))


def _tokens(request: Request, name: str) -> list[str]:
    """The comma-separated tokens of every ``name`` header of ``request``."""
    tokens: list[str] = []
    for value in request.headers.get_all(name):
        tokens.extend(token.strip() for token in value.split(",") if token.strip())
    return tokens


def _upgrade_problem(request: Request) -> InvalidHeader | None:
    """Why ``request`` is not a valid WebSocket upgrade, as websockets says it (None: it is one)."""
    connection = _tokens(request, "Connection")
    if not any(token.lower() == "upgrade" for token in connection):
        return InvalidUpgrade("Connection", ", ".join(connection) if connection else None)
    upgrade = _tokens(request, "Upgrade")
    if not (len(upgrade) == 1 and upgrade[0].lower() == "websocket"):
        return InvalidUpgrade("Upgrade", ", ".join(upgrade) if upgrade else None)
    for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version"):
        values = request.headers.get_all(name)
        if not values:
            return InvalidHeader(name)
        if len(values) > 1:
            return InvalidHeader(name, "multiple values")
    key = request.headers["Sec-WebSocket-Key"]
    try:
        raw_key = base64.b64decode(key.encode(), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        problem = InvalidHeaderValue("Sec-WebSocket-Key", key)
        problem.__cause__ = exc  # websockets' answer names the decoding error too
        return problem
    if len(raw_key) != 16:
        return InvalidHeaderValue("Sec-WebSocket-Key", key)
    version = request.headers["Sec-WebSocket-Version"]
    if version != "13":
        return InvalidHeaderValue("Sec-WebSocket-Version", version)
    return None


class Server:
    """A WebSocket server: what :func:`serve` returns (started by ``await`` or ``async with``)."""

    def __init__(self, handler: Callable[[ServerConnection], Awaitable[None]], logger: Any = None) -> None:
        self.handler = handler
        self.logger = resolve_logger(logger, "websockets.server")
        self.server: asyncio.Server | None = None
        self._connections: set[ServerConnection] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False
        # Made on first use: serve(...) may be called before the loop runs (await it in the loop).
        self._closed_waiter: asyncio.Future[None] | None = None
        self._close_task: asyncio.Task[None] | None = None

    @property
    def connections(self) -> set[ServerConnection]:
        """The open connections."""
        return {c for c in self._connections if c._state == State.OPEN}

    @property
    def sockets(self) -> Iterable[socket.socket]:
        """The listening sockets."""
        if self.server is None:
            raise AttributeError(
                "the server is not started yet: await serve(...) or async with serve(...) first"
            )
        return self.server.sockets

    def is_serving(self) -> bool:
        """True while the server accepts connections."""
        return self.server is not None and self.server.is_serving()

    async def start_serving(self) -> None:
        """Start accepting connections (when ``serve(..., start_serving=False)``)."""
        assert self.server is not None
        await self.server.start_serving()

    async def serve_forever(self) -> None:
        """Accept connections until :meth:`close` is called (then return) or this is cancelled.

        Cancelling it closes the server, as :meth:`close` does, and waits
        until it is closed before raising :exc:`asyncio.CancelledError`.
        """
        assert self.server is not None
        try:
            if not self._closing and not self.server.is_serving():
                await self.server.start_serving()
            # Not asyncio's serve_forever: uvloop's Server.close() does not end it.
            await self.wait_closed()
        except asyncio.CancelledError:
            self.close()
            await self.wait_closed()
            raise

    def close(self, close_connections: bool = True, code: int = 1001, reason: str = "") -> None:
        """Stop accepting connections and, by default, close the open ones.

        :param close_connections: close open connections (else they go on
            until their handlers return).
        :param code: their close code, 1001 (going away) by default, e.g.
            1012 (service restart).
        :param reason: their close reason.

        Idempotent: later calls change nothing.
        """
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(
                self._close(close_connections, code, reason)
            )

    async def _close(self, close_connections: bool, code: int, reason: str) -> None:
        self.logger.info("server closing")
        self._closing = True
        if self.server is not None:
            self.server.close()
        await asyncio.sleep(0)
        if close_connections:
            closing = [c.close(code, reason) for c in list(self._connections)]
            if closing:
                await asyncio.gather(*closing, return_exceptions=True)
        if self._handlers:
            await asyncio.gather(*list(self._handlers), return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()
        closed = self._closed_future()
        if not closed.done():
            closed.set_result(None)
        self.logger.info("server closed")

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every handler has returned."""
        await asyncio.shield(self._closed_future())

    def _closed_future(self) -> asyncio.Future[None]:
        if self._closed_waiter is None:
            self._closed_waiter = asyncio.get_running_loop().create_future()
        return self._closed_waiter

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def _run_handler(self, connection: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            try:
                await self.handler(connection)
            except Exception:
                connection.logger.error("connection handler failed", exc_info=True)
                await connection.close(1011)
            else:
                await connection.close()
        except ConnectionClosed:  # pragma: no cover - close() does not raise
            pass
        finally:
            self._handlers.discard(task)

    def __await__(self) -> Generator[Any, None, Server]:
        """``await server`` gives the server itself (websockets 17's ``Server`` is awaitable)."""
        return self._itself().__await__()

    async def _itself(self) -> Server:
        return self

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
        await self.wait_closed()


#: The published picows.websockets' name of the connection its handshake hooks received.
ServerHandshakeConnection = ServerConnection


class serve(Server):  # noqa: N801 - the name of websockets' API
    """Start a WebSocket server on ``host``:``port``; ``handler(connection)`` runs per connection.

    Use it as ``async with serve(handler, host, port) as server:`` or
    ``server = await serve(...)``. As in websockets 17, what ``serve()``
    returns is the :class:`Server` itself, started by the first ``await`` or
    ``async with`` (later ones give it again). Arguments and defaults are websockets 17's:
    ``compression="deflate"`` (the default) accepts permessage-deflate offers
    as websockets does (12-bit windows, memLevel 5, the client's parameters
    honoured) through picows' core, None declines them; ``max_size`` also
    bounds the inflated size of a compressed message.
    """

    def __init__(
        self,
        handler: Callable[[ServerConnection], Awaitable[None]],
        host: str | None = None,
        port: int | None = None,
        *,
        origins: Sequence[str | None] | None = None,
        extensions: Sequence[Any] | None = None,
        subprotocols: Sequence[str] | None = None,
        select_subprotocol: Callable[[ServerConnection, Sequence[str]], str | None] | None = None,
        compression: str | None = "deflate",
        process_request: Callable[[ServerConnection, Request], Any] | None = None,
        process_response: Callable[[ServerConnection, Request, Response], Any] | None = None,
        server_header: str | None = SERVER,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_size: int | None | tuple[int | None, int | None] = 2**20,
        max_queue: int | None | tuple[int | None, int | None] = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: Any = None,
        create_connection: type[ServerConnection] | None = None,
        **kwargs: Any,
    ) -> None:
        from .client import max_size_pair

        super().__init__(handler, logger)
        self.host = host
        self.port = port
        self.origins = origins
        self.subprotocols = subprotocols
        self.select_subprotocol = select_subprotocol
        self.process_request = process_request
        self.process_response = process_response
        self.server_header = server_header
        self.open_timeout = open_timeout
        self.max_message, self.max_frame = max_size_pair(max_size)
        self.permessage_deflate, self.extensions = split_extensions(
            extensions, compression, "server", self.max_message
        )
        self.connection_kwargs = {
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_queue": max_queue,
            "write_limit": write_limit,
            "max_message": self.max_message,
            "logger": logger,
        }
        self.create_connection = create_connection or ServerConnection
        self.kwargs = kwargs
        self._starting: asyncio.Future[None] | None = None
        self._debug = False  # DEBUG on the logger when the server started (see Connection._debug)

    async def create(self) -> Server:
        """Start the server, once: later calls (and awaits) wait for that start and give the same server.

        The first caller starts it in its own task (cancelling that caller cancels the start: no
        server is left behind); callers meanwhile wait, and try again if that start failed.
        """
        while self.server is None:
            if self._starting is not None:
                await asyncio.shield(self._starting)
                continue
            self._starting = asyncio.get_running_loop().create_future()
            try:
                await self._start()
            finally:
                starting, self._starting = self._starting, None
                starting.set_result(None)
        return self

    async def _start(self) -> None:
        kwargs = dict(self.kwargs)
        # Decided once for the server's connections: the core answers PINGs unless they log frames.
        self._debug = self.logger.isEnabledFor(logging.DEBUG)
        self.server = await _core.core_serve(
            self._route,
            self.host,
            self.port,
            handshake_timeout=self.open_timeout,
            max_frame_size=self.max_frame,
            close_timeout=self.connection_kwargs["close_timeout"],
            permessage_deflate=self.permessage_deflate,
            logger_name="websockets.server",
            refuse_large_head=self._refuse_large_head,
            auto_pong=not self._debug,
            **kwargs,
        )
        if self.server.is_serving():  # not with start_serving=False, as websockets
            for sock in self.server.sockets:
                self.logger.info("server listening on %s", socket_name(sock))

    def _refuse_large_head(self, exc: Any) -> Any:
        """The core's answer to a request head beyond websockets' limits: 414 or 431, as websockets.

        The request never reaches ``process_request`` or the handler.
        """
        error = _core.head_limit_error(exc, is_request=True)
        too_long = isinstance(error, RequestLineTooLong)
        if self._debug:
            what = "! request line too long" if too_long else "! header fields too large"
            self.logger.debug(what, exc_info=error)
        # Python 3.13 renamed it URI_TOO_LONG; REQUEST_URI_TOO_LONG stays as an alias.
        status = http.HTTPStatus.REQUEST_URI_TOO_LONG
        if not too_long:
            status = http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
        response = plain_response(status, f"Failed to open a WebSocket connection: {error}.\n")
        if self._debug:
            log_response(self.logger, ">", response)
        return _core.response_to_core(response)

    def _route(self, core_request: Any) -> Any:
        """The core's listener factory: run the handshake hooks, answer or accept.

        Returns the core's answer, or an awaitable of it when a hook is async
        (the core awaits it within ``open_timeout``); sync hooks never leave
        the synchronous path.
        """
        request = _core.request_from_core(core_request)
        connection = self.create_connection(self, **self.connection_kwargs)
        connection.request = request
        connection._handshake_peer = core_request.remote_address
        if self._debug:
            connection._debug = True
            connection.logger.debug("= connection is CONNECTING")
            connection._log_request("<", request)
        early: Any = None
        if self.process_request is not None:
            try:
                early = self.process_request(connection, request)
            except Exception:
                early = self._hook_failed(connection, "process_request failed")
            if inspect.isawaitable(early):
                return self._route_async(connection, request, early)
        return self._respond(connection, request, early)

    async def _route_async(self, connection: ServerConnection, request: Request, early: Any) -> Any:
        try:
            early = await early
        except Exception:
            early = self._hook_failed(connection, "process_request failed")
        answer = self._respond(connection, request, early)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    def _respond(self, connection: ServerConnection, request: Request, early: Any) -> Any:
        """The response (``early`` from process_request, or the handshake's), through process_response."""
        if early is not None:
            response: Response = early
        else:
            try:
                response = self._accept(connection, request)
            except Exception:
                response = self._hook_failed(connection, "opening handshake failed")
        # As websockets: on every response, process_request's and refusals too; None: no Server.
        if self.server_header is not None:
            response.headers["Server"] = self.server_header
        accepted = early is None  # websockets' log tells its own refusals from process_request's answers
        if self.process_response is None:
            return self._answer(connection, response, accepted)
        try:
            replaced = self.process_response(connection, request, response)
        except Exception:
            replaced = self._hook_failed(connection, "process_response failed")
        if inspect.isawaitable(replaced):
            return self._respond_async(connection, response, replaced, accepted)
        return self._answer(connection, replaced if replaced is not None else response, accepted)

    async def _respond_async(
        self, connection: ServerConnection, response: Response, replaced: Any, accepted: bool
    ) -> Any:
        try:
            replaced = await replaced
        except Exception:
            replaced = self._hook_failed(connection, "process_response failed")
        return self._answer(connection, replaced if replaced is not None else response, accepted)

    @staticmethod
    def _hook_failed(connection: ServerConnection, message: str) -> Response:
        """Log the exception being handled (websockets' wording) and answer 500."""
        connection.logger.error(message, exc_info=True)
        return connection.respond(
            http.HTTPStatus.INTERNAL_SERVER_ERROR,
            "Failed to open a WebSocket connection.\nSee server log for more information.\n",
        )

    @staticmethod
    def _answer(connection: ServerConnection, response: Response, accepted: bool) -> Any:
        connection.response = response
        if connection._debug:
            connection._log_response(">", response)
        if response.status_code == 101:
            listener = connection  # "connection open" is logged once the core completed the handshake
        else:
            listener = None
            connection._log_info(
                "connection rejected (%d %s)" if accepted else "HTTP response sent (%d %s)",
                response.status_code,
                response.reason_phrase,
            )
            # The core closes the connection after this answer (no listener hears of it): logged now.
            connection._log_info("connection closed")
        return _core.with_listener(_core.response_to_core(response), listener)

    def _accept(self, connection: ServerConnection, request: Request) -> Response:
        if request.method != "GET":
            response = connection.respond(
                http.HTTPStatus.METHOD_NOT_ALLOWED,
                f"Failed to open a WebSocket connection: unsupported HTTP method: {request.method}.\n",
            )
            response.headers["Allow"] = "GET"
            return response
        if request.protocol != "HTTP/1.1":
            return connection.respond(
                http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                f"Failed to open a WebSocket connection: unsupported HTTP version: {request.protocol}.\n",
            )
        problem = _upgrade_problem(request)
        if isinstance(problem, InvalidUpgrade):
            response = connection.respond(
                http.HTTPStatus.UPGRADE_REQUIRED,
                f"Failed to open a WebSocket connection: {problem}.\n\n"
                "You cannot access a WebSocket server directly with a browser. "
                "You need a WebSocket client.\n",
            )
            response.headers["Upgrade"] = "websocket"
            return response
        if problem is not None:
            text = str(problem)
            cause = problem.__cause__
            while cause is not None:  # as websockets: the chain of causes, "; "-separated
                text += f"; {cause}"
                cause = cause.__cause__
            return connection.respond(
                http.HTTPStatus.BAD_REQUEST, f"Failed to open a WebSocket connection: {text}.\n"
            )
        if self.origins is not None:
            origin = request.headers.get("Origin")
            if origin not in self.origins:
                exc = InvalidOrigin(origin)
                return connection.respond(
                    http.HTTPStatus.FORBIDDEN, f"Failed to open a WebSocket connection: {exc}.\n"
                )
        offers = request.headers.get_all("Sec-WebSocket-Extensions")
        try:
            # websockets' order: the extensions' syntax (when it has extensions to offer), then the
            # subprotocols' syntax, then their choice.
            if offers and (self.extensions or self.permessage_deflate is not None):
                check_extensions(offers)
            offered = subprotocols(request.headers.get_all("Sec-WebSocket-Protocol"))
        except InvalidHeaderFormat as exc:
            return connection.respond(
                http.HTTPStatus.BAD_REQUEST, f"Failed to open a WebSocket connection: {exc}.\n"
            )
        try:
            if self.select_subprotocol is not None:
                subprotocol = self.select_subprotocol(connection, offered)
            else:
                subprotocol = _default_subprotocol(self.subprotocols, offered)
        except NegotiationError as exc:
            return connection.respond(
                http.HTTPStatus.BAD_REQUEST, f"Failed to open a WebSocket connection: {exc}.\n"
            )
        headers = Headers()
        headers["Date"] = email.utils.formatdate(usegmt=True)
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        # As websockets, the response process_response gets holds every header sent (the core
        # would add these two after the hooks): the accept key, and the extensions agreed.
        headers["Sec-WebSocket-Accept"] = _core.accept_key(request.headers["Sec-WebSocket-Key"])
        answers = []
        if self.extensions:
            # Custom extensions; permessage-deflate (the core's) after them.
            answer, accepted = accept_offers(self.extensions, offers)
            if answer is not None:
                answers.append(answer)
                connection._extensions = accepted
        if self.permessage_deflate is not None and offers:
            answer = _core.deflate_answer(self.permessage_deflate, offers)
            if answer is not None:
                answers.append(answer)
        if answers:
            headers["Sec-WebSocket-Extensions"] = ", ".join(answers)
        if subprotocol is not None:
            headers["Sec-WebSocket-Protocol"] = subprotocol
            connection.subprotocol = subprotocol
        return Response(101, "Switching Protocols", headers)

    def __await__(self) -> Generator[Any, None, Server]:
        return self.create().__await__()

    async def __aenter__(self) -> Server:
        return await self.create()


def unix_serve(
    handler: Callable[[ServerConnection], Awaitable[None]], path: str | None = None, **kwargs: Any
) -> serve:
    """Serve on a Unix socket at ``path`` (or on a given ``sock=``)."""
    if path is not None:
        if "sock" in kwargs:
            raise TypeError("unix_serve() takes path or sock, not both")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if os.path.exists(path) and not os.path.isfile(path):
            os.unlink(path)  # a stale socket file from an earlier run
        sock.bind(path)
        sock.setblocking(False)
        kwargs["sock"] = sock
    return serve(handler, None, None, **kwargs)


def broadcast(
    connections: Iterable[Connection], message: Any, raise_exceptions: bool = False, text: bool | None = None
) -> None:
    """Send ``message`` to every open connection, without waiting for the data to be sent.

    As in websockets there is no backpressure: messages pile up in the write
    buffers of slow connections. Connections that are not open are skipped,
    and so are connections in the middle of a fragmented send (a warning is
    logged, or with ``raise_exceptions=True`` a
    :exc:`~picows.websockets.exceptions.ConcurrencyError` is collected and all
    failures are raised together in an ``ExceptionGroup``).

    The frame is built once (:func:`picows.broadcast`): server connections
    get the same bytes, and with permessage-deflate one compressed frame is
    shared by every connection that compresses without context takeover.
    Connections with custom extensions get their own frame, through their ``encode``.

    :param text: True sends bytes-like data in a text frame, False a str in a binary frame.
    """
    payload: bytes | bytearray | memoryview
    if isinstance(message, str):
        opcode = _core.MsgType.BINARY if text is False else _core.MsgType.TEXT
        payload = message.encode("utf-8")
    elif isinstance(message, (bytes, bytearray, memoryview)):
        opcode = _core.MsgType.TEXT if text is True else _core.MsgType.BINARY
        payload = message
    else:
        raise TypeError("data must be str or bytes")
    errors: list[Exception] = []
    transports = []
    for connection in connections:
        if connection._state != State.OPEN:
            continue
        if connection._fragmenting:
            if raise_exceptions:
                errors.append(ConcurrencyError("sending a fragmented message"))
            else:
                connection.logger.warning("skipped broadcast: sending a fragmented message")
            continue
        if connection._extensions is not None:
            # Custom extensions encode each connection's frame: framed for it alone.
            connection._send_encoded(opcode, payload, True)
            continue
        transports.append(connection._transport)
    if transports:
        _core.broadcast(transports, opcode, payload)
    if errors:
        raise _exception_group("skipped broadcast", errors)


def _exception_group(message: str, errors: list[Exception]) -> Exception:
    if sys.version_info >= (3, 11):
        return ExceptionGroup(message, errors)  # noqa: F821
    try:
        from exceptiongroup import ExceptionGroup as Backport  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return errors[0]
    return Backport(message, errors)  # type: ignore[no-any-return,unused-ignore]  # websockets uses it < 3.11


def _is_credentials(value: Any) -> bool:
    """Whether ``value`` unpacks into a (username, password) pair of strings (any pair: tuple, list ...)."""
    try:
        username, password = value
    except (TypeError, ValueError):
        return False
    return isinstance(username, str) and isinstance(password, str)


def basic_auth(
    realm: str = "",
    credentials: tuple[str, str] | Iterable[tuple[str, str]] | None = None,
    check_credentials: Callable[[str, str], Awaitable[bool] | bool] | None = None,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """A ``process_request`` hook enforcing HTTP Basic Authentication.

    Give either ``credentials`` (one ``(username, password)`` pair or an
    iterable of them) or ``check_credentials(username, password)`` (sync or
    async, returning a bool). On success ``connection.username`` is set.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("provide either credentials or check_credentials")
    if credentials is not None:
        if _is_credentials(credentials):
            pairs: list[Any] = [credentials]
        elif isinstance(credentials, Iterable):
            pairs = list(credentials)
            if not all(_is_credentials(p) for p in pairs):
                raise TypeError(f"invalid credentials argument: {credentials}")
        else:
            raise TypeError(f"invalid credentials argument: {credentials}")
        known = {username: password for username, password in pairs}

        def check(username: str, password: str) -> bool:
            expected = known.get(username)
            return expected is not None and hmac.compare_digest(expected.encode(), password.encode())

        check_credentials = check
    assert check_credentials is not None
    checker = check_credentials
    challenge = f'Basic realm="{realm}", charset="UTF-8"'

    def unauthorized(connection: ServerConnection, text: str) -> Response:
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
        response.headers["WWW-Authenticate"] = challenge
        return response

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        try:
            authorization = request.headers["Authorization"]
        except KeyError:
            return unauthorized(connection, "Missing credentials\n")
        scheme, _, encoded = authorization.partition(" ")
        try:
            if scheme.lower() != "basic":
                raise ValueError
            username, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
            if not sep:
                raise ValueError
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return unauthorized(connection, "Unsupported credentials\n")
        valid = checker(username, password)
        if inspect.isawaitable(valid):
            valid = await valid
        if not valid:
            return unauthorized(connection, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request
