"""The client's sans-I/O upgrade object (``ClientUpgrade``) fed bytes, as tables; no sockets.

Every response is fed whole, byte by byte, and split in two at every offset:
the outcome (the 101 response and the bytes after it, or the exact error)
must not depend on how the bytes arrive. What a picows client does with real
servers is in ``e2e/test_handshake_client.py``.
"""

from __future__ import annotations

import base64
import http
from collections.abc import Iterator

import pytest

from picows import WSError, WSUpgradeResponse
from support.frames import server_frame
from support.http import accept_key
from support.internals import ClientUpgrade, parse_url

URL = "ws://127.0.0.1:9001/chat"


def cut_points(n: int) -> Iterator[list[int]]:
    """How ``n`` bytes arrive: whole, byte by byte, and in two pieces cut at every offset."""
    yield []
    yield list(range(1, n))
    for i in range(1, n):
        yield [i]


def cut(data: bytes, points: list[int]) -> list[bytes]:
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def new_upgrade(extra_headers: object = None) -> ClientUpgrade:
    return ClientUpgrade(parse_url(URL), extra_headers)  # type: ignore[arg-type]


def fill(template: bytes, upgrade: ClientUpgrade) -> bytes:
    """``{accept}`` in a response template becomes the right Sec-WebSocket-Accept for ``upgrade``."""
    return template.replace(b"{accept}", accept_key(upgrade.key.encode()))


def feed_chunks(upgrade: ClientUpgrade, chunks: list[bytes]) -> tuple[WSUpgradeResponse, bytes]:
    """Feed until a result; returns it with the leftover plus the chunks that were not fed yet."""
    for i, chunk in enumerate(chunks):
        result = upgrade.feed(chunk)
        if result is not None:
            response, leftover = result
            return response, leftover + b"".join(chunks[i + 1 :])
    raise AssertionError("no result after all bytes")


OK_HEAD = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
FIRST_FRAMES = server_frame(0x1, b"hello") + server_frame(0x9, b"")

# (id, extra_headers, response template, expected leftover)
ACCEPTED = [
    ("minimal", None, OK_HEAD, b""),
    ("frames-in-same-read", None, OK_HEAD + FIRST_FRAMES, FIRST_FRAMES),
    ("any-reason-phrase", None, OK_HEAD.replace(b"Switching Protocols", b"Whatever"), b""),
    ("no-reason-phrase", None, OK_HEAD.replace(b" Switching Protocols", b""), b""),
    (
        "token-case-and-lists",
        None,
        b"HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nCONNECTION: keep-alive, Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n",
        b"",
    ),
    ("space-before-colon-tolerated", None, OK_HEAD.replace(b"Upgrade: websocket", b"Upgrade : websocket"), b""),
    ("extra-headers", None, OK_HEAD.replace(b"\r\n\r\n", b"\r\nServer: x\r\nX-Empty:\r\n\r\n"), b""),
    (
        "offered-subprotocol-chosen",
        {"Sec-WebSocket-Protocol": "chat, superchat"},
        OK_HEAD.replace(b"\r\n\r\n", b"\r\nSec-WebSocket-Protocol: superchat\r\n\r\n"),
        b"",
    ),
]


@pytest.mark.parametrize("extra, template, leftover", [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted_response(extra: object, template: bytes, leftover: bytes) -> None:
    for points in cut_points(len(fill(template, new_upgrade()))):
        upgrade = new_upgrade(extra)  # a new key each time: fill the template per object
        response, rest = feed_chunks(upgrade, cut(fill(template, upgrade), points))
        assert rest == leftover, points
        assert response.status is http.HTTPStatus.SWITCHING_PROTOCOLS
        assert response.version == b"HTTP/1.1"
        assert response.body is None
        assert response.headers["Sec-WebSocket-Accept"] == accept_key(upgrade.key.encode()).decode()


def feed_until_error(upgrade: ClientUpgrade, chunks: list[bytes]) -> WSError:
    for chunk in chunks:
        try:
            result = upgrade.feed(chunk)
        except WSError as exc:
            return exc
        assert result is None, "accepted a response that must be rejected"
    raise AssertionError("no error after all bytes")


H = b"HTTP/1.1 101 Switching Protocols\r\n"
UP = b"Upgrade: websocket\r\n"
CONN = b"Connection: Upgrade\r\n"
ACC = b"Sec-WebSocket-Accept: {accept}\r\n"

# (id, extra_headers, response template, exact message)
REJECTED = [
    ("http-1.0", None, b"HTTP/1.0 101 Switching Protocols\r\n" + UP + CONN + ACC + b"\r\n",
     "invalid upgrade response: HTTP version must be HTTP/1.1, got b'HTTP/1.0'"),
    ("no-upgrade", None, H + CONN + ACC + b"\r\n", "invalid upgrade response: 'Upgrade: websocket' missing (got [])"),
    ("upgrade-other", None, H + b"Upgrade: h2c\r\n" + CONN + ACC + b"\r\n",
     "invalid upgrade response: 'Upgrade: websocket' missing (got ['h2c'])"),
    ("no-connection", None, H + UP + ACC + b"\r\n", "invalid upgrade response: 'Connection: Upgrade' missing (got [])"),
    ("connection-close", None, H + UP + b"Connection: close\r\n" + ACC + b"\r\n",
     "invalid upgrade response: 'Connection: Upgrade' missing (got ['close'])"),
    ("no-accept", None, H + UP + CONN + b"\r\n", "invalid upgrade response: wrong Sec-WebSocket-Accept []"),
    ("wrong-accept", None, H + UP + CONN + b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
     "invalid upgrade response: wrong Sec-WebSocket-Accept ['s3pPLMBiTxaQ9kYGzzhZRbK+xOo=']"),
    ("extension-not-offered", None, H + UP + CONN + ACC + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
     "invalid upgrade response: the server selected an extension that was not offered"),
    ("subprotocol-not-offered", None, H + UP + CONN + ACC + b"Sec-WebSocket-Protocol: chat\r\n\r\n",
     "invalid upgrade response: the server selected a subprotocol that was not offered: ['chat']"),
    ("two-subprotocols", {"Sec-WebSocket-Protocol": "a, b"}, H + UP + CONN + ACC + b"Sec-WebSocket-Protocol: a, b\r\n\r\n",
     "invalid upgrade response: the server selected a subprotocol that was not offered: ['a', 'b']"),
    ("bad-status-line", None, b"FOO 101 X\r\n" + UP + CONN + ACC + b"\r\n", "malformed upgrade response: malformed status line"),
    ("no-status-code", None, b"HTTP/1.1\r\n\r\n", "malformed upgrade response: malformed status line"),
    ("bad-status-code", None, b"HTTP/1.1 10x OK\r\n\r\n", "malformed upgrade response: malformed status code"),
    ("header-without-colon", None, H + b"bad line\r\n\r\n", "malformed upgrade response: malformed header line b'bad line'"),
    ("header-folding", None, H + UP + b" folded\r\n\r\n",
     "malformed upgrade response: obsolete header line folding is not supported"),
    ("404-with-body", None, b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNot Found",
     "upgrade failed: server answered 404 Not Found"),
    ("302-redirect", None, b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
     "upgrade failed: server answered 302 Found"),
    ("200-ok", None, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", "upgrade failed: server answered 200 OK"),
]  # fmt: skip


@pytest.mark.parametrize("extra, template, message", [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_rejected_response(extra: object, template: bytes, message: str) -> None:
    for points in cut_points(len(fill(template, new_upgrade()))):
        upgrade = new_upgrade(extra)
        data = fill(template, upgrade)
        exc = feed_until_error(upgrade, cut(data, points))
        assert str(exc) == message, points
        head, _, body = data.partition(b"\r\n\r\n")
        assert exc.raw_header == head
        if message.startswith("upgrade failed"):
            # a complete non-101 response: parsed, with its body
            assert exc.response is not None and exc.response.body == body
            assert exc.raw_body == body
            assert int(exc.response.status) == int(head.split(b" ")[1])
        elif message.startswith("invalid upgrade response"):
            assert exc.response is not None and exc.response.status == 101
        else:
            assert exc.response is None


def test_unknown_status_code_is_malformed() -> None:
    with pytest.raises(WSError, match=r"^malformed upgrade response: .*599") as info:
        new_upgrade().feed(b"HTTP/1.1 599 Weird\r\n\r\n")
    assert info.value.response is None


def test_error_body_without_length_ends_with_the_connection() -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\nbusy, ") is None
    assert upgrade.feed(b"try later") is None
    exc = upgrade.connection_lost_error()
    assert str(exc) == "upgrade failed: server answered 503 Service Unavailable"
    assert exc.raw_body == b"busy, try later"
    assert exc.response is not None and exc.response.body == b"busy, try later"
    assert exc.response.headers["Retry-After"] == "1"


def test_error_body_is_cut_at_64_kib() -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(b"HTTP/1.1 500 Internal Server Error\r\n\r\n") is None
    with pytest.raises(WSError) as info:
        upgrade.feed(b"x" * (64 * 1024 + 10))
    assert info.value.raw_body == b"x" * (64 * 1024)


def test_invalid_content_length_means_until_close() -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(b"HTTP/1.1 400 Bad Request\r\nContent-Length: many\r\n\r\nab") is None
    assert upgrade.connection_lost_error().raw_body == b"ab"


@pytest.mark.parametrize("received", [b"", b"HTTP/1.1 101 Switching"])
def test_connection_lost_before_the_head_ends(received: bytes) -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(received) is None
    exc = upgrade.connection_lost_error()
    assert str(exc) == "connection closed during the opening handshake"
    assert exc.raw_header == (received or None)
    assert exc.response is None


def test_response_head_over_16_kib_is_rejected() -> None:
    upgrade = new_upgrade()
    head = H + b"X-Filler: " + b"a" * (16 * 1024)
    assert upgrade.feed(head[: 16 * 1024]) is None  # exactly at the limit: still waiting
    with pytest.raises(WSError) as info:
        upgrade.feed(head[16 * 1024 :])
    assert str(info.value) == "upgrade response head exceeds 16384 bytes"
    assert info.value.raw_header == head[: 16 * 1024]


# -- the request ---------------------------------------------------------------------------------


def test_request_bytes() -> None:
    upgrade = ClientUpgrade(parse_url("ws://user:p%40ss@example.com:8080/a b?q=1"), [("X-Trace", "7"), ("X-Trace", "8")])
    assert upgrade.request_bytes == (
        b"GET /a%20b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + upgrade.key.encode() + b"\r\n"
        b"Authorization: Basic dXNlcjpwQHNz\r\nX-Trace: 7\r\nX-Trace: 8\r\n\r\n"
    )  # fmt: skip
    request = upgrade.request
    assert (request.method, request.path, request.version) == (b"GET", b"/a%20b?q=1", b"HTTP/1.1")
    assert request.headers.getall("X-Trace") == ["7", "8"]


def test_each_attempt_has_a_fresh_16_byte_key() -> None:
    keys = {new_upgrade().key for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(k, validate=True)) == 16 for k in keys)


@pytest.mark.parametrize("name", ["Host", "host", "Authorization"])
def test_user_host_and_authorization_replace_ours(name: str) -> None:
    upgrade = ClientUpgrade(parse_url("ws://u:p@h/"), {name: "mine"})
    assert upgrade.request.headers.getall(name) == ["mine"]


@pytest.mark.parametrize(
    "name", ["Upgrade", "connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Accept"]
)
def test_reserved_headers_cannot_be_set(name: str) -> None:
    with pytest.raises(ValueError, match=f"extra_headers: {name!r} is set by picows and cannot be overridden"):
        new_upgrade({name: "x"})


@pytest.mark.parametrize(
    "extra, error, message",
    [
        ("X-A: 1", TypeError, "extra_headers must be a mapping or an iterable of (str, str) pairs"),
        (b"X-A", TypeError, "extra_headers must be a mapping or an iterable of (str, str) pairs"),
        ([("X-A",)], TypeError, "extra_headers must be a mapping or an iterable of (str, str) pairs"),
        (42, TypeError, "extra_headers must be a mapping or an iterable of (str, str) pairs"),
        ({"X-A": 1}, TypeError, "extra_headers: header names and values must be str, got (str, int)"),
        ({b"X-A": "1"}, TypeError, "extra_headers: header names and values must be str, got (bytes, str)"),
        ({"": "1"}, ValueError, "extra_headers: invalid header name ''"),
        ({"X A": "1"}, ValueError, "extra_headers: invalid header name 'X A'"),
        ({"X-A": "1\r\nX-B: 2"}, ValueError, "extra_headers: header 'X-A' has a value with CR, LF or NUL"),
        ({"X-A": "1\x00"}, ValueError, "extra_headers: header 'X-A' has a value with CR, LF or NUL"),
    ],
)
def test_invalid_extra_headers(extra: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        new_upgrade(extra)
    assert str(info.value) == message
