"""Sec-WebSocket-Protocol / Sec-WebSocket-Extensions of a request: read and refused as websockets does."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
import websockets.exceptions
import websockets.headers

from picows.websockets.asyncio._header_lists import check_extensions, subprotocols
from picows.websockets.exceptions import InvalidHeaderFormat
from support.http import read_response_head
from support.net import close_writer, open_raw, port_of
from support.ws_api import TIMEOUT, our_server, their_server

PROTOCOL_VALUES = ["", "a", "a,,b", ",a", "a,", " a , b ", "a b", "@", "a,@", "a;b", "a, ,b", ",", "a\tb", "chat, superchat"]
EXTENSION_VALUES = [
    "", "foo", ";;;", "foo;", "foo; a", "foo; a=1", "foo;a=1;b", 'foo; a="1"', 'foo; a="a b"', 'foo; a="x',
    'foo; a="\\x"', "foo; a=", "foo; =1", "foo bar", "foo, bar; x=y", "permessage-deflate,",
    "permessage-deflate; client_max_window_bits", 'permessage-deflate; client_max_window_bits="10"', "foo,,", ", foo",
]  # fmt: skip


def theirs(parse: Any, value: str) -> str:
    try:
        parse(value)
    except websockets.exceptions.InvalidHeaderFormat as exc:
        return str(exc)
    return "ok"


def ours(parse: Any, value: str) -> str:
    try:
        parse([value])
    except InvalidHeaderFormat as exc:
        assert isinstance(exc, websockets.exceptions.InvalidHeaderFormat)  # caught by websockets' clauses
        return str(exc)
    return "ok"


def random_values(alphabet: str, count: int = 2000) -> list[str]:
    rng = random.Random(7230)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(count)]


@pytest.mark.parametrize("value", PROTOCOL_VALUES)
def test_subprotocol_list_like_websockets(value: str) -> None:
    assert ours(subprotocols, value) == theirs(websockets.headers.parse_subprotocol, value)
    if theirs(websockets.headers.parse_subprotocol, value) == "ok":
        assert subprotocols([value]) == websockets.headers.parse_subprotocol(value)


@pytest.mark.parametrize("value", EXTENSION_VALUES)
def test_extension_list_like_websockets(value: str) -> None:
    assert ours(check_extensions, value) == theirs(websockets.headers.parse_extension, value)


def test_random_lists_like_websockets() -> None:
    for value in random_values("ab ,\t;@"):
        assert ours(subprotocols, value) == theirs(websockets.headers.parse_subprotocol, value), value
    for value in random_values('ab ,;="\\\t'):
        assert ours(check_extensions, value) == theirs(websockets.headers.parse_extension, value), value


# (Sec-WebSocket-Protocol, Sec-WebSocket-Extensions) of a request, and serve() arguments.
REQUESTS = {
    "protocol-empty": ("", None),
    "protocol-space-separated": ("a b", None),
    "protocol-extra-commas": (",a,,b,", None),
    "extensions-garbage": (None, ";;;"),
    "extensions-empty": (None, ""),
    "both-bad": ("@", "foo bar"),
}
CONFIGS = {"default": {}, "subprotocols": {"subprotocols": ["b", "a"]}, "no-compression": {"compression": None}}


@pytest.mark.parametrize("config", sorted(CONFIGS))
@pytest.mark.parametrize("case", sorted(REQUESTS))
async def test_request_answered_like_websockets(case: str, config: str) -> None:
    protocol, extensions = REQUESTS[case]
    head = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    )
    if protocol is not None:
        head += f"Sec-WebSocket-Protocol: {protocol}\r\n".encode()
    if extensions is not None:
        head += f"Sec-WebSocket-Extensions: {extensions}\r\n".encode()
    head += b"\r\n"
    answers = []
    for server in (our_server, their_server):
        async with server(**CONFIGS[config]) as url:
            answers.append(await first_answer(port_of(url), head))
    assert answers[0] == answers[1]


async def first_answer(port: int, head: bytes) -> tuple[int, bytes, str | None]:
    """Status, body (of a refusal) and Sec-WebSocket-Protocol of the answer to ``head``."""
    reader, writer = await open_raw(port)
    try:
        writer.write(head)
        response = await read_response_head(reader)
        body = b""
        if response.status != 101:
            body = await asyncio.wait_for(reader.readexactly(int(response.header("Content-Length") or 0)), TIMEOUT)
        return response.status, body, response.header("Sec-WebSocket-Protocol")
    finally:
        close_writer(writer)
