"""ws_connect: the client entry point."""

from __future__ import annotations

import asyncio
import ssl as ssl_module
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from . import _backend
from ._errors import WSError
from ._handshake import ClientUpgrade, ExtraHeaders, normalize_headers
from ._limits import DEFAULT_MAX_FRAME_SIZE
from ._options import ConnectionOptions
from ._proxy import check_proxy_url, open_tunnel
from ._types import WSAutoPingStrategy
from ._url import ParsedURL, parse_url, resolve_redirect

if TYPE_CHECKING:
    # Both backends have the same surface; type checkers see the pure-Python one.
    from ._pure.transport import WSListener, WSTransport

__all__ = ["ws_connect"]

ListenerT = TypeVar("ListenerT", bound="WSListener")

_REDIRECT_STATUSES = frozenset((301, 302, 303, 307, 308))
_REJECTED_KWARGS = {
    "ssl": "use ssl_context",
    "sock": "picows opens the connection itself",
    "all_errors": "picows raises the connection error itself",
}


async def ws_connect(
    ws_listener_factory: Callable[[], ListenerT],
    url: str,
    *,
    ssl_context: ssl_module.SSLContext | None = None,
    disconnect_on_exception: bool = True,
    websocket_handshake_timeout: float = 5,
    logger_name: str = "client",
    enable_auto_ping: bool = False,
    auto_ping_idle_timeout: float = 10,
    auto_ping_reply_timeout: float = 10,
    auto_ping_strategy: WSAutoPingStrategy = WSAutoPingStrategy.PING_WHEN_IDLE,
    enable_auto_pong: bool = True,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    extra_headers: ExtraHeaders = None,
    max_redirects: int = 5,
    proxy: str | None = None,
    check_fragment_order: bool = False,
    **kwargs: Any,
) -> tuple[WSTransport, ListenerT]:
    """Open a WebSocket connection to ``url`` and return ``(transport, listener)``.

    Returns once the opening handshake has succeeded; ``ws_listener_factory()``
    is called then to create the :class:`WSListener`, whose
    ``on_ws_connected`` runs before this coroutine returns.

    :param ws_listener_factory: a callable with no arguments returning a WSListener.
    :param url: ``ws://`` or ``wss://`` URL; non-ASCII hosts and paths are
        IDNA-/percent-encoded. Invalid URLs raise :class:`WSInvalidURL`.
    :param ssl_context: SSL context for ``wss://``; default: a verifying
        context from :func:`ssl.create_default_context`.
    :param disconnect_on_exception: if a listener callback raises, send
        CLOSE(INTERNAL_ERROR) and disconnect (True) or only log it (False).
    :param websocket_handshake_timeout: seconds for the opening handshake:
        the TLS handshake of ``wss://`` (unless ``ssl_handshake_timeout`` is
        given) and, separately, receiving a valid 101 response once connected.
        On expiry the connection is aborted and :class:`asyncio.TimeoutError` raised.
    :param logger_name: connections log to ``picows.<logger_name>``.
    :param enable_auto_ping: send pings and close the connection when no pong arrives.
    :param auto_ping_idle_timeout: seconds of idleness (or the period) before a ping.
    :param auto_ping_reply_timeout: seconds to wait for the pong before
        CLOSE(GOING_AWAY) and abort; may not exceed ``auto_ping_idle_timeout``.
    :param auto_ping_strategy: :class:`WSAutoPingStrategy`.
    :param enable_auto_pong: answer PING frames automatically (they are not
        delivered to ``on_ws_frame``).
    :param max_frame_size: largest accepted payload in bytes (default 10 MiB);
        a bigger frame closes the connection with MESSAGE_TOO_BIG.
    :param extra_headers: mapping or iterable of ``(str, str)`` pairs added to
        the upgrade request.
    :param max_redirects: how many 301/302/303/307/308 redirects to follow; 0
        disables. Redirects from ``wss://`` to ``ws://`` are refused.
    :param proxy: ``http://``, ``socks4://`` or ``socks5://`` proxy URL,
        optionally with ``user:password@``.
    :param check_fragment_order: fail the connection (PROTOCOL_ERROR) on a
        CONTINUATION frame outside a fragmented message or a new data frame
        inside one. Off by default: frames are passed through as received.
    :param kwargs: passed to :meth:`asyncio.loop.create_connection`
        (``ssl``, ``sock`` and ``all_errors`` are rejected).
    :raises WSError: the server rejected the upgrade or answered incorrectly
        (``raw_header``, ``raw_body`` and ``response`` tell how).
    :raises OSError: connecting failed (refused, reset, DNS), unwrapped.
    """
    if not callable(ws_listener_factory):
        raise TypeError("ws_listener_factory must be callable")
    for name, why in _REJECTED_KWARGS.items():
        if name in kwargs:
            raise TypeError(f"ws_connect() does not accept {name!r}: {why}")
    if isinstance(max_redirects, bool) or not isinstance(max_redirects, int):
        raise TypeError(f"max_redirects must be an int, got {type(max_redirects).__name__}")
    if max_redirects < 0:
        raise ValueError(f"max_redirects must be >= 0, got {max_redirects}")
    if ssl_context is not None and not isinstance(ssl_context, ssl_module.SSLContext):
        raise TypeError(f"ssl_context must be an ssl.SSLContext or None, got {type(ssl_context).__name__}")
    normalize_headers(extra_headers)  # validate early, before connecting
    check_proxy_url(proxy)
    options = ConnectionOptions.from_arguments(locals())
    target = parse_url(url)
    redirects = 0
    while True:
        try:
            return await _connect_once(
                ws_listener_factory, target, options, ssl_context, extra_headers, proxy, kwargs
            )
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
            if target.secure and not new_target.secure:
                raise WSError(
                    f"refusing to follow a redirect from wss:// to ws:// ({new_target.url})",
                    exc.raw_header,
                    exc.raw_body,
                    exc.response,
                ) from exc
            target = new_target


def _consume_result(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _redirect_location(exc: WSError) -> str | None:
    response = exc.response
    if response is None or int(response.status) not in _REDIRECT_STATUSES:
        return None
    return response.headers.get("Location")


async def _connect_once(
    ws_listener_factory: Callable[[], ListenerT],
    target: ParsedURL,
    options: ConnectionOptions,
    ssl_context: ssl_module.SSLContext | None,
    extra_headers: ExtraHeaders,
    proxy: str | None,
    kwargs: dict[str, Any],
) -> tuple[WSTransport, ListenerT]:
    loop = asyncio.get_running_loop()
    upgrade = ClientUpgrade(target, extra_headers)
    ssl: ssl_module.SSLContext | None = None
    if target.secure:
        ssl = ssl_context if ssl_context is not None else ssl_module.create_default_context()
        # The TLS handshake is part of the opening handshake unless the caller says otherwise.
        kwargs = {"ssl_handshake_timeout": options.websocket_handshake_timeout, **kwargs}

    def protocol_factory() -> Any:
        return _backend.impl.WSProtocol(True, options, ws_listener_factory, upgrade)

    if proxy is not None:
        sock = await open_tunnel(proxy, target.host, target.port, options.websocket_handshake_timeout)
        try:
            transport, protocol = await loop.create_connection(
                protocol_factory, sock=sock, ssl=ssl, server_hostname=target.host if ssl else None, **kwargs
            )
        except BaseException:
            sock.close()
            raise
    else:
        transport, protocol = await loop.create_connection(
            protocol_factory, target.host, target.port, ssl=ssl, **kwargs
        )
    try:
        await asyncio.wait_for(
            asyncio.shield(protocol.handshake_complete), options.websocket_handshake_timeout
        )
    except BaseException:
        # The protocol will still fail its future when the aborted connection is lost.
        protocol.handshake_complete.add_done_callback(_consume_result)
        transport.abort()
        raise
    return protocol.transport, protocol.listener
