"""websockets' bounds on a handshake head (line length, number of headers), both roles, side by side.

websockets reads a head line by line: a request line, a status line or a header line longer than
``MAX_LINE_LENGTH`` (8192 bytes with its CRLF), or more than ``MAX_NUM_HEADERS`` (128) headers, fail
the handshake; a server answers 414 or 431. There is no other bound on the whole head, so a
request with 20 KiB of cookies is accepted (picows' own core allows 16 KiB in all).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.exceptions

from picows.websockets import exceptions as ours_exceptions
from picows.websockets.asyncio.client import connect
from support.http import RawResponse, accept_key, read_response_head, request_key
from support.net import close_writer, exchange, open_raw, port_of, read_http_head, run_bounded, tcp_server
from support.ws_api import TIMEOUT, our_server, their_server

#: Whether the installed websockets has the classes of these limits (and answers 414 / 431).
UPSTREAM_HAS_LIMIT_CLASSES = hasattr(websockets.exceptions, "HeaderLineTooLong")

UPGRADE = (
    b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


def line_of(total: int, name: bytes = b"X-Filler") -> bytes:
    """A header line of exactly ``total`` bytes, CRLF included."""
    prefix = name + b": "
    return prefix + b"a" * (total - len(prefix) - 2) + b"\r\n"


def fillers(count: int) -> bytes:
    return b"".join(b"X-F%d: v\r\n" % i for i in range(count))


# (request, status of the answer, reason in its body: a regex)
TOO_LARGE = {
    "request-line": (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n" + UPGRADE + b"\r\n", 414,
                     r"read \d+ bytes, expected no more than 8192 bytes"),
    "header-line": (b"GET / HTTP/1.1\r\n" + UPGRADE + line_of(8193) + b"\r\n", 431,
                    r"read \d+ bytes, expected no more than 8192 bytes"),
    "129-headers": (b"GET / HTTP/1.1\r\n" + UPGRADE + fillers(129 - 5) + b"\r\n", 431,
                    r"expected no more than 128 headers"),
    "many-headers-never-ending": (b"GET / HTTP/1.1\r\n" + UPGRADE + fillers(500), 431,
                                  r"expected no more than 128 headers"),
}  # fmt: skip

# Heads just inside the limits, beyond the core's own 16 KiB: upgraded.
WITHIN = {
    "128-headers": b"GET / HTTP/1.1\r\n" + UPGRADE + fillers(128 - 5) + b"\r\n",
    "line-of-8192-bytes": b"GET / HTTP/1.1\r\n" + UPGRADE + line_of(8192) + b"\r\n",
    "21-kib-of-cookies": b"GET / HTTP/1.1\r\n" + UPGRADE + line_of(7000, b"Cookie") * 3 + b"\r\n",
}


async def answer(server: Any, head: bytes) -> RawResponse:
    async with server() as url:
        return RawResponse(await exchange(port_of(url), head))


@pytest.mark.parametrize("case", sorted(TOO_LARGE))
async def test_request_head_beyond_the_limits_is_answered_like_websockets(case: str) -> None:
    head, status, reason = TOO_LARGE[case]
    ours = await answer(our_server, head)
    assert ours.status == status
    assert re.fullmatch(rf"Failed to open a WebSocket connection: {reason}\.\n", ours.body.decode()), ours.body
    assert ours.header("Connection") == "close"
    assert ours.header("Content-Type") == "text/plain; charset=utf-8"
    assert ours.header("Content-Length") == str(len(ours.body))
    assert ours.header("Server") is None  # the request never reached the handshake's hooks
    if UPSTREAM_HAS_LIMIT_CLASSES:
        theirs = await answer(their_server, head)
        assert (theirs.status, theirs.header("Server")) == (ours.status, None)
        assert re.fullmatch(rf"Failed to open a WebSocket connection: {reason}\.\n", theirs.body.decode())


async def upgrade_status(url: str, head: bytes) -> int:
    reader, writer = await open_raw(port_of(url))
    try:
        writer.write(head)
        return (await read_response_head(reader)).status
    finally:
        close_writer(writer)


@pytest.mark.parametrize("case", sorted(WITHIN))
async def test_request_head_within_the_limits_is_upgraded_like_websockets(case: str) -> None:
    for server in (our_server, their_server):
        async with server() as url:
            assert await upgrade_status(url, WITHIN[case]) == 101, server


async def test_handler_and_hooks_never_see_a_refused_head() -> None:
    seen: list[str] = []

    def process_request(connection: Any, request: Any) -> None:
        seen.append("process_request")

    async def handler(ws: Any) -> None:
        seen.append("handler")

    async with our_server(handler, process_request=process_request) as url:
        response = RawResponse(await exchange(port_of(url), TOO_LARGE["header-line"][0]))
        assert response.status == 431
        assert await upgrade_status(url, WITHIN["128-headers"]) == 101
        await asyncio.sleep(0.05)
    assert seen == ["process_request", "handler"]


# -- our client against a server whose response is too large ---------------------------------------------


def response_with(extra: bytes, status_line: bytes = b"HTTP/1.1 101 Switching Protocols") -> Any:
    """A raw server answering every upgrade request with a 101 whose head carries ``extra``, then CLOSE."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        writer.write(
            status_line + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(request_key(head)) + b"\r\n" + extra + b"\r\n"
            + b"\x88\x02\x03\xe8"  # CLOSE 1000 at once, for a client that accepted the head
        )
        await writer.drain()
        # The client's masked CLOSE 1000 (then this side closes), or EOF from a client that refused.
        await asyncio.wait_for(reader.readexactly(8), TIMEOUT)

    return tcp_server(handler)


async def client_failure(client: Any, port: int) -> BaseException:
    try:
        async with client(f"ws://127.0.0.1:{port}/", open_timeout=5, **({"proxy": None} if client is connect else {})):
            pass
    except Exception as exc:  # noqa: BLE001 - compared below
        return exc
    raise AssertionError("the handshake succeeded")


# (status line, extra headers, what is raised, its cause (None: raised itself), message of the limit)
CLIENT_CASES = {
    "status-line": (b"HTTP/1.1 101 " + b"S" * 9000, b"", "StatusLineTooLong", None),
    "header-line": (b"HTTP/1.1 101 Switching Protocols", line_of(9000), "InvalidMessage", "HeaderLineTooLong"),
    "129-headers": (b"HTTP/1.1 101 Switching Protocols", fillers(129 - 3), "InvalidMessage", "TooManyHeaders"),
}


@pytest.mark.parametrize("case", sorted(CLIENT_CASES))
async def test_response_head_beyond_the_limits_fails_like_websockets(case: str) -> None:
    status_line, extra, raised, cause = CLIENT_CASES[case]
    clients = [connect] + ([upstream_client.connect] if UPSTREAM_HAS_LIMIT_CLASSES else [])
    failures = []
    async with response_with(extra, status_line) as port:
        for client in clients:
            failures.append(await run_bounded(client_failure(client, port)))
    ours = failures[0]
    assert type(ours).__name__ == raised
    assert isinstance(ours, getattr(ours_exceptions, raised))
    if UPSTREAM_HAS_LIMIT_CLASSES:
        assert isinstance(ours, getattr(websockets.exceptions, raised))  # caught by websockets' except clauses
    limit = ours if cause is None else ours.__cause__
    assert type(limit).__name__ == (cause or raised)
    assert isinstance(limit, ours_exceptions.SecurityError)
    if case == "129-headers":
        assert str(limit) == "expected no more than 128 headers"
    else:
        assert re.fullmatch(r"read \d+ bytes, expected no more than 8192 bytes", str(limit)), str(limit)
    if cause is not None:
        assert str(ours) == "did not receive a valid HTTP response"
    for theirs in failures[1:]:
        assert type(theirs).__name__ == raised
        assert type(theirs if cause is None else theirs.__cause__).__name__ == (cause or raised)


async def test_response_with_21_kib_of_headers_is_accepted() -> None:
    """The core alone refuses heads over 16 KiB; websockets and picows.websockets take this one."""
    async with response_with(line_of(7000, b"Set-Cookie") * 3) as port:
        async with connect(f"ws://127.0.0.1:{port}/", proxy=None, open_timeout=5) as ws:
            assert len(ws.response.headers.get_all("Set-Cookie")) == 3


# -- the body of a refusal (WEBSOCKETS_MAX_BODY_SIZE, 1 MiB) ------------------------------------------------


def refusing_with(response: bytes) -> Any:
    """A raw server answering every request with ``response``, then closing."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_http_head(reader)
        writer.write(response)
        await writer.drain()

    return tcp_server(handler)


MIB = 1024 * 1024
# (response, what is raised, its cause's class and message: a regex; None: InvalidStatus)
BODY_CASES = {
    "100-kb-body": (b"HTTP/1.1 404 Not Found\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000, None),
    "1-mib-body": (b"HTTP/1.1 404 Not Found\r\nContent-Length: %d\r\n\r\n" % MIB + b"x" * MIB, None),
    "body-too-large": (b"HTTP/1.1 404 Not Found\r\nContent-Length: 2000000\r\n\r\n" + b"x" * 2_000_000,
                       ("SecurityError", r"body too large: 2000000 bytes")),
    "bad-content-length": (b"HTTP/1.1 404 Not Found\r\nContent-Length: abc\r\n\r\n",
                           ("SecurityError", r"invalid content length: abc")),
    "gzip": (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: gzip\r\n\r\nxx",
             ("NotImplementedError", r"transfer coding gzip isn't supported")),
    "chunk-too-large": (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + b"5\r\nhello\r\n" + b"%x\r\n" % MIB + b"y" * MIB + b"\r\n0\r\n\r\n",
                        ("SecurityError", r"chunk too large: 1048576 bytes after 5 bytes")),
    "chunked-within": (b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + b"5\r\nhello\r\n" + b"%x\r\n" % (MIB - 5) + b"y" * (MIB - 5) + b"\r\n0\r\n\r\n", None),
    "until-eof-too-long": (b"HTTP/1.1 404 Not Found\r\n\r\n" + b"z" * (MIB + 10),
                           ("SecurityError", r"read \d+ bytes, expected no more than 1048576 bytes")),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BODY_CASES))
async def test_refusal_body_read_like_websockets(case: str) -> None:
    response, problem = BODY_CASES[case]
    clients = [connect] + ([upstream_client.connect] if UPSTREAM_HAS_LIMIT_CLASSES else [])
    failures = []
    async with refusing_with(response) as port:
        for client in clients:
            failures.append(await run_bounded(client_failure(client, port)))
    for failure in failures:
        if problem is None:
            assert type(failure).__name__ == "InvalidStatus", failure
            assert failure.response.status_code == 404
            body = response.partition(b"\r\n\r\n")[2]
            if b"chunked" in response:
                assert failure.response.body == b"hello" + b"y" * (MIB - 5)
            else:
                assert failure.response.body == body
        else:
            assert type(failure).__name__ == "InvalidMessage", failure
            assert str(failure) == "did not receive a valid HTTP response"
            assert type(failure.__cause__).__name__ == problem[0]
            assert re.fullmatch(problem[1], str(failure.__cause__)), str(failure.__cause__)
    assert isinstance(failures[0], ours_exceptions.InvalidHandshake)
