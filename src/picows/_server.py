"""ws_create_server: the server entry point."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable, Union

from . import _backend
from ._deflate import PerMessageDeflateOption
from ._limits import DEFAULT_MAX_FRAME_SIZE
from ._netlayer import select_net_layer
from ._options import (
    CREATE_SERVER,
    SERVER_INTERNAL_OPTIONS,
    ConnectionOptions,
    LoggerLike,
    check_loop_kwargs,
    pop_internal_options,
)
from ._types import WSAutoPingStrategy

if TYPE_CHECKING:
    from ._handshake import WSUpgradeRequest, WSUpgradeResponseWithListener
    from ._pure.transport import WSListener

__all__ = ["ws_create_server"]

#: What ``ws_listener_factory`` may return (see ws_create_server), or an awaitable of it.
RouteResult = Union["WSListener", "WSUpgradeResponseWithListener", None]
Router = Callable[["WSUpgradeRequest"], Union[RouteResult, Awaitable[RouteResult]]]


async def ws_create_server(
    ws_listener_factory: Router,
    host: str | list[str] | None = None,
    port: int | None = None,
    *,
    disconnect_on_exception: bool = True,
    websocket_handshake_timeout: float | None = 5,
    logger_name: LoggerLike = "server",
    enable_auto_ping: bool = False,
    auto_ping_idle_timeout: float = 20,
    auto_ping_reply_timeout: float = 20,
    auto_ping_strategy: WSAutoPingStrategy = WSAutoPingStrategy.PING_WHEN_IDLE,
    enable_auto_pong: bool = True,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    check_fragment_order: bool = False,
    validate_utf8: bool = False,
    auto_close: bool = False,
    close_timeout: float | None = 10,
    read_buffer_init_size: int = 4096,
    permessage_deflate: PerMessageDeflateOption = None,
    zero_copy_unsafe_ssl_write: bool = False,
    use_aiofastnet: bool | None = None,
    **kwargs: Any,
) -> asyncio.Server:
    """Start a WebSocket server; a thin layer over :meth:`asyncio.loop.create_server`.

    For every connection picows reads the HTTP request (at most 16 KiB of
    head), answers a malformed one with ``400 Bad Request``, and passes every
    well-formed ``GET`` (a WebSocket upgrade or not) as :class:`WSUpgradeRequest`
    to ``ws_listener_factory(request)``, which routes by returning:

    * a :class:`WSListener`: the connection is upgraded (standard 101), if the
      request is a valid WebSocket upgrade (else ``400``);
    * a :class:`WSUpgradeResponseWithListener`: that response is sent (a 101
      with extra headers; or a 200 from
      :meth:`WSUpgradeResponse.create_ok_response`, an error or a redirect,
      with ``listener=None``);
    * ``None``: ``404 Not Found``;
    * or it raises: ``500 Internal Server Error`` with the exception text.

    The factory may be a coroutine function (or return an awaitable): it is
    awaited within ``websocket_handshake_timeout``. Non-101 responses carry
    ``Connection: close`` and are followed by a disconnect; so is a client
    that has not been answered within ``websocket_handshake_timeout`` seconds.

    :param host: as for :meth:`asyncio.loop.create_server`.
    :param port: as for :meth:`asyncio.loop.create_server`.
    :param disconnect_on_exception: see :func:`ws_connect`.
    :param websocket_handshake_timeout: seconds from accepting a connection to
        answering its request, an async ``ws_listener_factory`` included
        (slow-loris protection); None: no limit.
    :param logger_name: see :func:`ws_connect` (default ``picows.server``).
    :param enable_auto_ping: see :func:`ws_connect` (defaults 20 s / 20 s here).
    :param auto_ping_idle_timeout: see :func:`ws_connect`.
    :param auto_ping_reply_timeout: see :func:`ws_connect`.
    :param auto_ping_strategy: see :func:`ws_connect`.
    :param enable_auto_pong: see :func:`ws_connect`.
    :param max_frame_size: see :func:`ws_connect`.
    :param check_fragment_order: see :func:`ws_connect`.
    :param validate_utf8: see :func:`ws_connect`.
    :param auto_close: see :func:`ws_connect`.
    :param close_timeout: see :func:`ws_connect`.
    :param read_buffer_init_size: see :func:`ws_connect`.
    :param permessage_deflate: accept the permessage-deflate extension (RFC
        7692) when a client offers it: True for the defaults, a
        :class:`PerMessageDeflate` for our preferences and compression
        settings, None/False (default) to decline every offer. A factory
        answer that sets ``Sec-WebSocket-Extensions`` itself is left alone.
    :param zero_copy_unsafe_ssl_write: accepted for picows 1.15 code and ignored.
    :param use_aiofastnet: see :func:`ws_connect`.
    :param kwargs: passed to :meth:`asyncio.loop.create_server` (``ssl``,
        ``reuse_port``, ``backlog``, ``start_serving``, ...); unknown names
        raise TypeError before the server starts.
    """
    if not callable(ws_listener_factory):
        raise TypeError("ws_listener_factory must be callable")
    internal = pop_internal_options(kwargs, SERVER_INTERNAL_OPTIONS)
    check_loop_kwargs("ws_create_server", kwargs, CREATE_SERVER)
    options = ConnectionOptions.from_arguments(locals(), "server", None, internal)
    net = select_net_layer(use_aiofastnet, _backend.BACKEND, kwargs.get("ssl") is not None)
    if kwargs.get("ssl") is not None and options.websocket_handshake_timeout is not None:
        # The TLS handshake is part of the opening: a client stalling it is cut as one
        # stalling the upgrade request would be (not after asyncio's 60 s default).
        kwargs.setdefault("ssl_handshake_timeout", options.websocket_handshake_timeout)
    protocol_class = _backend.impl.WSProtocol

    def protocol_factory() -> Any:
        return protocol_class(False, options, ws_listener_factory)

    loop = asyncio.get_running_loop()
    server: asyncio.Server = await net.create_server(loop, protocol_factory, host, port, **kwargs)
    return server
