"""ws_connect: the client entry point."""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl as ssl_module
import sys
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable, TypeVar, Union

from . import _backend
from ._deflate import PerMessageDeflateOption
from ._errors import WSError
from ._handshake import ClientUpgrade, ExtraHeaders, normalize_headers
from ._limits import DEFAULT_MAX_FRAME_SIZE
from ._netlayer import STOCK, select_net_layer
from ._options import (
    CLIENT_INTERNAL_OPTIONS,
    CREATE_CONNECTION,
    ConnectionOptions,
    LoggerLike,
    check_loop_kwargs,
    pop_internal_options,
)
from ._proxy import ConnectTunnel, check_proxy_url, proxy_connection_error, socks_tunnel
from ._types import WSAutoPingStrategy
from ._url import WSParsedURL, parse_proxy_url, parse_url, resolve_redirect

if TYPE_CHECKING:
    # Both backends have the same surface; type checkers see the pure-Python one.
    from ._pure.transport import WSListener, WSTransport

__all__ = ["ws_connect"]

ListenerT = TypeVar("ListenerT", bound="WSListener")
#: ``socket_factory(parsed_url)``: a socket (connected or not), None, or an awaitable of either.
SocketFactory = Callable[[WSParsedURL], Union[socket.socket, None, Awaitable[Union[socket.socket, None]]]]

_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
_REJECTED_KWARGS = {
    "ssl": "use ssl_context",
    "sock": "use socket_factory",
    "all_errors": "picows raises the connection error itself",
}


async def ws_connect(
    ws_listener_factory: Callable[..., ListenerT],
    url: str,
    *,
    ssl_context: ssl_module.SSLContext | None = None,
    disconnect_on_exception: bool = True,
    websocket_handshake_timeout: float | None = 5,
    logger_name: LoggerLike = "client",
    enable_auto_ping: bool = False,
    auto_ping_idle_timeout: float = 10,
    auto_ping_reply_timeout: float = 10,
    auto_ping_strategy: WSAutoPingStrategy = WSAutoPingStrategy.PING_WHEN_IDLE,
    enable_auto_pong: bool = True,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    extra_headers: ExtraHeaders = None,
    max_redirects: int = 5,
    proxy: str | None = None,
    proxy_ssl_context: ssl_module.SSLContext | None = None,
    socket_factory: SocketFactory | None = None,
    check_fragment_order: bool = False,
    validate_utf8: bool = False,
    auto_close: bool = False,
    close_timeout: float | None = 10,
    read_buffer_init_size: int = 4096,
    permessage_deflate: PerMessageDeflateOption = None,
    zero_copy_unsafe_ssl_write: bool = False,
    use_aiofastnet: bool | None = None,
    **kwargs: Any,
) -> tuple[WSTransport, ListenerT]:
    """Open a WebSocket connection to ``url`` and return ``(transport, listener)``.

    Returns once the opening handshake has succeeded; the listener is created
    then, and its ``on_ws_connected`` runs before this coroutine returns.

    :param ws_listener_factory: creates the :class:`WSListener`: a callable with
        no arguments (e.g. the listener class), or one taking ``(request,
        response)``, the :class:`WSUpgradeRequest` sent and the
        :class:`WSUpgradeResponse` received.
    :param url: ``ws://`` or ``wss://`` URL; non-ASCII hosts and paths are
        IDNA-/percent-encoded. Invalid URLs raise :class:`WSInvalidURL`.
    :param ssl_context: SSL context for ``wss://``; default: a verifying
        context from :func:`ssl.create_default_context`.
    :param disconnect_on_exception: if ``on_ws_frame`` raises, send
        CLOSE(INTERNAL_ERROR) and disconnect (True) or only log it (False).
    :param websocket_handshake_timeout: seconds for the whole opening: TCP
        connect, proxy tunnel, TLS handshake and the HTTP upgrade. On expiry the
        attempt is aborted and :class:`asyncio.TimeoutError` raised, its message
        saying which stage stalled. None: no limit.
    :param logger_name: a ``str`` (logs go to ``picows.<logger_name>``), a
        :class:`logging.Logger` or :class:`logging.LoggerAdapter` used as is, or
        None (``picows.client``).
    :param enable_auto_ping: send pings and close the connection when no pong arrives.
    :param auto_ping_idle_timeout: seconds of idleness (or the period) before a ping.
    :param auto_ping_reply_timeout: seconds to wait for the pong before
        CLOSE(GOING_AWAY) and abort; may not exceed ``auto_ping_idle_timeout``.
    :param auto_ping_strategy: :class:`WSAutoPingStrategy`.
    :param enable_auto_pong: answer PING frames automatically (they are not
        delivered to ``on_ws_frame``).
    :param max_frame_size: largest accepted payload of a data frame in bytes
        (default 10 MiB); a bigger one closes the connection with MESSAGE_TOO_BIG.
    :param extra_headers: mapping or iterable of ``(str, str)`` pairs added to
        the upgrade request (a ``Host`` or ``User-Agent`` given here replaces picows' own).
    :param max_redirects: how many 301/302/303/307/308 redirects to follow; 0
        disables. Redirects from ``wss://`` to ``ws://`` are refused.
    :param proxy: ``http://``, ``https://``, ``socks4://`` or ``socks5://``
        proxy URL, optionally with ``user:password@``.
    :param proxy_ssl_context: SSL context for the TLS connection to an
        ``https://`` proxy (default: a verifying one); with ``wss://`` the
        target's TLS then runs inside it.
    :param socket_factory: ``socket_factory(parsed_url)`` returns the socket to
        use (connected or not; picows connects it), None to let picows connect,
        or an awaitable of either. It receives the :class:`WSParsedURL` of the
        target, or of the proxy when ``proxy`` is given.
    :param check_fragment_order: fail the connection (PROTOCOL_ERROR) on a
        CONTINUATION frame outside a fragmented message or a new data frame
        inside one. Off by default: frames are passed through as received.
    :param validate_utf8: check that text messages are valid UTF-8 (across
        fragments, incrementally); the frame with the first invalid byte
        sequence closes the connection with INVALID_TEXT and is not delivered.
    :param auto_close: answer the peer's CLOSE with a CLOSE of the same code and
        disconnect, after the CLOSE frame was delivered to ``on_ws_frame``.
    :param close_timeout: seconds the peer has to complete the closing
        handshake after picows sent CLOSE; then the connection is dropped.
        None: wait forever.
    :param read_buffer_init_size: initial size of the receive buffer (at least
        2048; allocated at the first read after the handshake, it grows with
        the data received).
    :param permessage_deflate: offer the permessage-deflate extension (RFC
        7692): True for the defaults, a :class:`PerMessageDeflate` to choose the
        offer and the compression settings, None/False (default) for no
        compression (received RSV1 bits are then passed through untouched).
        What was agreed is :attr:`WSTransport.permessage_deflate`.
    :param zero_copy_unsafe_ssl_write: accepted for picows 1.15 code and ignored.
    :param use_aiofastnet: open the connection with aiofastnet's transports
        (much faster TLS): None (default) when it is installed and the compiled
        backend is in use, True to require it (ImportError when missing),
        False for the event loop's own transports.
    :param kwargs: passed to :meth:`asyncio.loop.create_connection` (e.g.
        ``local_addr``); unknown names raise TypeError before any I/O.
    :raises WSInvalidStatusError: the server answered with a status other than 101.
    :raises WSHandshakeError: the server's answer is not a valid upgrade (see
        its subclasses; ``raw_header``, ``raw_body`` and ``response`` tell how).
    :raises WSError: too many redirects, or a redirect from ``wss://`` to ``ws://``.
    :raises asyncio.TimeoutError: ``websocket_handshake_timeout`` expired.
    :raises OSError: connecting failed (refused, reset, DNS), unwrapped.
    """
    if not callable(ws_listener_factory):
        raise TypeError("ws_listener_factory must be callable")
    for name, why in _REJECTED_KWARGS.items():
        if name in kwargs:
            raise TypeError(f"ws_connect() does not accept {name!r}: {why}")
    internal = pop_internal_options(kwargs, CLIENT_INTERNAL_OPTIONS)
    proxy_tls = _tls_options(kwargs, "_proxy_tls_options", _PROXY_TLS_KEYS)
    tunnel_tls = _tls_options(kwargs, "_tunnel_tls_options", _TUNNEL_TLS_KEYS)
    check_loop_kwargs("ws_connect", kwargs, CREATE_CONNECTION)
    if isinstance(max_redirects, bool) or not isinstance(max_redirects, int):
        raise TypeError(f"max_redirects must be an int, got {type(max_redirects).__name__}")
    if max_redirects < 0:
        raise ValueError(f"max_redirects must be >= 0, got {max_redirects}")
    if ssl_context is not None and not isinstance(ssl_context, ssl_module.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext or None, got {type(ssl_context).__name__}")
    if socket_factory is not None and not callable(socket_factory):
        raise TypeError("socket_factory must be callable or None")
    normalize_headers(extra_headers)  # validate early, before connecting
    check_proxy_url(proxy, proxy_ssl_context)
    options = ConnectionOptions.from_arguments(locals(), "client", ws_listener_factory, internal)
    select_net_layer(use_aiofastnet, _backend.BACKEND, True)  # validate before any I/O
    if options.permessage_deflate is not None:
        ClientUpgrade(parse_url(url), extra_headers, options.permessage_deflate)  # header conflicts, early
    target = parse_url(url)
    attempt = _Attempt(
        use_aiofastnet,
        ws_listener_factory,
        options,
        ssl_context,
        extra_headers,
        proxy,
        proxy_ssl_context,
        socket_factory,
        kwargs,
        proxy_tls,
        tunnel_tls,
    )
    redirects = 0
    while True:
        try:
            return await attempt.run(target)
        except WSError as exc:
            location = _redirect_location(exc)
            if location is None or max_redirects == 0:
                raise
            if redirects >= max_redirects:
                raise WSError(
                    f"too many redirects (max_redirects={max_redirects})",
                    exc.raw_header,
                    exc.raw_body,
                    exc.response,
                ) from exc
            redirects += 1
            new_target = resolve_redirect(target, location)
            if target.is_secure and not new_target.is_secure:
                raise WSError(
                    f"refusing to follow a redirect from wss:// to ws:// ({new_target.url})",
                    exc.raw_header,
                    exc.raw_body,
                    exc.response,
                ) from exc
            target = new_target


# Internal keywords of picows.websockets (websockets' proxy_* arguments), for an http(s):// proxy only:
# the TLS with the proxy itself, and the TLS with the server inside the CONNECT tunnel.
_PROXY_TLS_KEYS = frozenset(("server_hostname", "ssl_handshake_timeout", "ssl_shutdown_timeout"))
_TUNNEL_TLS_KEYS = _PROXY_TLS_KEYS


def _tls_options(kwargs: dict[str, Any], name: str, allowed: frozenset[str]) -> dict[str, Any]:
    """Take the internal keyword ``name`` (a dict of TLS arguments among ``allowed``) out of ``kwargs``."""
    options = kwargs.pop(name, None)
    if options is None:
        return {}
    if not isinstance(options, dict) or not set(options) <= allowed:
        raise TypeError(f"{name} must be a dict with keys among {sorted(allowed)}")
    return dict(options)


def _redirect_location(exc: WSError) -> str | None:
    response = exc.response
    if response is None or int(response.status) not in _REDIRECT_STATUSES:
        return None
    return response.headers.get("Location")


class _Attempt:
    """One ws_connect call: connects to a target (again for each redirect) within the handshake timeout."""

    def __init__(
        self,
        use_aiofastnet: bool | None,
        listener_factory: Callable[..., Any],
        options: ConnectionOptions,
        ssl_context: ssl_module.SSLContext | None,
        extra_headers: ExtraHeaders,
        proxy: str | None,
        proxy_ssl_context: ssl_module.SSLContext | None,
        socket_factory: SocketFactory | None,
        kwargs: dict[str, Any],
        proxy_tls: dict[str, Any],
        tunnel_tls: dict[str, Any],
    ) -> None:
        self.use_aiofastnet = use_aiofastnet
        self.net = STOCK
        self.listener_factory = listener_factory
        self.options = options
        self.ssl_context = ssl_context
        self.extra_headers = extra_headers
        self.proxy = proxy
        self.proxy_url = parse_proxy_url(proxy) if proxy is not None else None
        self.proxy_ssl_context = proxy_ssl_context
        self.socket_factory = socket_factory
        self.kwargs = kwargs
        self.proxy_tls = proxy_tls  # extra arguments of the TLS with an https:// proxy
        self.tunnel_tls = tunnel_tls  # ... and of the TLS with the server through a CONNECT tunnel
        self.stage = ""  # what the attempt is waiting for, for the timeout's message
        self.transport: asyncio.BaseTransport | None = None

    async def run(self, target: WSParsedURL) -> tuple[Any, Any]:
        tls = target.is_secure or (self.proxy_url is not None and self.proxy_url.is_secure)
        self.net = select_net_layer(self.use_aiofastnet, _backend.BACKEND, tls)
        self.stage = "connecting"
        self.transport = None
        timeout = self.options.websocket_handshake_timeout
        try:
            if timeout is None:
                return await self._connect(target)
            return await asyncio.wait_for(self._connect(target), timeout)
        except asyncio.TimeoutError:
            self._abort()
            raise asyncio.TimeoutError(
                f"websocket handshake timeout: {self.stage} did not complete within {timeout} s"
            ) from None
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()  # type: ignore[attr-defined]
            self.transport = None

    async def _connect(self, target: WSParsedURL) -> tuple[Any, Any]:
        loop = asyncio.get_running_loop()
        upgrade = ClientUpgrade(
            target,
            self.extra_headers,
            self.options.permessage_deflate,
            self.options.send_user_agent,
            self.options.extension_offer,
            self.options.head_limits,
        )
        ssl: ssl_module.SSLContext | None = None
        if target.is_secure:
            ssl = self.ssl_context if self.ssl_context is not None else ssl_module.create_default_context()
        options, factory = self.options, self.listener_factory

        def protocol_factory() -> Any:
            return _backend.impl.WSProtocol(True, options, factory, upgrade)

        where = f"{target.host}:{target.port}"
        if self.proxy_url is None:
            self.stage = f"connecting to {where}"
            sock = await self._user_socket(target)
            if ssl is not None:
                self.stage = f"the TLS handshake with {where} (a plain ws:// server stalls it)"
            try:
                transport, protocol = await self._create_connection(loop, protocol_factory, target, ssl, sock)
            except ssl_module.SSLError as exc:
                raise _with_tls_hint(exc, where) from exc
            except ConnectionResetError as exc:
                if ssl is None:
                    raise
                # The peer hung up during the TLS handshake: a plain server answering our
                # ClientHello with an HTTP error and a close looks like this.
                raise ConnectionResetError(
                    exc.errno, f"{exc.strerror or 'connection reset'} during the TLS handshake with {where} "
                    "(a plain ws:// server, or one that refused our TLS parameters or certificate?)"
                ) from exc
        elif self.proxy_url.scheme in ("http", "https"):
            transport, protocol = await self._through_connect_proxy(
                loop, protocol_factory, target, ssl, upgrade.user_agent
            )
        else:
            via = f"the proxy {self.proxy_url.host}:{self.proxy_url.port}"
            self.stage = f"the SOCKS tunnel to {where} through {via}"
            assert self.proxy is not None
            proxy_sock = await self._user_socket(self.proxy_url)
            sock = await socks_tunnel(
                self.proxy, proxy_sock, target.host, target.port, self.options.socks_remote_dns
            )
            self.stage = f"the TLS handshake with {where} through the proxy"
            transport, protocol = await self._create_connection(loop, protocol_factory, target, ssl, sock)
        self.transport = transport
        self.stage = (
            f"the upgrade response from {where} (the server accepted the connection but did not answer the "
            "HTTP upgrade: not a WebSocket server, or a TLS server on a ws:// URL?)"
        )
        await asyncio.shield(protocol.handshake_complete)
        protocol.handshake_complete = None  # done with: an open connection does not keep it
        self.transport = None  # ours now: no abort on a later error
        return protocol.transport, protocol.listener

    async def _create_connection(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], Any],
        target: WSParsedURL,
        ssl: ssl_module.SSLContext | None,
        sock: socket.socket | None,
    ) -> tuple[asyncio.BaseTransport, Any]:
        if sock is None:
            result: tuple[asyncio.BaseTransport, Any] = await self.net.create_connection(
                loop, protocol_factory, target.host, target.port, ssl=ssl, **self.kwargs
            )
            return result
        try:
            result = await self.net.create_connection(
                loop, protocol_factory, sock=sock, ssl=ssl, server_hostname=target.host if ssl else None,
                **self.kwargs,
            )
        except BaseException:
            sock.close()
            raise
        return result

    async def _user_socket(self, url: WSParsedURL) -> socket.socket | None:
        """The socket from ``socket_factory`` (connected to ``url``), or None to connect normally."""
        if self.socket_factory is None:
            return None
        result = self.socket_factory(url)
        if inspect.isawaitable(result):
            result = await result
        if result is None:
            return None
        if not isinstance(result, socket.socket):
            raise TypeError(
                f"socket_factory must return a socket.socket, None or an awaitable of them, "
                f"got {type(result).__name__}"
            )
        result.setblocking(False)
        try:
            result.getpeername()
        except OSError:  # not connected yet
            try:
                await asyncio.get_running_loop().sock_connect(result, (url.host, url.port))
            except BaseException:
                result.close()
                raise
        return result

    async def _through_connect_proxy(
        self, loop: asyncio.AbstractEventLoop, protocol_factory: Callable[[], Any], target: WSParsedURL,
        ssl: ssl_module.SSLContext | None, user_agent: str | None,
    ) -> tuple[asyncio.BaseTransport, Any]:
        proxy = self.proxy_url
        assert proxy is not None
        via = f"the proxy {proxy.host}:{proxy.port}"
        proxy_ssl = None
        if proxy.is_secure:
            proxy_ssl = self.proxy_ssl_context or ssl_module.create_default_context()
        self.stage = f"connecting to {via}"
        sock = await self._user_socket(proxy)
        tunnel = ConnectTunnel(target.host, target.port, proxy.username, proxy.password, user_agent)
        proxy_tls = dict(self.proxy_tls)
        try:
            if sock is None:
                tunnel_transport, _ = await self.net.create_connection(
                    loop, lambda: tunnel, proxy.host, proxy.port, ssl=proxy_ssl, **self.kwargs, **proxy_tls
                )
            else:
                proxy_tls.setdefault("server_hostname", proxy.host if proxy_ssl else None)
                tunnel_transport, _ = await self.net.create_connection(
                    loop, lambda: tunnel, sock=sock, ssl=proxy_ssl, **self.kwargs, **proxy_tls
                )
        except ssl_module.SSLError:
            raise
        except OSError as exc:
            raise proxy_connection_error(proxy.host, proxy.port, exc) from exc
        self.transport = tunnel_transport
        self.stage = f"the CONNECT tunnel to {target.host}:{target.port} through {via} (no answer from it)"
        await tunnel.established
        transport: asyncio.BaseTransport = tunnel_transport
        if ssl is not None:
            self.stage = f"the TLS handshake with {target.host}:{target.port} through {via}"
            if proxy_ssl is not None and self.net is STOCK and sys.version_info < (3, 11):
                raise NotImplementedError(
                    "wss:// through an https:// proxy runs TLS inside TLS, which asyncio supports from "
                    "Python 3.11 on (use an http:// proxy, or Python >= 3.11)"
                )
            tunnel_tls = {"server_hostname": target.host, **self.tunnel_tls}
            tls = await self.net.start_tls(loop, tunnel_transport, tunnel, ssl, **tunnel_tls)
            if tls is None:
                raise ConnectionError(f"the connection to {via} closed during the TLS handshake")
            transport = tls
            self.transport = transport
        protocol = protocol_factory()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        return transport, protocol


# OpenSSL's reasons when the server's first bytes are not a TLS record (e.g. an HTTP answer).
_NOT_TLS_REASONS = frozenset(
    ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST")
)


def _with_tls_hint(exc: ssl_module.SSLError, where: str) -> ssl_module.SSLError:
    """The same TLS error, with a hint when the server plainly does not speak TLS."""
    if getattr(exc, "reason", None) not in _NOT_TLS_REASONS:
        return exc
    message = f"{exc.strerror or exc}: {where} does not speak TLS (a plain ws:// server?)"
    hinted = type(exc)(exc.errno, message)
    for attr in ("library", "reason"):
        setattr(hinted, attr, getattr(exc, attr, None))
    return hinted
