"""Bad input raises what websockets raises: each case runs on our client and on websockets' client."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest
import websockets.asyncio.client as upstream_client
import websockets.datastructures

from picows.websockets.asyncio.client import connect
from support.ws_api import TIMEOUT, our_server


async def _binary_then_decode(ws: Any) -> Any:
    await ws.send(b"\xff")
    return await ws.recv(decode=True)


async def _send_after_close(ws: Any) -> Any:
    await ws.close()
    return await ws.send("late")


async def _recv_after_close(ws: Any) -> Any:
    await ws.close()
    return await ws.recv()


async def _ping_after_close(ws: Any) -> Any:
    await ws.close()
    return await ws.ping()


CASES: dict[str, Callable[[Any], Any]] = {
    "send int": lambda ws: ws.send(42),
    "send None": lambda ws: ws.send(None),
    "send dict": lambda ws: ws.send({"a": "b"}),
    "send mixed iterable": lambda ws: ws.send(["a", b"b"]),
    "send iterable of ints": lambda ws: ws.send([1, 2]),
    "close with code 999": lambda ws: ws.close(999),
    "close with code 1005": lambda ws: ws.close(1005),
    "close with a long reason": lambda ws: ws.close(1000, "x" * 200),
    "ping with an int": lambda ws: ws.ping(5),
    "pong with an int": lambda ws: ws.pong(5),
    "ping too long": lambda ws: ws.ping(b"x" * 200),
    "invalid UTF-8 with decode=True": _binary_then_decode,
    "send after close": _send_after_close,
    "recv after close": _recv_after_close,
    "ping after close": _ping_after_close,
}


async def outcome(connect_fn: Any, url: str, case: Callable[[Any], Any]) -> tuple[str, str]:
    ws = await connect_fn(url)
    try:
        result = await asyncio.wait_for(case(ws), TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the class and message are what we compare
        return type(exc).__name__, str(exc)
    finally:
        await asyncio.wait_for(ws.close(), TIMEOUT)
    return "no exception", repr(result)


@pytest.mark.parametrize("name", sorted(CASES))
async def test_same_exception_as_websockets(name: str) -> None:
    async with our_server() as url:
        ours = await outcome(lambda u: connect(u, proxy=None), url, CASES[name])
        theirs = await outcome(upstream_client.connect, url, CASES[name])
    assert ours[0] == theirs[0]
    if ours[0] != "no exception":
        assert ours[1] == theirs[1]


HEADER_CASES: dict[str, dict[str, Any]] = {
    "additional header with CR LF": {"additional_headers": {"X": "a\r\nInjected: 1"}},
    "additional header pairs with LF": {"additional_headers": [("X", "a\nb")]},
    "user agent with LF": {"user_agent_header": "agent\n"},
    "origin with CR": {"origin": "http://example.com\r"},
}


async def handshake_outcome(connect_fn: Any, url: str, kwargs: dict[str, Any]) -> tuple[str, str]:
    try:
        async with connect_fn(url, **kwargs):
            pass
    except Exception as exc:  # noqa: BLE001 - the class and message are what we compare
        return type(exc).__name__, str(exc)
    return "no exception", ""


@pytest.mark.parametrize("name", sorted(HEADER_CASES))
async def test_header_injection_is_refused_before_connecting(name: str) -> None:
    """A header value with CR/LF/controls: InvalidHeaderValue, as websockets; the server never sees a request."""
    seen: list[Any] = []

    def process_request(connection: Any, request: Any) -> None:
        seen.append(request)

    async with our_server(process_request=process_request) as url:
        ours = await asyncio.wait_for(handshake_outcome(lambda u, **kw: connect(u, proxy=None, **kw), url,
                                                        HEADER_CASES[name]), TIMEOUT)
        assert seen == []
        theirs = await asyncio.wait_for(handshake_outcome(upstream_client.connect, url, HEADER_CASES[name]), TIMEOUT)
    assert ours[0] == "InvalidHeaderValue"
    if hasattr(websockets.datastructures.Headers, "set_insecure"):  # a websockets that checks header values
        assert ours == theirs
