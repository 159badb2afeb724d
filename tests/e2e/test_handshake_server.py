"""Server side of the opening handshake: hand-written requests over raw TCP."""

from __future__ import annotations

import asyncio
import http
import logging
import ssl
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDict
from websockets.asyncio.client import connect as wsx_connect

import picows
from picows import WSCloseCode, WSMsgType, WSUpgradeResponse, WSUpgradeResponseWithListener
from support import TIMEOUT
from support.frames import client_frame, read_frame
from support.http import (
    RFC_ACCEPT,
    RFC_KEY,
    RawResponse,
    accept_key,
    new_key,
    read_response_head,
    upgrade_request,
)
from support.internals import LENIENT_REQUEST_LINE, WITHOUT_DEFAULT_USER_AGENT
from support.listeners import CollectingListener, EchoListener
from support.net import close_writer, collect_garbage, exchange, open_raw, port_of, read_until_eof
from support.servers import ws_server
from support.tls import TLSCerts, client_ssl_context, server_ssl_context


async def _upgrade(port: int, request: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, RawResponse]:
    reader, writer = await open_raw(port)
    writer.write(request)
    return reader, writer, await read_response_head(reader)


async def _assert_echo_works(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(client_frame(WSMsgType.TEXT, b"hello"))
    f = await read_frame(reader)
    assert (f.opcode, f.fin, f.payload) == (WSMsgType.TEXT, True, b"hello")


def _assert_101(resp: RawResponse, key: str) -> None:
    assert resp.version == b"HTTP/1.1"
    assert resp.status == 101
    assert resp.tokens("upgrade") == ["websocket"]
    assert "upgrade" in resp.tokens("connection")
    assert resp.header("sec-websocket-accept") == accept_key(key.encode()).decode()
    assert resp.header("sec-websocket-extensions") is None


# ---------------------------------------------------------------- valid requests


async def test_valid_upgrade_gets_101_with_accept_key() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        port = port_of(url)
        key = new_key()
        reader, writer, resp = await _upgrade(port, upgrade_request(port, key=key))
        try:
            _assert_101(resp, key)
            await _assert_echo_works(reader, writer)
        finally:
            close_writer(writer)


async def test_rfc6455_example_key() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        port = port_of(url)
        reader, writer, resp = await _upgrade(port, upgrade_request(port, key=RFC_KEY))
        try:
            assert resp.status == 101
            assert resp.header("sec-websocket-accept") == RFC_ACCEPT
        finally:
            close_writer(writer)


def _lenient_request(port: int, key: str, variant: str) -> bytes:
    if variant == "lowercase-names":
        return (
            f"GET / HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            f"sec-websocket-version: 13\r\nsec-websocket-key: {key}\r\n\r\n"
        ).encode()
    if variant == "uppercase-names-and-values":
        return (
            f"GET / HTTP/1.1\r\nHOST: 127.0.0.1:{port}\r\nUPGRADE: WebSocket\r\nCONNECTION: UPGRADE\r\n"
            f"SEC-WEBSOCKET-VERSION: 13\r\nSEC-WEBSOCKET-KEY: {key}\r\n\r\n"
        ).encode()
    if variant == "extra-whitespace":
        return (
            f"GET / HTTP/1.1\r\nHost:127.0.0.1:{port}\r\nUpgrade:   websocket   \r\nConnection: \t Upgrade \t\r\n"
            f"Sec-WebSocket-Version:13\r\nSec-WebSocket-Key:    {key}  \r\n\r\n"
        ).encode()
    if variant == "connection-keep-alive-upgrade":
        return upgrade_request(port, key=key, replace={"Connection": "keep-alive, Upgrade"})
    if variant == "connection-repeated-header":
        return upgrade_request(port, key=key, replace={"Connection": "keep-alive"}, headers=[("Connection", "Upgrade")])
    if variant in ("version-8", "version-7"):
        return upgrade_request(port, key=key, replace={"Sec-WebSocket-Version": variant[-1]})
    if variant == "content-length-0":
        return upgrade_request(port, key=key, headers=[("Content-Length", "0")])
    if variant == "extra-headers":
        return upgrade_request(
            port,
            key=key,
            headers=[("Origin", "http://example.com"), ("User-Agent", "raw-test"), ("Sec-WebSocket-Protocol", "chat")],
        )
    raise AssertionError(variant)


@pytest.mark.parametrize(
    "variant",
    [
        "lowercase-names",
        "uppercase-names-and-values",
        "extra-whitespace",
        "connection-keep-alive-upgrade",
        "connection-repeated-header",
        "version-8",
        "version-7",
        "content-length-0",
        "extra-headers",
    ],
)
async def test_lenient_requests_are_accepted(variant: str) -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        port = port_of(url)
        key = new_key()
        reader, writer, resp = await _upgrade(port, _lenient_request(port, key, variant))
        try:
            _assert_101(resp, key)
            await _assert_echo_works(reader, writer)
        finally:
            close_writer(writer)


# ---------------------------------------------------------------- malformed requests


def _bad_request(port: int, case: str) -> bytes:
    """A request that is not well-formed HTTP/1.1 GET: 400 before any routing."""
    if case == "method-post":
        return upgrade_request(port, method="POST")
    if case == "method-lowercase-get":
        return upgrade_request(port, method="get")
    if case == "http-1.0":
        return upgrade_request(port, version="HTTP/1.0")
    if case == "garbage-request-line":
        return b"this is not http\r\nHost: x\r\n\r\n"
    if case == "binary-garbage":
        return b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"
    if case == "request-line-only-method":
        return f"GET\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    if case == "no-host":
        return upgrade_request(port, drop=("host",))
    if case == "space-before-colon":
        return upgrade_request(port).replace(b"Upgrade: websocket", b"Upgrade : websocket")
    if case == "obs-fold":
        return upgrade_request(port, headers=[("X-Long", "first"), (" ", "folded")]).replace(b"\r\n : ", b"\r\n ")
    if case == "nul-in-value":
        return upgrade_request(port, headers=[("X-Bad", "a\x00b")])
    if case == "129-headers":
        return upgrade_request(port, headers=[(f"X-{i}", "1") for i in range(124)])
    if case == "transfer-encoding":
        return upgrade_request(port, headers=[("Transfer-Encoding", "chunked")])
    if case == "content-length":
        return upgrade_request(port, headers=[("Content-Length", "5")]) + b"hello"
    raise AssertionError(case)


MALFORMED_CASES = [
    "method-post",
    "method-lowercase-get",
    "http-1.0",
    "garbage-request-line",
    "binary-garbage",
    "request-line-only-method",
    "no-host",
    "space-before-colon",
    "obs-fold",
    "nul-in-value",
    "129-headers",
    "transfer-encoding",
    "content-length",
]


def _assert_400(raw: bytes) -> RawResponse:
    resp = RawResponse(raw)
    assert resp.status == 400, raw
    ctype = resp.header("content-type")
    assert ctype is not None and ctype.lower().startswith("text/plain"), raw
    # The body is framed (Content-Length matches), the server says it closes, then closes.
    assert resp.header("content-length") == str(len(resp.body)), raw
    assert resp.header("connection") == "close"
    # A short human-readable reason.
    assert 0 < len(resp.body) <= 1024, raw
    resp.body.decode("utf-8")
    assert resp.header("sec-websocket-accept") is None
    return resp


@pytest.mark.parametrize("case", MALFORMED_CASES)
async def test_malformed_request_gets_400_and_disconnect(case: str) -> None:
    factory_calls: list[Any] = []

    def factory(request: Any) -> Any:
        factory_calls.append(request)
        return EchoListener()

    async with ws_server(factory) as url:
        port = port_of(url)
        _assert_400(await exchange(port, _bad_request(port, case)))
    assert factory_calls == []  # never routed


# What picows.websockets' server needs: other methods and HTTP/1.0 reach the factory (private knob).
LENIENT_CASES = {
    "method-post": (b"POST", b"HTTP/1.1", 405),
    "method-lowercase-get": (b"get", b"HTTP/1.1", 405),
    "http-1.0": (b"GET", b"HTTP/1.0", 505),
}


@pytest.mark.parametrize("case", sorted(LENIENT_CASES))
async def test_lenient_server_routes_other_methods_and_http_1_0(case: str) -> None:
    method, version, refused = LENIENT_CASES[case]
    seen: list[Any] = []

    def ok(request: Any) -> Any:
        seen.append(request)
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(b"routed"), None)

    async with ws_server(ok, **LENIENT_REQUEST_LINE) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, _bad_request(port, case)))
    assert (resp.status, resp.body) == (200, b"routed")
    assert [(r.method, r.version) for r in seen] == [(method, version)]

    async with ws_server(lambda request: EchoListener(), **LENIENT_REQUEST_LINE) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, _bad_request(port, case)))
    assert resp.status == refused and resp.header("connection") == "close"
    assert resp.header("allow") == ("GET" if refused == 405 else None)
    assert resp.header("sec-websocket-accept") is None


@pytest.mark.single_loop  # argument validation: fails before the server starts
async def test_server_internal_keywords_are_checked() -> None:
    with pytest.raises(TypeError, match="_lenient_request_line must be a bool"):
        await picows.ws_create_server(lambda request: EchoListener(), "127.0.0.1", 0, _lenient_request_line=1)
    with pytest.raises(TypeError, match="_deflate_after_extensions must be a bool"):
        await picows.ws_create_server(lambda request: EchoListener(), "127.0.0.1", 0, _deflate_after_extensions=1)
    with pytest.raises(TypeError, match="unexpected keyword argument '_send_user_agent'"):
        await picows.ws_create_server(lambda request: EchoListener(), "127.0.0.1", 0, **WITHOUT_DEFAULT_USER_AGENT)


def _not_an_upgrade(port: int, case: str) -> bytes:
    """A well-formed GET that is not a valid WebSocket upgrade: routed, 400 for a listener."""
    if case == "plain-get":
        return f"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n\r\n".encode()
    if case == "no-upgrade":
        return upgrade_request(port, drop=("upgrade",))
    if case == "upgrade-h2c":
        return upgrade_request(port, replace={"Upgrade": "h2c"})
    if case == "no-connection":
        return upgrade_request(port, drop=("connection",))
    if case == "connection-keep-alive-only":
        return upgrade_request(port, replace={"Connection": "keep-alive"})
    if case == "connection-close":
        return upgrade_request(port, replace={"Connection": "close"})
    if case == "version-14":
        return upgrade_request(port, replace={"Sec-WebSocket-Version": "14"})
    if case == "version-6":
        return upgrade_request(port, replace={"Sec-WebSocket-Version": "6"})
    if case == "no-version":
        return upgrade_request(port, drop=("sec-websocket-version",))
    if case == "no-key":
        return upgrade_request(port, drop=("sec-websocket-key",))
    if case == "empty-key":
        return upgrade_request(port, key="")
    if case == "key-15-bytes":
        return upgrade_request(port, key="AAAAAAAAAAAAAAAAAAAA")  # 15 bytes
    if case == "key-17-bytes":
        return upgrade_request(port, key="AAAAAAAAAAAAAAAAAAAAAAA=")  # 17 bytes
    if case == "key-not-base64":
        return upgrade_request(port, key="this is not base64!!!!==")
    raise AssertionError(case)


NOT_AN_UPGRADE_CASES = [
    "plain-get",
    "no-upgrade",
    "upgrade-h2c",
    "no-connection",
    "connection-keep-alive-only",
    "connection-close",
    "version-14",
    "version-6",
    "no-version",
    "no-key",
    "empty-key",
    "key-15-bytes",
    "key-17-bytes",
    "key-not-base64",
]


@pytest.mark.parametrize("case", NOT_AN_UPGRADE_CASES)
async def test_not_an_upgrade_is_routed_and_a_listener_gets_400(case: str) -> None:
    factory_calls: list[Any] = []

    def factory(request: Any) -> Any:
        factory_calls.append(request)
        return EchoListener()

    async with ws_server(factory) as url:
        port = port_of(url)
        resp = _assert_400(await exchange(port, _not_an_upgrade(port, case)))
        if case.startswith("version") or case == "no-version":
            # RFC 6455 4.4: tell the client which versions are supported
            assert resp.tokens("sec-websocket-version") == ["13", "8", "7"]
    assert len(factory_calls) == 1  # picows 2.x: the factory sees every well-formed GET


@pytest.mark.parametrize("case", NOT_AN_UPGRADE_CASES)
async def test_not_an_upgrade_answered_by_the_factory(case: str) -> None:
    def factory(request: Any) -> Any:
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_ok_response(b"seen: " + request.path), None
        )

    async with ws_server(factory) as url:
        port = port_of(url)
        request = _not_an_upgrade(port, case)
        resp = RawResponse(await exchange(port, request))
        assert resp.status == 200
        assert resp.body == b"seen: " + request.split(b" ")[1]
        assert resp.header("connection") == "close"


async def test_oversized_request_head_is_disconnected() -> None:
    async with ws_server(lambda r: EchoListener(), websocket_handshake_timeout=60) as url:
        port = port_of(url)
        pad = [(f"X-Padding-{i}", "p" * 1000) for i in range(20)]  # ~20 KiB of headers
        raw = await exchange(port, upgrade_request(port, headers=pad))
        assert not raw.startswith(b"HTTP/1.1 101"), raw[:100]
    await collect_garbage()


async def test_endless_request_head_is_disconnected_before_timeout() -> None:
    # The head never ends; the server must drop the connection once it is over
    # 16 KiB, not wait for the (long) handshake timeout.
    async with ws_server(lambda r: EchoListener(), websocket_handshake_timeout=60) as url:
        port = port_of(url)
        reader, writer = await open_raw(port)
        try:
            writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
            sent = 0
            eof = False
            while sent < 200 * 1024:
                try:
                    writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
                    await asyncio.wait_for(writer.drain(), TIMEOUT)
                except ConnectionError:
                    eof = True
                    break
                sent += 1009
                if reader.at_eof():
                    eof = True
                    break
            if not eof:
                raw = await read_until_eof(reader)
                assert not raw.startswith(b"HTTP/1.1 101")
        finally:
            close_writer(writer)
    await collect_garbage()


async def test_request_head_just_under_limit_is_accepted() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        port = port_of(url)
        key = new_key()
        pad = [(f"X-Padding-{i}", "p" * 1000) for i in range(14)]  # ~14.2 KiB head
        reader, writer, resp = await _upgrade(port, upgrade_request(port, key=key, headers=pad))
        try:
            _assert_101(resp, key)
            await _assert_echo_works(reader, writer)
        finally:
            close_writer(writer)


# ---------------------------------------------------------------- routing


async def test_factory_returning_listener_gets_101_and_callbacks() -> None:
    listeners: list[CollectingListener] = []

    def factory(request: Any) -> Any:
        listener = CollectingListener()
        listeners.append(listener)
        return listener

    async with ws_server(factory) as url:
        port = port_of(url)
        key = new_key()
        reader, writer, resp = await _upgrade(port, upgrade_request(port, key=key))
        try:
            _assert_101(resp, key)
            await asyncio.wait_for(listeners[0].connected.wait(), TIMEOUT)
            transport = listeners[0].transport
            assert transport is not None
            assert transport.is_client_side is False
            assert transport.is_secure is False
            assert transport.response.status == 101
            assert transport.request.method == b"GET"
            writer.write(client_frame(WSMsgType.BINARY, b"\x00\x01"))
            assert await listeners[0].get() == (WSMsgType.BINARY, True, False, b"\x00\x01")
            transport.send(WSMsgType.TEXT, b"from server")
            f = await read_frame(reader)
            assert (f.opcode, f.fin, f.payload) == (WSMsgType.TEXT, True, b"from server")
        finally:
            close_writer(writer)
        await asyncio.wait_for(listeners[0].disconnected.wait(), TIMEOUT)


async def test_factory_101_with_extra_headers() -> None:
    seen: list[Any] = []

    def factory(request: Any) -> Any:
        seen.append(request)
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        assert "chat" in offered
        response = WSUpgradeResponse.create_101_response(
            extra_headers={"Sec-WebSocket-Protocol": "chat", "X-Server": "picows-test"}
        )
        return WSUpgradeResponseWithListener(response, EchoListener())

    async with ws_server(factory) as url:
        port = port_of(url)
        key = new_key()
        request = upgrade_request(port, key=key, headers=[("Sec-WebSocket-Protocol", "superchat, chat")])
        reader, writer, resp = await _upgrade(port, request)
        try:
            _assert_101(resp, key)
            assert resp.header("sec-websocket-protocol") == "chat"
            assert resp.header("x-server") == "picows-test"
            await _assert_echo_works(reader, writer)
        finally:
            close_writer(writer)
    assert len(seen) == 1


async def test_factory_101_with_extra_headers_as_pairs() -> None:
    def factory(request: Any) -> Any:
        response = WSUpgradeResponse.create_101_response(extra_headers=[("X-A", "1"), ("X-B", "2")])
        return WSUpgradeResponseWithListener(response, EchoListener())

    async with ws_server(factory) as url:
        port = port_of(url)
        key = new_key()
        reader, writer, resp = await _upgrade(port, upgrade_request(port, key=key))
        try:
            _assert_101(resp, key)
            assert resp.header("x-a") == "1"
            assert resp.header("x-b") == "2"
            await _assert_echo_works(reader, writer)
        finally:
            close_writer(writer)


async def test_factory_returning_none_gets_404_and_disconnect() -> None:
    async with ws_server(lambda r: None) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, upgrade_request(port)))
        assert resp.status == 404
        assert resp.header("sec-websocket-accept") is None
        assert resp.tokens("upgrade") == []


async def test_factory_raising_gets_500_with_exception_text() -> None:
    def factory(request: Any) -> Any:
        raise RuntimeError("routing exploded: xyzzy-42")

    async with ws_server(factory) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, upgrade_request(port)))
        assert resp.status == 500
        assert b"routing exploded: xyzzy-42" in resp.body
        assert resp.header("content-length") in (None, str(len(resp.body)))


async def test_factory_custom_error_response() -> None:
    def factory(request: Any) -> Any:
        response = WSUpgradeResponse.create_error_response(
            http.HTTPStatus.FORBIDDEN, b"go away", extra_headers={"X-Reason": "test"}
        )
        return WSUpgradeResponseWithListener(response, None)

    async with ws_server(factory) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, upgrade_request(port)))
        assert resp.status == 403
        assert resp.body == b"go away"
        ctype = resp.header("content-type")
        assert ctype is not None and ctype.lower().startswith("text/plain")
        assert resp.header("content-length") == "7"
        assert resp.header("x-reason") == "test"


async def test_factory_custom_error_response_without_body() -> None:
    def factory(request: Any) -> Any:
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(503), None)

    async with ws_server(factory) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, upgrade_request(port)))
        assert resp.status == 503
        assert resp.body == b""


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_factory_redirect_response(status: int) -> None:
    def factory(request: Any) -> Any:
        response = WSUpgradeResponse.create_redirect_response(status, "/elsewhere?x=1")
        return WSUpgradeResponseWithListener(response, None)

    async with ws_server(factory) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, upgrade_request(port)))
        assert resp.status == status
        assert resp.header("location") == "/elsewhere?x=1"
        assert resp.header("sec-websocket-accept") is None


async def test_non_101_response_ignores_following_frames() -> None:
    # Frames sent after a request that is answered 404 must not reach anything.
    async with ws_server(lambda r: None) as url:
        port = port_of(url)
        raw = await exchange(port, upgrade_request(port) + client_frame(WSMsgType.TEXT, b"ignored"))
        resp = RawResponse(raw)
        assert resp.status == 404


async def test_refusal_reaches_a_client_that_is_still_sending() -> None:
    """A 404 is not destroyed by an RST while the client still sends: FIN, then its input is drained."""
    async with ws_server(lambda r: None) as url:
        port = port_of(url)
        raw = await exchange(port, upgrade_request(port) + client_frame(WSMsgType.BINARY, b"x" * 1_000_000))
        assert RawResponse(raw).status == 404


async def test_refused_client_that_never_stops_sending_is_closed() -> None:
    """The drain after a refusal ends (after LINGER_TIMEOUT) even if the client never stops."""
    async with ws_server(lambda r: None) as url:
        port = port_of(url)
        reader, writer = await open_raw(port)
        try:
            writer.write(upgrade_request(port))
            assert (await read_response_head(reader)).status == 404
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TIMEOUT
            closed = False
            while loop.time() < deadline and not closed:
                try:
                    writer.write(b"x" * 65536)
                    await asyncio.wait_for(writer.drain(), TIMEOUT)
                    await asyncio.sleep(0.01)
                except ConnectionError:
                    closed = True
            assert closed
        finally:
            close_writer(writer)


# ---------------------------------------------------------------- the request object


async def test_request_object_passed_to_factory() -> None:
    seen: list[Any] = []
    listeners: list[CollectingListener] = []

    def factory(request: Any) -> Any:
        seen.append(request)
        listener = CollectingListener()
        listeners.append(listener)
        return listener

    async with ws_server(factory) as url:
        port = port_of(url)
        request = upgrade_request(
            port,
            path="/chat/room%201?x=1&y=two",
            headers=[("X-Multi", "one"), ("x-multi", "two"), ("X-Single", " spaced value ")],
        )
        reader, writer, resp = await _upgrade(port, request)
        try:
            assert resp.status == 101
            assert len(seen) == 1
            req = seen[0]
            assert isinstance(req, picows.WSUpgradeRequest)
            assert req.method == b"GET"
            assert req.path == b"/chat/room%201?x=1&y=two"
            assert req.version == b"HTTP/1.1"
            assert isinstance(req.headers, CIMultiDict)
            assert req.headers.getall("X-MULTI") == ["one", "two"]
            assert req.headers["x-single"] == "spaced value"
            assert req.headers["host"] == f"127.0.0.1:{port}"
            assert req.headers["SEC-WEBSOCKET-VERSION"] == "13"
            await asyncio.wait_for(listeners[0].connected.wait(), TIMEOUT)
            transport = listeners[0].transport
            assert transport is not None
            assert transport.request.path == b"/chat/room%201?x=1&y=two"
            assert transport.request.headers.getall("X-Multi") == ["one", "two"]
        finally:
            close_writer(writer)


async def test_factory_called_once_per_connection() -> None:
    paths: list[bytes] = []

    def factory(request: Any) -> Any:
        paths.append(request.path)
        return EchoListener()

    async with ws_server(factory) as url:
        port = port_of(url)
        for i in range(3):
            reader, writer, resp = await _upgrade(port, upgrade_request(port, path=f"/c{i}"))
            try:
                assert resp.status == 101
                await _assert_echo_works(reader, writer)
            finally:
                close_writer(writer)
    assert paths == [b"/c0", b"/c1", b"/c2"]


# ---------------------------------------------------------------- handshake timeout


async def test_silent_client_is_disconnected_after_handshake_timeout() -> None:
    factory_calls: list[Any] = []
    async with ws_server(lambda r: factory_calls.append(r), websocket_handshake_timeout=0.3) as url:
        reader, writer = await open_raw(port_of(url))
        try:
            raw = await read_until_eof(reader)
            assert not raw.startswith(b"HTTP/1.1 101")
        finally:
            close_writer(writer)
    assert factory_calls == []
    await collect_garbage()


async def test_half_request_is_disconnected_after_handshake_timeout() -> None:
    async with ws_server(lambda r: EchoListener(), websocket_handshake_timeout=0.3) as url:
        port = port_of(url)
        reader, writer = await open_raw(port)
        try:
            full = upgrade_request(port)
            writer.write(full[: len(full) // 2])
            raw = await read_until_eof(reader)
            assert not raw.startswith(b"HTTP/1.1 101")
        finally:
            close_writer(writer)
    await collect_garbage()


async def test_trickling_client_is_disconnected_after_handshake_timeout() -> None:
    # Bytes that keep arriving do not extend the handshake deadline.
    async with ws_server(lambda r: EchoListener(), websocket_handshake_timeout=0.3) as url:
        port = port_of(url)
        reader, writer = await open_raw(port)
        try:
            full = upgrade_request(port)
            got_eof = False
            for i in range(len(full) - 1):
                if reader.at_eof():
                    got_eof = True
                    break
                try:
                    writer.write(full[i : i + 1])
                    await asyncio.wait_for(writer.drain(), TIMEOUT)
                except ConnectionError:
                    got_eof = True
                    break
                await asyncio.sleep(0.05)
            if not got_eof:
                raw = await read_until_eof(reader)
                assert not raw.startswith(b"HTTP/1.1 101")
        finally:
            close_writer(writer)
    await collect_garbage()


async def test_timeout_does_not_hit_completed_handshake() -> None:
    async with ws_server(lambda r: EchoListener(), websocket_handshake_timeout=0.3) as url:
        port = port_of(url)
        reader, writer, resp = await _upgrade(port, upgrade_request(port))
        try:
            assert resp.status == 101
            await asyncio.sleep(0.6)
            await _assert_echo_works(reader, writer)
        finally:
            close_writer(writer)


async def test_slow_loris_clients_do_not_block_normal_clients() -> None:
    async with ws_server(lambda r: EchoListener(), websocket_handshake_timeout=30) as url:
        port = port_of(url)
        lorises = []
        try:
            for _ in range(8):
                reader, writer = await open_raw(port)
                writer.write(upgrade_request(port)[:20])
                lorises.append(writer)
            # A real client still gets through, with the slow ones connected.
            transport, listener = await asyncio.wait_for(picows.ws_connect(CollectingListener, url), TIMEOUT)
            try:
                transport.send(WSMsgType.TEXT, b"still served")
                assert (await listener.get())[3] == b"still served"
            finally:
                transport.disconnect()
                await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
            # And a raw one too.
            reader, writer, resp = await _upgrade(port, upgrade_request(port))
            try:
                assert resp.status == 101
                await _assert_echo_works(reader, writer)
            finally:
                close_writer(writer)
        finally:
            for w in lorises:
                close_writer(w)


# ---------------------------------------------------------------- bytes after the request


async def test_frames_in_same_write_as_request_are_not_lost() -> None:
    listeners: list[CollectingListener] = []

    def factory(request: Any) -> Any:
        listener = CollectingListener()
        listeners.append(listener)
        return listener

    async with ws_server(factory) as url:
        port = port_of(url)
        data = (
            upgrade_request(port)
            + client_frame(WSMsgType.TEXT, b"first")
            + client_frame(WSMsgType.BINARY, b"second" * 100)
            + client_frame(WSMsgType.TEXT, b"th", fin=False)
            + client_frame(WSMsgType.CONTINUATION, b"ird")
        )
        reader, writer = await open_raw(port)
        try:
            writer.write(data)
            resp = await read_response_head(reader)
            assert resp.status == 101
            listener = listeners[0]
            assert await listener.get() == (WSMsgType.TEXT, True, False, b"first")
            assert await listener.get() == (WSMsgType.BINARY, True, False, b"second" * 100)
            assert await listener.get() == (WSMsgType.TEXT, False, False, b"th")
            assert await listener.get() == (WSMsgType.CONTINUATION, True, False, b"ird")
        finally:
            close_writer(writer)


async def test_request_and_frames_split_byte_by_byte() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        port = port_of(url)
        data = upgrade_request(port) + client_frame(WSMsgType.TEXT, b"trickled")
        reader, writer = await open_raw(port)
        try:
            for i in range(len(data)):
                writer.write(data[i : i + 1])
                await asyncio.wait_for(writer.drain(), TIMEOUT)
                if i % 16 == 0:
                    await asyncio.sleep(0)
            resp = await read_response_head(reader)
            assert resp.status == 101
            f = await read_frame(reader)
            assert (f.opcode, f.fin, f.payload) == (WSMsgType.TEXT, True, b"trickled")
        finally:
            close_writer(writer)


async def test_many_sequential_raw_connections() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        port = port_of(url)
        for _i in range(20):
            key = new_key()
            reader, writer, resp = await _upgrade(port, upgrade_request(port, key=key))
            try:
                _assert_101(resp, key)
            finally:
                close_writer(writer)



# ---------------------------------------------------------------- plain HTTP next to WebSockets


def _health_router(listeners: list[CollectingListener] | None = None) -> Any:
    """The documented pattern: GET /health answered 200 on the port that also upgrades WebSockets."""

    def route(request: picows.WSUpgradeRequest) -> Any:
        if request.path == b"/health":
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(b"ok"), None)
        if request.path == b"/ws":
            listener = EchoListener() if listeners is None else CollectingListener()
            if listeners is not None:
                listeners.append(listener)  # type: ignore[arg-type]
            return listener
        return None

    return route


async def test_health_check_with_a_plain_http_client() -> None:
    async with ws_server(_health_router()) as url:
        port = port_of(url)
        async with aiohttp.ClientSession() as session:
            for _ in range(2):  # the server closes after each answer; the client reconnects
                async with session.get(f"http://127.0.0.1:{port}/health", timeout=aiohttp.ClientTimeout(TIMEOUT)) as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"
                    assert r.headers["Connection"] == "close"
                    assert await r.read() == b"ok"
            async with session.get(f"http://127.0.0.1:{port}/missing", timeout=aiohttp.ClientTimeout(TIMEOUT)) as r:
                assert r.status == 404
            async with session.get(f"http://127.0.0.1:{port}/ws", timeout=aiohttp.ClientTimeout(TIMEOUT)) as r:
                assert r.status == 400  # a listener for a request that is not an upgrade
                assert (await r.read()).startswith(b"not a WebSocket upgrade request")


async def test_health_check_raw_bytes() -> None:
    async with ws_server(_health_router()) as url:
        port = port_of(url)
        raw = await exchange(port, f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        assert raw == (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\nok"
        )


async def test_health_check_and_websocket_clients_on_the_same_port() -> None:
    listeners: list[CollectingListener] = []
    async with ws_server(_health_router(listeners), path="/ws") as url:
        port = port_of(url)
        transport, client = await asyncio.wait_for(picows.ws_connect(CollectingListener, url), TIMEOUT)
        try:
            async with wsx_connect(url, open_timeout=TIMEOUT) as other:  # websockets' client on the same server
                await other.send(b"from websockets")
                assert await listeners[1].get() == (WSMsgType.BINARY, True, False, b"from websockets")
                # The collecting listener never answers a CLOSE (websockets would wait its close_timeout):
                # the server ends this connection.
                server_side = listeners[1].transport
                assert server_side is not None
                server_side.send_close(WSCloseCode.OK)
                server_side.disconnect()
                await asyncio.wait_for(other.wait_closed(), TIMEOUT)
                assert other.close_code == WSCloseCode.OK
            raw = await exchange(port, f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            assert RawResponse(raw).body == b"ok"
            transport.send(WSMsgType.TEXT, b"from picows")
            assert await listeners[0].get() == (WSMsgType.TEXT, True, False, b"from picows")
        finally:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_health_check_path_is_not_a_websocket() -> None:
    async with ws_server(_health_router(), path="/health") as url:
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url), TIMEOUT)
        assert info.value.response is not None and info.value.response.status == 200
        assert info.value.raw_body == b"ok"
        await collect_garbage()


async def test_browser_style_request_is_upgraded() -> None:
    """What Chromium sends (Connection: keep-alive, Upgrade; offers an extension picows does not take)."""
    async with ws_server(lambda r: EchoListener()) as url:
        port = port_of(url)
        key = new_key()
        request = (
            f"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: keep-alive, Upgrade\r\n"
            "Pragma: no-cache\r\nCache-Control: no-cache\r\n"
            "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36\r\n"
            "Upgrade: websocket\r\nOrigin: http://127.0.0.1\r\nSec-WebSocket-Version: 13\r\n"
            "Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        ).encode()
        reader, writer, resp = await _upgrade(port, request)
        try:
            _assert_101(resp, key)
            await _assert_echo_works(reader, writer)
        finally:
            close_writer(writer)


async def test_tls_client_on_a_plain_server_is_answered_at_once(tls_certs: TLSCerts) -> None:
    """A wss:// client gets a clear TLS error from the plain server's 400, not the handshake timeout."""
    async with ws_server(lambda r: EchoListener(), websocket_handshake_timeout=60) as url:
        wss = url.replace("ws://", "wss://")
        with pytest.raises(ssl.SSLError) as info:
            await asyncio.wait_for(
                picows.ws_connect(CollectingListener, wss, ssl_context=client_ssl_context(tls_certs)), TIMEOUT
            )
        # OpenSSL's words for "the answer is not a TLS record" (they vary between versions)
        assert info.value.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG")
        await collect_garbage()


# ---------------------------------------------------------------- the factory's result


async def test_listener_with_async_callbacks_gets_500(caplog: pytest.LogCaptureFixture) -> None:
    class AsyncListener(picows.WSListener):
        async def on_ws_connected(self, transport: Any) -> None:  # type: ignore[override]
            pass

    caplog.set_level(logging.ERROR, "picows.server")
    async with ws_server(lambda r: AsyncListener()) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, upgrade_request(port)))
        assert resp.status == 500
        assert resp.header("connection") == "close"
    assert any("AsyncListener.on_ws_connected is an async function" in m for m in caplog.messages), caplog.messages


async def test_error_response_keep_alive_is_replaced_by_close() -> None:
    def factory(request: Any) -> Any:
        response = WSUpgradeResponse.create_error_response(429, b"slow down", {"Connection": "keep-alive"})
        return WSUpgradeResponseWithListener(response, None)

    async with ws_server(factory) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, upgrade_request(port)))  # ends: the server closed
        assert (resp.status, resp.body) == (429, b"slow down")
        assert resp.header("connection") == "close"


async def test_remote_address_is_the_clients_address() -> None:
    seen: list[Any] = []

    def factory(request: Any) -> Any:
        seen.append(request.remote_address)
        return EchoListener()

    async with ws_server(factory) as url:
        port = port_of(url)
        reader, writer, resp = await _upgrade(port, upgrade_request(port))
        try:
            assert resp.status == 101
            assert seen == [writer.get_extra_info("sockname")]
        finally:
            close_writer(writer)
        transport, _ = await asyncio.wait_for(picows.ws_connect(CollectingListener, url), TIMEOUT)
        try:
            assert seen[1] == transport.underlying_transport.get_extra_info("sockname")
            assert transport.request.remote_address is None  # on the client: the request picows sent
        finally:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_remote_address_over_tls(tls_certs: TLSCerts) -> None:
    seen: list[Any] = []

    def factory(request: Any) -> Any:
        seen.append(request.remote_address)
        return EchoListener()

    async with ws_server(factory, ssl=server_ssl_context(tls_certs)) as url:
        transport, _ = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, url, ssl_context=client_ssl_context(tls_certs)), TIMEOUT
        )
        try:
            assert seen == [transport.underlying_transport.get_extra_info("sockname")]
        finally:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


# ---------------------------------------------------------------- async factories


async def test_async_factory_upgrades() -> None:
    lookups: list[bytes] = []

    async def factory(request: Any) -> Any:
        await asyncio.sleep(0.01)  # e.g. a token lookup
        lookups.append(request.path)
        return EchoListener() if request.path == b"/ok" else None

    async with ws_server(factory, path="/ok") as url:
        transport, listener = await asyncio.wait_for(picows.ws_connect(CollectingListener, url), TIMEOUT)
        try:
            transport.send(WSMsgType.TEXT, b"routed asynchronously")
            assert (await listener.get())[3] == b"routed asynchronously"
        finally:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        with pytest.raises(picows.WSInvalidStatusError) as info:
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url.replace("/ok", "/no")), TIMEOUT)
        assert info.value.response is not None and info.value.response.status == 404
        await collect_garbage()
    assert lookups == [b"/ok", b"/no"]


async def test_factory_returning_an_awaitable() -> None:
    """Not a coroutine function, but a function returning a future: awaited the same way."""

    def factory(request: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, EchoListener())
        return future

    async with ws_server(factory) as url:
        transport, listener = await asyncio.wait_for(picows.ws_connect(CollectingListener, url), TIMEOUT)
        try:
            transport.send(WSMsgType.BINARY, b"via a future")
            assert (await listener.get())[3] == b"via a future"
        finally:
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def test_async_factory_can_answer_plain_http() -> None:
    async def factory(request: Any) -> Any:
        await asyncio.sleep(0)
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(b"async ok"), None)

    async with ws_server(factory) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()))
        assert (resp.status, resp.body) == (200, b"async ok")


async def test_async_factory_raising_gets_500(caplog: pytest.LogCaptureFixture) -> None:
    async def factory(request: Any) -> Any:
        await asyncio.sleep(0)
        raise PermissionError("token expired: 7f3a")

    caplog.set_level(logging.ERROR, "picows.server")
    async with ws_server(factory) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, upgrade_request(port)))
        assert (resp.status, resp.body) == (500, b"token expired: 7f3a")
    assert "ws_listener_factory raised, answering 500" in caplog.messages


async def test_async_factory_result_is_checked_like_a_sync_one() -> None:
    async def factory(request: Any) -> Any:
        return EchoListener()

    async with ws_server(factory) as url:
        port = port_of(url)
        _assert_400(await exchange(port, upgrade_request(port, drop=("sec-websocket-key",))))


async def test_async_factory_timeout_aborts_and_cancels_it() -> None:
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def factory(request: Any) -> Any:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return EchoListener()

    async with ws_server(factory, websocket_handshake_timeout=0.2) as url:
        port = port_of(url)
        reader, writer = await open_raw(port)
        try:
            writer.write(upgrade_request(port))
            await asyncio.wait_for(started.wait(), TIMEOUT)
            assert await read_until_eof(reader) == b""  # aborted: no response at all
            await asyncio.wait_for(cancelled.wait(), TIMEOUT)
        finally:
            close_writer(writer)
    await collect_garbage()


async def test_client_leaving_cancels_the_async_factory() -> None:
    cancelled = asyncio.Event()
    started = asyncio.Event()

    async def factory(request: Any) -> Any:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return EchoListener()

    async with ws_server(factory, websocket_handshake_timeout=60) as url:
        port = port_of(url)
        reader, writer = await open_raw(port)
        writer.write(upgrade_request(port))
        await asyncio.wait_for(started.wait(), TIMEOUT)
        writer.close()
        await asyncio.wait_for(cancelled.wait(), TIMEOUT)
    await collect_garbage()


@pytest.mark.parametrize("when", ["with-the-request", "while-the-factory-runs"])
async def test_frames_sent_before_the_async_factory_answers_are_not_lost(when: str) -> None:
    listeners: list[CollectingListener] = []
    may_answer = asyncio.Event()
    started = asyncio.Event()

    async def factory(request: Any) -> Any:
        started.set()
        await asyncio.wait_for(may_answer.wait(), TIMEOUT)
        listeners.append(CollectingListener())
        return listeners[-1]

    frames = [client_frame(WSMsgType.TEXT, b"first"), client_frame(WSMsgType.BINARY, b"second" * 1000)]
    async with ws_server(factory) as url:
        port = port_of(url)
        reader, writer = await open_raw(port)
        try:
            if when == "with-the-request":
                writer.write(upgrade_request(port) + b"".join(frames))
                await asyncio.wait_for(started.wait(), TIMEOUT)
            else:
                writer.write(upgrade_request(port))
                await asyncio.wait_for(started.wait(), TIMEOUT)
                for frame in frames:
                    writer.write(frame)
                    await asyncio.sleep(0.01)  # each in its own read while the factory waits
            may_answer.set()
            assert (await read_response_head(reader)).status == 101
            listener = listeners[0]
            assert await listener.get() == (WSMsgType.TEXT, True, False, b"first")
            assert await listener.get() == (WSMsgType.BINARY, True, False, b"second" * 1000)
            listener.transport.send(WSMsgType.TEXT, b"answer")  # type: ignore[union-attr]
            f = await read_frame(reader)
            assert (f.opcode, f.payload) == (WSMsgType.TEXT, b"answer")
        finally:
            close_writer(writer)


async def test_a_flood_while_the_async_factory_runs_pauses_reading_and_loses_nothing() -> None:
    """More than 64 KiB of frames before the 101: reading pauses, nothing is dropped, reading resumes."""
    listeners: list[CollectingListener] = []
    may_answer = asyncio.Event()

    async def factory(request: Any) -> Any:
        await asyncio.wait_for(may_answer.wait(), TIMEOUT)
        listeners.append(CollectingListener())
        return listeners[-1]

    payloads = [bytes([i]) * 8000 for i in range(40)]  # ~320 KiB
    async with ws_server(factory) as url:
        port = port_of(url)
        reader, writer = await open_raw(port)
        try:
            writer.write(upgrade_request(port))
            for payload in payloads:
                writer.write(client_frame(WSMsgType.BINARY, payload))
            await asyncio.sleep(0.1)  # let the server read what it will before the answer
            may_answer.set()
            await asyncio.wait_for(writer.drain(), TIMEOUT)
            assert (await read_response_head(reader)).status == 101
            for payload in payloads:
                assert (await listeners[0].get())[3] == payload
            listeners[0].transport.send(WSMsgType.TEXT, b"after the flood")  # type: ignore[union-attr]
            writer.write(client_frame(WSMsgType.TEXT, b"still reading"))
            assert (await listeners[0].get())[3] == b"still reading"
        finally:
            close_writer(writer)


@pytest.mark.parametrize(("status", "status_line"), [
    (403, b"HTTP/1.1 403 Forbidden"),  # a plain int HTTPStatus knows: its phrase
    (499, b"HTTP/1.1 499 "),  # a code HTTPStatus does not know: an empty reason phrase (RFC 9112)
])
async def test_a_response_built_with_a_plain_int_status_is_sent(status: int, status_line: bytes) -> None:
    def factory(request: Any) -> Any:
        headers = CIMultiDict([("Content-Length", "2"), ("Connection", "close")])
        return WSUpgradeResponseWithListener(WSUpgradeResponse(b"HTTP/1.1", status, headers, b"no"), None)

    async with ws_server(factory) as url:
        port = port_of(url)
        resp = RawResponse(await exchange(port, upgrade_request(port)))
    assert (resp.status_line, resp.body) == (status_line, b"no")
