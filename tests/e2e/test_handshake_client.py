"""Client side of the opening handshake: picows client against hand-written servers."""

from __future__ import annotations

import asyncio
import base64
import http
import platform
import socket
import struct
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict

import picows
from picows import WSError, WSMsgType, WSUpgradeResponse, WSUpgradeResponseWithListener
from support import TIMEOUT
from support.frames import close_payload, encode_frame, read_frame
from support.http import accept_key
from support.internals import LENIENT_REQUEST_LINE, WITHOUT_DEFAULT_USER_AGENT
from support.listeners import CollectingListener, EchoListener
from support.net import collect_garbage, free_port, read_http_head, read_until_eof, run_bounded, tcp_server
from support.servers import ws_server
from support.tls import TLSCerts, server_ssl_context


def _parse_request(head: bytes) -> tuple[bytes, CIMultiDict[str]]:
    lines = head[:-4].split(b"\r\n") if head.endswith(b"\r\n\r\n") else head.split(b"\r\n")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.add(name.decode("ascii"), value.strip().decode("ascii"))
    return lines[0], headers


def _key_of(head: bytes) -> bytes:
    return _parse_request(head)[1]["Sec-WebSocket-Key"].encode()


async def _connect(port: int, path: str = "/", **kwargs: Any) -> tuple[Any, Any]:
    return await asyncio.wait_for(picows.ws_connect(CollectingListener, f"ws://127.0.0.1:{port}{path}", **kwargs), TIMEOUT)


async def _close(transport: Any) -> None:
    transport.disconnect()
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


class _RecordingServer:
    """Answers a correct 101, records request heads, then echoes nothing and waits for EOF."""

    def __init__(self, extra: bytes = b"") -> None:
        self.heads: list[bytes] = []
        self.extra = extra

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        self.heads.append(head)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(_key_of(head)) + b"\r\n\r\n" + self.extra
        )
        await read_until_eof(reader)


# ---------------------------------------------------------------- the request


async def test_request_has_required_headers() -> None:
    srv = _RecordingServer()
    async with tcp_server(srv) as port:
        transport, listener = await _connect(port, "/chat/x?a=1&b=2")
        try:
            await asyncio.wait_for(listener.connected.wait(), TIMEOUT)
        finally:
            await _close(transport)
    head = srv.heads[0]
    assert head.endswith(b"\r\n\r\n")
    head.decode("ascii")
    start, headers = _parse_request(head)
    assert start == b"GET /chat/x?a=1&b=2 HTTP/1.1"
    assert headers.getall("Host") == [f"127.0.0.1:{port}"]
    assert [v.lower() for v in headers.getall("Upgrade")] == ["websocket"]
    assert "upgrade" in [t.strip().lower() for v in headers.getall("Connection") for t in v.split(",")]
    assert headers.getall("Sec-WebSocket-Version") == ["13"]
    keys = headers.getall("Sec-WebSocket-Key")
    assert len(keys) == 1
    assert len(base64.b64decode(keys[0], validate=True)) == 16
    # No extension is offered (picows does not negotiate any).
    assert "Sec-WebSocket-Extensions" not in headers


async def test_request_path_defaults_to_slash() -> None:
    srv = _RecordingServer()
    async with tcp_server(srv) as port:
        transport, _ = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, f"ws://127.0.0.1:{port}"), TIMEOUT
        )
        await _close(transport)
    assert srv.heads[0].startswith(b"GET / HTTP/1.1\r\n")


async def test_key_is_fresh_per_connection() -> None:
    srv = _RecordingServer()
    async with tcp_server(srv) as port:
        for _ in range(3):
            transport, _ = await _connect(port)
            await _close(transport)
    keys = [_key_of(h) for h in srv.heads]
    assert len(set(keys)) == 3


async def test_transport_request_and_response_on_client() -> None:
    srv = _RecordingServer()
    async with tcp_server(srv) as port:
        transport, listener = await _connect(port, "/p?q=1")
        try:
            assert transport.is_client_side is True
            assert transport.is_secure is False
            req = transport.request
            assert isinstance(req, picows.WSUpgradeRequest)
            assert req.method == b"GET"
            assert req.path == b"/p?q=1"
            assert req.version == b"HTTP/1.1"
            assert isinstance(req.headers, CIMultiDict)
            assert req.headers["sec-websocket-key"].encode() == _key_of(srv.heads[0])
            resp = transport.response
            assert isinstance(resp, WSUpgradeResponse)
            assert resp.status == http.HTTPStatus.SWITCHING_PROTOCOLS
            assert isinstance(resp.status, http.HTTPStatus)
            assert resp.version == b"HTTP/1.1"
            assert isinstance(resp.headers, CIMultiDict)
            assert resp.headers["sec-websocket-accept"].encode() == accept_key(_key_of(srv.heads[0]))
        finally:
            await _close(transport)


@pytest.mark.parametrize("form", ["dict", "list", "tuple-of-tuples", "cimultidict"])
async def test_extra_headers_are_sent(form: str) -> None:
    pairs = [("X-One", "1"), ("X-Two", "two words"), ("Origin", "http://example.com")]
    extra: Any
    if form == "dict":
        extra = dict(pairs)
    elif form == "list":
        extra = list(pairs)
    elif form == "tuple-of-tuples":
        extra = tuple(pairs)
    else:
        extra = CIMultiDict(pairs)
    srv = _RecordingServer()
    async with tcp_server(srv) as port:
        transport, _ = await _connect(port, extra_headers=extra)
        await _close(transport)
    _, headers = _parse_request(srv.heads[0])
    assert headers.getall("X-One") == ["1"]
    assert headers.getall("X-Two") == ["two words"]
    assert headers.getall("Origin") == ["http://example.com"]
    # The mandatory headers are still there exactly once.
    assert headers.getall("Sec-WebSocket-Version") == ["13"]
    assert len(headers.getall("Sec-WebSocket-Key")) == 1


async def test_extra_headers_repeated_name_from_pairs() -> None:
    srv = _RecordingServer()
    async with tcp_server(srv) as port:
        transport, _ = await _connect(port, extra_headers=[("X-Rep", "a"), ("X-Rep", "b")])
        await _close(transport)
    _, headers = _parse_request(srv.heads[0])
    assert headers.getall("X-Rep") == ["a", "b"]


USER_AGENT = f"picows/{picows.__version__} Python/{platform.python_version()}"


async def test_default_user_agent() -> None:
    srv = _RecordingServer()
    async with tcp_server(srv) as port:
        transport, _ = await _connect(port)
        await _close(transport)
    _, headers = _parse_request(srv.heads[0])
    assert headers.getall("User-Agent") == [USER_AGENT]


@pytest.mark.parametrize("name", ["User-Agent", "user-agent"])
@pytest.mark.parametrize("form", ["dict", "pairs"])
async def test_user_agent_from_extra_headers_replaces_the_default(name: str, form: str) -> None:
    extra: Any = {name: "my-bot/2.0"} if form == "dict" else [("X-Before", "1"), (name, "my-bot/2.0")]
    srv = _RecordingServer()
    async with tcp_server(srv) as port:
        transport, _ = await _connect(port, extra_headers=extra)
        await _close(transport)
    _, headers = _parse_request(srv.heads[0])
    assert headers.getall("User-Agent") == ["my-bot/2.0"]  # never two
    assert srv.heads[0].lower().count(b"\r\nuser-agent:") == 1


@pytest.mark.parametrize(
    "extra, sent", [(None, []), ({"User-Agent": "my-bot/2.0"}, ["my-bot/2.0"])], ids=["none", "extra"]
)
async def test_without_the_default_user_agent(extra: Any, sent: list[str]) -> None:
    """The private knob picows.websockets uses for user_agent_header=None: no User-Agent of ours."""
    srv = _RecordingServer()
    async with tcp_server(srv) as port:
        transport, _ = await _connect(port, extra_headers=extra, **WITHOUT_DEFAULT_USER_AGENT)
        await _close(transport)
    _, headers = _parse_request(srv.heads[0])
    assert headers.getall("User-Agent", []) == sent
    assert srv.heads[0].lower().count(b"\r\nuser-agent:") == len(sent)


@pytest.mark.single_loop  # argument validation: fails before any I/O
async def test_internal_keywords_are_checked() -> None:
    with pytest.raises(TypeError, match="_send_user_agent must be a bool"):
        await picows.ws_connect(CollectingListener, "ws://127.0.0.1:1/", _send_user_agent=None)
    with pytest.raises(TypeError, match="_extension_offer must be a non-empty str or None"):
        await picows.ws_connect(CollectingListener, "ws://127.0.0.1:1/", _extension_offer="")
    for name in ("_proxy_tls_options", "_tunnel_tls_options"):
        for bad in ({"cafile": "x"}, ["server_hostname"]):
            with pytest.raises(TypeError, match=f"{name} must be a dict with keys among"):
                await picows.ws_connect(CollectingListener, "ws://127.0.0.1:1/", **{name: bad})
    with pytest.raises(TypeError, match="unexpected keyword argument '_lenient_request_line'"):
        await picows.ws_connect(CollectingListener, "ws://127.0.0.1:1/", **LENIENT_REQUEST_LINE)


@pytest.mark.single_loop  # argument validation: fails before any I/O
@pytest.mark.parametrize(
    "extra",
    [
        {"X-Num": 1},
        {1: "value"},
        {"X-Bytes": b"value"},
        {b"X-Bytes": "value"},
        [("X-Num", 1)],
        [(b"X-Bytes", "v")],
        [("X-None", None)],
    ],
    ids=["int-value", "int-name", "bytes-value", "bytes-name", "pair-int", "pair-bytes-name", "pair-none"],
)
async def test_extra_headers_non_str_is_type_error(extra: Any) -> None:
    connected: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(1)
        await read_until_eof(reader)

    async with tcp_server(handler) as port:
        with pytest.raises(TypeError):
            await _connect(port, extra_headers=extra)


# ---------------------------------------------------------------- rejected by a picows server


async def _assert_rejected(url: str, status: int, body: bytes | None) -> WSError:
    with pytest.raises(WSError) as info:
        await asyncio.wait_for(picows.ws_connect(CollectingListener, url), TIMEOUT)
    await collect_garbage()
    exc = info.value
    assert type(exc) is picows.WSInvalidStatusError
    assert isinstance(exc, RuntimeError)  # picows 1.15 code catches RuntimeError
    phrase = http.HTTPStatus(status).phrase
    assert str(exc) == f"expected upgrade response with status 101 Switching Protocols, but received {status} {phrase}"
    assert exc.response is not None
    assert isinstance(exc.response, WSUpgradeResponse)
    assert exc.response.status == status
    assert isinstance(exc.response.headers, CIMultiDict)
    assert exc.raw_header is not None
    assert exc.raw_header.startswith(b"HTTP/1.1 %d " % status)
    assert b"\r\n\r\n" not in exc.raw_header
    assert not exc.raw_header.endswith(b"\r\n")
    if body is not None:
        assert exc.raw_body is not None and body in exc.raw_body
    assert exc.close_code is None
    return exc


async def test_picows_server_404() -> None:
    async with ws_server(lambda r: None) as url:
        await _assert_rejected(url, 404, None)


async def test_picows_server_500_carries_exception_text() -> None:
    def factory(request: Any) -> Any:
        raise ValueError("no route for you: q7")

    async with ws_server(factory) as url:
        exc = await _assert_rejected(url, 500, b"no route for you: q7")
        assert exc.raw_header is not None
        assert b"content-length" in exc.raw_header.lower()


async def test_picows_server_custom_400() -> None:
    def factory(request: Any) -> Any:
        return WSUpgradeResponseWithListener(
            WSUpgradeResponse.create_error_response(400, b"bad thing", {"X-Why": "because"}), None
        )

    async with ws_server(factory) as url:
        exc = await _assert_rejected(url, 400, b"bad thing")
        assert exc.raw_body == b"bad thing"
        assert exc.response is not None
        assert exc.response.headers["X-Why"] == "because"
        assert exc.response.headers["Content-Length"] == "9"


async def test_picows_server_subprotocol_roundtrip() -> None:
    def factory(request: Any) -> Any:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        chosen = "v2.chat" if "v2.chat" in offered else None
        if chosen is None:
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(400, b"no proto"), None)
        response = WSUpgradeResponse.create_101_response(extra_headers={"Sec-WebSocket-Protocol": chosen})
        return WSUpgradeResponseWithListener(response, EchoListener())

    async with ws_server(factory) as url:
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, url, extra_headers={"Sec-WebSocket-Protocol": "v1.chat, v2.chat"}),
            TIMEOUT,
        )
        try:
            assert transport.response.headers["Sec-WebSocket-Protocol"] == "v2.chat"
            transport.send(WSMsgType.TEXT, b"proto ok")
            assert (await listener.get())[3] == b"proto ok"
        finally:
            await _close(transport)


# ---------------------------------------------------------------- malformed responses


def _response_for(case: str, key: bytes) -> bytes:
    accept = accept_key(key)
    ok = {
        "upgrade": b"Upgrade: websocket\r\n",
        "connection": b"Connection: Upgrade\r\n",
        "accept": b"Sec-WebSocket-Accept: " + accept + b"\r\n",
    }
    status = b"HTTP/1.1 101 Switching Protocols\r\n"
    extra = b""
    if case == "wrong-accept":
        ok["accept"] = b"Sec-WebSocket-Accept: " + accept_key(b"x" + key) + b"\r\n"
    elif case == "missing-accept":
        ok["accept"] = b""
    elif case == "missing-upgrade":
        ok["upgrade"] = b""
    elif case == "upgrade-h2c":
        ok["upgrade"] = b"Upgrade: h2c\r\n"
    elif case == "missing-connection":
        ok["connection"] = b""
    elif case == "connection-keep-alive-only":
        ok["connection"] = b"Connection: keep-alive\r\n"
    elif case == "http-1.0":
        status = b"HTTP/1.0 101 Switching Protocols\r\n"
    elif case == "garbage-status-line":
        status = b"SSH-2.0-OpenSSH_9.0\r\n"
    elif case == "non-numeric-status":
        status = b"HTTP/1.1 abc Switching Protocols\r\n"
    elif case == "status-200":
        status = b"HTTP/1.1 200 OK\r\n"
        extra = b"Content-Length: 0\r\n"
    elif case == "unexpected-extension":
        extra = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
    elif case == "transfer-encoding":
        extra = b"Transfer-Encoding: chunked\r\n"
    elif case == "content-length-3":
        extra = b"Content-Length: 3\r\n"
    elif case == "space-before-colon":
        ok["upgrade"] = b"Upgrade : websocket\r\n"
    elif case == "obs-fold":
        extra = b"X-Long: first\r\n folded\r\n"
    elif case == "129-headers":
        extra = b"X-Filler: 1\r\n" * 126
    else:
        raise AssertionError(case)
    return status + ok["upgrade"] + ok["connection"] + ok["accept"] + extra + b"\r\n"


# case -> (the exception's exact class, .name for header errors, whether the response could be parsed)
MALFORMED = {
    "wrong-accept": (picows.WSInvalidHeaderError, "Sec-WebSocket-Accept", True),
    "missing-accept": (picows.WSInvalidHeaderError, "Sec-WebSocket-Accept", True),
    "missing-upgrade": (picows.WSInvalidUpgradeError, "Upgrade", True),
    "upgrade-h2c": (picows.WSInvalidUpgradeError, "Upgrade", True),
    "missing-connection": (picows.WSInvalidUpgradeError, "Connection", True),
    "connection-keep-alive-only": (picows.WSInvalidUpgradeError, "Connection", True),
    "unexpected-extension": (picows.WSInvalidHeaderError, "Sec-WebSocket-Extensions", True),
    "transfer-encoding": (picows.WSInvalidHeaderError, "Transfer-Encoding", True),
    "content-length-3": (picows.WSInvalidHeaderError, "Content-Length", True),
    "status-200": (picows.WSInvalidStatusError, None, True),
    "http-1.0": (picows.WSInvalidMessageError, None, True),
    "garbage-status-line": (picows.WSInvalidMessageError, None, False),
    "non-numeric-status": (picows.WSInvalidMessageError, None, False),
    "space-before-colon": (picows.WSInvalidMessageError, None, False),
    "obs-fold": (picows.WSInvalidMessageError, None, False),
    "129-headers": (picows.WSInvalidMessageError, None, False),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_101_response_is_ws_error(case: str) -> None:
    closed = asyncio.Event()
    created: list[int] = []
    sent: list[bytes] = []

    def factory() -> Any:
        created.append(1)
        return CollectingListener()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        sent.append(_response_for(case, _key_of(head)))
        writer.write(sent[0])
        await read_until_eof(reader)
        closed.set()

    async with tcp_server(handler) as port:
        with pytest.raises(WSError) as info:
            await asyncio.wait_for(picows.ws_connect(factory, f"ws://127.0.0.1:{port}/"), TIMEOUT)
        exc = info.value
        error, name, parsed = MALFORMED[case]
        assert type(exc) is error
        assert isinstance(exc, picows.WSHandshakeError)
        if name is not None:
            assert exc.name == name  # type: ignore[attr-defined]
        # raw_header: the bytes before the blank line.
        assert exc.raw_header == sent[0][:-4]
        assert exc.close_code is None
        assert (exc.response is not None) == parsed
        # The connection is closed after a failed handshake.
        await asyncio.wait_for(closed.wait(), TIMEOUT)
        await collect_garbage()
    # The listener factory is called only after a successful handshake.
    assert created == []


async def test_error_response_body_is_collected() -> None:
    body = b"<html>nope</html>" * 10

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        head = b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body)
        # Head and body in separate writes.
        writer.write(head)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(body)
        await read_until_eof(reader)

    async with tcp_server(handler) as port:
        with pytest.raises(WSError) as info:
            await _connect(port)
    await collect_garbage()
    exc = info.value
    assert exc.response is not None
    assert exc.response.status == 403
    assert exc.raw_header == b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: %d" % len(body)
    assert exc.raw_body == body


async def test_error_response_without_length_ends_at_close() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        writer.write(b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\ncome back later")
        await writer.drain()
        writer.close()

    async with tcp_server(handler) as port:
        with pytest.raises(WSError) as info:
            await _connect(port)
    await collect_garbage()
    exc = info.value
    assert exc.response is not None
    assert exc.response.status == 503
    assert exc.raw_body == b"come back later"


async def test_chunked_error_page_on_a_kept_alive_connection() -> None:
    """aiohttp answers 403 with a chunked body and keeps the connection open: the error comes at its end."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=403)
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"no access ")
        await response.write(b"for you")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        with pytest.raises(picows.WSInvalidStatusError) as info:
            # a long handshake timeout: only the end of the chunked body can end the wait in time
            await run_bounded(picows.ws_connect(CollectingListener, f"ws://127.0.0.1:{port}/", websocket_handshake_timeout=60))
        await collect_garbage()
    finally:
        await runner.cleanup()
    exc = info.value
    assert str(exc) == "expected upgrade response with status 101 Switching Protocols, but received 403 Forbidden"
    assert exc.response is not None and exc.response.body == b"no access for you"
    assert exc.raw_body is not None and exc.raw_body.endswith(b"0\r\n\r\n")


async def test_server_closing_before_response_is_ws_error_or_connection_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        writer.close()

    async with tcp_server(handler) as port:
        with pytest.raises((WSError, ConnectionError)):
            await _connect(port)
        await collect_garbage()


@pytest.mark.parametrize("ending", ["fin", "reset"])
async def test_server_ending_the_connection_before_the_response(ending: str) -> None:
    """A clean close is a WSError saying so; a reset is the OSError itself, unwrapped."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        if ending == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    async with tcp_server(handler) as port:
        with pytest.raises((WSError, ConnectionResetError)) as info:
            await _connect(port)
        await collect_garbage()
    if ending == "reset":
        assert isinstance(info.value, ConnectionResetError)
    else:
        assert type(info.value) is picows.WSHandshakeError
        assert str(info.value) == (
            "connection closed during the opening handshake: the server closed it without answering "
            "(a TLS server closes plain connections like this: does the URL need wss://?)"
        )


async def test_server_ending_the_connection_in_the_middle_of_the_response() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgr")
        await writer.drain()
        writer.close()

    async with tcp_server(handler) as port:
        with pytest.raises(picows.WSHandshakeError) as info:
            await _connect(port)
        await collect_garbage()
    assert str(info.value) == (
        "connection closed during the opening handshake, after 38 bytes of an incomplete upgrade response"
    )
    assert info.value.raw_header == b"HTTP/1.1 101 Switching Protocols\r\nUpgr"


# ---------------------------------------------------------------- ws:// to a TLS server


async def test_plain_client_on_a_tls_server_says_so(tls_certs: TLSCerts) -> None:
    """A real TLS server drops the plain request; the error suggests wss://."""
    async with ws_server(lambda r: EchoListener(), ssl=server_ssl_context(tls_certs)) as url:
        plain = url.replace("wss://", "ws://")
        with pytest.raises(WSError) as info:
            await asyncio.wait_for(picows.ws_connect(CollectingListener, plain), TIMEOUT)
        await collect_garbage()
    assert isinstance(info.value, picows.WSHandshakeError)
    assert "wss://" in str(info.value)
    assert "TLS" in str(info.value)


async def test_plain_client_getting_a_tls_alert_says_so() -> None:
    """A TLS server that answers the plain request with an alert record: named as TLS at once."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        writer.write(b"\x15\x03\x03\x00\x02\x02\x46")  # TLS: fatal alert, protocol_version
        await read_until_eof(reader)

    async with tcp_server(handler) as port:
        with pytest.raises(picows.WSInvalidMessageError) as info:
            await _connect(port)
        await collect_garbage()
    assert str(info.value) == (
        "the server answered the upgrade request with a TLS record, not HTTP: it speaks TLS, use a wss:// URL"
    )
    assert info.value.raw_header is not None and len(info.value.raw_header) >= 2
    assert b"\x15\x03\x03\x00\x02\x02\x46".startswith(info.value.raw_header)


# ---------------------------------------------------------------- lenient parsing


def _lenient_response(case: str, key: bytes) -> bytes:
    accept = accept_key(key)
    if case == "other-reason-phrase":
        return b"HTTP/1.1 101 Web Socket Protocol Handshake\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    if case == "empty-reason-phrase":
        return b"HTTP/1.1 101 \r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    if case == "lowercase-names":
        return b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-accept: " + accept + b"\r\n\r\n"
    if case == "uppercase-values":
        return b"HTTP/1.1 101 Switching Protocols\r\nUPGRADE: WebSocket\r\nCONNECTION: UPGRADE\r\nSEC-WEBSOCKET-ACCEPT: " + accept + b"\r\n\r\n"
    if case == "connection-keep-alive-upgrade":
        return b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    if case == "extra-whitespace":
        return b"HTTP/1.1 101 Switching Protocols\r\nUpgrade:websocket  \r\nConnection:   Upgrade\r\nSec-WebSocket-Accept:\t" + accept + b" \r\n\r\n"
    if case == "extra-headers":
        return (
            b"HTTP/1.1 101 Switching Protocols\r\nServer: test\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\nX-Any: thing\r\n\r\n"
        )
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "other-reason-phrase",
        "empty-reason-phrase",
        "lowercase-names",
        "uppercase-values",
        "connection-keep-alive-upgrade",
        "extra-whitespace",
        "extra-headers",
    ],
)
async def test_lenient_101_responses_are_accepted(case: str) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        writer.write(_lenient_response(case, _key_of(head)))
        # Echo one client frame back (unmasked) to prove the connection works.
        f = await read_frame(reader)
        writer.write(encode_frame(f.opcode, f.payload, fin=f.fin))
        await read_until_eof(reader)

    async with tcp_server(handler) as port:
        transport, listener = await _connect(port)
        try:
            transport.send(WSMsgType.TEXT, b"lenient")
            assert await listener.get() == (WSMsgType.TEXT, True, False, b"lenient")
        finally:
            await _close(transport)


# ---------------------------------------------------------------- handshake timeout


async def test_client_handshake_timeout_when_server_is_silent() -> None:
    eof = asyncio.Event()
    created: list[int] = []

    def factory() -> Any:
        created.append(1)
        return CollectingListener()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        await read_until_eof(reader)
        eof.set()

    async with tcp_server(handler) as port:
        with pytest.raises(asyncio.TimeoutError):
            await run_bounded(picows.ws_connect(factory, f"ws://127.0.0.1:{port}/", websocket_handshake_timeout=0.3))
        # The connection was aborted by the client.
        await asyncio.wait_for(eof.wait(), TIMEOUT)
        await collect_garbage()
    assert created == []


async def test_client_handshake_timeout_with_partial_response() -> None:
    eof = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
        await read_until_eof(reader)
        eof.set()

    async with tcp_server(handler) as port:
        with pytest.raises(asyncio.TimeoutError):
            await run_bounded(
                picows.ws_connect(CollectingListener, f"ws://127.0.0.1:{port}/", websocket_handshake_timeout=0.3)
            )
        await asyncio.wait_for(eof.wait(), TIMEOUT)
        await collect_garbage()


async def test_cancelled_connect_aborts_connection() -> None:
    """Cancelling ws_connect while it waits for the 101 closes the socket and leaks nothing."""
    eof = asyncio.Event()
    got_request = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        got_request.set()
        await read_until_eof(reader)
        eof.set()

    async with tcp_server(handler) as port:
        task = asyncio.ensure_future(picows.ws_connect(CollectingListener, f"ws://127.0.0.1:{port}/"))
        await asyncio.wait_for(got_request.wait(), TIMEOUT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT)
        await asyncio.wait_for(eof.wait(), TIMEOUT)
        await collect_garbage()


async def test_client_timeout_does_not_hit_established_connection() -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        transport, listener = await asyncio.wait_for(
            picows.ws_connect(CollectingListener, url, websocket_handshake_timeout=0.3), TIMEOUT
        )
        try:
            await asyncio.sleep(0.6)
            transport.send(WSMsgType.TEXT, b"still here")
            assert (await listener.get())[3] == b"still here"
        finally:
            await _close(transport)


# ---------------------------------------------------------------- bytes after the 101


async def test_frames_in_same_write_as_101_are_delivered() -> None:
    extra = (
        encode_frame(WSMsgType.TEXT, b"early one")
        + encode_frame(WSMsgType.BINARY, bytes(range(256)) * 4)
        + encode_frame(WSMsgType.TEXT, b"frag-", fin=False)
        + encode_frame(WSMsgType.CONTINUATION, b"end")
    )
    srv = _RecordingServer(extra)
    async with tcp_server(srv) as port:
        transport, listener = await _connect(port)
        try:
            assert await listener.get() == (WSMsgType.TEXT, True, False, b"early one")
            assert await listener.get() == (WSMsgType.BINARY, True, False, bytes(range(256)) * 4)
            assert await listener.get() == (WSMsgType.TEXT, False, False, b"frag-")
            assert await listener.get() == (WSMsgType.CONTINUATION, True, False, b"end")
        finally:
            await _close(transport)


async def test_ping_in_same_write_as_101_is_answered() -> None:
    pong: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(_key_of(head)) + b"\r\n\r\n"
            + encode_frame(WSMsgType.PING, b"early ping")
        )
        f = await read_frame(reader)
        assert f.opcode == WSMsgType.PONG
        pong.append(f.payload)
        await read_until_eof(reader)

    async with tcp_server(handler) as port:
        transport, listener = await _connect(port)
        try:
            for _ in range(200):
                if pong:
                    break
                await asyncio.sleep(0.01)
        finally:
            await _close(transport)
    assert pong == [b"early ping"]


async def test_101_and_frames_split_byte_by_byte() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        data = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(_key_of(head)) + b"\r\n\r\n"
            + encode_frame(WSMsgType.TEXT, b"one")
            + encode_frame(WSMsgType.CLOSE, close_payload(1000, b"bye"))
        )
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            if i % 16 == 0:
                await asyncio.sleep(0)
        await read_until_eof(reader)

    async with tcp_server(handler) as port:
        transport, listener = await _connect(port)
        try:
            assert await listener.get() == (WSMsgType.TEXT, True, False, b"one")
            assert await listener.get() == (WSMsgType.CLOSE, True, False, close_payload(1000, b"bye"))
        finally:
            await _close(transport)


# ---------------------------------------------------------------- OS errors


async def test_connection_refused_is_unwrapped() -> None:
    port = free_port()
    with pytest.raises(OSError) as info:
        await asyncio.wait_for(picows.ws_connect(CollectingListener, f"ws://127.0.0.1:{port}/"), TIMEOUT)
    assert not isinstance(info.value, WSError)
    assert isinstance(info.value, ConnectionRefusedError) or info.value.errno is not None
    await collect_garbage()


async def test_connection_reset_during_handshake_is_not_hanging() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        writer.transport.abort()

    async with tcp_server(handler) as port:
        with pytest.raises((WSError, OSError)):
            await _connect(port)
        await collect_garbage()


async def test_listener_factory_takes_no_arguments_and_is_called_once() -> None:
    calls: list[int] = []

    def factory() -> Any:
        calls.append(1)
        return CollectingListener()

    async with ws_server(lambda r: EchoListener()) as url:
        transport, listener = await asyncio.wait_for(picows.ws_connect(factory, url), TIMEOUT)
        try:
            assert calls == [1]
            assert isinstance(listener, CollectingListener)
            assert listener.transport is transport
        finally:
            await _close(transport)



class FactoryError(Exception):
    """Raised by a test's listener factory."""


def _raising_factory() -> Any:
    raise FactoryError("no listener today")


@pytest.mark.parametrize(
    "factory, error, message",
    [
        (lambda: "not a listener", TypeError, "ws_listener_factory must return a WSListener, got str"),
        (_raising_factory, FactoryError, "no listener today"),
    ],
    ids=["not-a-listener", "raises"],
)
async def test_listener_factory_failure_after_the_101_aborts(factory: Any, error: type[Exception], message: str) -> None:
    """The server accepted, but no listener could be made: ws_connect raises that, and the connection ends."""
    server_listeners: list[CollectingListener] = []

    def server_factory(request: Any) -> CollectingListener:
        server_listeners.append(CollectingListener())
        return server_listeners[-1]

    async with ws_server(server_factory) as url:
        with pytest.raises(error) as info:
            await asyncio.wait_for(picows.ws_connect(factory, url), TIMEOUT)
        assert str(info.value) == message
        await asyncio.wait_for(server_listeners[0].disconnected.wait(), TIMEOUT)
        await collect_garbage()
