"""Properties of the sans-I/O handshake objects under hostile input (hypothesis); no sockets.

For any bytes - random, or a valid request/response with bytes inserted,
deleted or replaced - ``ServerUpgrade`` and ``ClientUpgrade``:

* raise nothing but the documented errors (a ``WSError`` for an oversized
  request head, a ``WSHandshakeError`` subclass on the client);
* reach the same outcome however the bytes are split into reads (for a
  non-101 answer, the same body too).

``PICOWS_FUZZ_EXAMPLES`` sets the number of examples per property (default 300).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picows import WSError, WSHandshakeError, WSInvalidStatusError, WSListener
from support.frames import client_frame, server_frame
from support.http import RFC_KEY, accept_key
from support.internals import ClientUpgrade, RoutePending, ServerUpgrade, parse_url

EXAMPLES = int(os.environ.get("PICOWS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # no wall-clock limits: the machine is shared
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
LOGGER = logging.getLogger("picows.unit-fuzz")
LOGGER.addHandler(logging.NullHandler())
LOGGER.propagate = False

REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\n"
    b"Content-Length: 0\r\nOrigin: http://example.com\r\n\r\n" + client_frame(0x1, b"first")
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: {accept}\r\nServer: x\r\n\r\n" + server_frame(0x1, b"first")
)
NOT_101 = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nNot Found"
NOT_101_CHUNKED = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nNot \r\n5\r\nFound\r\n0\r\n\r\n"
# Bytes that matter to an HTTP parser: separators, whitespace, controls, TLS record starts.
INTERESTING = [b"\r\n", b"\r", b"\n", b" ", b"\t", b":", b",", b"\x00", b"\x7f", b"\x16\x03", b"\xff", b"="]


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, len(data)))
        what = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=4)))
        if what == "insert":
            data[pos:pos] = piece
        elif what == "delete":
            del data[pos : pos + len(piece)]
        else:
            data[pos : pos + len(piece)] = piece
    return bytes(data)


def inputs(base: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(base), st.binary(max_size=300))


@st.composite
def splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    points = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=6))))
    bounds = [0, *[p for p in points if p < len(data)], len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


# -- server ------------------------------------------------------------------------------------


class Listener(WSListener):
    pass


def server_outcome(chunks: list[bytes]) -> tuple[Any, ...]:
    upgrade = ServerUpgrade(lambda request: Listener(), WSListener, LOGGER)
    for i, chunk in enumerate(chunks):
        try:
            result = upgrade.feed(chunk)
        except WSError as exc:
            assert type(exc) is WSError
            return ("dropped", str(exc))
        if result is not None:
            assert not isinstance(result, RoutePending)  # the factory is synchronous
            if result.listener is None:
                assert result.leftover == b""  # refused: nothing after the request is kept
                return ("answered", result.response_bytes, False, None)
            return ("answered", result.response_bytes, True, result.leftover + b"".join(chunks[i + 1 :]))
    return ("waiting",)


@FUZZ
@given(st.data())
def test_server_upgrade_outcome_does_not_depend_on_reads(data: st.DataObject) -> None:
    request = data.draw(inputs(REQUEST))
    whole = server_outcome([request])
    assert server_outcome(data.draw(splits(request))) == whole
    if whole[0] == "answered":
        assert whole[1].startswith((b"HTTP/1.1 101 ", b"HTTP/1.1 400 ", b"HTTP/1.1 500 "))
        assert whole[2] == whole[1].startswith(b"HTTP/1.1 101 ")  # a listener exactly when upgraded
        if whole[2]:
            assert request.endswith(whole[3])  # the bytes after the head, as received


# -- client ------------------------------------------------------------------------------------


def client_outcome(template: bytes, split: list[int]) -> tuple[Any, ...]:
    upgrade = ClientUpgrade(parse_url("ws://example.com/chat"), None)
    upgrade.key = RFC_KEY  # the same key for every split, so that outcomes compare equal
    data = template.replace(b"{accept}", accept_key(RFC_KEY.encode()))
    bounds = [0, *[p for p in split if p < len(data)], len(data)]
    for a, b in zip(bounds, bounds[1:]):
        try:
            result = upgrade.feed(data[a:b])
        except WSHandshakeError as exc:
            if isinstance(exc, WSInvalidStatusError):  # then raw_body is the body, complete
                assert exc.response is not None
                return ("rejected", type(exc), str(exc), exc.raw_body, exc.response.body)
            return ("rejected", type(exc), str(exc))  # raw_body: whatever followed the head so far
        if result is not None:
            response, leftover = result
            return ("upgraded", int(response.status), leftover + data[b:])
    exc = upgrade.connection_lost_error()
    assert isinstance(exc, WSHandshakeError)
    return ("lost", type(exc), str(exc), exc.raw_body)


@FUZZ
@given(st.data())
def test_client_upgrade_outcome_does_not_depend_on_reads(data: st.DataObject) -> None:
    template = data.draw(st.one_of(mutated(RESPONSE), mutated(NOT_101), mutated(NOT_101_CHUNKED), st.binary(max_size=300)))
    split = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(template) + 30)), max_size=6))))
    whole = client_outcome(template, [])
    assert client_outcome(template, split) == whole
