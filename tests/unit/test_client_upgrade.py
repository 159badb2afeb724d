"""The client's sans-I/O upgrade object (``ClientUpgrade``) fed bytes, as tables; no sockets.

Every response is fed whole, byte by byte, and split in two at every offset:
the outcome (the 101 response and the bytes after it, or the exact error)
must not depend on how the bytes arrive. What a picows client does with real
servers is in ``e2e/test_handshake_client.py``.
"""

from __future__ import annotations

import base64
import http
import platform
import re
from collections.abc import Iterator

import pytest

import picows
from picows import (
    WSError,
    WSHandshakeError,
    WSInvalidHeaderError,
    WSInvalidMessageError,
    WSInvalidStatusError,
    WSInvalidUpgradeError,
    WSUpgradeResponse,
)
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


def with_headers(extra: bytes) -> bytes:
    """OK_HEAD with more header lines before the blank line."""
    return OK_HEAD[:-2] + extra + b"\r\n"


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
    ("whitespace-after-colon", None, OK_HEAD.replace(b"Upgrade: websocket", b"Upgrade:\t websocket \t"), b""),
    ("extra-headers", None, with_headers(b"Server: x\r\nX-Empty:\r\n"), b""),
    ("content-length-0", None, with_headers(b"Content-Length: 0\r\n"), b""),
    ("obs-text-in-a-value", None, with_headers("Server: caf\u00e9".encode() + b"\r\n"), b""),
    ("128-headers", None, with_headers(b"X-F: 1\r\n" * 125), b""),
    (
        "offered-subprotocol-chosen",
        {"Sec-WebSocket-Protocol": "chat, superchat"},
        with_headers(b"Sec-WebSocket-Protocol: superchat\r\n"),
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
WRONG_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# Malformed HTTP: WSInvalidMessageError, no parsed response (the head could not be read).
# (id, response, exact message)
MALFORMED = [
    ("bad-status-line", b"FOO 101 X\r\n" + UP + CONN + ACC + b"\r\n", "malformed status line 'FOO 101 X'"),
    ("http-2", b"HTTP/2 101\r\n" + UP + CONN + ACC + b"\r\n", "malformed status line 'HTTP/2 101'"),
    ("no-status-code", b"HTTP/1.1\r\n\r\n", "malformed status line 'HTTP/1.1'"),
    ("bad-status-code", b"HTTP/1.1 10x OK\r\n\r\n", "malformed status code '10x'"),
    ("status-code-600", b"HTTP/1.1 600 Beyond\r\n\r\n", "unsupported status code 600"),
    ("status-code-099", b"HTTP/1.1 099 Below\r\n\r\n", "unsupported status code 99"),
    ("header-without-colon", H + b"bad line\r\n\r\n", "header line without a colon: b'bad line'"),
    ("space-before-colon", H + b"Upgrade : websocket\r\n" + CONN + ACC + b"\r\n",
     "whitespace before the colon: b'Upgrade : websocket'"),
    ("tab-before-colon", H + UP + CONN + b"Sec-WebSocket-Accept\t: {accept}\r\n\r\n",
     "whitespace before the colon: b'Sec-WebSocket-Accept\\t: {accept}'"),
    ("header-name-not-a-token", H + UP + CONN + ACC + b"X(y): 1\r\n\r\n", "invalid header name: b'X(y): 1'"),
    ("empty-header-name", H + UP + CONN + ACC + b": 1\r\n\r\n", "invalid header name: b': 1'"),
    ("header-folding", H + UP + b" folded\r\n" + CONN + ACC + b"\r\n", "obsolete line folding is not allowed: b' folded'"),
    ("tab-folding", H + UP + b"\tfolded\r\n" + CONN + ACC + b"\r\n", "obsolete line folding is not allowed: b'\\tfolded'"),
    ("nul-in-value", H + UP + CONN + ACC + b"X-A: a\x00b\r\n\r\n", "control character in the value of header 'X-A'"),
    ("lone-cr-in-value", H + UP + CONN + ACC + b"X-A: a\rb\r\n\r\n", "control character in the value of header 'X-A'"),
    ("lone-lf-in-value", H + UP + CONN + ACC + b"X-A: a\nb\r\n\r\n", "control character in the value of header 'X-A'"),
    ("del-in-value", H + UP + CONN + ACC + b"X-A: a\x7fb\r\n\r\n", "control character in the value of header 'X-A'"),
    ("129-headers", H + UP + CONN + ACC + b"X-F: 1\r\n" * 126 + b"\r\n", "more than 128 headers"),
    ("129-headers-of-a-404", b"HTTP/1.1 404 Not Found\r\n" + b"X-F: 1\r\n" * 129 + b"\r\n", "more than 128 headers"),
]  # fmt: skip


@pytest.mark.parametrize("template, reason", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_response(template: bytes, reason: str) -> None:
    for points in cut_points(len(fill(template, new_upgrade()))):
        upgrade = new_upgrade()
        data = fill(template, upgrade)
        exc = feed_until_error(upgrade, cut(data, points))
        assert type(exc) is WSInvalidMessageError, points
        assert str(exc) == "malformed upgrade response: " + reason.replace("{accept}", upgrade_accept(upgrade)), points
        head = data.partition(b"\r\n\r\n")[0]
        if reason.startswith("more than"):
            # Refused at the header line over the limit: what had arrived of the head by then.
            assert data.startswith(exc.raw_header) and exc.raw_header.count(b"\r\n") >= 129, points
        else:
            assert exc.raw_header == head
        assert exc.raw_body == b""
        assert exc.response is None


def upgrade_accept(upgrade: ClientUpgrade) -> str:
    return accept_key(upgrade.key.encode()).decode()


# A 101 with a header that is wrong: WSInvalidHeaderError (WSInvalidUpgradeError for Upgrade/Connection).
# (id, extra_headers, response, error class, exact message after "invalid upgrade response: ", .name, .value)
BAD_HEADER = [
    ("transfer-encoding", None, H + UP + CONN + ACC + b"Transfer-Encoding: chunked\r\n\r\n", WSInvalidHeaderError,
     "a 101 response cannot have Transfer-Encoding", "Transfer-Encoding", "chunked"),
    ("content-length-5", None, H + UP + CONN + ACC + b"Content-Length: 5\r\n\r\n", WSInvalidHeaderError,
     "a 101 response has no body, but Content-Length is ['5']", "Content-Length", "5"),
    ("content-length-twice", None, H + UP + CONN + ACC + b"Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
     WSInvalidHeaderError, "a 101 response has no body, but Content-Length is ['0', '0']", "Content-Length", "0, 0"),
    ("content-length-empty", None, H + UP + CONN + ACC + b"Content-Length:\r\n\r\n", WSInvalidHeaderError,
     "a 101 response has no body, but Content-Length is ['']", "Content-Length", ""),
    ("no-upgrade", None, H + CONN + ACC + b"\r\n", WSInvalidUpgradeError,
     "Upgrade must be 'websocket', got []", "Upgrade", None),
    ("upgrade-other", None, H + b"Upgrade: h2c\r\n" + CONN + ACC + b"\r\n", WSInvalidUpgradeError,
     "Upgrade must be 'websocket', got ['h2c']", "Upgrade", "h2c"),
    ("upgrade-twice", None, H + UP + UP + CONN + ACC + b"\r\n", WSInvalidUpgradeError,
     "Upgrade must be 'websocket', got ['websocket', 'websocket']", "Upgrade", "websocket, websocket"),
    ("no-connection", None, H + UP + ACC + b"\r\n", WSInvalidUpgradeError,
     "Connection must contain 'upgrade', got []", "Connection", None),
    ("connection-close", None, H + UP + b"Connection: close\r\n" + ACC + b"\r\n", WSInvalidUpgradeError,
     "Connection must contain 'upgrade', got ['close']", "Connection", "close"),
    ("no-accept", None, H + UP + CONN + b"\r\n", WSInvalidHeaderError,
     "Sec-WebSocket-Accept is missing", "Sec-WebSocket-Accept", None),
    ("wrong-accept", None, H + UP + CONN + b"Sec-WebSocket-Accept: " + WRONG_ACCEPT.encode() + b"\r\n\r\n",
     WSInvalidHeaderError, f"wrong Sec-WebSocket-Accept ['{WRONG_ACCEPT}'] (expected '{{accept}}')",
     "Sec-WebSocket-Accept", WRONG_ACCEPT),
    ("accept-twice", None, H + UP + CONN + ACC + ACC + b"\r\n", WSInvalidHeaderError,
     "wrong Sec-WebSocket-Accept ['{accept}', '{accept}'] (expected '{accept}')", "Sec-WebSocket-Accept",
     "{accept}, {accept}"),
    ("extension-not-offered", None, H + UP + CONN + ACC + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
     WSInvalidHeaderError, "the server selected an extension that was not offered: ['permessage-deflate']",
     "Sec-WebSocket-Extensions", "permessage-deflate"),
    ("subprotocol-not-offered", None, H + UP + CONN + ACC + b"Sec-WebSocket-Protocol: chat\r\n\r\n",
     WSInvalidHeaderError, "the server selected a subprotocol that was not offered: ['chat']",
     "Sec-WebSocket-Protocol", "chat"),
    ("two-subprotocols", {"Sec-WebSocket-Protocol": "a, b"}, H + UP + CONN + ACC + b"Sec-WebSocket-Protocol: a, b\r\n\r\n",
     WSInvalidHeaderError, "the server selected a subprotocol that was not offered: ['a', 'b']",
     "Sec-WebSocket-Protocol", "a, b"),
]  # fmt: skip


@pytest.mark.parametrize(
    "extra, template, error, message, name, value", [c[1:] for c in BAD_HEADER], ids=[c[0] for c in BAD_HEADER]
)
def test_101_with_a_bad_header(
    extra: object, template: bytes, error: type[WSInvalidHeaderError], message: str, name: str, value: str | None
) -> None:
    for points in cut_points(len(fill(template, new_upgrade()))):
        upgrade = new_upgrade(extra)
        data = fill(template + FIRST_FRAMES, upgrade)
        exc = feed_until_error(upgrade, cut(data, points))
        accept = upgrade_accept(upgrade)
        assert type(exc) is error, points
        assert str(exc) == "invalid upgrade response: " + message.replace("{accept}", accept)
        assert exc.name == name
        assert exc.value == (value.replace("{accept}", accept) if value is not None else None)
        head = data.partition(b"\r\n\r\n")[0]
        assert exc.raw_header == head
        assert FIRST_FRAMES.startswith(exc.raw_body)  # what arrived after the head so far
        assert exc.response is not None and exc.response.status == 101


def test_101_over_http_1_0_is_malformed_but_parsed() -> None:
    upgrade = new_upgrade()
    data = fill(b"HTTP/1.0 101 Switching Protocols\r\n" + UP + CONN + ACC + b"\r\n", upgrade)
    exc = feed_until_error(upgrade, [data])
    assert type(exc) is WSInvalidMessageError
    assert str(exc) == "malformed upgrade response: a 101 response must be HTTP/1.1, got HTTP/1.0"
    assert exc.response is not None and exc.response.version == b"HTTP/1.0"


STATUS_MESSAGE = "expected upgrade response with status 101 Switching Protocols, but received "

# A complete non-101 response: WSInvalidStatusError with the parsed response and its body.
# (id, response, status text in the message, body)
NOT_101 = [
    ("404-with-body", b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNot Found", "404 Not Found", b"Not Found"),
    ("302-redirect", b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n", "302 Found", b""),
    ("200-ok", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", "200 OK", b"hi"),
    ("204-has-no-body", b"HTTP/1.1 204 No Content\r\n\r\n", "204 No Content", b""),
    ("304-has-no-body", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", "304 Not Modified", b""),
    ("100-continue", b"HTTP/1.1 100 Continue\r\n\r\n", "100 Continue", b""),
    ("http-1.0-404", b"HTTP/1.0 404 Not Found\r\nContent-Length: 2\r\n\r\nno", "404 Not Found", b"no"),
    ("bytes-after-the-body", b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno more", "403 Forbidden", b"no"),
    ("426-without-phrase", b"HTTP/1.1 426\r\nContent-Length: 0\r\n\r\n", "426 Upgrade Required", b""),
    # A code HTTPStatus does not know: reported with the phrase received (RFC 9110 15: any 3 digits).
    ("599-unknown-code", b"HTTP/1.1 599 Odd One\r\nContent-Length: 2\r\n\r\nno", "599 Odd One", b"no"),
    ("299-unknown-without-phrase", b"HTTP/1.1 299\r\nContent-Length: 0\r\n\r\n", "299", b""),
]  # fmt: skip


@pytest.mark.parametrize("data, status, body", [c[1:] for c in NOT_101], ids=[c[0] for c in NOT_101])
def test_non_101_status(data: bytes, status: str, body: bytes) -> None:
    head = data.partition(b"\r\n\r\n")[0]
    for points in cut_points(len(data)):
        exc = feed_until_error(new_upgrade(), cut(data, points))
        assert type(exc) is WSInvalidStatusError, points
        assert str(exc) == STATUS_MESSAGE + status
        assert exc.raw_header == head
        assert exc.response is not None
        assert int(exc.response.status) == int(status[:3])
        assert exc.response.status.phrase == status[4:]
        assert exc.raw_body == body
        assert exc.response.body == body


CHUNKED_HEAD = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"

# A non-101 with a chunked body from a server that keeps the connection open: the error is raised
# when the encoding ends. (id, body bytes after the head, raw_body, response.body)
CHUNKED = [
    ("two-chunks", b"4\r\nNot \r\n5\r\nFound\r\n0\r\n\r\n", None, b"Not Found"),
    ("empty", b"0\r\n\r\n", None, b""),
    ("hex-sizes-and-extensions", b"A;name=value\r\n0123456789\r\nf \r\nabcdefghijklmno\r\n0\r\n\r\n", None,
     b"0123456789abcdefghijklmno"),
    ("trailers", b"2\r\nok\r\n0\r\nX-Checksum: 1\r\nX-More: 2\r\n\r\n", None, b"ok"),
    ("bytes-after-the-end", b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n", b"2\r\nok\r\n0\r\n\r\n", b"ok"),
]  # fmt: skip


@pytest.mark.parametrize("body, raw_body, decoded", [c[1:] for c in CHUNKED], ids=[c[0] for c in CHUNKED])
def test_non_101_with_a_chunked_body(body: bytes, raw_body: bytes | None, decoded: bytes) -> None:
    data = CHUNKED_HEAD + body
    for points in cut_points(len(data)):
        exc = feed_until_error(new_upgrade(), cut(data, points))
        assert type(exc) is WSInvalidStatusError, points
        assert str(exc) == STATUS_MESSAGE + "404 Not Found"
        assert exc.raw_body == (body if raw_body is None else raw_body)
        assert exc.response is not None and exc.response.body == decoded


@pytest.mark.parametrize(
    "body", [b"zz\r\nab\r\n0\r\n\r\n", b"2\r\nokX0\r\n\r\n", b"12345678901234567\r\n"], ids=["bad-size", "no-crlf", "size-too-long"]
)
def test_malformed_chunked_body_ends_with_the_connection(body: bytes) -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(CHUNKED_HEAD + body) is None
    exc = upgrade.connection_lost_error()
    assert type(exc) is WSInvalidStatusError
    assert exc.raw_body == body and exc.response is not None and exc.response.body == body


def test_incomplete_chunked_body_then_the_end() -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(CHUNKED_HEAD + b"4\r\nNot \r\n") is None
    exc = upgrade.connection_lost_error()
    assert type(exc) is WSInvalidStatusError
    assert exc.raw_body == b"4\r\nNot \r\n"


def test_every_rejection_is_a_handshake_error() -> None:
    assert issubclass(WSInvalidUpgradeError, WSInvalidHeaderError)
    for cls in (WSInvalidMessageError, WSInvalidStatusError, WSInvalidHeaderError):
        assert issubclass(cls, WSHandshakeError)
    assert issubclass(WSHandshakeError, WSError)
    assert issubclass(WSError, RuntimeError)  # picows 1.15 code catches RuntimeError


def test_error_body_without_length_ends_with_the_connection() -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\nbusy, ") is None
    assert upgrade.feed(b"try later") is None
    exc = upgrade.connection_lost_error()
    assert type(exc) is WSInvalidStatusError
    assert str(exc) == STATUS_MESSAGE + "503 Service Unavailable"
    assert exc.raw_body == b"busy, try later"
    assert exc.response is not None and exc.response.body == b"busy, try later"
    assert exc.response.headers["Retry-After"] == "1"


def test_error_body_is_cut_at_64_kib() -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(b"HTTP/1.1 500 Internal Server Error\r\n\r\n") is None
    with pytest.raises(WSInvalidStatusError) as info:
        upgrade.feed(b"x" * (64 * 1024 + 10))
    assert info.value.raw_body == b"x" * (64 * 1024)


@pytest.mark.parametrize("length", [b"many", b"-1", b"1, 2"])
def test_invalid_content_length_means_until_close(length: bytes) -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(b"HTTP/1.1 400 Bad Request\r\nContent-Length: " + length + b"\r\n\r\nab") is None
    assert upgrade.connection_lost_error().raw_body == b"ab"


# -- the connection ends, or the server speaks TLS ---------------------------------------------------

TLS_ALERT = b"\x15\x03\x03\x00\x02\x02\x46"  # a TLS record: fatal alert, protocol_version
TLS_SERVER_HELLO = b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03"


@pytest.mark.parametrize("record", [TLS_ALERT, TLS_SERVER_HELLO], ids=["alert", "server-hello"])
@pytest.mark.parametrize("url", ["ws://127.0.0.1:9001/", "wss://127.0.0.1:9001/"])
def test_a_tls_record_instead_of_http(record: bytes, url: str) -> None:
    hint = ": it speaks TLS, use a wss:// URL" if url.startswith("ws:") else ""
    for points in cut_points(len(record)):
        upgrade = ClientUpgrade(parse_url(url), None)
        exc = feed_until_error(upgrade, cut(record, points))
        assert type(exc) is WSInvalidMessageError
        assert str(exc) == f"the server answered the upgrade request with a TLS record, not HTTP{hint}"
        assert exc.raw_header is not None and record.startswith(exc.raw_header) and len(exc.raw_header) >= 2
        assert exc.response is None


def test_one_byte_of_a_tls_record_then_the_end() -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(b"\x15") is None
    exc = upgrade.connection_lost_error()
    assert type(exc) is WSInvalidMessageError
    assert str(exc).endswith("use a wss:// URL")
    assert exc.raw_header == b"\x15"


@pytest.mark.parametrize(
    "url, message",
    [
        ("ws://127.0.0.1:9001/", "connection closed during the opening handshake: the server closed it without "
         "answering (a TLS server closes plain connections like this: does the URL need wss://?)"),
        ("wss://127.0.0.1:9001/", "connection closed during the opening handshake: the server closed it without answering"),
    ],
    ids=["ws", "wss"],
)  # fmt: skip
def test_connection_lost_before_anything_arrived(url: str, message: str) -> None:
    upgrade = ClientUpgrade(parse_url(url), None)
    assert upgrade.feed(b"") is None
    exc = upgrade.connection_lost_error()
    assert type(exc) is WSHandshakeError
    assert str(exc) == message
    assert (exc.raw_header, exc.raw_body, exc.response) == (None, None, None)


def test_connection_lost_in_the_middle_of_the_head() -> None:
    upgrade = new_upgrade()
    assert upgrade.feed(b"HTTP/1.1 101 Switching") is None
    exc = upgrade.connection_lost_error()
    assert type(exc) is WSHandshakeError
    assert str(exc) == (
        "connection closed during the opening handshake, after 22 bytes of an incomplete upgrade response"
    )
    assert exc.raw_header == b"HTTP/1.1 101 Switching"
    assert exc.response is None


def test_response_head_over_16_kib_is_rejected() -> None:
    upgrade = new_upgrade()
    head = H + b"X-Filler: " + b"a" * (16 * 1024)
    assert upgrade.feed(head[: 16 * 1024]) is None  # exactly at the limit: still waiting
    with pytest.raises(WSInvalidMessageError) as info:
        upgrade.feed(head[16 * 1024 :])
    assert str(info.value) == "upgrade response head exceeds 16384 bytes"
    assert info.value.raw_header == head[: 16 * 1024]
    assert info.value.response is None


def test_complete_response_head_over_16_kib_is_rejected() -> None:
    upgrade = new_upgrade()
    data = fill(H + UP + CONN + ACC + b"X-Filler: " + b"a" * (16 * 1024) + b"\r\n\r\n", upgrade)
    with pytest.raises(WSInvalidMessageError, match="^upgrade response head exceeds 16384 bytes$"):
        upgrade.feed(data)


def test_response_head_of_exactly_16_kib_is_accepted() -> None:
    upgrade = new_upgrade()
    head = fill(OK_HEAD, upgrade)[:-4]
    data = head + b"\r\nX-Filler: " + b"a" * (16 * 1024 - len(head) - 12) + b"\r\n\r\n"
    assert data.index(b"\r\n\r\n") == 16 * 1024
    assert upgrade.feed(data) is not None


# -- the request ---------------------------------------------------------------------------------


USER_AGENT = f"picows/{picows.__version__} Python/{platform.python_version()}"


def test_request_bytes() -> None:
    upgrade = ClientUpgrade(parse_url("ws://user:p%40ss@example.com:8080/a b?q=1"), [("X-Trace", "7"), ("X-Trace", "8")])
    assert upgrade.request_bytes == (
        b"GET /a%20b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + upgrade.key.encode() + b"\r\n"
        b"User-Agent: " + USER_AGENT.encode() + b"\r\n"
        b"Authorization: Basic dXNlcjpwQHNz\r\nX-Trace: 7\r\nX-Trace: 8\r\n\r\n"
    )  # fmt: skip
    request = upgrade.request
    assert (request.method, request.path, request.version) == (b"GET", b"/a%20b?q=1", b"HTTP/1.1")
    assert request.headers.getall("X-Trace") == ["7", "8"]


def test_each_attempt_has_a_fresh_16_byte_key() -> None:
    keys = {new_upgrade().key for _ in range(20)}
    assert len(keys) == 20
    assert all(len(base64.b64decode(k, validate=True)) == 16 for k in keys)


def test_default_user_agent() -> None:
    assert re.fullmatch(r"picows/[0-9][^ ]* Python/[0-9]+\.[0-9]+\.[0-9]+[^ ]*", USER_AGENT)
    assert new_upgrade().request.headers.getall("User-Agent") == [USER_AGENT]


@pytest.mark.parametrize(
    "extra, sent",
    [(None, []), ({"User-Agent": "mine/1"}, ["mine/1"]), ([("user-agent", "a"), ("X-A", "1")], ["a"])],
    ids=["no-extra", "extra-user-agent", "extra-lowercase"],
)
def test_without_the_default_user_agent(extra: object, sent: list[str]) -> None:
    """picows.websockets' knob: no User-Agent of ours; one from extra_headers is still sent, once."""
    upgrade = ClientUpgrade(parse_url(URL), extra, None, False)  # type: ignore[arg-type]
    assert upgrade.request.headers.getall("User-Agent", []) == sent
    assert upgrade.request_bytes.lower().count(b"\r\nuser-agent:") == len(sent)
    assert b"picows/" not in upgrade.request_bytes


@pytest.mark.parametrize("name", ["Host", "host", "Authorization", "User-Agent", "user-agent", "USER-AGENT"])
def test_user_host_authorization_and_user_agent_replace_ours(name: str) -> None:
    upgrade = ClientUpgrade(parse_url("ws://u:p@h/"), {name: "mine"})
    assert upgrade.request.headers.getall(name) == ["mine"]
    assert upgrade.request_bytes.lower().count(name.lower().encode() + b":") == 1


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


# -- other extensions next to permessage-deflate (picows.websockets' _extension_offer) -------------

DEFLATE_ANSWER = b"permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"


def test_extension_offer_comes_before_the_deflate_offer() -> None:
    upgrade = ClientUpgrade(parse_url(URL), None, picows.PerMessageDeflate(), True, "x-flip; level=1")
    assert upgrade.request.headers.getall("Sec-WebSocket-Extensions") == [
        "x-flip; level=1, permessage-deflate; client_max_window_bits"
    ]
    alone = ClientUpgrade(parse_url(URL), None, None, True, "x-flip")
    assert alone.request.headers.getall("Sec-WebSocket-Extensions") == ["x-flip"]
    with pytest.raises(ValueError, match="Sec-WebSocket-Extensions is set by the extensions offered"):
        ClientUpgrade(parse_url(URL), {"Sec-WebSocket-Extensions": "x-mine"}, None, True, "x-flip")


@pytest.mark.parametrize(
    "answer, agreed",
    [
        (b"x-flip; level=1, " + DEFLATE_ANSWER, True),
        (b"x-flip; level=1", False),
        (DEFLATE_ANSWER, True),
        (b"x-unknown, " + DEFLATE_ANSWER, True),  # other extensions are the offering layer's to check
    ],
    ids=["both", "other-only", "deflate-only", "unknown-other"],
)
def test_core_checks_only_the_deflate_part_of_the_answer(answer: bytes, agreed: bool) -> None:
    upgrade = ClientUpgrade(parse_url(URL), None, picows.PerMessageDeflate(), True, "x-flip; level=1")
    response, _ = feed_chunks(
        upgrade, [fill(with_headers(b"Sec-WebSocket-Extensions: " + answer + b"\r\n"), upgrade)]
    )
    assert response.status == 101
    agreement = upgrade.deflate_agreement
    assert (agreement is not None) == agreed
    if agreement is not None:
        assert (agreement.server_max_window_bits, agreement.client_max_window_bits) == (12, 12)


def test_a_wrong_deflate_answer_next_to_other_extensions_still_fails() -> None:
    upgrade = ClientUpgrade(parse_url(URL), None, picows.PerMessageDeflate(), True, "x-flip")
    head = with_headers(b"Sec-WebSocket-Extensions: x-flip, permessage-deflate; unknown_param\r\n")
    with pytest.raises(WSInvalidHeaderError, match="unknown parameter"):
        feed_chunks(upgrade, [fill(head, upgrade)])
