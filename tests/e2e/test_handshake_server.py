"""Server side of the opening handshake: hand-written requests over raw TCP."""

from __future__ import annotations

import asyncio
import http
from typing import Any

import pytest
from multidict import CIMultiDict

import picows
from picows import WSMsgType, WSUpgradeResponse, WSUpgradeResponseWithListener
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
from support.listeners import CollectingListener, EchoListener
from support.net import close_writer, collect_garbage, exchange, open_raw, port_of, read_until_eof
from support.servers import ws_server


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
    if case == "method-post":
        return upgrade_request(port, method="POST")
    if case == "method-lowercase-get":
        return upgrade_request(port, method="get")
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
    if case == "version-8":
        return upgrade_request(port, replace={"Sec-WebSocket-Version": "8"})
    if case == "version-14":
        return upgrade_request(port, replace={"Sec-WebSocket-Version": "14"})
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
    if case == "http-1.0":
        return upgrade_request(port, version="HTTP/1.0")
    if case == "garbage-request-line":
        return b"this is not http\r\nHost: x\r\n\r\n"
    if case == "binary-garbage":
        return b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"
    if case == "request-line-only-method":
        return f"GET\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    raise AssertionError(case)


BAD_CASES = [
    "method-post",
    "method-lowercase-get",
    "no-upgrade",
    "upgrade-h2c",
    "no-connection",
    "connection-keep-alive-only",
    "connection-close",
    "version-8",
    "version-14",
    "no-version",
    "no-key",
    "empty-key",
    "key-15-bytes",
    "key-17-bytes",
    "key-not-base64",
    "http-1.0",
    "garbage-request-line",
    "binary-garbage",
    "request-line-only-method",
]


@pytest.mark.parametrize("case", BAD_CASES)
async def test_malformed_request_gets_400_and_disconnect(case: str) -> None:
    factory_calls: list[Any] = []

    def factory(request: Any) -> Any:
        factory_calls.append(request)
        return EchoListener()

    async with ws_server(factory) as url:
        port = port_of(url)
        raw = await exchange(port, _bad_request(port, case))
        resp = RawResponse(raw)
        assert resp.status == 400, raw
        ctype = resp.header("content-type")
        assert ctype is not None and ctype.lower().startswith("text/plain"), raw
        # The body is framed (Content-Length, if sent, matches) and the server then closes.
        assert resp.header("content-length") in (None, str(len(resp.body))), raw
        # A short human-readable reason.
        assert 0 < len(resp.body) <= 1024, raw
        resp.body.decode("utf-8")
        assert resp.header("sec-websocket-accept") is None
    assert factory_calls == []


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

