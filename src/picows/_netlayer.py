"""Which networking primitives open picows' connections: the event loop's own, or aiofastnet's.

aiofastnet (an optional, CPython-only dependency) reimplements asyncio's
transports in C/Cython and drives OpenSSL directly; its TLS transport is much
faster than the stock one of asyncio and of uvloop. For plain TCP the
compiled backend's own path is faster (it reads with recv() in C on the stdlib
loop and sends directly to the socket), so ``use_aiofastnet`` of ws_connect /
ws_create_server chooses:

* ``None`` (default): aiofastnet for TLS connections (``wss://``, an
  ``https://`` proxy, a server with ``ssl=``) when it is installed and the
  compiled backend is in use (the pure backend stays pure Python unless
  asked); the loop's own transports otherwise;
* ``True``: aiofastnet for every connection, or an ImportError saying how to
  install it;
* ``False``: the loop's own transports.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, NamedTuple

__all__ = ["NetLayer", "aiofastnet_available", "is_aiofastnet_transport", "select_net_layer"]

_INSTALL_HINT = "pip install aiofastnet (CPython only)"


class NetLayer(NamedTuple):
    """The three primitives picows needs, bound to one implementation."""

    name: str
    create_connection: Callable[..., Any]  # (loop, protocol_factory, host, port, **kwargs)
    create_server: Callable[..., Any]  # (loop, protocol_factory, host, port, **kwargs)
    start_tls: Callable[..., Any]  # (loop, transport, protocol, sslcontext, **kwargs)


def _stock_create_connection(loop: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> Any:
    return loop.create_connection(*args, **kwargs)


def _stock_create_server(loop: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> Any:
    return loop.create_server(*args, **kwargs)


def _stock_start_tls(loop: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> Any:
    return loop.start_tls(*args, **kwargs)


STOCK = NetLayer("stock", _stock_create_connection, _stock_create_server, _stock_start_tls)

_aiofastnet: Any = None
_aiofastnet_error: BaseException | None = None
#: What ``use_aiofastnet=None`` means, when not None (the test suite runs every TLS test on both paths).
default_override: bool | None = None


def _import_aiofastnet() -> Any:
    global _aiofastnet, _aiofastnet_error
    if _aiofastnet is None and _aiofastnet_error is None:
        try:
            import aiofastnet
        except ImportError as exc:
            _aiofastnet_error = exc
        else:
            _aiofastnet = aiofastnet
    return _aiofastnet


def aiofastnet_available() -> bool:
    """True if aiofastnet can be imported here."""
    return _import_aiofastnet() is not None


def is_aiofastnet_transport(transport: object) -> bool:
    """True for aiofastnet's transports (their ``write_nocheck`` copies what it cannot send at once)."""
    module = _aiofastnet
    return module is not None and isinstance(transport, module.Transport)


def select_net_layer(use_aiofastnet: bool | None, backend: str, tls: bool) -> NetLayer:
    """The primitives for ``use_aiofastnet`` and a connection with or without ``tls`` (module docstring)."""
    if use_aiofastnet is not None and not isinstance(use_aiofastnet, bool):
        raise TypeError(f"use_aiofastnet must be a bool or None, got {type(use_aiofastnet).__name__}")
    if use_aiofastnet is None:
        use_aiofastnet = default_override
    if use_aiofastnet is False or (use_aiofastnet is None and (backend != "cython" or not tls)):
        return STOCK
    module = _import_aiofastnet()
    if module is None:
        if use_aiofastnet:
            raise ImportError(
                f"use_aiofastnet=True, but aiofastnet cannot be imported ({_aiofastnet_error}): "
                + _INSTALL_HINT
            )
        return STOCK
    return NetLayer("aiofastnet", module.create_connection, module.create_server, module.start_tls)
