"""connect(): bad URIs and proxies, argument conflicts, subprotocol answers, redirects, reconnection (vs websockets)."""

from __future__ import annotations

import asyncio
import contextlib
import http
import itertools
import os
import random
import socket
import ssl
from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.client
import websockets.exceptions

from picows.websockets.asyncio.client import backoff, connect, unix_connect
from picows.websockets.asyncio.server import unix_serve
from picows.websockets.exceptions import (
    InvalidHeader,
    InvalidProxy,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
)
from support.net import free_port, tcp_server
from support.proxies import LoggedSocksProxies
from support.raw_ws import raw_ws_server
from support.ws_api import TIMEOUT, UPSTREAM_MAJOR, echo, our_server, their_server

CLIENTS = {"ours": connect, "websockets": upstream_client.connect}


async def failure_of(client: str, url: str, **kwargs: Any) -> BaseException:
    """What opening (and closing) a connection with one library's client raises."""
    try:
        async with CLIENTS[client](url, **kwargs):
            pass
    except Exception as exc:  # noqa: BLE001 - the exception is what the tests compare
        return exc
    raise AssertionError("the connection succeeded")


def no_delay() -> Generator[float]:
    while True:
        yield 0.0


# -- URIs, proxies, argument conflicts --------------------------------------------------------------


@pytest.mark.single_loop
@pytest.mark.parametrize("uri", ["ws://user@127.0.0.1/", "ws://127.0.0.1/#fragment"])
async def test_invalid_uri_message_like_websockets(uri: str) -> None:
    with pytest.raises(InvalidURI) as ours:
        connect(uri)
    with pytest.raises(websockets.exceptions.InvalidURI) as theirs:  # websockets < 17: when awaited
        await upstream_client.connect(uri)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.single_loop
@pytest.mark.parametrize(("uri", "reason"), [("ws://host:abc/", "port isn't a valid integer"),
                                             ("ws://host:99999/", "port isn't a valid integer"),
                                             ("ws://[::1/", "Invalid IPv6 URL")])
async def test_unparsable_uri_is_invalid_uri(uri: str, reason: str) -> None:
    """Ours raises InvalidURI naming the problem (websockets lets urllib's ValueError through)."""
    with pytest.raises(InvalidURI) as ours:
        connect(uri)
    assert str(ours.value) == f"{uri} isn't a valid URI: {reason}"


@pytest.mark.single_loop
@pytest.mark.parametrize("proxy", [
    "ftp://127.0.0.1:21", "http://", "http://127.0.0.1:8080/path", "http://127.0.0.1:8080?q=1",
    "http://127.0.0.1:8080#f", "http://user@127.0.0.1:8080",
])
async def test_invalid_proxy_like_websockets(proxy: str) -> None:
    """Checked before any connection is attempted: the URL's own port is closed."""
    url = f"ws://127.0.0.1:{free_port()}/"
    ours = await failure_of("ours", url, proxy=proxy)
    theirs = await failure_of("websockets", url, proxy=proxy)
    assert isinstance(ours, InvalidProxy) and isinstance(theirs, websockets.exceptions.InvalidProxy)
    assert str(ours) == str(theirs)


@pytest.mark.single_loop
async def test_ssl_with_ws_uri_is_value_error_like_websockets() -> None:
    context = ssl.create_default_context()
    with pytest.raises(ValueError) as ours:
        connect("ws://127.0.0.1/", ssl=context)
    with pytest.raises(ValueError) as theirs:  # websockets < 17 raises when awaited
        await upstream_client.connect(f"ws://127.0.0.1:{free_port()}/", ssl=context)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.single_loop
async def test_proxy_ssl_with_http_proxy_is_value_error_like_websockets() -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    kwargs = {"proxy": f"http://127.0.0.1:{free_port()}", "proxy_ssl": ssl.create_default_context()}
    ours, theirs = await failure_of("ours", url, **kwargs), await failure_of("websockets", url, **kwargs)
    assert type(ours) is type(theirs) is ValueError
    assert str(ours) == str(theirs)


@pytest.mark.single_loop
async def test_unsupported_arguments() -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    with pytest.raises(TypeError, match="has no name"):
        connect(url, extensions=[object()])
    with pytest.raises(NotImplementedError, match="server_hostname"):
        await connect(url, host="127.0.0.1", server_hostname="example.com")
    with pytest.raises(TypeError, match="path"):
        await connect(url, path="/tmp/x.sock")
    with pytest.raises(ValueError, match="needs path or sock"):
        await connect("ws://localhost/", unix=True)


# -- opening ---------------------------------------------------------------------------------------


async def test_open_timeout_none_and_origin() -> None:
    """open_timeout=None waits without a bound; origin= is sent and checked by websockets' server."""
    async with their_server(origins=["https://good.example"]) as url:
        async with connect(url, proxy=None, open_timeout=None, origin="https://good.example") as ws:
            await ws.send("ok")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ok"
        exc = await failure_of("ours", url, proxy=None, origin="https://evil.example")
        assert isinstance(exc, InvalidStatus) and exc.response.status_code == 403


async def send_two_fragments(ws: Any) -> None:
    await ws.send(["a" * 30, "b" * 30])  # two 30-byte frames, a 60-byte message
    await ws.wait_closed()


async def close_of(client: str, url: str, max_size: Any, compression: str | None) -> Any:
    """What one library's client receives: the message, or the close frame it sent."""
    async with CLIENTS[client](url, proxy=None, max_size=max_size, compression=compression) as ws:
        try:
            return len(await asyncio.wait_for(ws.recv(), TIMEOUT))
        except websockets.exceptions.ConnectionClosedError as exc:
            return exc.sent


@pytest.mark.parametrize("max_size", [(100, 40), (100, 20), (50, None), (50, 40)])
async def test_max_size_pair_limits_frames_and_messages_like_websockets(max_size: Any) -> None:
    """max_size=(message, frame): over either limit the client closes with 1009, as websockets' does."""
    async with their_server(send_two_fragments) as url:
        ours = await close_of("ours", url, max_size, None)
        theirs = await close_of("websockets", url, max_size, None) if UPSTREAM_MAJOR >= 16 else None
    if max_size == (100, 40):
        assert ours == 60
    else:
        assert ours.code == 1009
    if theirs is not None:  # websockets < 16 takes no (message, frame) pair
        assert (ours == theirs) if isinstance(ours, int) else (ours.code == theirs.code)


async def test_message_limit_reason_like_websockets() -> None:
    async with their_server(send_two_fragments) as url:
        ours = await close_of("ours", url, (50, None), None)
        theirs = await close_of("websockets", url, (50, None), None) if UPSTREAM_MAJOR >= 16 else None
    assert ours.reason == "frame with 30 bytes after reading 30 bytes exceeds limit of 50 bytes"
    if theirs is not None:  # websockets < 16 takes no (message, frame) pair
        assert theirs.reason == ours.reason


async def test_frame_limit_bounds_compressed_frames_a_documented_difference() -> None:
    # docs/guides/websockets.rst, differences: with compression the frame limit of (message, frame)
    # bounds frames as received; websockets also bounds each inflated fragment. Two 30-byte
    # fragments compress below 20 bytes: we deliver the 60-byte message, websockets closes with 1009.
    async with their_server(send_two_fragments) as url:
        ours = await close_of("ours", url, (100, 20), "deflate")
        theirs = await close_of("websockets", url, (100, 20), "deflate") if UPSTREAM_MAJOR >= 16 else None
    assert ours == 60
    if theirs is not None:
        assert not isinstance(theirs, int) and theirs.code == 1009
    async with their_server(send_two_fragments) as url:  # the message limit bounds the inflated size
        assert (await close_of("ours", url, (50, 20), "deflate")).code == 1009


SUBPROTOCOL_ANSWERS = {
    "two-values": (b"Sec-WebSocket-Protocol: chat, superchat\r\n", ["chat", "superchat"]),
    "two-headers": (b"Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: superchat\r\n", ["chat", "superchat"]),
    "none-offered": (b"Sec-WebSocket-Protocol: chat\r\n", None),
    "not-offered": (b"Sec-WebSocket-Protocol: superchat\r\n", ["chat"]),
}


@pytest.mark.parametrize("case", sorted(SUBPROTOCOL_ANSWERS))
async def test_bad_subprotocol_answer_like_websockets(case: str) -> None:
    headers, offered = SUBPROTOCOL_ANSWERS[case]
    failures = {}
    async with raw_ws_server(headers=headers) as server:
        for client in CLIENTS:
            failures[client] = await failure_of(client, server.url, proxy=None, subprotocols=offered)
    ours, theirs = failures["ours"], failures["websockets"]
    assert isinstance(ours, (InvalidHeader, NegotiationError))
    assert type(ours).__name__ == type(theirs).__name__
    assert str(ours) == str(theirs)


async def test_host_and_port_override_tries_every_address() -> None:
    """host= resolving to several addresses: the ones refusing are skipped; all refusing raises OSError."""
    async with our_server(echo) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        # "localhost" may resolve to ::1 first: nothing listens there, 127.0.0.1 answers.
        async with connect("ws://example.invalid/", host="localhost", port=port) as ws:
            await ws.send("found")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "found"
    with pytest.raises(OSError):
        await connect("ws://example.invalid/", host="localhost", port=free_port())


async def test_unix_connect_with_a_connected_socket(tmp_path: Any) -> None:
    path = os.path.join(str(tmp_path), "ws.sock")
    async with unix_serve(echo, path):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        async with unix_connect(sock=sock) as ws:
            await ws.send("via sock")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "via sock"


# -- redirects ---------------------------------------------------------------------------------------


def redirect_to(location: str) -> Any:
    def process_request(connection: Any, request: Any) -> Any:
        response = connection.respond(http.HTTPStatus.FOUND, "moved")
        response.headers["Location"] = location
        return response

    return process_request


async def test_cross_origin_redirect_drops_credentials_like_websockets() -> None:
    seen: list[dict[str, str]] = []

    def record(connection: Any, request: Any) -> None:
        seen.append({name: request.headers[name] for name in request.headers})

    headers = {"Authorization": "Bearer secret", "Cookie": "session=1", "X-Kept": "yes"}
    async with our_server(process_request=record) as target, our_server(process_request=redirect_to(target)) as url:
        for client in CLIENTS:
            async with CLIENTS[client](url, proxy=None, additional_headers=headers) as ws:
                await ws.send(client)
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == client
    ours, theirs = seen
    assert ours["x-kept"] == theirs["x-kept"] == "yes"
    for name in ("authorization", "cookie"):
        assert name not in ours
        assert name not in theirs or UPSTREAM_MAJOR < 17  # websockets 17 started dropping them


async def test_cross_origin_redirect_with_host_override_is_refused_like_websockets() -> None:
    async with our_server() as target, our_server(process_request=redirect_to(target)) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        failures = {client: await failure_of(client, url, proxy=None, host="127.0.0.1", port=port)
                    for client in CLIENTS}
    assert type(failures["ours"]) is type(failures["websockets"]) is ValueError
    assert str(failures["ours"]) == str(failures["websockets"])
    assert "with an explicit host or port" in str(failures["ours"])


async def test_cross_origin_redirect_on_unix_socket_is_refused_like_websockets(tmp_path: Any) -> None:
    path = os.path.join(str(tmp_path), "redirect.sock")
    async with unix_serve(echo, path, process_request=redirect_to("ws://elsewhere.example/")):
        with pytest.raises(ValueError) as ours:
            async with unix_connect(path):
                pass
        with pytest.raises(ValueError) as theirs:
            async with upstream_client.unix_connect(path):
                pass
    assert str(ours.value) == str(theirs.value)
    assert "with a Unix socket" in str(ours.value)


# -- reconnection ------------------------------------------------------------------------------------


def test_backoff_is_websockets_sequence() -> None:
    """The default reconnect_delays: the same jittered first delay and growth as websockets' backoff()."""
    state = random.getstate()
    try:
        random.seed(1234)
        ours = list(itertools.islice(backoff(), 15))
        random.seed(1234)
        theirs = list(itertools.islice(websockets.client.backoff(), 15))
    finally:
        random.setstate(state)
    assert ours == theirs
    assert 0 <= ours[0] < 5 and ours[1] == 3.1 and ours[-1] == 90.0


@pytest.mark.parametrize("how", ["returns", "raises"])
@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_process_exception_replacing_the_error(how: str, client: str) -> None:
    """A process_exception that returns or raises another exception ends async for with it, chained."""
    errors: list[Exception] = []

    def replace(exc: Exception) -> Exception | None:
        errors.append(exc)
        replacement = RuntimeError("giving up")
        if how == "raises":
            raise replacement
        return replacement

    def unavailable(connection: Any, request: Any) -> Any:
        return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "later")

    async with our_server(process_request=unavailable) as url:
        with pytest.raises(RuntimeError, match="giving up") as info:
            # (no reconnect_delays: the first failure ends it, and websockets < 16 has no such argument)
            async for _ws in CLIENTS[client](url, proxy=None, process_exception=replace):
                raise AssertionError("unreachable")
    assert len(errors) == 1 and isinstance(errors[0], websockets.exceptions.InvalidStatus)
    assert info.value.__cause__ is errors[0] or info.value.__context__ is errors[0]


async def test_reconnect_after_a_dropped_connection_resets_the_delays() -> None:
    """A connection that opened and then failed reconnects, starting reconnect_delays afresh."""
    generators = 0
    attempts = 0

    def counted_delays() -> Generator[float]:
        nonlocal generators
        generators += 1
        while True:
            yield 0.0

    def flaky(connection: Any, request: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts in (1, 3):
            return connection.respond(http.HTTPStatus.BAD_GATEWAY, "flaky")
        return None

    opened = 0
    async with our_server(process_request=flaky) as url:
        async for ws in connect(url, proxy=None, reconnect_delays=counted_delays):
            opened += 1
            if opened == 1:
                continue  # leaving the block closes it; async for opens the next one
            await ws.send("second")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "second"
            break
    assert attempts == 4 and generators == 2


# -- SOCKS proxies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("client", ["ours", "websockets"])
async def test_socks_proxy_from_the_environment(
    logged_socks_proxies: LoggedSocksProxies, monkeypatch: Any, client: str
) -> None:
    """socks_proxy=http://host:port (how getproxies() reports it) is SOCKS5 resolving names remotely, as websockets."""
    socks5 = logged_socks_proxies.url("socks5")
    monkeypatch.setenv("socks_proxy", socks5.replace("socks5://", "http://"))
    monkeypatch.setenv("no_proxy", "")
    for name in ("http_proxy", "https_proxy", "ws_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    async with our_server() as url:
        url = url.replace("127.0.0.1", "localhost")
        async with CLIENTS[client](url) as ws:
            await ws.send("through socks")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "through socks"
        port = url.rsplit(":", 1)[1].split("/", 1)[0]
        await logged_socks_proxies.socks5.wait_for_log(f"-> localhost:{port}")


@pytest.mark.parametrize("scheme, asked_for", [
    ("socks5", "127.0.0.1"), ("socks5h", "localhost"), ("socks4", "127.0.0.1"),
])  # fmt: skip
@pytest.mark.parametrize("client", ["ours", "websockets"])
async def test_socks_proxy_resolves_names_like_websockets(
    logged_socks_proxies: LoggedSocksProxies, scheme: str, asked_for: str, client: str
) -> None:
    """websockets resolves the server's name itself for socks5:// and socks4://; the proxy does for socks5h://."""
    async with our_server() as url:
        url = url.replace("127.0.0.1", "localhost")
        async with CLIENTS[client](url, proxy=logged_socks_proxies.url(scheme)) as ws:
            await ws.send("named")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "named"
        port = url.rsplit(":", 1)[1].split("/", 1)[0]
        await logged_socks_proxies.server(scheme).wait_for_log(f"-> {asked_for}:{port}")


@contextlib.asynccontextmanager
async def refusing_socks5_proxy() -> AsyncIterator[str]:
    """A SOCKS5 proxy that answers every CONNECT with "connection refused" (reply code 5)."""
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, methods = await asyncio.wait_for(reader.readexactly(2), TIMEOUT)
        await reader.readexactly(methods)
        writer.write(b"\x05\x00")  # no authentication
        head = await asyncio.wait_for(reader.readexactly(4), TIMEOUT)
        address_length = {1: 4, 4: 16}.get(head[3])
        if address_length is None:  # a domain name: its length comes first
            address_length = (await reader.readexactly(1))[0]
        await reader.readexactly(address_length + 2)  # the address and the port
        writer.write(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")
        await writer.drain()

    async with tcp_server(handler) as port:
        yield f"socks5://127.0.0.1:{port}"


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
async def test_socks_proxy_refusing_the_connection_like_websockets(scheme: str) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    async with refusing_socks5_proxy() as proxy:
        proxy = proxy.replace("socks5://", f"{scheme}://")
        ours, theirs = await failure_of("ours", url, proxy=proxy), await failure_of("websockets", url, proxy=proxy)
    assert type(ours).__name__ == type(theirs).__name__ == "ProxyError"
    assert str(ours) == str(theirs)
    assert ours.__cause__ is not None
