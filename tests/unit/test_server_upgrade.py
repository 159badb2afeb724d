"""The server's sans-I/O upgrade object (``ServerUpgrade``) fed bytes, as tables; no sockets.

Every request is fed whole, byte by byte, and split in two at every offset:
the outcome (the exact response bytes, the listener, the bytes after the
head) must not depend on how the bytes arrive. What a picows server does
over real sockets is in ``e2e/test_handshake_server.py``.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from picows import WSError, WSListener, WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from support.frames import client_frame
from support.http import RFC_ACCEPT, RFC_KEY, RawResponse
from support.internals import ServerUpgrade

LOGGER = logging.getLogger("picows.unit-test")
REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\n\r\n"
)
RESPONSE_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + RFC_ACCEPT.encode() + b"\r\n\r\n"
)


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


def feed_chunks(upgrade: ServerUpgrade, chunks: list[bytes]) -> tuple[Any, bytes]:
    """Feed until a result; returns it with the bytes that were not fed yet."""
    for i, chunk in enumerate(chunks):
        result = upgrade.feed(chunk)
        if result is not None:
            return result, b"".join(chunks[i + 1 :])
    raise AssertionError("no result after all bytes")


def run(data: bytes, router: Router | None = None) -> Iterator[tuple[Any, bytes, Router]]:
    """The result of feeding ``data`` in every cut; the bytes after the head are leftover + what was not fed."""
    for points in cut_points(len(data)):
        r = router if router is not None else Router()
        r.requests.clear()
        result, unfed = feed_chunks(ServerUpgrade(r, WSListener, LOGGER), cut(data, points))
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


ACCEPTED = [
    ("header-case", request_with(replace=(b"Upgrade: websocket\r\nConnection: Upgrade", b"upgrade: WebSocket\r\nCONNECTION: upgrade"))),
    ("connection-list", request_with(replace=(b"Connection: Upgrade", b"Connection: keep-alive, Upgrade"))),
    ("upgrade-list", request_with(replace=(b"Upgrade: websocket", b"Upgrade: websocket, foo"))),
    ("extra-headers", request_with(add=b"Origin: http://example.com\r\nX-Empty:\r\n")),
    ("tabs-around-value", request_with(replace=(b"Host: example.com", b"Host:\t example.com \t"))),
]


@pytest.mark.parametrize("data", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted_variants(data: bytes) -> None:
    for result, after, _router in run(data):
        assert result.response_bytes == RESPONSE_101
        assert isinstance(result.listener, Listener)
        assert after == b""


# (id, request, the reason sent back in the 400 body)
BAD = [
    ("post", request_with(replace=(b"GET ", b"POST ")), "method must be GET, got POST"),
    ("http-1.0", request_with(replace=(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n")), "HTTP version must be HTTP/1.1, got HTTP/1.0"),
    ("no-version", request_with(replace=(b" HTTP/1.1\r\n", b"\r\n")), "malformed request line"),
    ("not-http", request_with(replace=(b" HTTP/1.1\r\n", b" FTP/1.1\r\n")), "malformed request line"),
    ("no-host", request_with(drop=b"Host"), "need exactly one Host header"),
    ("two-hosts", request_with(add=b"Host: other\r\n"), "need exactly one Host header"),
    ("no-upgrade", request_with(drop=b"Upgrade"), "missing 'Upgrade: websocket' header"),
    ("upgrade-other", request_with(replace=(b"Upgrade: websocket", b"Upgrade: h2c")), "missing 'Upgrade: websocket' header"),
    ("no-connection", request_with(drop=b"Connection"), "'Connection' header must contain 'upgrade'"),
    ("connection-close", request_with(replace=(b"Connection: Upgrade", b"Connection: close")), "'Connection' header must contain 'upgrade'"),
    ("version-8", request_with(replace=(b"Version: 13", b"Version: 8")), "unsupported Sec-WebSocket-Version (need 13)"),
    ("no-version-header", request_with(drop=b"Sec-WebSocket-Version"), "unsupported Sec-WebSocket-Version (need 13)"),
    ("two-versions", request_with(add=b"Sec-WebSocket-Version: 13\r\n"), "unsupported Sec-WebSocket-Version (need 13)"),
    ("no-key", request_with(drop=b"Sec-WebSocket-Key"), "need exactly one Sec-WebSocket-Key header"),
    ("two-keys", request_with(add=b"Sec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\n"), "need exactly one Sec-WebSocket-Key header"),
    ("key-not-base64", request_with(replace=(RFC_KEY.encode(), b"not base64!")), "Sec-WebSocket-Key must be 16 bytes in base64"),
    ("key-15-bytes", request_with(replace=(RFC_KEY.encode(), b"AAAAAAAAAAAAAAAAAAAA")), "Sec-WebSocket-Key must be 16 bytes in base64"),
    ("space-before-colon", request_with(replace=(b"Host: ", b"Host : ")), "malformed header line b'Host : example.com'"),
    ("no-colon", request_with(add=b"Garbage\r\n"), "malformed header line b'Garbage'"),
    ("folding", request_with(add=b" folded\r\n"), "obsolete header line folding is not supported"),
]  # fmt: skip


@pytest.mark.parametrize("data, reason", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_request_gets_400_with_the_reason(data: bytes, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOGGER.name)
    for result, _after, router in run(data + client_frame(0x1, b"ignored")):
        response = RawResponse(result.response_bytes)
        assert (response.status, response.body) == (400, reason.encode() + b"\n")
        assert response.header("Content-Length") == str(len(reason) + 1)
        assert response.header("Connection") == "close"
        assert result.listener is None and result.request is None
        assert result.leftover == b""
        assert router.requests == []  # never routed
    assert f"rejecting malformed upgrade request: {reason}" in caplog.messages


def test_bad_version_answer_names_the_supported_version() -> None:
    (result, _, _), *_ = run(request_with(replace=(b"Version: 13", b"Version: 8")))
    assert result.response_bytes == (
        b"HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 44\r\nConnection: close\r\n\r\nunsupported Sec-WebSocket-Version (need 13)\n"
    )


# -- what the factory returns ------------------------------------------------------------------


def custom_101(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": "chat"})
    return WSUpgradeResponseWithListener(response, Listener())


def redirect(request: WSUpgradeRequest) -> WSUpgradeResponseWithListener:
    return WSUpgradeResponseWithListener(WSUpgradeResponse.create_redirect_response(308, "/there"), None)


def raises(request: WSUpgradeRequest) -> Any:
    raise RuntimeError("no route")


ROUTED = [
    ("listener", lambda request: Listener(), RESPONSE_101, True),
    ("custom-101", custom_101,
     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: chat\r\n"
     b"Sec-WebSocket-Accept: " + RFC_ACCEPT.encode() + b"\r\n\r\n", True),
    ("none-is-404", lambda request: None,
     b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nNot Found\n", False),
    ("redirect", redirect,
     b"HTTP/1.1 308 Permanent Redirect\r\nLocation: /there\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", False),
    ("raises-is-500", raises,
     b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 8\r\nConnection: close\r\n\r\nno route", False),
    ("junk-is-500", lambda request: "a string",
     b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 35\r\nConnection: close\r\n\r\n"
     b"invalid ws_listener_factory result\n", False),
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
    for answer in (raises, lambda request: 42):
        ServerUpgrade(Router(answer), WSListener, LOGGER).feed(REQUEST)
    assert caplog.messages == [
        "ws_listener_factory raised, answering 500",
        "ws_listener_factory returned 'int'; expected a WSListener, a WSUpgradeResponseWithListener or None, answering 500",
    ]
    assert caplog.records[0].exc_info is not None


# -- size limit ----------------------------------------------------------------------------------


def test_head_over_16_kib_without_end_is_dropped() -> None:
    upgrade = ServerUpgrade(Router(), WSListener, LOGGER)
    assert upgrade.feed(b"GET / HTTP/1.1\r\nX: " + b"a" * (16 * 1024 - 19)) is None  # 16 KiB: still waiting
    with pytest.raises(WSError, match="^upgrade request head exceeds 16384 bytes$"):
        upgrade.feed(b"a")


def test_complete_head_over_16_kib_is_dropped() -> None:
    big = request_with(add=b"X-Filler: " + b"a" * (16 * 1024) + b"\r\n")
    with pytest.raises(WSError, match="^upgrade request head exceeds 16384 bytes$"):
        ServerUpgrade(Router(), WSListener, LOGGER).feed(big)


def test_head_of_exactly_16_kib_is_accepted() -> None:
    filler = 16 * 1024 - len(REQUEST) + 4 - len(b"X-Filler: \r\n")
    data = request_with(add=b"X-Filler: " + b"a" * filler + b"\r\n")
    assert data.index(b"\r\n\r\n") == 16 * 1024
    result = ServerUpgrade(Router(), WSListener, LOGGER).feed(data)
    assert result is not None and result.response_bytes == RESPONSE_101
