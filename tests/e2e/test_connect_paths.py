"""How ws_connect reaches the server (picows 2.x): HTTPS proxies, socket_factory, the whole-opening timeout.

* ``proxy="https://..."``: TLS to the proxy, then CONNECT, then the target's
  TLS inside it for ``wss://`` (TLS in TLS) or plain frames for ``ws://``;
  ``proxy="http://..."`` runs the same CONNECT exchange in the clear.
  Refusals, wrong credentials, a 64 KiB head limit and a silent proxy.
* ``socket_factory(parsed_url)``: connected, unconnected, awaitable and None
  results, and the proxy's URL when a proxy is used.
* ``websocket_handshake_timeout`` bounds the whole opening (TCP, proxy, TLS,
  upgrade) and always ends in ``asyncio.TimeoutError("websocket handshake
  timeout ...")``, even for 1e-5 s.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from typing import Any

import pytest
from python_socks import ProxyConnectionError, ProxyError

import picows
from picows import WSMsgType
from support import TIMEOUT
from support.connect_proxy import connect_proxy
from support.listeners import CollectingListener, EchoListener
from support.net import free_port, port_of, tcp_server
from support.servers import ws_server
from support.tls import TLSCerts, client_ssl_context, server_ssl_context


async def _echo_once(transport: Any, listener: CollectingListener, payload: bytes = b"through") -> None:
    transport.send(WSMsgType.BINARY, payload)
    assert await listener.get() == (WSMsgType.BINARY, True, False, payload)


async def _close(transport: Any) -> None:
    transport.disconnect()
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


# -- HTTP(S) CONNECT proxies --------------------------------------------------------------------


@pytest.mark.parametrize("proxy_tls", [False, True], ids=["http-proxy", "https-proxy"])
@pytest.mark.parametrize("target_tls", [False, True], ids=["ws", "wss"])
async def test_connect_proxy_carries_ws_and_wss(tls_certs: TLSCerts, tls_path: str, proxy_tls: bool, target_tls: bool) -> None:
    if proxy_tls and target_tls and sys.version_info < (3, 11) and tls_path == "stock":
        # asyncio runs TLS inside TLS from 3.11 on; picows says so (tested below).
        with pytest.raises(NotImplementedError, match="TLS inside TLS"):
            await _wss_through_https_proxy(tls_certs)
        return
    server_kwargs = {"ssl": server_ssl_context(tls_certs)} if target_tls else {}
    proxy_ctx = server_ssl_context(tls_certs) if proxy_tls else None
    async with ws_server(lambda r: EchoListener(), **server_kwargs) as url, connect_proxy(
        ssl_context=proxy_ctx, credentials=("user", "p@ss")
    ) as proxy:
        kwargs: dict[str, Any] = {"proxy": proxy.url.replace("p@ss", "p%40ss")}
        if proxy_tls:
            kwargs["proxy_ssl_context"] = client_ssl_context(tls_certs)
        if target_tls:
            kwargs["ssl_context"] = client_ssl_context(tls_certs)
        transport, listener = await asyncio.wait_for(picows.ws_connect(CollectingListener, url, **kwargs), TIMEOUT)
        try:
            assert transport.is_secure is target_tls
            await _echo_once(transport, listener)
            await _echo_once(transport, listener, bytes(range(256)) * 1000)
        finally:
            await _close(transport)
    assert proxy.tunnels == 1
    head = proxy.requests[0].decode()
    assert head.startswith(f"CONNECT 127.0.0.1:{port_of(url)} HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port_of(url)}\r\n" in head
    assert "Proxy-Authorization: Basic dXNlcjpwQHNz\r\n" in head  # user:p@ss


@pytest.mark.loop_errors_ok("SSL handshake failed")  # a peer aborted a TLS handshake (asyncio and aiofastnet report it)
async def _wss_through_https_proxy(tls_certs: TLSCerts) -> None:
    async with ws_server(lambda r: EchoListener(), ssl=server_ssl_context(tls_certs)) as url, connect_proxy(
        ssl_context=server_ssl_context(tls_certs)
    ) as proxy:
        await asyncio.wait_for(
            picows.ws_connect(CollectingListener, url, proxy=proxy.url, proxy_ssl_context=client_ssl_context(tls_certs),
                              ssl_context=client_ssl_context(tls_certs)),
            TIMEOUT,
        )


async def test_https_proxy_certificate_is_verified(tls_certs: TLSCerts) -> None:
    async with ws_server(lambda r: EchoListener()) as url, connect_proxy(
        ssl_context=server_ssl_context(tls_certs)
    ) as proxy:
        with pytest.raises(ssl.SSLCertVerificationError):
            # the default proxy_ssl_context verifies, and the test CA is not trusted by it
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url, proxy=proxy.url), TIMEOUT)
    assert proxy.tunnels == 0


@pytest.mark.parametrize("behaviour, code", [("refuse", 403), ("auth", 407)])
async def test_connect_refused_is_proxy_error(behaviour: str, code: int) -> None:
    credentials = ("user", "right") if behaviour == "auth" else None
    async with ws_server(lambda r: EchoListener()) as url, connect_proxy(
        behaviour="refuse" if behaviour == "refuse" else "normal", credentials=credentials
    ) as proxy:
        wrong = proxy.url.replace("user:right@", "user:wrong@")
        with pytest.raises(ProxyError) as info:
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url, proxy=wrong), TIMEOUT)
    assert info.value.error_code == code
    assert str(code) in str(info.value)


async def test_connect_answer_head_is_bounded() -> None:
    async with ws_server(lambda r: EchoListener()) as url, connect_proxy(behaviour="huge-head") as proxy:
        with pytest.raises(ProxyError, match="exceeds 65536 bytes"):
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url, proxy=proxy.url), TIMEOUT)


async def test_unreachable_connect_proxy_is_proxy_connection_error() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        with pytest.raises(ProxyConnectionError) as info:
            await asyncio.wait_for(
                picows.ws_connect(CollectingListener, url, proxy=f"http://127.0.0.1:{free_port()}"), TIMEOUT
            )
    assert isinstance(info.value, OSError)


async def test_silent_proxy_hits_the_handshake_timeout() -> None:
    async with ws_server(lambda r: EchoListener()) as url, connect_proxy(behaviour="silent") as proxy:
        with pytest.raises(asyncio.TimeoutError) as info:
            await asyncio.wait_for(
                picows.ws_connect(CollectingListener, url, proxy=proxy.url, websocket_handshake_timeout=0.3),
                TIMEOUT,
            )
    message = str(info.value)
    assert message.startswith("websocket handshake timeout")
    assert "CONNECT tunnel" in message and "proxy" in message


# -- socket_factory -----------------------------------------------------------------------------


async def test_socket_factory_results(loop_impl: str) -> None:
    """A connected socket, an unconnected one, an awaitable, None: all end in a working connection."""
    seen: list[picows.WSParsedURL] = []

    def connected(url: picows.WSParsedURL) -> socket.socket:
        seen.append(url)
        return socket.create_connection((url.host, url.port))

    def unconnected(url: picows.WSParsedURL) -> socket.socket:
        seen.append(url)
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    async def awaitable(url: picows.WSParsedURL) -> socket.socket:
        seen.append(url)
        await asyncio.sleep(0)
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    def none(url: picows.WSParsedURL) -> None:
        seen.append(url)
        return None

    async with ws_server(lambda r: EchoListener(), path="/p?q=1") as url:
        for factory in (connected, unconnected, awaitable, none):
            transport, listener = await asyncio.wait_for(
                picows.ws_connect(CollectingListener, url, socket_factory=factory), TIMEOUT
            )
            await _echo_once(transport, listener)
            await _close(transport)
    assert [(u.scheme, u.host, u.port, u.resource_name) for u in seen] == [
        ("ws", "127.0.0.1", port_of(url), "/p?q=1")
    ] * 4


@pytest.mark.parametrize("proxy_kind", ["connect", "socks5"])
async def test_socket_factory_connects_to_the_proxy(proxy_kind: str, request: pytest.FixtureRequest) -> None:
    """With a proxy, the factory is asked for a socket to the proxy (it gets the proxy's URL)."""
    seen: list[picows.WSParsedURL] = []

    def factory(url: picows.WSParsedURL) -> socket.socket:
        seen.append(url)
        return socket.create_connection((url.host, url.port))

    async with ws_server(lambda r: EchoListener()) as url:
        if proxy_kind == "connect":
            async with connect_proxy() as proxy:
                transport, listener = await asyncio.wait_for(
                    picows.ws_connect(CollectingListener, url, proxy=proxy.url, socket_factory=factory), TIMEOUT
                )
                await _echo_once(transport, listener)
                await _close(transport)
                proxy_url = proxy.url
        else:
            proxy_url = request.getfixturevalue("socks5_proxy")
            transport, listener = await asyncio.wait_for(
                picows.ws_connect(CollectingListener, url, proxy=proxy_url, socket_factory=factory), TIMEOUT
            )
            await _echo_once(transport, listener)
            await _close(transport)
    assert [(u.scheme, u.port) for u in seen] == [(proxy_url.split(":")[0], port_of(proxy_url))]


@pytest.mark.single_loop  # fails before any I/O
async def test_socket_factory_must_return_a_socket() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        with pytest.raises(TypeError, match="socket_factory must return a socket.socket"):
            await asyncio.wait_for(
                picows.ws_connect(CollectingListener, url, socket_factory=lambda u: "not a socket"), TIMEOUT
            )


# -- the handshake timeout covers the whole opening ---------------------------------------------------


@pytest.mark.loop_errors_ok("SSL handshake failed")  # the server sees each client give up mid-handshake
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
async def test_tiny_handshake_timeout_is_timeout_error(tls_certs: TLSCerts, secure: bool) -> None:
    """1e-5 s on loopback: asyncio.TimeoutError with the published wording, over TCP and TLS alike."""
    kwargs = {"ssl": server_ssl_context(tls_certs)} if secure else {}
    async with ws_server(lambda r: EchoListener(), **kwargs) as url:
        client_kwargs = {"ssl_context": client_ssl_context(tls_certs)} if secure else {}
        for _ in range(5):
            with pytest.raises(asyncio.TimeoutError) as info:
                await asyncio.wait_for(
                    picows.ws_connect(CollectingListener, url, websocket_handshake_timeout=1e-5, **client_kwargs),
                    TIMEOUT,
                )
            assert str(info.value).startswith("websocket handshake timeout")
        # and a normal connection still works afterwards
        transport, listener = await asyncio.wait_for(picows.ws_connect(CollectingListener, url, **client_kwargs), TIMEOUT)
        await _echo_once(transport, listener)
        await _close(transport)


async def test_silent_server_timeout_says_what_stalled() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.wait_for(reader.read(), TIMEOUT)  # reads the request, answers nothing

    async with tcp_server(silent) as port:
        with pytest.raises(asyncio.TimeoutError) as info:
            await asyncio.wait_for(
                picows.ws_connect(CollectingListener, f"ws://127.0.0.1:{port}/", websocket_handshake_timeout=0.3),
                TIMEOUT,
            )
    message = str(info.value)
    assert message.startswith("websocket handshake timeout: the upgrade response")
    assert "not a WebSocket server" in message


@pytest.mark.loop_errors_ok("SSL handshake failed")  # a peer aborted a TLS handshake (asyncio and aiofastnet report it)
async def test_wss_to_a_plain_server_says_so() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        with pytest.raises((asyncio.TimeoutError, ssl.SSLError, ConnectionError)) as info:
            await asyncio.wait_for(
                picows.ws_connect(
                    CollectingListener, url.replace("ws://", "wss://"), websocket_handshake_timeout=0.5,
                    ssl_context=ssl.create_default_context(),
                ),
                TIMEOUT,
            )
    assert "TLS" in str(info.value) or "ws://" in str(info.value), str(info.value)


async def test_no_timeout_with_none() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, url, websocket_handshake_timeout=None), TIMEOUT
        )
        await _echo_once(transport, listener)
        await _close(transport)


@pytest.mark.parametrize("agent", ["default", "custom"])
async def test_connect_request_carries_the_upgrade_requests_user_agent(agent: str) -> None:
    headers = {} if agent == "default" else {"User-Agent": "trader/2.0"}
    async with ws_server(lambda r: EchoListener()) as url, connect_proxy() as proxy:
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, url, proxy=proxy.url, extra_headers=headers), TIMEOUT
        )
        try:
            await _echo_once(transport, listener)
            sent = transport.request.headers["User-Agent"]
        finally:
            await _close(transport)
    head = proxy.requests[0].decode()
    assert f"\r\nUser-Agent: {sent}\r\n" in head
    assert sent.startswith("picows/") if agent == "default" else sent == "trader/2.0"
