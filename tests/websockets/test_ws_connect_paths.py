"""How connect() reaches the server: Unix sockets, a given socket, host/port overrides, proxies,
redirects; and the handshake failures of a bad 101, compared with websockets' client."""

from __future__ import annotations

import asyncio
import http
import os
import socket
import ssl
import sys
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.exceptions

from picows.websockets.asyncio.client import USER_AGENT, connect, unix_connect
from picows.websockets.asyncio.server import unix_serve
from picows.websockets.exceptions import InvalidProxyStatus, SecurityError
from support.connect_proxy import connect_proxy
from support.http import accept_key, request_key
from support.net import expect_eof, port_of, read_http_head, tcp_server
from support.tls import WRONG_HOST_NAME, TLSCerts, client_ssl_context, server_ssl_context
from support.ws_api import TIMEOUT, echo, our_server, their_server

CLIENTS = {"ours": connect, "websockets": upstream_client.connect}


async def failure(client: str, url: str, **kwargs: Any) -> BaseException:
    try:
        async with CLIENTS[client](url, **kwargs):
            pass
    except Exception as exc:  # noqa: BLE001 - the class and message are what we compare
        return exc
    raise AssertionError("the connection succeeded")


async def round_trip(ws: Any, message: str) -> None:
    await ws.send(message)
    assert await asyncio.wait_for(ws.recv(), TIMEOUT) == message


async def test_unix_connect_to_our_and_their_unix_server(tmp_path: Any) -> None:
    path = os.path.join(str(tmp_path), "ws.sock")
    async with unix_serve(echo, path):
        async with unix_connect(path) as ws:
            await round_trip(ws, "ours over unix")
            assert ws.request is not None and ws.request.headers["Host"] == "localhost"
    async with websockets.asyncio.server.unix_serve(echo, path):
        async with unix_connect(path, "ws://localhost/chat") as ws:
            await round_trip(ws, "theirs over unix")


async def test_unix_connect_needs_a_path_or_a_socket() -> None:
    with pytest.raises(ValueError):
        unix_connect()


async def test_connect_with_a_given_socket() -> None:
    async with their_server() as url:
        sock = socket.create_connection(("127.0.0.1", port_of(url)), timeout=TIMEOUT)
        async with connect("ws://example.invalid/", sock=sock, proxy=None) as ws:
            await round_trip(ws, "on my socket")
            assert ws.request.headers["Host"] == "example.invalid"


async def test_connect_with_host_and_port_overrides() -> None:
    async with our_server() as url:
        async with connect("ws://example.invalid/", host="127.0.0.1", port=port_of(url)) as ws:
            await round_trip(ws, "overridden")


async def test_redirect_with_a_given_socket_is_refused_like_websockets() -> None:
    def moved(connection: Any, request: Any) -> Any:
        response = connection.respond(http.HTTPStatus.FOUND, "moved\n")
        response.headers["Location"] = "ws://elsewhere.invalid/"
        return response

    errors = []
    async with our_server(process_request=moved) as url:
        for client in sorted(CLIENTS):
            sock = socket.create_connection(("127.0.0.1", port_of(url)), timeout=TIMEOUT)
            sock.setblocking(False)
            errors.append(await failure(client, url, sock=sock))
    ours, theirs = errors
    assert type(ours) is type(theirs) is ValueError and str(ours) == str(theirs)


async def test_redirect_to_another_port_is_followed() -> None:
    async with our_server() as target:

        def moved(connection: Any, request: Any) -> Any:
            response = connection.respond(http.HTTPStatus.MOVED_PERMANENTLY, "moved\n")
            response.headers["Location"] = target + "there"
            return response

        async with our_server(process_request=moved) as url:
            async with connect(url, proxy=None) as ws:
                await round_trip(ws, "after the redirect")
                assert ws.request.path == "/there"


async def test_redirect_from_wss_to_ws_is_a_security_error_like_websockets(tls_certs: TLSCerts) -> None:
    async with our_server() as plain:

        def downgrade(connection: Any, request: Any) -> Any:
            response = connection.respond(http.HTTPStatus.FOUND, "moved\n")
            response.headers["Location"] = plain
            return response

        async with our_server(process_request=downgrade, ssl=server_ssl_context(tls_certs), scheme="wss") as url:
            ctx = client_ssl_context(tls_certs)
            ours = await failure("ours", url, ssl=ctx, proxy=None)
            theirs = await failure("websockets", url, ssl=ctx, proxy=None)
    assert isinstance(ours, SecurityError) and isinstance(theirs, websockets.exceptions.SecurityError)
    assert str(ours) == str(theirs) == f"cannot follow redirect to non-secure URI {plain}"


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_through_an_https_proxy(tls_certs: TLSCerts, tls_path: str, scheme: str) -> None:
    """proxy="https://..." with proxy_ssl (websockets' name): TLS to the proxy, the tunnel inside it."""
    if scheme == "wss" and tls_path == "stock" and sys.version_info < (3, 11):
        # asyncio runs TLS inside TLS from 3.11 on; the core says so and the layer passes it on.
        async with our_server(scheme=scheme, ssl=server_ssl_context(tls_certs)) as url, connect_proxy(
            ssl_context=server_ssl_context(tls_certs)
        ) as proxy:
            with pytest.raises(NotImplementedError, match="TLS inside TLS"):
                await connect(url, proxy=proxy.url, proxy_ssl=client_ssl_context(tls_certs),
                              ssl=client_ssl_context(tls_certs))
        return
    server_tls = {"ssl": server_ssl_context(tls_certs)} if scheme == "wss" else {}
    client_tls = {"ssl": client_ssl_context(tls_certs)} if scheme == "wss" else {}
    async with our_server(scheme=scheme, **server_tls) as url, connect_proxy(
        ssl_context=server_ssl_context(tls_certs)
    ) as proxy:
        assert proxy.url.startswith("https://")
        async with connect(url, proxy=proxy.url, proxy_ssl=client_ssl_context(tls_certs), **client_tls) as ws:
            await round_trip(ws, f"{scheme} through an https proxy")
            if scheme == "wss":
                assert ws._transport.underlying_transport.get_extra_info("ssl_object") is not None
    assert proxy.tunnels == 1


async def test_proxy_refusal_is_invalid_proxy_status_like_websockets() -> None:
    async with our_server() as url, connect_proxy(behaviour="refuse") as proxy:
        ours = await failure("ours", url, proxy=proxy.url)
        theirs = await failure("websockets", url, proxy=proxy.url)
    assert isinstance(ours, InvalidProxyStatus) and isinstance(theirs, websockets.exceptions.InvalidProxyStatus)
    assert isinstance(ours, websockets.exceptions.InvalidProxyStatus)
    assert str(ours) == str(theirs) == "proxy rejected connection: HTTP 403"


BAD_101 = {
    "no Upgrade": b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
    "wrong Upgrade": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
    "no Connection": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
    "no Accept": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    "wrong Accept": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n",
    "unasked subprotocol": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
    "unasked extension": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: x-unknown\r\n\r\n",
    "not HTTP": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_101))
async def test_bad_101_raises_what_websockets_raises(name: str) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        writer.write(BAD_101[name].replace(b"{accept}", accept_key(request_key(head))))
        await writer.drain()
        await expect_eof(reader)  # the client gives up and closes

    async with tcp_server(answer) as port:
        url = f"ws://127.0.0.1:{port}/"
        ours = await failure("ours", url, proxy=None, open_timeout=TIMEOUT)
        theirs = await failure("websockets", url, proxy=None, open_timeout=TIMEOUT)
    # Our classes subclass websockets' own: the same except clauses catch them.
    assert isinstance(ours, type(theirs)), (ours, theirs)
    assert type(ours).__name__ == type(theirs).__name__
    if name not in ("not HTTP", "unasked extension"):
        assert str(ours) == str(theirs)


def user_agent_of(head: bytes) -> str | None:
    """The User-Agent of an HTTP request head, or None."""
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "user-agent":
            return value.strip()
    return None


@pytest.mark.parametrize("agent", ["default", "agent/1.0", None])
async def test_proxy_connect_carries_the_user_agent_like_websockets(agent: str | None) -> None:
    kwargs = {} if agent == "default" else {"user_agent_header": agent}
    async with our_server() as url, connect_proxy() as proxy:
        for client in ("ours", "websockets"):
            async with CLIENTS[client](url, proxy=proxy.url, **kwargs) as ws:
                await round_trip(ws, f"{client} through an http proxy")
                if client == "ours":
                    assert ws.request is not None
                    upgrade_agent = ws.request.headers.get("User-Agent")
    ours, theirs = (user_agent_of(head) for head in proxy.requests)
    assert ours == upgrade_agent  # the CONNECT says what the upgrade request says
    if agent == "default":
        assert ours == USER_AGENT and theirs is not None and theirs.startswith("Python/")
    else:
        assert ours == theirs == agent


# asyncio takes ssl_shutdown_timeout from Python 3.11 on (a proxy does not answer close_notify: wait briefly).
SHUTDOWN_TIMEOUT = {"ssl_shutdown_timeout": 0.5} if sys.version_info >= (3, 11) else {}
# websockets 17 (the CPython jobs) splits these arguments; the PyPy job's websockets 15 does not.
UPSTREAM_SPLITS_PROXY_ARGUMENTS = int(websockets.__version__.split(".")[0]) >= 17


@pytest.mark.loop_errors_ok("SSL handshake failed")  # the proxy sees the refusing client abort its handshake
@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_proxy_tls_arguments_like_websockets(tls_certs: TLSCerts, tls_path: str, client: str) -> None:
    """proxy_server_hostname / proxy_ssl_handshake_timeout / proxy_ssl_shutdown_timeout configure the TLS
    with an https:// proxy, as websockets documents (the proxy's certificate names another host here)."""
    if client == "websockets" and not UPSTREAM_SPLITS_PROXY_ARGUMENTS:
        pytest.skip("the installed websockets predates these arguments (ours is checked in the 'ours' case)")
    async with our_server() as url, connect_proxy(ssl_context=server_ssl_context(tls_certs, wrong_name=True)) as proxy:
        tls_to_proxy = {"proxy": proxy.url, "proxy_ssl": client_ssl_context(tls_certs)}
        refused = await failure(client, url, **tls_to_proxy)
        assert isinstance(refused, ssl.SSLCertVerificationError), repr(refused)
        async with CLIENTS[client](
            url,
            proxy_server_hostname=WRONG_HOST_NAME,
            proxy_ssl_handshake_timeout=TIMEOUT,
            **{"proxy_" + name: value for name, value in SHUTDOWN_TIMEOUT.items()},
            **tls_to_proxy,
        ) as ws:
            await round_trip(ws, f"{client} through an https proxy named otherwise")
    assert proxy.tunnels == 1


@pytest.mark.loop_errors_ok("SSL handshake failed")  # our server sees the refusing client abort its handshake
@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_server_tls_arguments_through_a_proxy_like_websockets(
    tls_certs: TLSCerts, tls_path: str, client: str
) -> None:
    """With an http:// proxy, server_hostname and ssl_*_timeout configure the TLS with the server inside
    the tunnel (not the plain connection to the proxy), as websockets does."""
    if client == "websockets" and not UPSTREAM_SPLITS_PROXY_ARGUMENTS:
        pytest.skip("the installed websockets predates these arguments (ours is checked in the 'ours' case)")
    async with our_server(scheme="wss", ssl=server_ssl_context(tls_certs, wrong_name=True)) as url, \
            connect_proxy() as proxy:
        to_server = {"proxy": proxy.url, "ssl": client_ssl_context(tls_certs)}
        if client == "ours":  # (websockets 17's client lets an AttributeError escape into the loop then)
            refused = await failure(client, url, **to_server)
            assert isinstance(refused, ssl.SSLCertVerificationError), repr(refused)
        async with CLIENTS[client](
            url,
            server_hostname=WRONG_HOST_NAME,
            ssl_handshake_timeout=TIMEOUT,
            **SHUTDOWN_TIMEOUT,
            **to_server,
        ) as ws:
            await round_trip(ws, f"{client}: wss through an http proxy, TLS name given")
    assert proxy.tunnels == (2 if client == "ours" else 1)
