"""What a wss:// connection tells about itself, on every TLS path, in both roles.

``transport.underlying_transport`` and its ``get_extra_info("ssl_object")``,
``"peercert"``, ``"sslcontext"``, ``"peername"`` and ``"socket"`` describe the
WebSocket's own TLS session and TCP connection, whichever transport carries
it (the loop's own or aiofastnet's, on asyncio and uvloop): directly, through
an http:// CONNECT proxy, and through an https:// proxy, where the target's
TLS runs inside the proxy's TLS. There the TLS facts are the target's (its
certificate, the context given as ``ssl_context``) and the TCP facts are the
proxy's (the socket is connected to the proxy). The proxy presents a
different certificate than the target, so the two cannot be mistaken.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from typing import Any

import pytest

import picows
from picows import WSMsgType
from support import TIMEOUT
from support.connect_proxy import connect_proxy
from support.listeners import CollectingListener, EchoListener
from support.net import port_of
from support.servers import finish, picows_server
from support.tls import (
    WRONG_HOST_NAME,
    TLSCerts,
    client_ssl_context,
    mutual_tls_server_context,
    server_ssl_context,
)

ROUTES = ["direct", "http-proxy", "https-proxy"]


def _san(cert: dict[str, Any]) -> set[tuple[str, str]]:
    return set(cert.get("subjectAltName", ()))


def _common_name(cert: dict[str, Any]) -> str:
    return next(value for rdn in cert["subject"] for key, value in rdn if key == "commonName")


def _check_socket(ut: Any, peername: tuple[str, int]) -> None:
    """The TCP socket under TLS: the one connected to ``peername``, with Nagle off as on ws://."""
    sock = ut.get_extra_info("socket")
    assert sock is not None
    assert sock.fileno() >= 0
    assert tuple(sock.getpeername()[:2]) == peername
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


class _Listener(CollectingListener, EchoListener):
    """Records frames and echoes them (the server side)."""

    def on_ws_frame(self, transport: Any, frame: Any) -> None:
        CollectingListener.on_ws_frame(self, transport, frame)
        EchoListener.on_ws_frame(self, transport, frame)


async def test_the_tls_path_is_the_one_in_use(tls_certs: TLSCerts, tls_path: str) -> None:
    """The harness really switches transports (tests/conftest.py): the TLS paths are not just names."""
    async with picows_server(_Listener, ssl=server_ssl_context(tls_certs)) as srv:
        transport, _listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, srv.url, ssl_context=client_ssl_context(tls_certs)), TIMEOUT
        )
        try:
            server_transport = (await srv.next_listener()).transport
            for t in (transport, server_transport):
                module = type(t.underlying_transport).__module__
                assert module.startswith("aiofastnet") is (tls_path == "aiofastnet"), module
        finally:
            await finish(transport)


@pytest.mark.parametrize("mutual", [False, True], ids=["server-auth", "mutual-auth"])
@pytest.mark.parametrize("route", ROUTES)
async def test_extra_info_describes_the_websockets_tls_session(
    tls_certs: TLSCerts, tls_path: str, route: str, mutual: bool
) -> None:
    server_ctx = mutual_tls_server_context(tls_certs) if mutual else server_ssl_context(tls_certs)
    client_ctx = client_ssl_context(tls_certs, cert="client" if mutual else None)
    # The proxy shows another certificate (for WRONG_HOST_NAME): verified against the CA, name not checked.
    proxy_client_ctx = client_ssl_context(tls_certs)
    proxy_client_ctx.check_hostname = False
    proxy_server_ctx = server_ssl_context(tls_certs, wrong_name=True) if route == "https-proxy" else None
    proxy_cm = connect_proxy(ssl_context=proxy_server_ctx)
    async with picows_server(_Listener, ssl=server_ctx) as srv, proxy_cm as proxy:
        kwargs: dict[str, Any] = {"ssl_context": client_ctx}
        if route != "direct":
            kwargs["proxy"] = proxy.url
        if route == "https-proxy":
            kwargs["proxy_ssl_context"] = proxy_client_ctx
            if tls_path == "stock" and sys.version_info < (3, 11):
                # asyncio before 3.11 (PyPy 3.9 included) cannot start TLS over a TLS transport:
                # picows says so, before anything is sent to the target.
                with pytest.raises(NotImplementedError, match="TLS inside TLS"):
                    await asyncio.wait_for(picows.ws_connect(CollectingListener, srv.url, **kwargs), TIMEOUT)
                return
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, srv.url, **kwargs), TIMEOUT
        )
        try:
            server_listener = await srv.next_listener()
            server_transport = server_listener.transport
            assert transport.is_secure is True and server_transport.is_secure is True

            # -- the client's view: the target's TLS session, the TCP connection to the first hop
            ut = transport.underlying_transport
            ssl_object = ut.get_extra_info("ssl_object")
            assert ssl_object is not None
            assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
            assert ssl_object.server_hostname == "127.0.0.1"
            peercert = ut.get_extra_info("peercert")
            assert peercert == ssl_object.getpeercert()
            assert ("IP Address", "127.0.0.1") in _san(peercert)  # the target's, not the proxy's
            assert ("DNS", WRONG_HOST_NAME) not in _san(peercert)
            assert ut.get_extra_info("sslcontext") is client_ctx
            first_hop = port_of(srv.url) if route == "direct" else port_of(proxy.url)
            assert tuple(ut.get_extra_info("peername")[:2]) == ("127.0.0.1", first_hop)
            _check_socket(ut, ("127.0.0.1", first_hop))

            # -- the server's view
            sut = server_transport.underlying_transport
            server_ssl_object = sut.get_extra_info("ssl_object")
            assert server_ssl_object is not None
            assert server_ssl_object.version() == ssl_object.version()
            assert server_ssl_object.cipher() == ssl_object.cipher()
            assert sut.get_extra_info("sslcontext") is server_ctx
            client_cert = sut.get_extra_info("peercert")
            if mutual:
                assert _common_name(client_cert) == "picows test client"
            else:
                assert not client_cert  # no client certificate was asked for
            client_address = tuple(sut.get_extra_info("peername")[:2])
            if route == "direct":
                assert client_address == tuple(ut.get_extra_info("sockname")[:2])
            else:
                assert client_address[1] != ut.get_extra_info("sockname")[1]  # the proxy's own connection
            _check_socket(sut, client_address)

            # and the connection works
            transport.send(WSMsgType.BINARY, b"info")
            assert await listener.get() == (WSMsgType.BINARY, True, False, b"info")
        finally:
            await finish(transport)
    assert proxy.tunnels == (0 if route == "direct" else 1)


async def test_plain_connection_has_no_tls_facts(tls_certs: TLSCerts, tls_path: str) -> None:
    """ws:// on the same path setting: no ssl_object, no peercert, no sslcontext; the socket is there."""
    async with picows_server(_Listener) as srv:
        transport, _listener = await asyncio.wait_for(picows.ws_connect(CollectingListener, srv.url), TIMEOUT)
        try:
            server_transport = (await srv.next_listener()).transport
            for t in (transport, server_transport):
                assert t.is_secure is False
                ut = t.underlying_transport
                assert ut.get_extra_info("ssl_object") is None
                assert ut.get_extra_info("peercert") is None
                assert ut.get_extra_info("sslcontext") is None
                _check_socket(ut, tuple(ut.get_extra_info("peername")[:2]))
        finally:
            await finish(transport)


async def test_ssl_object_reports_the_session_after_traffic(tls_certs: TLSCerts) -> None:
    """The facts do not change once data flowed both ways (a 1 MiB frame each way, many TLS records)."""
    async with picows_server(_Listener, ssl=server_ssl_context(tls_certs)) as srv:
        ctx = client_ssl_context(tls_certs)
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, srv.url, ssl_context=ctx), TIMEOUT
        )
        try:
            ut = transport.underlying_transport
            before = (ut.get_extra_info("ssl_object").cipher(), ut.get_extra_info("peercert"))
            payload = bytes(range(256)) * 4096
            transport.send(WSMsgType.BINARY, payload)
            assert (await listener.get())[3] == payload
            assert (ut.get_extra_info("ssl_object").cipher(), ut.get_extra_info("peercert")) == before
            assert ut.get_extra_info("sslcontext") is ctx
            assert isinstance(ut.get_extra_info("sslcontext"), ssl.SSLContext)
        finally:
            await finish(transport)
