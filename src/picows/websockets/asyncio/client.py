"""Client side: ``connect()`` and ``ClientConnection``, as in ``websockets.asyncio.client``."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import ssl as ssl_module
import traceback
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Generator, Sequence
from types import TracebackType
from typing import Any, Callable

from ..datastructures import Headers, HeadersLike
from ..exceptions import (
    InvalidProxy,
    InvalidStatus,
    InvalidURI,
    SecurityError,
)
from ..http11 import USER_AGENT
from . import _core
from ._extensions import build_offer, split_extensions
from .connection import Connection, log_request, log_response, process_exception, resolve_logger

__all__ = ["ClientConnection", "connect", "process_exception", "unix_connect"]


# Reconnection delays of ``async for ... in connect(...)``, as websockets (same environment variables).
BACKOFF_INITIAL_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_INITIAL_DELAY", "5"))
BACKOFF_MIN_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_MIN_DELAY", "3.1"))
BACKOFF_MAX_DELAY = float(os.environ.get("WEBSOCKETS_BACKOFF_MAX_DELAY", "90.0"))
BACKOFF_FACTOR = float(os.environ.get("WEBSOCKETS_BACKOFF_FACTOR", "1.618"))


def backoff(
    initial_delay: float = BACKOFF_INITIAL_DELAY,
    min_delay: float = BACKOFF_MIN_DELAY,
    max_delay: float = BACKOFF_MAX_DELAY,
    factor: float = BACKOFF_FACTOR,
) -> Generator[float]:
    """Reconnection delays: a random first delay, then exponential growth up to ``max_delay``."""
    yield random.random() * initial_delay
    delay = min_delay
    while delay < max_delay:
        yield delay
        delay *= factor
    while True:
        yield max_delay


class ClientConnection(Connection):
    """A client connection (see :class:`~picows.websockets.asyncio.connection.Connection`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(is_client=True, **kwargs)


def parse_ws_uri(uri: str) -> urllib.parse.SplitResult:
    """Validate a ``ws://``/``wss://`` URI as websockets does (raises InvalidURI)."""
    try:
        parsed = urllib.parse.urlsplit(uri)
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    if not parsed.hostname:
        raise InvalidURI(uri, "hostname isn't provided")
    if parsed.fragment:
        raise InvalidURI(uri, "fragment identifier is meaningless")
    try:
        parsed.port  # noqa: B018 - validates the port
    except ValueError:
        raise InvalidURI(uri, "port isn't a valid integer") from None
    if parsed.username is not None and parsed.password is None:
        raise InvalidURI(uri, "username provided without password")
    return parsed


def proxy_from_environment(parsed: urllib.parse.SplitResult) -> str | None:
    """The proxy for ``parsed`` from the environment (``*_proxy``, honouring ``no_proxy``)."""
    secure = parsed.scheme == "wss"
    port = parsed.port or (443 if secure else 80)
    if urllib.request.proxy_bypass(f"{parsed.hostname}:{port}"):
        return None
    proxies = urllib.request.getproxies()
    for scheme in ("wss", "socks", "https") if secure else ("ws", "socks", "https", "http"):
        proxy = proxies.get(scheme)
        if proxy is not None:
            if scheme == "socks" and proxy.startswith("http://"):
                proxy = "socks5h://" + proxy[7:]  # as websockets: the proxy resolves names
            return proxy
    return None


# Whether a SOCKS proxy resolves the server's name, as websockets decides it:
# only for socks5h:// and socks4a://; for socks5:// and socks4:// we resolve it.
_SOCKS_REMOTE_DNS = {"socks5h": True, "socks5": False, "socks4a": True, "socks4": False}


def _core_proxy_url(proxy: str) -> str:
    """Validate a proxy URL as websockets does (raises InvalidProxy); the URL picows' core takes."""
    parsed = urllib.parse.urlsplit(proxy)
    scheme = parsed.scheme
    if scheme not in ("http", "https", *_SOCKS_REMOTE_DNS):
        raise InvalidProxy(proxy, f"scheme {parsed.scheme} isn't supported")
    problem = None
    if parsed.hostname is None:
        problem = "hostname isn't provided"
    elif parsed.path not in ("", "/"):
        problem = "path is meaningless"
    elif parsed.query:
        problem = "query is meaningless"
    elif parsed.fragment:
        problem = "fragment is meaningless"
    elif parsed.username is not None and parsed.password is None:
        problem = "username provided without password"
    if problem is not None:
        raise InvalidProxy(proxy, problem)
    return urllib.parse.urlunsplit(parsed._replace(scheme=scheme))


def max_size_pair(max_size: Any) -> tuple[int | None, int | None]:
    """``(message limit, frame limit)`` from ``max_size`` (int, None or a tuple)."""
    if isinstance(max_size, tuple):
        message, frame = max_size
        return message, frame if frame is not None else message
    return max_size, max_size


class connect:  # noqa: N801 - the name of websockets' API
    """Connect to the WebSocket server at ``uri``.

    Use it as ``ws = await connect(uri)``, ``async with connect(uri) as ws:``,
    or ``async for ws in connect(uri):`` (reconnects on transient errors, see
    ``process_exception`` and ``reconnect_delays``). Arguments and defaults are
    websockets 17's: ``compression="deflate"`` (the default) offers
    permessage-deflate as websockets does (``client_max_window_bits``,
    memLevel 5) through picows' core, None disables it; ``max_size`` also
    bounds the inflated size of a compressed message.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: str | None = None,
        extensions: Sequence[Any] | None = None,
        subprotocols: Sequence[str] | None = None,
        compression: str | None = "deflate",
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        proxy: str | bool | None = True,
        process_exception: Callable[[Exception], Exception | None] = process_exception,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        reconnect_delays: Callable[[], Generator[float]] = backoff,
        max_size: int | None | tuple[int | None, int | None] = 2**20,
        max_queue: int | None | tuple[int | None, int | None] = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: Any = None,
        create_connection: type[ClientConnection] | None = None,
        **kwargs: Any,
    ) -> None:
        self.uri = uri
        self.parsed = parse_ws_uri(uri)
        if self.parsed.scheme != "wss" and kwargs.get("ssl") is not None:
            raise ValueError("ssl argument is incompatible with a ws:// URI")
        self.origin = origin
        self.subprotocols = list(subprotocols) if subprotocols is not None else None
        self.additional_headers = additional_headers
        self.user_agent_header = user_agent_header
        self.proxy = proxy
        self.process_exception = process_exception
        self.open_timeout = open_timeout
        self.reconnect_delays = reconnect_delays
        self.max_message, self.max_frame = max_size_pair(max_size)
        self.permessage_deflate, self.extensions = split_extensions(
            extensions, compression, "client", self.max_message
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
        self.create_connection = create_connection or ClientConnection
        self.logger = resolve_logger(logger, "websockets.client")
        self.kwargs = kwargs
        self.connection: ClientConnection | None = None

    def _headers(self, additional_headers: HeadersLike | None) -> list[tuple[str, str]]:
        headers = Headers()
        if self.origin is not None:
            headers["Origin"] = self.origin
        if self.subprotocols:
            headers["Sec-WebSocket-Protocol"] = ", ".join(self.subprotocols)
        if additional_headers is not None:
            headers.update(additional_headers)
        # One User-Agent: the caller's, if given in additional_headers, replaces ours.
        if self.user_agent_header is not None and "User-Agent" not in headers:
            headers["User-Agent"] = self.user_agent_header
        return _core.headers_to_core(headers.raw_items())

    @staticmethod
    def _ssl(parsed: urllib.parse.SplitResult, ssl: Any) -> ssl_module.SSLContext | None:
        # ssl with a ws:// URI was refused in __init__, and redirects never go from wss:// to ws://.
        if parsed.scheme != "wss":
            return None
        if ssl is None or ssl is True:
            return ssl_module.create_default_context()
        return ssl  # type: ignore[no-any-return]

    def _proxy(self, parsed: urllib.parse.SplitResult) -> str | None:
        if self.proxy is True:
            proxy = proxy_from_environment(parsed)
        elif self.proxy in (None, False):
            proxy = None
        else:
            proxy = str(self.proxy)
        return None if proxy is None else _core_proxy_url(proxy)

    async def create(self) -> ClientConnection:
        """Open one connection (what ``await connect(...)`` does), following redirects as websockets."""
        try:
            if self.open_timeout is None:
                connection = await self._open()
            else:
                connection = await asyncio.wait_for(self._open(), self.open_timeout)
        except asyncio.TimeoutError:
            # asyncio.TimeoutError: the builtin one from 3.11, as websockets raises.
            raise asyncio.TimeoutError("timed out during opening handshake") from None
        self.connection = connection
        return connection

    async def _open(self) -> ClientConnection:
        kwargs = dict(self.kwargs)
        # self.kwargs stays untouched: async for reconnects with the same arguments.
        ssl = kwargs.pop("ssl", None)
        sockets = _SocketSource(kwargs)
        proxy_ssl = kwargs.pop("proxy_ssl", None)
        if sockets.given and "server_hostname" in kwargs:
            raise NotImplementedError(
                "connect(..., server_hostname=...) with sock, host, port or a Unix socket is not supported "
                "by picows.websockets (the TLS server name is the URI's host then)"
            )
        connection_kwargs = self.connection_kwargs
        factory = self.create_connection

        # Decided per attempt (as websockets, per connection): one that logs frames answers PINGs itself.
        debug = self.logger.isEnabledFor(logging.DEBUG)

        def make_connection() -> ClientConnection:
            connection = factory(**connection_kwargs)
            if self.extensions:
                connection._extension_factories = self.extensions
            if debug:
                connection._debug = True
            return connection

        uri, parsed, additional_headers = self.uri, self.parsed, self.additional_headers
        for _ in range(_core.MAX_REDIRECTS):
            proxy = None if sockets.given else self._proxy(parsed)
            if proxy_ssl is not None:
                if proxy is None or not proxy.startswith("https://"):
                    raise ValueError("proxy_ssl argument is incompatible with an http:// proxy")
                kwargs["proxy_ssl_context"] = proxy_ssl
            attempt_kwargs = kwargs
            if proxy is not None and proxy.startswith(("http://", "https://")):
                attempt_kwargs = _split_for_http_proxy(kwargs)
            try:
                connection = await _core.core_connect(
                    make_connection,
                    uri,
                    ssl_context=self._ssl(parsed, ssl),
                    extra_headers=self._headers(additional_headers),
                    handshake_timeout=self.open_timeout,
                    max_frame_size=self.max_frame,
                    close_timeout=connection_kwargs["close_timeout"],
                    proxy=proxy,
                    socks_remote_dns=_SOCKS_REMOTE_DNS.get((proxy or "").partition(":")[0]),
                    subprotocols=self.subprotocols,
                    socket_factory=sockets.factory(),
                    permessage_deflate=self.permessage_deflate,
                    _extension_offer=build_offer(self.extensions) if self.extensions else None,
                    logger_name="websockets.client",
                    auto_pong=not debug,
                    **attempt_kwargs,
                )
            except InvalidStatus as exc:
                if debug:
                    self._log_refused_attempt(exc)
                new_uri = self._redirect(exc, uri, parsed, sockets)
                if new_uri is None:
                    raise
                new_parsed = parse_ws_uri(new_uri)
                if (new_parsed.scheme, new_parsed.hostname, new_parsed.port) != (
                    parsed.scheme,
                    parsed.hostname,
                    parsed.port,
                ):
                    additional_headers = _without_credentials(additional_headers)
                uri, parsed = new_uri, new_parsed
                continue
            self._after_handshake(connection)
            return connection  # type: ignore[no-any-return]
        raise SecurityError(f"more than {_core.MAX_REDIRECTS} redirects")

    def _log_refused_attempt(self, exc: InvalidStatus) -> None:
        """websockets' DEBUG records of an attempt answered with another status than 101 (a redirect too)."""
        logger = self.logger
        logger.debug("= connection is CONNECTING")
        core_request = getattr(exc.__cause__, "_request", None)  # the core's WSInvalidStatusError
        if core_request is not None:
            log_request(logger, ">", _core.request_from_core(core_request))
        log_response(logger, "<", exc.response)
        logger.debug("= connection is CLOSED")

    @staticmethod
    def _redirect(
        exc: InvalidStatus, uri: str, parsed: urllib.parse.SplitResult, sockets: _SocketSource
    ) -> str | None:
        """The URI a redirect answer leads to (None: not a redirect); raises when it cannot be followed."""
        response = exc.response
        if response.status_code not in _REDIRECT_STATUSES or "Location" not in response.headers:
            return None
        new_uri = urllib.parse.urljoin(uri, response.headers["Location"])
        new = parse_ws_uri(new_uri)
        if sockets.sock is not None:
            raise ValueError(f"cannot follow redirect to {new_uri} with a preexisting socket") from exc
        if parsed.scheme == "wss" and new.scheme != "wss":
            raise SecurityError(f"cannot follow redirect to non-secure URI {new_uri}") from exc
        if (new.scheme, new.hostname, new.port) != (parsed.scheme, parsed.hostname, parsed.port):
            if sockets.unix:
                raise ValueError(
                    f"cannot follow cross-origin redirect to {new_uri} with a Unix socket"
                ) from exc
            if sockets.host is not None or sockets.port is not None:
                raise ValueError(
                    f"cannot follow cross-origin redirect to {new_uri} with an explicit host or port"
                ) from exc
        return new_uri

    def _after_handshake(self, connection: ClientConnection) -> None:
        if connection._handshake_failure is not None:
            raise connection._handshake_failure
        transport = connection._transport
        # The core refused any other answer than one of the offered subprotocols (see _core.handshake_error).
        values = transport.response.headers.getall("Sec-WebSocket-Protocol", [])
        if values:
            connection.subprotocol = values[0].strip()

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self.create().__await__()

    async def __aenter__(self) -> ClientConnection:
        return await self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.connection is not None
        # The connection's own __aexit__: an exception in the block closes with 1011, as websockets.
        await self.connection.__aexit__(exc_type, exc_value, traceback)

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        delays: Generator[float] | None = None
        while True:
            try:
                async with self as connection:
                    yield connection
            except Exception as exc:
                try:
                    new_exc = self.process_exception(exc)
                except Exception as raised:
                    new_exc = raised
                if new_exc is exc:
                    raise
                if new_exc is not None:
                    raise new_exc from exc
                if delays is None:
                    delays = self.reconnect_delays()
                delay = next(delays)
                self.logger.info(
                    "connect failed; reconnecting in %.1f seconds: %s",
                    delay,
                    traceback.format_exception_only(type(exc), exc)[0].strip(),
                )
                await asyncio.sleep(delay)
            else:
                delays = None


_REDIRECT_STATUSES = frozenset((300, 301, 302, 303, 307, 308))

# With an http(s):// proxy, as websockets: these configure the TLS with the proxy (without the
# prefix), those the TLS with the server through the tunnel; other arguments the proxy connection.
_PROXY_TLS_ARGUMENTS = ("proxy_server_hostname", "proxy_ssl_handshake_timeout", "proxy_ssl_shutdown_timeout")
_TUNNEL_TLS_ARGUMENTS = ("server_hostname", "ssl_handshake_timeout", "ssl_shutdown_timeout")


def _split_for_http_proxy(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``connect()``'s keyword arguments for the core when tunnelling through an http(s):// proxy."""
    rest = dict(kwargs)
    proxy_tls = {name[len("proxy_"):]: rest.pop(name) for name in _PROXY_TLS_ARGUMENTS if name in rest}
    tunnel_tls = {name: rest.pop(name) for name in _TUNNEL_TLS_ARGUMENTS if name in rest}
    if proxy_tls:
        rest["_proxy_tls_options"] = proxy_tls
    if tunnel_tls:
        rest["_tunnel_tls_options"] = tunnel_tls
    return rest


def _without_credentials(headers: HeadersLike | None) -> HeadersLike | None:
    """``headers`` without the ones that must not leak to another origin (as websockets)."""
    if headers is None:
        return None
    kept = [
        (name, value)
        for name, value in Headers(headers).raw_items()
        if name.lower() not in ("authorization", "cookie", "proxy-authorization")
    ]
    return Headers(kept)


class _SocketSource:
    """Where the connection's socket comes from: ``sock=``, ``host=``/``port=``, a Unix ``path``, or picows.

    Pops those arguments from ``kwargs``; :meth:`factory` is the core's ``socket_factory``.
    """

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.sock: socket.socket | None = kwargs.pop("sock", None)
        self.host: str | None = kwargs.pop("host", None)
        self.port: int | None = kwargs.pop("port", None)
        self.unix = bool(kwargs.pop("unix", False))
        self.path: Any = kwargs.pop("path", None)
        if not self.unix and self.path is not None:
            raise TypeError("connect() got an unexpected keyword argument 'path' (use unix_connect)")
        self.given = self.sock is not None or self.unix or self.host is not None or self.port is not None
        self._used = False

    def factory(self) -> Callable[[Any], Any] | None:
        if not self.given:
            return None
        return self._socket

    async def _socket(self, url: Any) -> socket.socket:
        if self.sock is not None:
            if self._used:  # pragma: no cover - redirects with a socket are refused before
                raise ValueError("the socket given to connect() was already used")
            self._used = True
            return self.sock
        loop = asyncio.get_running_loop()
        if self.unix:
            if self.path is None:
                raise ValueError("unix_connect() needs path or sock")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = self.path
            candidates = [(sock, address)]
        else:
            host = self.host if self.host is not None else url.host
            port = self.port if self.port is not None else url.port
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            if not infos:  # pragma: no cover - getaddrinfo raises instead
                raise OSError(f"getaddrinfo({host!r}, {port!r}) returned no address")
            candidates = [(socket.socket(fam, kind, proto), addr) for fam, kind, proto, _, addr in infos]
        error: OSError | None = None
        for index, (sock, address) in enumerate(candidates):
            try:
                sock.setblocking(False)
                await loop.sock_connect(sock, address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            except BaseException:
                for other, _ in candidates[index:]:
                    other.close()
                raise
            for other, _ in candidates[index + 1 :]:
                other.close()
            return sock
        assert error is not None
        raise error


def unix_connect(path: str | None = None, uri: str | None = None, **kwargs: Any) -> connect:
    """Connect to a WebSocket server listening on the Unix socket at ``path`` (or on ``sock=``).

    ``uri`` defaults to ``ws://localhost/`` (``wss://localhost/`` when ``ssl`` is given);
    other arguments are :func:`connect`'s.
    """
    if uri is None:
        uri = "ws://localhost/" if kwargs.get("ssl") is None else "wss://localhost/"
    if path is None and kwargs.get("sock") is None:
        raise ValueError("unix_connect() needs path or sock")
    if kwargs.get("sock") is not None:
        return connect(uri, **kwargs)
    return connect(uri, unix=True, path=path, **kwargs)
