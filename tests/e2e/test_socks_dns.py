"""Who resolves the server's host name behind a SOCKS proxy (real pproxy, logging each tunnel's target).

SOCKS4 requests carry an IPv4 address: for ``socks4://`` picows resolves the
name itself, as python-socks and the published picows do (a SOCKS4-only
proxy cannot use a name). ``socks4a://``, ``socks5://`` and ``socks5h://``
send the name and the proxy resolves it. Both ways of reaching the proxy are
covered: picows' own connection, and a socket from ``socket_factory``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

import picows
from support import TIMEOUT
from support.listeners import CollectingListener
from support.net import port_of
from support.proxies import LoggedSocksProxies
from support.servers import echo_server

# (the scheme we are given, the target the proxy must be asked for: the name or its address)
NAMED = [("socks5", "localhost"), ("socks5h", "localhost"), ("socks4", "127.0.0.1")]


def socket_to_the_proxy(proxy: str) -> Any:
    def factory(target: Any) -> socket.socket:
        assert target.port == port_of(proxy)  # the proxy's URL, not the server's
        return socket.create_connection((target.host, target.port), timeout=TIMEOUT)

    return factory


@pytest.mark.parametrize("scheme, asked_for", NAMED)
@pytest.mark.parametrize("own_socket", [False, True], ids=["picows-connects", "socket_factory"])
async def test_the_name_goes_to_the_proxy_unless_socks4(
    logged_socks_proxies: LoggedSocksProxies, scheme: str, asked_for: str, own_socket: bool
) -> None:
    proxy = logged_socks_proxies.url(scheme)
    async with echo_server() as url:
        url = url.replace("127.0.0.1", "localhost")
        extra = {"socket_factory": socket_to_the_proxy(proxy)} if own_socket else {}
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, url, proxy=proxy, **extra), TIMEOUT
        )
        try:
            transport.send(picows.WSMsgType.TEXT, b"resolved?")
            assert await listener.get() == (picows.WSMsgType.TEXT, True, False, b"resolved?")
        finally:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        await logged_socks_proxies.server(scheme).wait_for_log(f"-> {asked_for}:{port_of(url)}")


async def test_socks4a_sends_the_name(logged_socks_proxies: LoggedSocksProxies) -> None:
    """socks4a:// puts the name in the request (address 0.0.0.1, as SOCKS4a says).

    pproxy speaks plain SOCKS4 only, so it takes 0.0.0.1 for the target, grants
    the tunnel and closes it when 0.0.0.1 cannot be reached: the upgrade gets no
    answer, and the log shows which form the request had. When our upgrade request
    reached pproxy before it closed, its kernel answers the unread data with a reset:
    then the OSError is what ws_connect raises.
    """
    async with echo_server() as url:
        url = url.replace("127.0.0.1", "localhost")
        with pytest.raises((picows.WSHandshakeError, ConnectionResetError)) as info:
            await asyncio.wait_for(
                picows.ws_connect(CollectingListener, url, proxy=logged_socks_proxies.url("socks4a")), TIMEOUT
            )
        if isinstance(info.value, picows.WSHandshakeError):
            assert "closed during the opening handshake" in str(info.value)
        await logged_socks_proxies.socks4.wait_for_log(f"-> 0.0.0.1:{port_of(url)}")
