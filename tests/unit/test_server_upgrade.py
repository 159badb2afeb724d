"""The server's sans-I/O upgrade object (``ServerUpgrade``) fed bytes, as tables; no sockets.

Every request is fed whole, byte by byte, and split in two at every offset:
the outcome (the exact response bytes, the listener, the bytes after the
head) must not depend on how the bytes arrive. Three outcomes:

* a malformed request: 400 with the reason, never routed;
* a well-formed GET: routed through the factory (picows 2.x), whatever it
  asks for; a non-101 answer is sent with ``Connection: close``;
* a 101 only for a valid WebSocket upgrade (else 400) and a usable listener
  (else 500).

What a picows server does over real sockets is in ``e2e/test_handshake_server.py``.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from multidict import CIMultiDict

from picows import WSError, WSListener, WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from support.frames import client_frame
from support.http import RFC_ACCEPT, RFC_KEY, RawResponse
from support.internals import RoutePending, ServerUpgrade

LOGGER = logging.getLogger("picows.unit-test")
REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\n\r\n"
)
RESPONSE_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + RFC_ACCEPT.encode() + b"\r\n\r\n"
)
HEALTH_CHECK = b"GET /health HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"


def cut_points(n: int) -> Iterator[list[int]]:
    """How ``n`` bytes arrive: whole, byte by byte, and in two pieces cut at every offset."""
    yield []
    yield list(range(1, n))
    for i in range(1, n):
        yield [i]


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


class Listener(WSListener):
    pass


class Router:
    """A ws_listener_factory that records the requests it routes and answers with ``answer(request)``."""

    def __init__(self, answer: Callable[[WSUpgradeRequest], Any] = lambda request: Listener()) -> None:
        self.answer = answer
        self.requests: list[WSUpgradeRequest] = []

    def __call__(self, request: WSUpgradeRequest) -> Any:
        self.requests.append(request)
        return self.answer(request)


def new_upgrade(
    router: Callable[[WSUpgradeRequest], Any], remote_address: Any = None, lenient: bool = False
) -> ServerUpgrade:
    return ServerUpgrade(router, WSListener, LOGGER, remote_address, None, lenient)


def feed_chunks(upgrade: ServerUpgrade, chunks: list[bytes]) -> tuple[Any, bytes]:
    """Feed until a result; returns it with the bytes that were not fed yet."""
    for i, chunk in enumerate(chunks):
        result = upgrade.feed(chunk)
        if result is not None:
            return result, b"".join(chunks[i + 1 :])
    raise AssertionError("no result after all bytes")


def run(data: bytes, router: Router | None = None, lenient: bool = False) -> Iterator[tuple[Any, bytes, Router]]:
    """The result of feeding ``data`` in every cut; the bytes after the head are leftover + what was not fed."""
    for points in cut_points(len(data)):
        r = router if router is not None else Router()
        r.requests.clear()
        result, unfed = feed_chunks(new_upgrade(r, lenient=lenient), cut(data, points))
        yield result, result.leftover + unfed, r


def test_valid_request_is_upgraded() -> None:
    frames = client_frame(0x1, b"early") + client_frame(0x8, b"\x03\xe8")
    for result, after, router in run(REQUEST + frames):
        assert result.response_bytes == RESPONSE_101
        assert isinstance(result.listener, Listener)
        assert after == frames  # the first frames, possibly in the same read as the head
        (request,) = router.requests
        assert result.request is request
        assert (request.method, request.path, request.version) == (b"GET", b"/chat?room=1", b"HTTP/1.1")
        assert request.headers["host"] == "example.com"
        assert result.response.status is http.HTTPStatus.SWITCHING_PROTOCOLS


def request_with(*, replace: tuple[bytes, bytes] | None = None, add: bytes = b"", drop: bytes | None = None) -> bytes:
    head = REQUEST[:-2]
    if replace is not None:
        assert replace[0] in head, replace
        head = head.replace(replace[0], replace[1])
    if drop is not None:
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(drop.lower() + b":")]
        head = b"\r\n".join(lines)
    return head + add + b"\r\n"


def key_header(key: bytes) -> tuple[bytes, bytes]:
    return (RFC_KEY.encode(), key)


ACCEPTED = [
    ("header-case", request_with(replace=(b"Upgrade: websocket\r\nConnection: Upgrade", b"upgrade: WebSocket\r\nCONNECTION: upgrade"))),
    ("browser-connection-list", request_with(replace=(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"))),
    ("connection-list-no-spaces", request_with(replace=(b"Connection: Upgrade", b"Connection: Upgrade,keep-alive"))),
    ("connection-repeated", request_with(replace=(b"Connection: Upgrade", b"Connection: keep-alive\r\nConnection: Upgrade"))),
    ("upgrade-list", request_with(replace=(b"Upgrade: websocket", b"Upgrade: websocket, foo"))),
    ("extra-headers", request_with(add=b"Origin: http://example.com\r\nX-Empty:\r\n")),
    ("tabs-around-value", request_with(replace=(b"Host: example.com", b"Host:\t example.com \t"))),
    ("obs-text-in-a-value", request_with(add="X-Name: Jos\u00e9\r\n".encode())),
    ("content-length-0", request_with(add=b"Content-Length: 0\r\n")),
    ("version-8", request_with(replace=(b"Version: 13", b"Version: 8"))),
    ("version-7", request_with(replace=(b"Version: 13", b"Version: 7"))),
    ("128-headers", request_with(add=b"X-F: 1\r\n" * 123)),
    ("absolute-form-target", request_with(replace=(b"GET /chat?room=1 ", b"GET http://example.com/chat?room=1 "))),
]  # fmt: skip


@pytest.mark.parametrize("data", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted_variants(data: bytes) -> None:
    for result, after, _router in run(data):
        assert result.response_bytes == RESPONSE_101
        assert isinstance(result.listener, Listener)
        assert after == b""


def bad_request(reason: str, extra_headers: bytes = b"") -> bytes:
    """The exact 400 picows sends for ``reason``."""
    body = reason.encode() + b"\n"
    return (
        b"HTTP/1.1 400 Bad Request\r\n" + extra_headers + b"Content-Type: text/plain\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )


# Malformed HTTP: 400 with the reason, and the factory never sees the request.
# (id, request, the reason sent back in the 400 body)
MALFORMED = [
    ("post", request_with(replace=(b"GET ", b"POST ")), "method must be GET, got POST"),
    ("lowercase-get", request_with(replace=(b"GET ", b"get ")), "method must be GET, got get"),
    ("http-1.0", request_with(replace=(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n")), "HTTP version must be HTTP/1.1, got HTTP/1.0"),
    ("non-ascii-method", request_with(replace=(b"GET ", b"G\xc9T ")), "method must be GET, got G\\xc9T"),
    ("http-lowercase", request_with(replace=(b" HTTP/1.1\r\n", b" http/1.1\r\n")), "HTTP version must be HTTP/1.1, got http/1.1"),
    ("not-http", request_with(replace=(b" HTTP/1.1\r\n", b" FTP/1.1\r\n")), "HTTP version must be HTTP/1.1, got FTP/1.1"),
    ("no-version", request_with(replace=(b" HTTP/1.1\r\n", b"\r\n")), "malformed request line 'GET /chat?room=1'"),
    ("two-spaces", request_with(replace=(b"GET /", b"GET  /")), "malformed request line 'GET  /chat?room=1 HTTP/1.1'"),
    ("trailing-space", request_with(replace=(b"HTTP/1.1\r\n", b"HTTP/1.1 \r\n")), "malformed request line 'GET /chat?room=1 HTTP/1.1 '"),
    ("tab-separator", request_with(replace=(b"GET /", b"GET\t/")), "malformed request line 'GET\\t/chat?room=1 HTTP/1.1'"),
    ("control-in-target", request_with(replace=(b"/chat", b"/ch\x01at")), "malformed request target '/ch\\x01at?room=1'"),
    ("del-in-target", request_with(replace=(b"/chat", b"/ch\x7fat")), "malformed request target '/ch\\x7fat?room=1'"),
    ("non-ascii-target", request_with(replace=(b"/chat", "/ch\u00e4t".encode())), "malformed request target '/ch\\xc3\\xa4t?room=1'"),
    ("no-host", request_with(drop=b"Host"), "need exactly one Host header"),
    ("two-hosts", request_with(add=b"Host: other\r\n"), "need exactly one Host header"),
    ("space-before-colon", request_with(replace=(b"Host: ", b"Host : ")), "whitespace before the colon: b'Host : example.com'"),
    ("tab-before-colon", request_with(replace=(b"Host: ", b"Host\t: ")), "whitespace before the colon: b'Host\\t: example.com'"),
    ("no-colon", request_with(add=b"Garbage\r\n"), "header line without a colon: b'Garbage'"),
    ("name-not-a-token", request_with(add=b"X@Y: 1\r\n"), "invalid header name: b'X@Y: 1'"),
    ("empty-name", request_with(add=b": 1\r\n"), "invalid header name: b': 1'"),
    ("folding", request_with(add=b" folded\r\n"), "obsolete line folding is not allowed: b' folded'"),
    ("tab-folding", request_with(add=b"\tfolded\r\n"), "obsolete line folding is not allowed: b'\\tfolded'"),
    ("nul-in-value", request_with(add=b"X-A: a\x00b\r\n"), "control character in the value of header 'X-A'"),
    ("ctl-in-value", request_with(add=b"X-A: a\x1bb\r\n"), "control character in the value of header 'X-A'"),
    ("lone-cr-in-value", request_with(add=b"X-A: a\rb\r\n"), "control character in the value of header 'X-A'"),
    ("lone-lf-in-value", request_with(add=b"X-A: a\nb\r\n"), "control character in the value of header 'X-A'"),
    ("del-in-value", request_with(add=b"X-A: a\x7f\r\n"), "control character in the value of header 'X-A'"),
    ("129-headers", request_with(add=b"X-F: 1\r\n" * 124), "more than 128 headers"),
    ("transfer-encoding", request_with(add=b"Transfer-Encoding: chunked\r\n"),
     "Transfer-Encoding is not allowed: the request cannot have a body"),
    ("transfer-encoding-identity", request_with(add=b"Transfer-Encoding: identity\r\n"),
     "Transfer-Encoding is not allowed: the request cannot have a body"),
    ("content-length-5", request_with(add=b"Content-Length: 5\r\n"),
     "the request cannot have a body: Content-Length must be a single 0"),
    ("content-length-00", request_with(add=b"Content-Length: 00\r\n"),
     "the request cannot have a body: Content-Length must be a single 0"),
    ("content-length-twice", request_with(add=b"Content-Length: 0\r\nContent-Length: 0\r\n"),
     "the request cannot have a body: Content-Length must be a single 0"),
    ("content-length-list", request_with(add=b"Content-Length: 0, 0\r\n"),
     "the request cannot have a body: Content-Length must be a single 0"),
    ("tls-client-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
     "this server speaks plain HTTP, but the client started a TLS handshake"),
]  # fmt: skip


@pytest.mark.parametrize("data, reason", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_request_gets_400_and_is_never_routed(
    data: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER.name)
    for result, _after, router in run(data + client_frame(0x1, b"ignored")):
        assert result.response_bytes == bad_request(reason)
        assert result.listener is None and result.request is None
        assert result.leftover == b""
        assert result.response.status == 400
        assert router.requests == []  # never routed
    assert f"rejecting malformed upgrade request: {reason}" in caplog.messages


VERSIONS_HEADER = b"Sec-WebSocket-Version: 13, 8, 7\r\n"

# Well-formed GETs that are not valid WebSocket upgrades: routed, and a factory that returns a
# listener gets 400. (id, request, the reason, extra header lines of the 400)
NOT_AN_UPGRADE = [
    ("plain-get", HEALTH_CHECK, "not a WebSocket upgrade request: 'Upgrade: websocket' is missing", b""),
    ("no-upgrade", request_with(drop=b"Upgrade"), "not a WebSocket upgrade request: 'Upgrade: websocket' is missing", b""),
    ("upgrade-other", request_with(replace=(b"Upgrade: websocket", b"Upgrade: h2c")),
     "not a WebSocket upgrade request: 'Upgrade: websocket' is missing", b""),
    ("no-connection", request_with(drop=b"Connection"),
     "not a WebSocket upgrade request: the 'Connection' header must contain 'upgrade'", b""),
    ("connection-keep-alive", request_with(replace=(b"Connection: Upgrade", b"Connection: keep-alive")),
     "not a WebSocket upgrade request: the 'Connection' header must contain 'upgrade'", b""),
    ("connection-upgraded", request_with(replace=(b"Connection: Upgrade", b"Connection: upgraded")),
     "not a WebSocket upgrade request: the 'Connection' header must contain 'upgrade'", b""),
    ("version-14", request_with(replace=(b"Version: 13", b"Version: 14")),
     "unsupported Sec-WebSocket-Version (supported: 13, 8, 7)", VERSIONS_HEADER),
    ("version-list", request_with(replace=(b"Version: 13", b"Version: 13, 8")),
     "unsupported Sec-WebSocket-Version (supported: 13, 8, 7)", VERSIONS_HEADER),
    ("no-version-header", request_with(drop=b"Sec-WebSocket-Version"),
     "unsupported Sec-WebSocket-Version (supported: 13, 8, 7)", VERSIONS_HEADER),
    ("two-versions", request_with(add=b"Sec-WebSocket-Version: 13\r\n"),
     "unsupported Sec-WebSocket-Version (supported: 13, 8, 7)", VERSIONS_HEADER),
    ("no-key", request_with(drop=b"Sec-WebSocket-Key"), "need exactly one Sec-WebSocket-Key header", b""),
    ("two-keys", request_with(add=b"Sec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\n"),
     "need exactly one Sec-WebSocket-Key header", b""),
    ("key-empty", request_with(replace=key_header(b"")), "Sec-WebSocket-Key must be 16 bytes in base64", b""),
    ("key-not-base64", request_with(replace=key_header(b"not base64!")), "Sec-WebSocket-Key must be 16 bytes in base64", b""),
    ("key-15-bytes", request_with(replace=key_header(b"AAAAAAAAAAAAAAAAAAAA")), "Sec-WebSocket-Key must be 16 bytes in base64", b""),
    ("key-17-bytes", request_with(replace=key_header(b"AAAAAAAAAAAAAAAAAAAAAAA=")), "Sec-WebSocket-Key must be 16 bytes in base64", b""),
    ("key-without-padding", request_with(replace=key_header(RFC_KEY.encode().rstrip(b"="))),
     "Sec-WebSocket-Key must be 16 bytes in base64", b""),
    ("key-not-canonical", request_with(replace=key_header(b"dGhlIHNhbXBsZSBub25jZR==")),
     "Sec-WebSocket-Key must be 16 bytes in base64", b""),
    ("key-urlsafe-alphabet", request_with(replace=key_header(b"-_-_-_-_-_-_-_-_-_-_-w==")),
     "Sec-WebSocket-Key must be 16 bytes in base64", b""),
    ("key-with-inner-space", request_with(replace=key_header(b"dGhlIHNhbXBs ZSBub25jZQ==")),
     "Sec-WebSocket-Key must be 16 bytes in base64", b""),
]  # fmt: skip


@pytest.mark.parametrize(
    "data, reason, extra_headers", [c[1:] for c in NOT_AN_UPGRADE], ids=[c[0] for c in NOT_AN_UPGRADE]
)
def test_routed_but_not_an_upgrade_gets_400_for_a_listener(
    data: bytes, reason: str, extra_headers: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER.name)
    for result, _after, router in run(data + client_frame(0x1, b"ignored")):
        assert result.response_bytes == bad_request(reason, extra_headers)
        assert result.listener is None
        assert len(router.requests) == 1 and result.request is router.requests[0]  # the factory saw it
        assert result.leftover == b""
    assert f"rejecting a request that is not a valid WebSocket upgrade: {reason}" in caplog.messages


@pytest.mark.parametrize("data", [c[1] for c in NOT_AN_UPGRADE], ids=[c[0] for c in NOT_AN_UPGRADE])
def test_routed_but_not_an_upgrade_can_be_answered_by_the_factory(data: bytes) -> None:
    router = Router(lambda request: WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(b"ok"), None))
    (result, _, _), *_ = run(data, router)
    assert result.response_bytes == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nok"
    )
    assert result.listener is None


def test_health_check_on_the_websocket_port() -> None:
    def route(request: WSUpgradeRequest) -> Any:
        if request.path == b"/health":
            return WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(b"ok"), None)
        return Listener()

    for result, after, router in run(HEALTH_CHECK, Router(route)):
        response = RawResponse(result.response_bytes)
        assert (response.status, response.body) == (200, b"ok")
        assert response.header("Connection") == "close"
        assert response.header("Content-Length") == "2"
        assert result.listener is None and after == b""
        (request,) = router.requests
        assert request.headers["User-Agent"] == "curl/8.5.0"
    for result, _after, _router in run(REQUEST, Router(route)):
        assert result.response_bytes == RESPONSE_101  # the same router upgrades WebSocket requests


# -- lenient request line (the server of picows.websockets) -------------------------------------

# Requests a lenient ServerUpgrade routes (websockets answers them 405 / 505 after process_request):
# (id, request, method, version, status line of the refusal of a 101, its body, extra header lines)
LENIENT_ROUTED = [
    ("post", request_with(replace=(b"GET ", b"POST ")), b"POST", b"HTTP/1.1",
     b"405 Method Not Allowed", b"WebSocket upgrades need GET, got POST\n", b"Allow: GET\r\n"),
    ("lowercase-get", request_with(replace=(b"GET ", b"get ")), b"get", b"HTTP/1.1",
     b"405 Method Not Allowed", b"WebSocket upgrades need GET, got get\n", b"Allow: GET\r\n"),
    ("method-not-a-token", request_with(replace=(b"GET ", b"G@T ")), b"G@T", b"HTTP/1.1",
     b"405 Method Not Allowed", b"WebSocket upgrades need GET, got G@T\n", b"Allow: GET\r\n"),
    ("head", HEALTH_CHECK.replace(b"GET ", b"HEAD "), b"HEAD", b"HTTP/1.1",
     b"405 Method Not Allowed", b"WebSocket upgrades need GET, got HEAD\n", b"Allow: GET\r\n"),
    ("post-http-1.0", request_with(replace=(b"GET /chat?room=1 HTTP/1.1", b"POST /chat?room=1 HTTP/1.0")),
     b"POST", b"HTTP/1.0", b"405 Method Not Allowed", b"WebSocket upgrades need GET, got POST\n", b"Allow: GET\r\n"),
    ("http-1.0", request_with(replace=(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n")), b"GET", b"HTTP/1.0",
     b"505 HTTP Version Not Supported", b"WebSocket upgrades need HTTP/1.1, got HTTP/1.0\n", b""),
    ("http-1.0-without-host", b"GET / HTTP/1.0\r\n\r\n", b"GET", b"HTTP/1.0",
     b"505 HTTP Version Not Supported", b"WebSocket upgrades need HTTP/1.1, got HTTP/1.0\n", b""),
]  # fmt: skip


def refusal(status_line: bytes, body: bytes, extra_headers: bytes) -> bytes:
    """The exact refusal picows sends for a 101 it cannot send."""
    return (
        b"HTTP/1.1 " + status_line + b"\r\n" + extra_headers + b"Content-Type: text/plain\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
    )


LENIENT_IDS = [c[0] for c in LENIENT_ROUTED]


@pytest.mark.parametrize("data, method, version", [c[1:4] for c in LENIENT_ROUTED], ids=LENIENT_IDS)
def test_lenient_routes_other_methods_and_http_1_0(data: bytes, method: bytes, version: bytes) -> None:
    router = Router(lambda request: WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(b"ok"), None))
    for result, _after, r in run(data + b"ignored", router, lenient=True):
        (request,) = r.requests
        assert (request.method, request.version) == (method, version)
        assert RawResponse(result.response_bytes).status == 200 and result.listener is None
        assert result.leftover == b""


@pytest.mark.parametrize("data, status_line, body, extra", [(c[1], *c[4:]) for c in LENIENT_ROUTED], ids=LENIENT_IDS)
def test_lenient_never_upgrades_other_methods_or_http_1_0(
    data: bytes, status_line: bytes, body: bytes, extra: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER.name)
    for result, _after, r in run(data + client_frame(0x1, b"ignored"), lenient=True):
        assert result.response_bytes == refusal(status_line, body, extra)
        assert result.listener is None and result.leftover == b""
        assert len(r.requests) == 1 and result.request is r.requests[0]
    assert any(m.startswith("rejecting an upgrade that is not GET over HTTP/1.1") for m in caplog.messages)


def test_lenient_upgrades_a_valid_request() -> None:
    for result, _after, _router in run(REQUEST, lenient=True):
        assert result.response_bytes == RESPONSE_101 and isinstance(result.listener, Listener)


def test_lenient_upgrades_a_request_without_host() -> None:
    """websockets does not check Host; picows.websockets' server neither (the strict core answers 400)."""
    for result, _after, _router in run(request_with(drop=b"Host"), lenient=True):
        assert result.response_bytes == RESPONSE_101 and isinstance(result.listener, Listener)


# Still malformed when lenient: a method with a control or non-ASCII byte, another HTTP version, Host rules.
LENIENT_MALFORMED = [
    ("control-in-method", request_with(replace=(b"GET ", b"G\x01T ")), "method must be GET, got G\\x01T"),
    ("non-ascii-method", request_with(replace=(b"GET ", b"G\xc9T ")), "method must be GET, got G\\xc9T"),
    ("http-1.2", request_with(replace=(b" HTTP/1.1\r\n", b" HTTP/1.2\r\n")), "HTTP version must be HTTP/1.1, got HTTP/1.2"),
    ("http-2", request_with(replace=(b" HTTP/1.1\r\n", b" HTTP/2.0\r\n")), "HTTP version must be HTTP/1.1, got HTTP/2.0"),
    ("http-1.1-two-hosts", request_with(add=b"Host: other\r\n"), "need exactly one Host header"),
    ("http-1.0-two-hosts", request_with(replace=(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n"), add=b"Host: other\r\n"),
     "need exactly one Host header"),
]  # fmt: skip


@pytest.mark.parametrize("data, reason", [c[1:] for c in LENIENT_MALFORMED], ids=[c[0] for c in LENIENT_MALFORMED])
def test_lenient_still_refuses_malformed_requests(data: bytes, reason: str) -> None:
    for result, _after, router in run(data, lenient=True):
        assert result.response_bytes == bad_request(reason)
        assert router.requests == []


# -- what the factory returns ------------------------------------------------------------------


def custom_101(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": "chat"})
    return WSUpgradeResponseWithListener(response, Listener())


def redirect(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    return WSUpgradeResponseWithListener(WSUpgradeResponse.create_redirect_response(308, "/there"), None)


def raises(request: WSUpgradeRequest) -> Any:
    raise RuntimeError("no route")


def keep_alive_error(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    response = WSUpgradeResponse.create_error_response(403, b"no", {"Connection": "keep-alive"})
    return WSUpgradeResponseWithListener(response, None)


def hand_made_200(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    """A response built without a factory method: picows adds what ends it."""
    response = WSUpgradeResponse(b"HTTP/1.1", http.HTTPStatus.OK, CIMultiDict(), b"hi")
    return WSUpgradeResponseWithListener(response, None)


class AsyncFrameListener(WSListener):
    async def on_ws_frame(self, transport: Any, frame: Any) -> None:  # type: ignore[override]
        pass


class NotAListener:
    pass


INVALID_RESULT_500 = (
    b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 35\r\nConnection: close\r\n\r\n"
    b"invalid ws_listener_factory result\n"
)

ROUTED = [
    ("listener", lambda request: Listener(), RESPONSE_101, True),
    ("custom-101", custom_101,
     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: chat\r\n"
     b"Sec-WebSocket-Accept: " + RFC_ACCEPT.encode() + b"\r\n\r\n", True),
    ("none-is-404", lambda request: None,
     b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nNot Found\n", False),
    ("redirect", redirect,
     b"HTTP/1.1 308 Permanent Redirect\r\nLocation: /there\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", False),
    ("ok-200", lambda request: WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(), None),
     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
     False),
    ("error-keep-alive-becomes-close", keep_alive_error,
     b"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nno", False),
    ("hand-made-200", hand_made_200, b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi", False),
    ("raises-is-500", raises,
     b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\nno route", False),
    ("junk-is-500", lambda request: "a string", INVALID_RESULT_500, False),
    ("async-callback-listener-is-500", lambda request: AsyncFrameListener(), INVALID_RESULT_500, False),
    ("101-with-a-non-listener-is-500",
     lambda request: WSUpgradeResponseWithListener(WSUpgradeResponse.create_101_response(), NotAListener()),
     INVALID_RESULT_500, False),
]  # fmt: skip


@pytest.mark.parametrize("answer, response_bytes, upgraded", [c[1:] for c in ROUTED], ids=[c[0] for c in ROUTED])
def test_factory_result(answer: Callable[[WSUpgradeRequest], Any], response_bytes: bytes, upgraded: bool) -> None:
    frame = client_frame(0x2, b"after the head")
    router = Router(answer)
    for result, after, r in run(REQUEST + frame, router):
        assert result.response_bytes == response_bytes
        assert len(r.requests) == 1 and result.request is r.requests[0]
        if upgraded:
            assert isinstance(result.listener, Listener)
            assert after == frame
        else:
            assert result.listener is None
            assert result.leftover == b""  # nothing after the head is kept for a refused connection


def test_factory_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, LOGGER.name)
    for answer in (raises, lambda request: 42, lambda request: AsyncFrameListener()):
        new_upgrade(Router(answer)).feed(REQUEST)
    assert caplog.messages[:2] == [
        "ws_listener_factory raised, answering 500",
        "ws_listener_factory returned 'int'; expected a WSListener, a WSUpgradeResponseWithListener or None, answering 500",
    ]
    assert caplog.records[0].exc_info is not None
    assert caplog.messages[2].startswith(
        "ws_listener_factory returned a listener picows cannot use, answering 500: "
        "AsyncFrameListener.on_ws_frame is an async function"
    )


def test_a_listener_class_is_not_a_listener(caplog: pytest.LogCaptureFixture) -> None:
    """Returning the class instead of an instance is a mistake the 500 log line names."""
    caplog.set_level(logging.ERROR, LOGGER.name)
    result = new_upgrade(Router(lambda request: Listener)).feed(REQUEST)
    assert result is not None and result.response_bytes == INVALID_RESULT_500  # type: ignore[union-attr]
    assert "returned 'type'" in caplog.messages[0]


def test_the_request_carries_the_remote_address() -> None:
    router = Router()
    new_upgrade(router, ("192.0.2.7", 50123)).feed(REQUEST)
    assert router.requests[0].remote_address == ("192.0.2.7", 50123)
    new_upgrade(router).feed(REQUEST)
    assert router.requests[1].remote_address is None


# -- async factories ---------------------------------------------------------------------------


async def async_listener(request: WSUpgradeRequest) -> Listener:
    return Listener()


def test_an_async_factory_returns_pending_and_keeps_the_first_frames() -> None:
    frames = client_frame(0x1, b"first") + client_frame(0x2, b"second")
    data = REQUEST + frames
    for points in cut_points(len(data)):
        router = Router(async_listener)
        upgrade = new_upgrade(router)
        pending = None
        for chunk in cut(data, points):
            result = upgrade.feed(chunk)
            if pending is None:
                if result is not None:
                    assert isinstance(result, RoutePending)
                    pending = result
            else:
                assert result is None  # frames while the factory runs are kept, not parsed
        assert pending is not None
        assert upgrade.early_data_size == len(frames)
        pending.awaitable.close()  # type: ignore[attr-defined]  # a coroutine: the protocol would await it
        done = upgrade.route_finished(Listener())
        assert done.response_bytes == RESPONSE_101
        assert done.leftover == frames
        assert done.request is router.requests[0]


def test_an_async_factory_result_goes_through_the_same_checks() -> None:
    upgrade = new_upgrade(Router(async_listener))
    pending = upgrade.feed(request_with(drop=b"Upgrade") + b"frame bytes")
    assert isinstance(pending, RoutePending)
    pending.awaitable.close()  # type: ignore[attr-defined]
    result = upgrade.route_finished(Listener())
    assert RawResponse(result.response_bytes).status == 400
    assert result.listener is None and result.leftover == b""


def test_an_async_factory_that_raised_is_500(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, LOGGER.name)
    upgrade = new_upgrade(Router(async_listener))
    pending = upgrade.feed(REQUEST)
    assert isinstance(pending, RoutePending)
    pending.awaitable.close()  # type: ignore[attr-defined]
    result = upgrade.route_failed(LookupError("token unknown"))
    assert result.response_bytes == (
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
        b"Connection: close\r\n\r\ntoken unknown"
    )
    assert caplog.messages == ["ws_listener_factory raised, answering 500"]


def test_any_awaitable_is_pending() -> None:
    class Later:
        def __await__(self) -> Iterator[Any]:
            yield from ()
            return Listener()

    result = new_upgrade(Router(lambda request: Later())).feed(REQUEST)
    assert isinstance(result, RoutePending) and isinstance(result.awaitable, Later)


def test_a_synchronous_listener_is_never_pending() -> None:
    class AwaitableListener(Listener):
        def __await__(self) -> Iterator[Any]:
            raise AssertionError("never awaited")

    result = new_upgrade(Router(lambda request: AwaitableListener())).feed(REQUEST)
    assert not isinstance(result, RoutePending)
    assert result is not None and result.response_bytes == RESPONSE_101


# -- size limit ----------------------------------------------------------------------------------


def test_head_over_16_kib_without_end_is_dropped() -> None:
    upgrade = new_upgrade(Router())
    assert upgrade.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * (16 * 1024 - 19)) is None  # 16 KiB: still waiting
    with pytest.raises(WSError, match="^upgrade request head exceeds 16384 bytes$"):
        upgrade.feed(b"a")


def test_complete_head_over_16_kib_is_dropped() -> None:
    big = request_with(add=b"X-Filler: " + b"a" * (16 * 1024) + b"\r\n")
    with pytest.raises(WSError, match="^upgrade request head exceeds 16384 bytes$"):
        new_upgrade(Router()).feed(big)


def test_head_of_exactly_16_kib_is_accepted() -> None:
    filler = 16 * 1024 - len(REQUEST) + 4 - len(b"X-Filler: \r\n")
    data = request_with(add=b"X-Filler: " + b"a" * filler + b"\r\n")
    assert data.index(b"\r\n\r\n") == 16 * 1024
    result = new_upgrade(Router()).feed(data)
    assert result is not None and result.response_bytes == RESPONSE_101  # type: ignore[union-attr]


def test_head_limits_and_the_answer_to_a_head_beyond_them() -> None:
    """picows.websockets' limits: per line and per header count, answered by the layer's response."""
    from picows._http import HeadLimits

    refused: list[Any] = []

    def refuse(exc: Any) -> WSUpgradeResponse:
        refused.append((exc.kind, exc.limit))
        return WSUpgradeResponse.create_error_response(http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, b"too big")

    small = HeadLimits(max_head=100_000, max_headers=10, max_line=100)

    def upgrade(limits: HeadLimits = small) -> ServerUpgrade:
        return ServerUpgrade(Router(), WSListener, LOGGER, None, None, False, False, limits, refuse)

    result = upgrade().feed(request_with(add=b"X-Big: " + b"a" * 100 + b"\r\n"))
    response = RawResponse(result.response_bytes)  # type: ignore[union-attr]
    assert (response.status, response.body, response.header("Connection")) == (431, b"too big", "close")
    result = upgrade().feed(request_with(add=b"X-F: v\r\n" * 6))  # 11 headers
    assert RawResponse(result.response_bytes).status == 431  # type: ignore[union-attr]
    assert refused == [("header-line", 100), ("headers", 10)]
    # Within websockets' limits, a head over the core's own 16 KiB is upgraded.
    big = request_with(add=(b"Cookie: " + b"a" * 7000 + b"\r\n") * 3)
    websockets_limits = HeadLimits(max_head=129 * 8192, max_headers=128, max_line=8192)
    assert upgrade(websockets_limits).feed(big).response_bytes == RESPONSE_101  # type: ignore[union-attr]
    assert refused == [("header-line", 100), ("headers", 10)]


def test_input_after_a_refusal_is_counted_and_discarded() -> None:
    upgrade = new_upgrade(lambda request: None)
    result = upgrade.feed(REQUEST + b"first frames")
    assert RawResponse(result.response_bytes).status == 404  # type: ignore[union-attr]
    assert upgrade.feed(b"x" * 1000) is None
    assert upgrade.feed(REQUEST) is None  # not a second request: nothing is parsed any more
    assert upgrade.discarded == 1000 + len(REQUEST)
    assert upgrade.early_data_size == 0


# -- permessage-deflate after the application's extensions (picows.websockets' _deflate_after_extensions)

DEFLATE_12 = "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"


@pytest.mark.parametrize(
    "after, answered, expected",
    [
        (True, "x-flip; level=1", f"x-flip; level=1, {DEFLATE_12}"),
        (False, "x-flip; level=1", "x-flip; level=1"),  # the 1.15 / 2.x rule: the application's negotiation
        (True, "permessage-deflate", "permessage-deflate"),  # it answered permessage-deflate itself
        (True, None, DEFLATE_12),
    ],
    ids=["after-others", "not-asked", "app-answered-deflate", "no-app-answer"],
)
def test_deflate_answer_after_the_applications_extensions(
    after: bool, answered: str | None, expected: str
) -> None:
    from picows import PerMessageDeflate

    def answer(request: WSUpgradeRequest) -> Any:
        response = WSUpgradeResponse.create_101_response()
        if answered is not None:
            response.headers["Sec-WebSocket-Extensions"] = answered
        return WSUpgradeResponseWithListener(response, Listener())

    offer = b"Sec-WebSocket-Extensions: x-flip; level=1, permessage-deflate; client_max_window_bits\r\n"
    upgrade = ServerUpgrade(
        Router(answer), WSListener, LOGGER, None, PerMessageDeflate(), False, deflate_after_extensions=after
    )
    result, _ = feed_chunks(upgrade, [REQUEST[:-2] + offer + b"\r\n"])
    assert result.response.headers.getall("Sec-WebSocket-Extensions") == [expected]
    assert (result.deflate_agreement is not None) == expected.endswith("=12")
