"""``extensions=``, reserved bits: picows.websockets next to the websockets package, both ways.

* websockets' permessage-deflate factories configure the core's compression:
  the same offer and answer as websockets' for the same factory;
* custom extensions (websockets' Extension API) are negotiated with
  websockets' rules and every data frame goes through their decode/encode:
  here ``x-flip``, which reverses payloads and marks frames with RSV2, so a
  peer that did not encode (or a side that did not decode) fails;
* without an extension, a frame with a reserved bit fails the connection
  with 1002 "reserved bits must be 0", as websockets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import textwrap
from collections.abc import Sequence
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
from websockets.exceptions import ConnectionClosedError
from websockets.exceptions import NegotiationError as TheirNegotiationError
from websockets.exceptions import ProtocolError as TheirProtocolError
from websockets.extensions.base import ClientExtensionFactory, Extension, ServerExtensionFactory
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode

from picows.websockets.asyncio.client import connect
from picows.websockets.asyncio.server import broadcast, serve
from picows.websockets.exceptions import NegotiationError
from support.net import relay_byte_counts
from support.ws_api import TIMEOUT, echo, our_server, run_without_websockets, their_server

DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)
PARAMS = [("level", "1")]


class Flip(Extension):
    """Reverses every data frame's payload; RSV2 marks an encoded frame."""

    name = "x-flip"  # type: ignore[assignment]

    def __init__(self, mark: bool = True) -> None:
        self.mark = mark

    def encode(self, frame: Frame) -> Frame:
        if frame.opcode not in DATA_OPCODES:
            return frame
        return dataclasses.replace(frame, data=bytes(frame.data)[::-1], rsv2=self.mark)

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode not in DATA_OPCODES:
            return frame
        if not frame.rsv2:
            raise TheirProtocolError("x-flip: frame not flipped")
        return dataclasses.replace(frame, data=bytes(frame.data)[::-1], rsv2=False)


class ClientFlip(ClientExtensionFactory):
    name = "x-flip"  # type: ignore[assignment]

    def __init__(self, mark: bool = True) -> None:
        self.mark = mark

    def get_request_params(self) -> Sequence[tuple[str, str | None]]:
        return PARAMS

    def process_response_params(self, params: Sequence[Any], accepted: Sequence[Extension]) -> Extension:
        if list(params) != PARAMS:
            raise TheirNegotiationError(f"x-flip: unexpected {params}")
        return Flip(self.mark)


class ServerFlip(ServerExtensionFactory):
    name = "x-flip"  # type: ignore[assignment]

    def process_request_params(
        self, params: Sequence[Any], accepted: Sequence[Extension]
    ) -> tuple[list[Any], Extension]:
        if list(params) != PARAMS:
            raise TheirNegotiationError(f"x-flip: unexpected {params}")
        return list(PARAMS), Flip()


CLIENTS = {"our client": connect, "their client": upstream_client.connect}
SERVERS = {"our server": our_server, "their server": their_server}
PAIRS = [(c, s) for c in CLIENTS for s in SERVERS if (c, s) != ("their client", "their server")]

MESSAGES: list[Any] = ["héllo wörld", b"\x00\x01binary\xff", "x" * 70_000, b""]


def client_kwargs(name: str, **kwargs: Any) -> dict[str, Any]:
    return {"proxy": None, **kwargs} if name == "our client" else kwargs


# -- reserved bits without an extension ---------------------------------------------------------


@pytest.mark.parametrize("server", SERVERS)
async def test_reserved_bit_from_a_client_fails_1002(server: str) -> None:
    """websockets' client writes a text frame with RSV2 (masked, key 0): the server fails 1002."""
    async with SERVERS[server](compression=None) as url:
        async with upstream_client.connect(url, compression=None) as ws:
            ws.transport.write(bytes([0xA1, 0x82, 0, 0, 0, 0]) + b"hi")
            with pytest.raises(ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
    rcvd = info.value.rcvd
    assert rcvd is not None
    assert (rcvd.code, rcvd.reason) == (1002, "reserved bits must be 0")


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("bits", [0x40, 0x20, 0x10], ids=["rsv1", "rsv2", "rsv3"])
async def test_reserved_bit_from_a_server_fails_1002(client: str, bits: int) -> None:
    """A server frame with a reserved bit (RSV1 too: no deflate was negotiated): the client fails 1002."""

    async def send_bad_frame(ws: Any) -> None:
        ws.transport.write(bytes([0x81 | bits, 2]) + b"hi")
        await ws.wait_closed()

    async with their_server(send_bad_frame, compression=None) as url:
        async with CLIENTS[client](url, **client_kwargs(client, compression=None)) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
    sent = info.value.sent
    assert sent is not None
    assert (sent.code, sent.reason) == (1002, "reserved bits must be 0")


# -- websockets' permessage-deflate factories ---------------------------------------------------


async def negotiated(
    server: Any, client: Any, server_kwargs: dict[str, Any], **kwargs: Any
) -> tuple[str, str]:
    """(offer the server saw, answer the client saw); a compressible message makes the round trip."""
    offers: list[str] = []

    async def record(ws: Any) -> None:
        offers.append(ws.request.headers.get("Sec-WebSocket-Extensions", ""))
        await echo(ws)

    message = "price=101.25;" * 500
    async with server(record, **server_kwargs) as url, client(url, **kwargs) as ws:
        await ws.send(message)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == message
        answer = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    return offers[0], answer


CLIENT_FACTORIES = {
    "defaults": {},
    "windows": {"server_max_window_bits": 10, "client_max_window_bits": 11},
    "no takeover": {"server_no_context_takeover": True, "client_no_context_takeover": True},
    "no client window": {"client_max_window_bits": None},
    "zlib settings": {"compress_settings": {"memLevel": 4, "level": 9}},
}


@pytest.mark.parametrize("factory", CLIENT_FACTORIES)
@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_client_deflate_factory_offers_and_agrees_as_websockets(factory: str, compression: Any) -> None:
    """Our client with websockets' ClientPerMessageDeflateFactory: websockets' offer, websockets' agreement."""
    kwargs = {
        "compression": compression,
        "extensions": [ClientPerMessageDeflateFactory(**CLIENT_FACTORIES[factory])],
    }
    ours = await negotiated(their_server, connect, {}, proxy=None, **kwargs)
    theirs = await negotiated(their_server, upstream_client.connect, {}, **kwargs)
    assert ours == theirs
    assert ours[1].startswith("permessage-deflate")


SERVER_FACTORIES = {
    "defaults": {},
    "windows": {"server_max_window_bits": 10, "client_max_window_bits": 9},
    "no takeover": {"server_no_context_takeover": True, "client_no_context_takeover": True},
    "zlib settings": {"compress_settings": {"memLevel": 3}},
    "required client window": {"client_max_window_bits": 10, "require_client_max_window_bits": True},
}


@pytest.mark.parametrize("factory", SERVER_FACTORIES)
@pytest.mark.parametrize(
    "offer",
    [{}, {"server_max_window_bits": 12}, {"client_max_window_bits": 10}, {"client_max_window_bits": None}],
    ids=["bare", "server", "client", "no client window"],
)
async def test_server_deflate_factory_answers_as_websockets(factory: str, offer: dict[str, Any]) -> None:
    """Our server with websockets' ServerPerMessageDeflateFactory answers each offer as websockets' server."""
    server_kwargs = {
        "compression": None,
        "extensions": [ServerPerMessageDeflateFactory(**SERVER_FACTORIES[factory])],
    }
    kwargs = {"compression": None, "extensions": [ClientPerMessageDeflateFactory(**offer)]}
    ours = await negotiated(our_server, upstream_client.connect, server_kwargs, **kwargs)
    theirs = await negotiated(their_server, upstream_client.connect, server_kwargs, **kwargs)
    assert ours == theirs


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"extensions": [ClientPerMessageDeflateFactory(), ClientPerMessageDeflateFactory()]},
            "one permessage",
        ),
        ({"extensions": [ClientPerMessageDeflateFactory(compress_settings={"strategy": 1})]}, "strategy"),
    ],
    ids=["two deflate factories", "zlib strategy"],
)
def test_unsupported_client_extensions_are_refused_clearly(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NotImplementedError, match=message):
        connect("ws://127.0.0.1:1/", **kwargs)


def test_unknown_compression_is_a_value_error_as_websockets() -> None:
    with pytest.raises(ValueError, match="unsupported compression: gzip"):
        connect("ws://127.0.0.1:1/", compression="gzip")
    with pytest.raises(ValueError, match="unsupported compression: gzip"):
        serve(echo, "127.0.0.1", 0, compression="gzip")


# -- custom extensions --------------------------------------------------------------------------


def flip_server(name: str, handler: Any = echo, **kwargs: Any) -> Any:
    return SERVERS[name](handler, extensions=[ServerFlip()], **{"compression": None, **kwargs})


def flip_client(name: str, url: str, factory: Any = None, **kwargs: Any) -> Any:
    extensions = [factory or ClientFlip()]
    return CLIENTS[name](url, **client_kwargs(name, extensions=extensions, **{"compression": None, **kwargs}))


@pytest.mark.parametrize("client, server", PAIRS)
async def test_custom_extension_negotiated_as_websockets(client: str, server: str) -> None:
    async with flip_server(server) as url, flip_client(client, url) as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"] == "x-flip; level=1"
        assert ws.request.headers["Sec-WebSocket-Extensions"] == "x-flip; level=1"


@pytest.mark.parametrize("client, server", PAIRS)
async def test_messages_go_through_the_extension_both_ways(client: str, server: str) -> None:
    """Each side decodes what the other encoded (an unencoded frame would fail: no RSV2)."""
    async with flip_server(server) as url, flip_client(client, url) as ws:
        for message in MESSAGES:
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == message
        await ws.send(["frag", "mént", "ed"])  # fragments: every frame through the extension
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "fragménted"
        await ws.send([b"ab", b"cd"])
        parts = [part async for part in ws.recv_streaming()]
        assert b"".join(parts) == b"abcd"


@pytest.mark.parametrize("server", SERVERS)
async def test_frame_right_after_the_handshake_is_decoded(server: str) -> None:
    """A message the server sends at once can arrive with the 101: our client has negotiated by then."""

    async def greet(ws: Any) -> None:
        await ws.send("welcome")
        await echo(ws)

    async with flip_server(server, greet) as url, flip_client("our client", url) as ws:
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "welcome"


@pytest.mark.parametrize("client, server", PAIRS)
async def test_a_frame_the_extension_refuses_fails_1002(client: str, server: str) -> None:
    """The client negotiates x-flip but does not mark its frames: the server's decode fails 1002, as websockets."""
    async with flip_server(server) as url, flip_client(client, url, ClientFlip(mark=False)) as ws:
        await ws.send("not flipped")
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    rcvd = info.value.rcvd
    assert rcvd is not None
    assert (rcvd.code, rcvd.reason) == (1002, "x-flip: frame not flipped")


@pytest.mark.parametrize("server", SERVERS)
async def test_server_without_the_extension_declines_it(server: str) -> None:
    """The offer is declined (no answer header): our client then sends and expects plain frames."""
    async with SERVERS[server](compression=None) as url, flip_client("our client", url) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws.send("plain")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "plain"


@pytest.mark.parametrize("client", CLIENTS)
async def test_our_server_declines_an_offer_its_factory_refuses(client: str) -> None:
    """The factory raises websockets' NegotiationError for these parameters: the offer is declined."""

    class OtherParams(ClientFlip):
        def get_request_params(self) -> Sequence[tuple[str, str | None]]:
            return [("level", "2")]

    async with flip_server("our server") as url, flip_client(client, url, OtherParams()) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws.send("plain")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "plain"


async def test_unoffered_extension_in_the_answer_is_a_negotiation_error() -> None:
    """The server answers an extension the client did not offer: websockets' NegotiationError and message."""

    def add_other(connection: Any, request: Any, response: Any) -> None:
        response.headers["Sec-WebSocket-Extensions"] = "x-other; a=1"

    errors = []
    async with their_server(compression=None, process_response=add_other) as url:
        for name in CLIENTS:
            with pytest.raises(TheirNegotiationError) as info:
                async with flip_client(name, url):
                    pass
            errors.append(str(info.value))
            if name == "our client":
                assert isinstance(info.value, NegotiationError)
    assert errors[0] == errors[1] == "Unsupported extension: name = x-other, params = [('a', '1')]"


async def test_broadcast_encodes_for_each_connection_with_an_extension() -> None:
    """broadcast() to clients with and without x-flip: each gets the message its way."""
    connected: list[Any] = []
    ready = asyncio.Event()

    async def register(ws: Any) -> None:
        connected.append(ws)
        if len(connected) == 2:
            ready.set()
        await ws.wait_closed()

    async with serve(register, "127.0.0.1", 0, compression=None, extensions=[ServerFlip()]) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}/"
        async with (
            flip_client("their client", url) as flipped,
            upstream_client.connect(url, compression=None) as plain,
        ):
            await asyncio.wait_for(ready.wait(), TIMEOUT)
            broadcast(connected, "to all")
            broadcast(connected, b"bytes to all")
            for ws in (flipped, plain):
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "to all"
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"bytes to all"


# -- custom extensions with permessage-deflate --------------------------------------------------

DEFLATED = "price=101.25;qty=3;" * 2000  # compressible: a broken pipeline would not round-trip it


@pytest.mark.parametrize("client, server", PAIRS)
async def test_custom_extension_with_deflate_as_websockets(client: str, server: str) -> None:
    """x-flip and websockets' default permessage-deflate on both sides: the headers two websockets
    peers exchange, and messages that go through both (flipped, then compressed)."""
    async with flip_server("their server", compression="deflate") as url:
        async with flip_client("their client", url, compression="deflate") as ws:
            expected = (
                ws.request.headers["Sec-WebSocket-Extensions"],
                ws.response.headers["Sec-WebSocket-Extensions"],
            )
    assert expected == (
        "x-flip; level=1, permessage-deflate; client_max_window_bits",
        "x-flip; level=1, permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
    )
    async with (
        flip_server(server, compression="deflate") as url,
        flip_client(client, url, compression="deflate") as ws,
    ):
        headers = (
            ws.request.headers["Sec-WebSocket-Extensions"],
            ws.response.headers["Sec-WebSocket-Extensions"],
        )
        assert headers == expected
        for message in [DEFLATED, DEFLATED.encode(), "é"]:
            await ws.send(message)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == message
        await ws.send([DEFLATED, "tail"])
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == DEFLATED + "tail"


@pytest.mark.parametrize("server", SERVERS)
async def test_deflate_alone_when_the_server_has_no_custom_extension(server: str) -> None:
    """Our client offers x-flip and permessage-deflate; the server takes only permessage-deflate."""
    async with SERVERS[server]() as url, flip_client("our client", url, compression="deflate") as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        await ws.send(DEFLATED)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == DEFLATED


async def test_deflate_before_a_custom_extension_in_the_answer_is_refused() -> None:
    """Our core compresses after the custom extensions: an answer in the other order cannot be honoured."""

    def deflate_first(connection: Any, request: Any, response: Any) -> None:
        custom, deflate = response.headers["Sec-WebSocket-Extensions"].split(", ")
        del response.headers["Sec-WebSocket-Extensions"]  # (setting a header adds one in websockets)
        response.headers["Sec-WebSocket-Extensions"] = f"{deflate}, {custom}"

    async with flip_server("their server", compression="deflate", process_response=deflate_first) as url:
        with pytest.raises(NegotiationError, match="put x-flip after it"):
            async with flip_client("our client", url, compression="deflate"):
                pass


# -- picows.websockets.extensions: websockets' module layout ------------------------------------


def test_extension_modules_are_websockets_own_when_installed() -> None:
    import websockets.extensions.base as their_base
    import websockets.extensions.permessage_deflate as their_deflate

    import picows.websockets as ours

    assert ours.extensions.Extension is their_base.Extension
    assert ours.extensions.ClientExtensionFactory is their_base.ClientExtensionFactory
    assert ours.extensions.ServerExtensionFactory is their_base.ServerExtensionFactory
    for name in their_deflate.__all__:
        assert getattr(ours.extensions.permessage_deflate, name) is getattr(their_deflate, name)


WITHOUT_WEBSOCKETS = textwrap.dedent(
    """
    import asyncio, dataclasses
    from picows.websockets.asyncio.client import connect
    from picows.websockets.asyncio.server import serve
    from picows.websockets.exceptions import ProtocolError
    from picows.websockets.extensions import ClientExtensionFactory, Extension, ServerExtensionFactory
    from picows.websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory, enable_client_permessage_deflate)
    from picows.websockets.frames import Opcode

    class Flip(Extension):
        name = "x-flip"
        def encode(self, frame):
            if frame.opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
                return frame
            return dataclasses.replace(frame, data=bytes(frame.data)[::-1], rsv2=True)
        def decode(self, frame, *, max_size=None):
            if frame.opcode in (Opcode.CLOSE, Opcode.PING, Opcode.PONG):
                return frame
            if not frame.rsv2:
                raise ProtocolError("not flipped")
            return dataclasses.replace(frame, data=bytes(frame.data)[::-1], rsv2=False)

    class ClientFlip(ClientExtensionFactory):
        name = "x-flip"
        def get_request_params(self):
            return []
        def process_response_params(self, params, accepted):
            return Flip()

    class ServerFlip(ServerExtensionFactory):
        name = "x-flip"
        def process_request_params(self, params, accepted):
            return [], Flip()

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def main():
        assert "websockets" not in sys.modules
        assert ClientPerMessageDeflateFactory.__name__ == "ClientPerMessageDeflateFactory"
        try:
            ServerPerMessageDeflateFactory(server_max_window_bits=8)
        except ValueError as exc:
            assert str(exc) == "server_max_window_bits must be between 9 and 15", exc
        else:
            raise AssertionError("no ValueError")
        deflate = ServerPerMessageDeflateFactory(server_max_window_bits=10, client_max_window_bits=10)
        async with serve(echo, "127.0.0.1", 0, extensions=[ServerFlip(), deflate]) as server:
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
            client_deflate = ClientPerMessageDeflateFactory(server_max_window_bits=10)
            async with connect(url, proxy=None, extensions=enable_client_permessage_deflate(
                    [ClientFlip(), client_deflate])) as ws:
                answer = ws.response.headers["Sec-WebSocket-Extensions"]
                assert answer == (
                    "x-flip, permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"
                ), answer
                for message in ["héllo" * 1000, b"bytes" * 1000]:
                    await ws.send(message)
                    assert await asyncio.wait_for(ws.recv(), 10) == message
        print("ok")

    asyncio.run(main())
    """
)


def test_extensions_work_without_websockets_installed() -> None:
    """Our own extension classes and Frame, a custom extension next to permessage-deflate, both ends ours."""
    assert run_without_websockets(WITHOUT_WEBSOCKETS).strip() == "ok"


@pytest.mark.parametrize("direction", ["our client", "our server"])
async def test_custom_extension_with_deflate_really_compresses(direction: str) -> None:
    """With x-flip next to permessage-deflate, our side still compresses: the wire carries far fewer bytes.

    (websockets' side would also accept uncompressed frames, so the headers and a round trip alone
    would not show it.)"""
    client = "our client" if direction == "our client" else "their client"
    server = "their server" if direction == "our client" else "our server"

    async def exchange(url: str) -> None:
        async with flip_client(client, url, compression="deflate") as ws:
            for _ in range(10):
                await ws.send(DEFLATED)
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == DEFLATED

    async with flip_server(server, compression="deflate") as url:
        to_server, to_client = await relay_byte_counts(url, exchange)
    assert to_server < 10 * len(DEFLATED) // 20 and to_client < 10 * len(DEFLATED) // 20
