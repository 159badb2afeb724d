"""ws_connect through real HTTP CONNECT / SOCKS4 / SOCKS5 proxies (pproxy fixtures)."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import pytest

import picows
from picows import WSMsgType
from support import TIMEOUT
from support.listeners import CollectingListener, EchoListener
from support.net import collect_garbage, free_port, port_of
from support.proxies import PROXY_PASSWORD, PROXY_USER
from support.servers import ws_server
from support.tls import client_ssl_context, server_ssl_context

PROXY_FIXTURES = ["http_proxy", "http_proxy_auth", "socks4_proxy", "socks5_proxy", "socks5_proxy_auth"]
AUTH_PROXY_FIXTURES = ["http_proxy_auth", "socks5_proxy_auth"]


@pytest.fixture(params=PROXY_FIXTURES)
def proxy_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


@pytest.fixture(params=AUTH_PROXY_FIXTURES)
def auth_proxy_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


class _ServerSide:
    def __init__(self) -> None:
        self.listeners: list[CollectingListener] = []

    def __call__(self, request: Any) -> Any:
        listener = _Echo()
        self.listeners.append(listener)
        return listener


class _Echo(CollectingListener):
    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        super().on_ws_frame(transport, frame)
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            transport.send(frame.msg_type, frame.get_payload_as_bytes())


async def _close(transport: Any) -> None:
    transport.disconnect()
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


def _proxy_port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


async def _echo_through(transport: Any, listener: CollectingListener) -> None:
    transport.send(WSMsgType.TEXT, b"via proxy")
    assert await listener.get() == (WSMsgType.TEXT, True, False, b"via proxy")
    big = os.urandom(256 * 1024)
    transport.send(WSMsgType.BINARY, big)
    assert (await listener.get())[3] == big


async def test_ws_through_proxy(proxy_url: str) -> None:
    server_side = _ServerSide()
    async with ws_server(server_side, path="/via/proxy?x=1") as url:
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, url, proxy=proxy_url), TIMEOUT
        )
        try:
            # The socket is connected to the proxy, not to the server.
            peer = transport.underlying_transport.get_extra_info("peername")
            assert peer[1] == _proxy_port(proxy_url)
            assert peer[1] != port_of(url)
            assert transport.is_secure is False
            await _echo_through(transport, listener)
            req = server_side.listeners[0].transport.request
            assert req.path == b"/via/proxy?x=1"
            assert req.headers["Host"] == f"127.0.0.1:{port_of(url)}"
            # Proxy credentials never leak into the WebSocket request.
            assert "Proxy-Authorization" not in req.headers
            assert "Authorization" not in req.headers
        finally:
            await _close(transport)


async def test_wss_through_proxy(proxy_url: str, tls_certs: Any) -> None:
    server_side = _ServerSide()
    async with ws_server(server_side, ssl=server_ssl_context(tls_certs)) as url:
        assert url.startswith("wss://")
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(
                CollectingListener, url, proxy=proxy_url, ssl_context=client_ssl_context(tls_certs)
            ),
            TIMEOUT,
        )
        try:
            assert transport.is_secure is True
            await asyncio.wait_for(server_side.listeners[0].connected.wait(), TIMEOUT)
            assert server_side.listeners[0].transport.is_secure is True
            await _echo_through(transport, listener)
        finally:
            await _close(transport)


@pytest.mark.loop_errors_ok("SSL handshake failed")  # a peer aborted a TLS handshake (asyncio and aiofastnet report it)
async def test_wss_through_proxy_verifies_certificate(tls_certs: Any, http_proxy: str) -> None:
    import ssl

    async with ws_server(lambda r: EchoListener(), ssl=server_ssl_context(tls_certs)) as url:
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url, proxy=http_proxy), TIMEOUT)


async def test_several_connections_through_one_proxy(socks5_proxy: str) -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        conns = []
        try:
            for _ in range(3):
                conns.append(
                    await asyncio.wait_for(picows.ws_connect(CollectingListener, url, proxy=socks5_proxy), TIMEOUT)
                )
            for i, (transport, _) in enumerate(conns):
                transport.send(WSMsgType.TEXT, b"conn %d" % i)
            for i, (_, listener) in enumerate(conns):
                assert (await listener.get())[3] == b"conn %d" % i
        finally:
            for transport, _ in conns:
                await _close(transport)


def _with_password(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    hostport = rest.rsplit("@", 1)[1]
    return f"{scheme}://{PROXY_USER}:{password}@{hostport}"


def _without_credentials(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{rest.rsplit('@', 1)[1]}"


async def test_wrong_proxy_password_is_an_error(auth_proxy_url: str) -> None:
    assert f":{PROXY_PASSWORD}@" in auth_proxy_url
    bad = _with_password(auth_proxy_url, "wrong-" + PROXY_PASSWORD)
    created: list[int] = []

    def factory(request: Any) -> Any:
        created.append(1)
        return EchoListener()

    async with ws_server(factory) as url:
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url, proxy=bad), TIMEOUT)
        # An error from the proxy, not our own timeout (a hang).
        assert not isinstance(info.value, asyncio.TimeoutError), repr(info.value)
        await collect_garbage()
        # The correct password still works.
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, url, proxy=auth_proxy_url), TIMEOUT
        )
        try:
            transport.send(WSMsgType.TEXT, b"auth ok")
            assert (await listener.get())[3] == b"auth ok"
        finally:
            await _close(transport)
    assert created == [1]


async def test_missing_proxy_credentials_is_an_error(auth_proxy_url: str) -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        with pytest.raises(Exception) as info:
            await asyncio.wait_for(
                picows.ws_connect(CollectingListener, url, proxy=_without_credentials(auth_proxy_url)), TIMEOUT
            )
        assert not isinstance(info.value, asyncio.TimeoutError), repr(info.value)


async def test_proxy_target_refused_is_an_error(proxy_url: str) -> None:
    port = free_port()
    with pytest.raises(Exception) as info:
        await asyncio.wait_for(
            picows.ws_connect(CollectingListener, f"ws://127.0.0.1:{port}/", proxy=proxy_url), TIMEOUT
        )
    assert not isinstance(info.value, asyncio.TimeoutError), repr(info.value)
    assert not isinstance(info.value, picows.WSInvalidURL)
    await collect_garbage()


async def test_proxy_itself_refused_is_os_error() -> None:
    proxy_port = free_port()
    async with ws_server(lambda r: EchoListener()) as url:
        with pytest.raises(OSError):
            await asyncio.wait_for(
                picows.ws_connect(CollectingListener, url, proxy=f"socks5://127.0.0.1:{proxy_port}"), TIMEOUT
            )


async def test_upgrade_rejection_through_proxy_is_ws_error(http_proxy: str) -> None:
    async with ws_server(lambda r: None) as url:
        with pytest.raises(picows.WSError) as info:
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url, proxy=http_proxy), TIMEOUT)
    assert info.value.response is not None
    assert info.value.response.status == 404


@pytest.mark.single_loop  # argument validation: fails before any I/O
async def test_unknown_proxy_scheme_is_value_error() -> None:
    port = free_port()
    async with ws_server(lambda r: EchoListener()) as url:
        with pytest.raises(ValueError):
            await asyncio.wait_for(
                picows.ws_connect(CollectingListener, url, proxy=f"ftp://127.0.0.1:{port}"), TIMEOUT
            )


@pytest.mark.single_loop  # argument validation: fails before any I/O
@pytest.mark.parametrize("use_proxy", [False, True], ids=["direct", "proxy"])
@pytest.mark.parametrize("kwarg", ["ssl", "sock", "all_errors"])
async def test_reserved_create_connection_kwargs_are_rejected(kwarg: str, use_proxy: bool, http_proxy: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    value: Any = {"ssl": True, "sock": sock, "all_errors": True}[kwarg]
    created: list[int] = []
    async with ws_server(lambda r: created.append(1) or EchoListener()) as url:
        kwargs: Any = {kwarg: value}
        if use_proxy:
            kwargs["proxy"] = http_proxy
        with pytest.raises((TypeError, ValueError)) as info:
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url, **kwargs), TIMEOUT)
        # A clear message naming the argument.
        assert kwarg in str(info.value)
    sock.close()
    assert created == []


async def test_local_addr_is_forwarded_without_proxy() -> None:
    server_side = _ServerSide()
    async with ws_server(server_side) as url:
        for _attempt in range(5):
            local_port = free_port()
            try:
                transport, listener = await asyncio.wait_for(
                    picows.ws_connect(CollectingListener, url, local_addr=("127.0.0.1", local_port)), TIMEOUT
                )
            except OSError:  # the port was taken in between: try another one
                continue
            break
        else:
            raise AssertionError("no free local port")
        try:
            assert transport.underlying_transport.get_extra_info("sockname")[1] == local_port
            await asyncio.wait_for(server_side.listeners[-1].connected.wait(), TIMEOUT)
            server_transport = server_side.listeners[-1].transport
            assert server_transport.underlying_transport.get_extra_info("peername")[1] == local_port
            transport.send(WSMsgType.TEXT, b"local")
            assert (await listener.get())[3] == b"local"
        finally:
            await _close(transport)


async def test_other_create_connection_kwargs_are_forwarded() -> None:
    kwargs: Any = {"family": socket.AF_INET}
    if not type(asyncio.get_running_loop()).__module__.startswith("uvloop"):
        kwargs.update(happy_eyeballs_delay=0.25, interleave=1)  # asyncio-only options
    async with ws_server(lambda r: EchoListener()) as url:
        transport, listener = await asyncio.wait_for(picows.ws_connect(CollectingListener, url, **kwargs), TIMEOUT)
        try:
            transport.send(WSMsgType.TEXT, b"kw")
            assert (await listener.get())[3] == b"kw"
        finally:
            await _close(transport)


async def test_forwarded_kwargs_take_effect() -> None:
    # An IPv4 literal cannot be resolved as AF_INET6: the family really reaches create_connection.
    async with ws_server(lambda r: EchoListener()) as url:
        with pytest.raises(OSError) as info:
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url, family=socket.AF_INET6), TIMEOUT)
        assert not isinstance(info.value, picows.WSError)


@pytest.mark.single_loop  # argument validation: fails before any I/O
async def test_unknown_kwarg_is_type_error() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        with pytest.raises(TypeError):
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url, no_such_option=1), TIMEOUT)
