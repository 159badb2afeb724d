"""Opening a TCP tunnel through an HTTP CONNECT, SOCKS4 or SOCKS5 proxy."""

from __future__ import annotations

import socket
import urllib.parse

__all__ = ["check_proxy_url", "open_tunnel"]

_SUPPORTED_SCHEMES = ("http", "socks4", "socks5")


def check_proxy_url(proxy: str | None) -> None:
    """Validate the ``proxy`` argument of ws_connect before any connection is made."""
    if proxy is None:
        return
    if not isinstance(proxy, str):
        raise TypeError(f"proxy must be a str URL or None, got {type(proxy).__name__}")
    parts = urllib.parse.urlsplit(proxy)
    scheme = parts.scheme.lower()
    if scheme == "https":
        raise ValueError("proxy: https:// proxies are not supported (use http://, socks4:// or socks5://)")
    if scheme not in _SUPPORTED_SCHEMES:
        raise ValueError(f"proxy: unsupported scheme {parts.scheme!r} (use http://, socks4:// or socks5://)")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"proxy: {exc}") from None
    if not parts.hostname or port is None:
        raise ValueError(f"proxy URL must have a host and a port: {proxy!r}")


async def open_tunnel(proxy: str, host: str, port: int, timeout: float | None) -> socket.socket:
    """Connect to ``host:port`` through ``proxy``; returns the connected socket.

    Proxy-level failures (refused CONNECT, bad credentials) raise
    ``python_socks.ProxyError``; unreachable proxies ``ProxyConnectionError``
    (an OSError); a stalled proxy ``ProxyTimeoutError``.
    """
    from python_socks.async_.asyncio import Proxy

    sock: socket.socket = await Proxy.from_url(proxy, rdns=True).connect(host, port, timeout=timeout)
    sock.setblocking(False)
    return sock
