"""permessage-deflate in picows.websockets: websockets' defaults, against the websockets package both ways.

``compression="deflate"`` is the default of connect() and serve() as in websockets:
the same offer, the same answer, the client's parameters honoured, every message
compressed, and ``max_size`` bounding the inflated size (1009 beyond it, without
inflating the rest).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.exceptions
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from picows.websockets.asyncio.client import connect
from picows.websockets.asyncio.server import broadcast
from picows.websockets.exceptions import ConnectionClosedError
from support.net import relay_byte_counts
from support.ws_api import TIMEOUT, echo, our_server, their_server

# JSON-like and compressible, as exchanges send.
DOC = json.dumps([{"symbol": f"SYM{i}", "price": "101.25", "qty": "3.5", "side": "buy"} for i in range(400)])


def params(header: str) -> tuple[str, frozenset[str]]:
    """A one-offer extension header as (name, parameters): the order of parameters does not matter."""
    name, *rest = [part.strip() for part in header.split(";")]
    return name, frozenset(rest)


async def agreed_headers(server: Any, client: Any, **client_kwargs: Any) -> tuple[str, str]:
    """(offer seen by the server, answer seen by the client)."""
    offers: list[str] = []

    async def record(ws: Any) -> None:
        offers.append(ws.request.headers["Sec-WebSocket-Extensions"])
        await echo(ws)

    async with server(record) as url, client(url, **client_kwargs) as ws:
        await ws.send(DOC)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == DOC
        answer = ws.response.headers["Sec-WebSocket-Extensions"]
    return offers[0], answer


async def test_our_client_offers_what_websockets_offers() -> None:
    ours = await agreed_headers(their_server, connect, proxy=None)
    theirs = await agreed_headers(their_server, upstream_client.connect)
    assert ours[0] == theirs[0] == "permessage-deflate; client_max_window_bits"
    assert params(ours[1]) == params(theirs[1])


async def test_our_server_answers_what_websockets_answers() -> None:
    ours = await agreed_headers(our_server, upstream_client.connect)
    theirs = await agreed_headers(their_server, upstream_client.connect)
    assert params(ours[1]) == params(theirs[1])
    assert params(ours[1]) == ("permessage-deflate", {"server_max_window_bits=12", "client_max_window_bits=12"})


@pytest.mark.parametrize(
    "offer",
    [
        {"server_max_window_bits": 10, "client_max_window_bits": 9},
        {"server_no_context_takeover": True, "client_no_context_takeover": True},
        {"server_max_window_bits": 15, "client_max_window_bits": None},
    ],
    ids=["windows", "no takeover", "no client window"],
)
async def test_our_server_honours_the_clients_parameters(offer: dict[str, Any]) -> None:
    """The answer to a non-default offer is websockets' answer to it; messages then flow both ways."""
    kwargs = {"compression": None, "extensions": [ClientPerMessageDeflateFactory(**offer)]}
    ours = await agreed_headers(our_server, upstream_client.connect, **kwargs)
    theirs = await agreed_headers(their_server, upstream_client.connect, **kwargs)
    assert params(ours[1]) == params(theirs[1])


@pytest.mark.parametrize("direction", ["our client", "our server"])
async def test_compressed_messages_both_ways(direction: str) -> None:
    """Text, binary, empty, fragmented and large messages, compressed in both directions."""
    messages: list[Any] = [DOC, DOC.encode(), "", b"", ["frag", "mented ", DOC], [b"\x00" * 70000, os.urandom(3000)],
                           "\u00e9\u2713" * 100000, os.urandom(200000)]  # fmt: skip
    if direction == "our client":
        server, client = their_server, connect
    else:
        server, client = our_server, upstream_client.connect
    async with server(echo, max_size=2**22) as url, client(url, max_size=2**22) as ws:
        for message in messages:
            await ws.send(message)
            expected = message
            if isinstance(message, list):
                expected = "".join(message) if isinstance(message[0], str) else b"".join(message)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == expected
        ours = ws if direction == "our client" else None
        if ours is not None:
            assert ours._transport.permessage_deflate is not None


@pytest.mark.parametrize("direction", ["our client", "our server"])
async def test_messages_are_really_compressed(direction: str) -> None:
    """Ten compressible messages each way cross the wire in far fewer bytes than their size."""

    async def exchange(url: str) -> None:
        client = connect if direction == "our client" else upstream_client.connect
        async with client(url) as ws:
            for _ in range(10):
                await ws.send(DOC)
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == DOC

    server = their_server if direction == "our client" else our_server
    async with server() as url:
        to_server, to_client = await relay_byte_counts(url, exchange)
    assert to_server < 10 * len(DOC) // 5 and to_client < 10 * len(DOC) // 5


@pytest.mark.parametrize("side", ["client", "server"])
async def test_compression_none_negotiates_nothing(side: str) -> None:
    if side == "client":
        async with their_server() as url, connect(url, proxy=None, compression=None) as ws:
            await ws.send(DOC)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == DOC
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            assert ws._transport.permessage_deflate is None
    else:
        async with our_server(compression=None) as url, upstream_client.connect(url) as ws:
            await ws.send(DOC)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == DOC
            assert "Sec-WebSocket-Extensions" not in ws.response.headers


async def test_inflated_message_over_max_size_closes_1009_on_our_server() -> None:
    """A message that is small on the wire but over max_size inflated: 1009, handler told."""
    seen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handler(ws: Any) -> None:
        try:
            while True:
                await ws.recv()
        except ConnectionClosedError as exc:
            seen.set_result(exc)

    bomb = "a" * 200_000  # about 200 bytes compressed
    async with our_server(handler, max_size=100_000) as url, upstream_client.connect(url) as ws:
        await ws.send(DOC)  # under the limit: received
        await ws.send(bomb)
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        exc = await asyncio.wait_for(seen, TIMEOUT)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    assert exc.sent.code == 1009 and "violates max allowed size" in exc.sent.reason
    assert info.value.rcvd.reason == exc.sent.reason
    # As websockets, the handler's ConnectionClosedError is chained to a PayloadTooBig (the limit known).
    assert isinstance(exc.__cause__, websockets.exceptions.PayloadTooBig)
    assert exc.__cause__.max_size == 100_000


async def test_inflated_message_over_max_size_closes_1009_on_our_client() -> None:
    async def send_bomb(ws: Any) -> None:
        await ws.send("b" * 300_000)
        await ws.wait_closed()

    async with their_server(send_bomb) as url:
        ws = await connect(url, proxy=None, max_size=50_000)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert info.value.sent.code == 1009 and "violates max allowed size" in info.value.sent.reason
    assert isinstance(info.value.__cause__, websockets.exceptions.PayloadTooBig)
    assert info.value.__cause__.max_size == 50_000


async def test_their_server_max_size_on_our_compressed_message() -> None:
    """websockets inflates with max_size too: our compressed message over it gets its 1009."""
    async with their_server(max_size=50_000) as url:
        ws = await connect(url, proxy=None)
        await ws.send("c" * 300_000)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert info.value.rcvd.code == 1009 and "exceeds limit of 50000 bytes" in info.value.rcvd.reason


async def test_max_size_above_the_inflated_size_passes() -> None:
    """max_size applies to the inflated message, not to the (much smaller) compressed frame."""
    async with their_server(max_size=2**20) as url, connect(url, proxy=None, max_size=len(DOC)) as ws:
        await ws.send(DOC)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == DOC


async def test_broadcast_with_deflate_reaches_every_client() -> None:
    """broadcast() frames once; compressing and plain clients all receive the message."""
    connected: list[Any] = []
    ready = asyncio.Event()

    async def register(ws: Any) -> None:
        connected.append(ws)
        if len(connected) == 3:
            ready.set()
        await ws.wait_closed()

    async with our_server(register) as url:
        async with upstream_client.connect(url) as a, upstream_client.connect(url, compression=None) as b, \
                connect(url, proxy=None) as c:  # fmt: skip
            await asyncio.wait_for(ready.wait(), TIMEOUT)
            broadcast(connected, DOC)
            broadcast(connected, b"\x01\x02")
            for ws in (a, b, c):
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == DOC
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"\x01\x02"
