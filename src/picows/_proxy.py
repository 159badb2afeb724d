"""Tunnels through proxies: HTTP(S) CONNECT (ours) and SOCKS4/SOCKS5 (python-socks)."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl as ssl_module
import urllib.parse
from typing import Any

from python_socks import ProxyConnectionError, ProxyError

from ._url import PROXY_SCHEMES, PROXY_SCHEMES_TEXT

__all__ = [
    "ConnectTunnel",
    "check_proxy_url",
    "socks_tunnel",
]

#: Whether the proxy resolves the target's host name, by SOCKS scheme. SOCKS4
#: requests carry IPv4 addresses only (we resolve, as python-socks and the
#: published picows do); SOCKS4a and SOCKS5 carry names (the proxy resolves:
#: python-socks' default for socks5, so also the published picows').
SOCKS_REMOTE_DNS = {"socks4": False, "socks4a": True, "socks5": True, "socks5h": True}
#: The scheme python-socks knows for each of ours (it has no socks4a/socks5h).
_PYTHON_SOCKS_SCHEME = {"socks4": "socks4", "socks4a": "socks4", "socks5": "socks5", "socks5h": "socks5"}
#: Upper bound for the head of a proxy's answer to CONNECT.
MAX_CONNECT_RESPONSE_HEAD = 64 * 1024


def check_proxy_url(proxy: str | None, proxy_ssl_context: ssl_module.SSLContext | None) -> None:
    """Validate the ``proxy`` arguments of ws_connect before any connection is made."""
    if proxy_ssl_context is not None and not isinstance(proxy_ssl_context, ssl_module.SSLContext):
        raise TypeError(
            f"proxy_ssl_context must be an ssl.SSLContext or None, got {type(proxy_ssl_context).__name__}"
        )
    if proxy is None:
        if proxy_ssl_context is not None:
            raise ValueError("proxy_ssl_context is only used with an https:// proxy")
        return
    if not isinstance(proxy, str):
        raise TypeError(f"proxy must be a str URL or None, got {type(proxy).__name__}")
    parts = urllib.parse.urlsplit(proxy)
    scheme = parts.scheme.lower()
    if scheme not in PROXY_SCHEMES:
        raise ValueError(
            f"proxy: unsupported scheme {parts.scheme!r} (use {PROXY_SCHEMES_TEXT})"
        )
    if proxy_ssl_context is not None and scheme != "https":
        raise ValueError("proxy_ssl_context is only used with an https:// proxy")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"proxy: {exc}") from None
    if not parts.hostname or (port is None and scheme not in ("http", "https")):
        raise ValueError(f"proxy URL must have a host and a port: {proxy!r}")


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class ConnectTunnel(asyncio.Protocol):
    """Opens an HTTP CONNECT tunnel on a fresh connection to the proxy (plain or TLS).

    Once :attr:`established` is done the transport carries the target's bytes;
    the caller then starts TLS through it (``wss://``) or hands it to the
    WebSocket protocol with ``set_protocol``. A non-2xx answer raises
    ``python_socks.ProxyError`` (with the status as ``error_code``); so does an
    answer whose head exceeds 64 KiB or a proxy that closes first.
    """

    def __init__(
        self, host: str, port: int, username: str | None, password: str | None, user_agent: str | None = None
    ) -> None:
        self._host = host
        self._port = port
        self._credentials = (username, password) if username is not None else None
        self._user_agent = user_agent  # the upgrade request's, as browsers and websockets send it
        self._buf = bytearray()
        loop = asyncio.get_running_loop()
        self.established: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None

    def request_bytes(self) -> bytes:
        authority = _authority(self._host, self._port)
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if self._user_agent is not None:
            lines.append(f"User-Agent: {self._user_agent}")
        if self._credentials is not None:
            user, password = self._credentials
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode("ascii")
            lines.append(f"Proxy-Authorization: Basic {token}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request_bytes())  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.established.done():
            return
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_CONNECT_RESPONSE_HEAD:
                limit = MAX_CONNECT_RESPONSE_HEAD
                self._fail(ProxyError(f"the proxy's answer to CONNECT exceeds {limit} bytes"))
            return
        status_line = bytes(self._buf[: self._buf.find(b"\r\n")])
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            self._fail(ProxyError(f"malformed answer to CONNECT: {status_line[:80]!r}"))
            return
        status = int(parts[1])
        if not 200 <= status < 300:
            reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
            message = f"the proxy refused CONNECT: {status} {reason}".rstrip()
            self._fail(ProxyError(message, error_code=status))
            return
        if len(self._buf) > end + 4:
            self._fail(ProxyError("the proxy sent data before the tunnel was used"))
            return
        self.established.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.established.done():
            error = ProxyError(f"the proxy closed the connection during CONNECT ({exc})")
            self.established.set_exception(error)

    def _fail(self, exc: Exception) -> None:
        if not self.established.done():
            self.established.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()


async def socks_tunnel(
    proxy: str, sock: socket.socket | None, host: str, port: int, remote_dns: bool | None = None
) -> socket.socket:
    """A socket connected to ``host:port`` through a SOCKS4(a)/SOCKS5(h) proxy.

    ``remote_dns``: whether the proxy resolves ``host`` (None: the scheme's
    default, :data:`SOCKS_REMOTE_DNS`). Without ``sock`` python-socks connects
    to the proxy itself; with a socket already connected to the proxy (from
    ``socket_factory``) the SOCKS exchange runs on it (python-socks has no
    public API for that: its connector is used directly).
    """
    from python_socks.async_.asyncio import Proxy

    scheme, sep, rest = proxy.partition("://")
    if remote_dns is None:
        remote_dns = SOCKS_REMOTE_DNS[scheme.lower()]
    proxy = _PYTHON_SOCKS_SCHEME[scheme.lower()] + sep + rest
    if sock is None:
        result: socket.socket = await Proxy.from_url(proxy, rdns=remote_dns).connect(host, port)
        result.setblocking(False)
        return result
    return await _socks_on_socket(proxy, sock, host, port, remote_dns)


async def _socks_on_socket(
    proxy: str, sock: socket.socket, host: str, port: int, remote_dns: bool
) -> socket.socket:
    from python_socks import ProxyType, parse_proxy_url
    from python_socks._connectors.factory_async import create_connector
    from python_socks._protocols.errors import ReplyError
    from python_socks.async_.asyncio._resolver import Resolver
    from python_socks.async_.asyncio._stream import AsyncioSocketStream

    loop = asyncio.get_running_loop()
    proxy_type, _, _, username, password = parse_proxy_url(proxy)
    if proxy_type not in (ProxyType.SOCKS4, ProxyType.SOCKS5):
        raise ValueError(f"not a SOCKS proxy: {proxy!r}")
    stream: Any = AsyncioSocketStream(sock=sock, loop=loop)
    connector = create_connector(
        proxy_type=proxy_type,
        username=username,
        password=password,
        rdns=remote_dns,
        resolver=Resolver(loop=loop),
    )
    try:
        await connector.connect(stream=stream, host=host, port=port)
    except ReplyError as exc:
        sock.close()
        raise ProxyError(exc, error_code=exc.error_code) from exc
    except BaseException:
        sock.close()
        raise
    return sock


def proxy_connection_error(proxy_host: str, proxy_port: int, exc: OSError) -> ProxyConnectionError:
    """The error for a proxy that cannot be reached (an OSError, like python-socks raises)."""
    where = _authority(proxy_host, proxy_port)
    return ProxyConnectionError(exc.errno, f"could not connect to proxy {where} [{exc.strerror or exc}]")
