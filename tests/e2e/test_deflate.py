"""permessage-deflate through real sockets: what picows inflates, what it compresses, what it refuses.

picows plays either role against a raw peer (``support.raw_ws``) that speaks
deflate with zlib directly, or against itself; both backends (the session's).
"""

from __future__ import annotations

import asyncio
import platform
import random
import zlib
from typing import Any

import pytest

import picows
from picows import PerMessageDeflate, WSMsgType, WSUpgradeResponse, WSUpgradeResponseWithListener
from support import TIMEOUT
from support.frames import CLOSE, expect_close
from support.listeners import CollectingListener
from support.raw_ws import raw_ws_server
from support.servers import ROLES, connect, finish, pair, picows_server, wait_disconnected_any

PMD = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
TEXT, BINARY, CONT, PING = 0x1, 0x2, 0x0, 0x9
JSONISH = b'{"symbol": "BTC-USD", "price": 43210.5, "size": 0.25, "side": "buy"}, ' * 40


def deflate(data: bytes, wbits: int = 15) -> bytes:
    """One message compressed as RFC 7692 says (sync flush, tail removed), without context."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


def inflate(data: bytes, d: Any = None) -> bytes:
    d = d if d is not None else zlib.decompressobj(-15)
    return d.decompress(data + b"\x00\x00\xff\xff")  # type: ignore[no-any-return]


def deflate_pair(role: str, **kwargs: Any) -> Any:
    kwargs.setdefault("permessage_deflate", True)
    return pair(role, CollectingListener, peer_headers=PMD, **kwargs)


# ---------------------------------------------------------------- receiving


@pytest.mark.parametrize("role", ROLES)
async def test_compressed_messages_are_delivered_inflated(role: str) -> None:
    async with deflate_pair(role) as (peer, listener, transport):
        assert transport.permessage_deflate is not None
        assert transport.permessage_deflate.header.startswith("permessage-deflate")
        await peer.send(TEXT, deflate(b"hello"), rsv1=True)
        assert await listener.get() == (WSMsgType.TEXT, True, False, b"hello")
        # Uncompressed messages stay possible under the extension.
        await peer.send(BINARY, b"plain")
        assert await listener.get() == (WSMsgType.BINARY, True, False, b"plain")
        # A fragmented compressed message: RSV1 on the first frame only; inflated fragments in order.
        compressed = deflate(JSONISH)
        parts = [compressed[:7], compressed[7:30], compressed[30:]]
        await peer.send(TEXT, parts[0], rsv1=True, fin=False)
        await peer.send(CONT, parts[1], fin=False)
        await peer.send(PING, b"in between")  # control frames may interleave (auto-pong answers it)
        await peer.send(CONT, parts[2], fin=True)
        frames = [await listener.get() for _ in range(3)]
        assert [(f[0], f[1], f[2]) for f in frames] == [
            (WSMsgType.TEXT, False, False),
            (WSMsgType.CONTINUATION, False, False),
            (WSMsgType.CONTINUATION, True, False),
        ]
        assert b"".join(f[3] for f in frames) == JSONISH
        # An empty compressed message.
        await peer.send(BINARY, b"", rsv1=True)
        assert await listener.get() == (WSMsgType.BINARY, True, False, b"")


@pytest.mark.parametrize("role", ROLES)
async def test_peer_context_takeover_is_followed(role: str) -> None:
    async with deflate_pair(role) as (peer, listener, transport):
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        noise = random.Random(1).randbytes(2000)  # compresses only by referring to an earlier message
        sizes = []
        for _ in range(4):
            data = (c.compress(noise) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
            sizes.append(len(data))
            await peer.send(BINARY, data, rsv1=True)
            assert (await listener.get())[3] == noise
        assert sizes[1] < sizes[0] / 4  # later messages refer to the first one


def _stream_chunks(n: int, size: int) -> list[bytes]:
    """``n`` pieces of one deflate stream, each inflating to ``size`` zero bytes."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return [c.compress(bytes(size)) + c.flush(zlib.Z_SYNC_FLUSH) for _ in range(n)]


chunks = _stream_chunks(4, 300_000)
VIOLATIONS = {
    "rsv1-on-continuation": ([(TEXT, b"ab", False, False), (CONT, b"cd", True, True)], 1002),
    "rsv1-on-continuation-of-compressed": (
        [(TEXT, deflate(b"abc")[:2], True, False), (CONT, deflate(b"abc")[2:], True, True)], 1002),
    "rsv1-on-ping": ([(PING, b"", True, True)], 1002),
    "rsv1-on-close": ([(CLOSE, b"\x03\xe8", True, True)], 1002),
    "corrupt-data": ([(BINARY, b"\xff\xff\xff\xff", True, True)], 1002),
    "bomb": ([(BINARY, deflate(bytes(4 * 1024 * 1024)), True, True)], 1009),
    "bomb-in-fragments": ([(BINARY, b"", True, False)] + [(CONT, chunk, False, False) for chunk in chunks], 1009),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(VIOLATIONS))
async def test_violations_under_deflate(role: str, case: str) -> None:
    frames, code = VIOLATIONS[case]
    options = PerMessageDeflate(max_message_size=1024 * 1024)
    async with deflate_pair(role, permessage_deflate=options, check_clean=False) as (peer, listener, transport):
        for opcode, payload, rsv1, fin in frames:
            await peer.send(opcode, payload, rsv1=rsv1, fin=fin)
        await expect_close(peer.reader, code)
        error = await wait_disconnected_any(transport)
        if role == "client":
            assert isinstance(error, picows.WSProtocolError) and error.code == code, error


@pytest.mark.skipif(
    platform.python_implementation() != "CPython", reason="tracemalloc (the allocation record) is CPython's"
)
async def test_bomb_is_refused_before_it_is_allocated() -> None:
    import tracemalloc

    bomb = deflate(bytes(200 * 1024 * 1024))  # 200 MiB of zeros in ~200 KiB
    options = PerMessageDeflate(max_message_size=1024 * 1024)
    async with deflate_pair("server", permessage_deflate=options, check_clean=False) as (peer, listener, transport):
        tracemalloc.start()
        try:
            await peer.send(BINARY, bomb, rsv1=True)
            await expect_close(peer.reader, 1009)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, peak


@pytest.mark.parametrize("role", ROLES)
async def test_compressed_text_is_validated_after_inflating(role: str) -> None:
    async with deflate_pair(role, validate_utf8=True, check_clean=False) as (peer, listener, transport):
        text = "žluťoučký kůň ".encode() * 50
        compressed = deflate(text)
        await peer.send(TEXT, compressed[:5], rsv1=True, fin=False)
        await peer.send(CONT, compressed[5:], fin=True)
        got = [await listener.get(), await listener.get()]
        assert got[0][3] + got[1][3] == text
        await peer.send(TEXT, deflate(b"ok \xff\xfe not utf-8"), rsv1=True)
        await expect_close(peer.reader, 1007)


@pytest.mark.parametrize("role", ROLES)
async def test_rsv1_passes_through_without_the_extension(role: str) -> None:
    async with pair(role, CollectingListener) as (peer, listener, transport):
        assert transport.permessage_deflate is None
        await peer.send(TEXT, b"raw", rsv1=True)
        assert await listener.get() == (WSMsgType.TEXT, True, True, b"raw")
        await peer.send(CONT, b"raw2", rsv1=True)
        assert await listener.get() == (WSMsgType.CONTINUATION, True, True, b"raw2")


# ---------------------------------------------------------------- sending


@pytest.mark.parametrize("role", ROLES)
async def test_each_message_is_compressed_as_chosen(role: str) -> None:
    options = PerMessageDeflate(compress_threshold=100)
    async with deflate_pair(role, permessage_deflate=options) as (peer, listener, transport):
        d = zlib.decompressobj(-15)  # context takeover by default: one decompressor for the stream
        small, big = b"tiny", JSONISH
        cases = [
            (None, small, False),  # under the threshold
            (None, big, True),
            (True, small, True),
            (False, big, False),
        ]
        for compress, payload, compressed in cases:
            transport.send(WSMsgType.BINARY, payload, compress=compress)
            f = await peer.read_data_frame()
            assert f.rsv1 == compressed, (compress, len(payload))
            assert (inflate(f.payload, d) if compressed else f.payload) == payload
        # rsv1=True asks for compression (echoing a received frame's flags is safe).
        transport.send(WSMsgType.TEXT, small, True, True)
        f = await peer.read_data_frame()
        assert f.rsv1 and inflate(f.payload, d) == small
        # Control frames are never compressed.
        transport.send_ping(b"p" * 120)
        f = await peer.read_data_frame()
        assert f.opcode == PING and not f.rsv1 and f.payload == b"p" * 120


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("compress", [True, False])
async def test_fragmented_sends_keep_one_message(role: str, compress: bool) -> None:
    async with deflate_pair(role) as (peer, listener, transport):
        chunks = [JSONISH[:500], JSONISH[500:1500], JSONISH[1500:]]
        transport.send(WSMsgType.TEXT, chunks[0], fin=False, compress=compress)
        transport.send(WSMsgType.CONTINUATION, chunks[1], fin=False, compress=not compress)  # ignored
        transport.send_ping(b"x")
        transport.send(WSMsgType.CONTINUATION, chunks[2], fin=True)
        frames = [await peer.read_data_frame() for _ in range(4)]
        data = [f for f in frames if f.opcode != PING]
        assert [f.rsv1 for f in data] == [compress, False, False]
        payload = b"".join(f.payload for f in data)
        assert (inflate(payload) if compress else payload) == JSONISH
        # The compressor is still in step for the next message.
        transport.send(WSMsgType.BINARY, JSONISH, compress=True)
        f = await peer.read_data_frame()
        assert f.rsv1


@pytest.mark.parametrize("role", ROLES)
async def test_without_context_takeover_every_message_stands_alone(role: str) -> None:
    reset = "client_no_context_takeover" if role == "client" else "server_no_context_takeover"
    headers = f"Sec-WebSocket-Extensions: permessage-deflate; {reset}\r\n".encode()
    async with pair(role, CollectingListener, peer_headers=headers, permessage_deflate=True) as (peer, _, transport):
        for i in range(4):
            message = JSONISH + str(i).encode()
            # whole (the shared compressor), twice fragmented (the connection's own), whole again
            if i in (1, 2):
                transport.send(WSMsgType.TEXT, message[:700], fin=False, compress=True)
                transport.send(WSMsgType.CONTINUATION, message[700:], fin=True)
                frames = [await peer.read_data_frame(), await peer.read_data_frame()]
            else:
                transport.send(WSMsgType.TEXT, message, compress=True)
                frames = [await peer.read_data_frame()]
            assert frames[0].rsv1
            # A fresh decompressor for each message: none may refer to an earlier one.
            assert inflate(b"".join(f.payload for f in frames)) == message


async def test_sending_after_the_peer_vanished_leaves_no_trace() -> None:
    async with deflate_pair("client", check_clean=False) as (peer, listener, transport):
        transport.send(WSMsgType.TEXT, JSONISH[:300], fin=False, compress=True)
        await peer.read_data_frame()
        peer.close()
        await wait_disconnected_any(transport)
        assert transport.is_disconnected
        transport.send(WSMsgType.CONTINUATION, JSONISH[300:], fin=True)  # a silent no-op
        transport.send(WSMsgType.BINARY, JSONISH, compress=True)


# ---------------------------------------------------------------- picows with picows


@pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
async def test_every_window_size_both_ways(takeover: bool) -> None:
    for bits in range(9, 16):
        client_options = PerMessageDeflate(
            server_max_window_bits=bits,
            client_max_window_bits=bits,
            server_no_context_takeover=not takeover,
            client_no_context_takeover=not takeover,
            compress_threshold=0,
        )
        server_options = PerMessageDeflate(server_max_window_bits=15, client_max_window_bits=15, compress_threshold=0)
        async with picows_server(permessage_deflate=server_options) as srv:
            transport, client = await connect(CollectingListener, srv.url, permessage_deflate=client_options)
            server = await srv.next_listener()
            agreed = transport.permessage_deflate
            assert agreed == server.transport.permessage_deflate
            assert (agreed.server_max_window_bits, agreed.client_max_window_bits) == (bits, bits)
            assert agreed.server_no_context_takeover is agreed.client_no_context_takeover is (not takeover)
            # Data that needs the whole window: repeats at a distance just under it.
            block = bytes(range(256)) * (2 ** bits // 256 - 1) + b"tail"
            for i in range(3):
                message = block + str(i).encode()
                transport.send(WSMsgType.BINARY, message)
                server.transport.send(WSMsgType.BINARY, message[::-1])
                assert (await server.get())[3] == message
                assert (await client.get())[3] == message[::-1]
            transport.send(WSMsgType.TEXT, b"abc" * 1000, fin=False)
            transport.send(WSMsgType.CONTINUATION, b"def" * 1000, fin=True)
            got = [await server.get(), await server.get()]
            assert got[0][3] + got[1][3] == b"abc" * 1000 + b"def" * 1000
            await finish(transport)


async def test_server_declines_when_off_and_client_sends_plain() -> None:
    async with picows_server() as srv:
        transport, client = await connect(CollectingListener, srv.url, permessage_deflate=True)
        server = await srv.next_listener()
        assert transport.permessage_deflate is None and server.transport.permessage_deflate is None
        assert "Sec-WebSocket-Extensions" not in transport.response.headers
        transport.send(WSMsgType.BINARY, JSONISH, compress=True)
        assert await server.get() == (WSMsgType.BINARY, True, False, JSONISH)
        await finish(transport)


async def test_factory_that_answers_extensions_itself_is_left_alone() -> None:
    def factory(request: Any) -> Any:
        response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Extensions": "x-custom"})
        return WSUpgradeResponseWithListener(response, CollectingListener())

    server = await picows.ws_create_server(factory, "127.0.0.1", 0, permessage_deflate=True)
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        # Our client offered permessage-deflate; an answer naming another extension fails it.
        with pytest.raises(picows.WSError, match="not offered"):
            await connect(CollectingListener, url, permessage_deflate=True)
        # Without our offer, the user's own extension header is the user's business.
        transport, _ = await connect(CollectingListener, url, extra_headers={"Sec-WebSocket-Extensions": "x-custom"})
        assert transport.permessage_deflate is None
        await finish(transport)
    finally:
        server.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"permessage-deflate; foo",
        b"x-foo",
        b"permessage-deflate; client_max_window_bits",
        b"permessage-deflate, permessage-deflate",
    ],
)
async def test_client_fails_on_an_answer_it_did_not_ask_for(answer: bytes) -> None:
    async with raw_ws_server(headers=b"Sec-WebSocket-Extensions: " + answer + b"\r\n") as srv:
        with pytest.raises(picows.WSError, match="Sec-WebSocket-Extensions|not offered"):
            await connect(CollectingListener, srv.url, permessage_deflate=PerMessageDeflate())


async def test_client_refuses_to_override_its_offer() -> None:
    with pytest.raises(ValueError, match="Sec-WebSocket-Extensions"):
        await picows.ws_connect(
            CollectingListener,
            "ws://127.0.0.1:1/",
            permessage_deflate=True,
            extra_headers={"Sec-WebSocket-Extensions": "permessage-deflate"},
        )


@pytest.mark.parametrize("value", ["deflate", 1, object()])
async def test_option_type_is_checked(value: Any) -> None:
    with pytest.raises(TypeError, match="permessage_deflate"):
        await picows.ws_create_server(lambda r: None, "127.0.0.1", 0, permessage_deflate=value)


async def test_client_never_compresses_into_an_8_bit_window() -> None:
    answer = b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=8\r\n"
    async with raw_ws_server(headers=answer) as srv:
        transport, listener = await connect(CollectingListener, srv.url, permessage_deflate=True)
        peer = await srv.accept()
        assert transport.permessage_deflate.client_max_window_bits == 8
        transport.send(WSMsgType.BINARY, JSONISH, compress=True)
        f = await peer.read_data_frame()
        assert not f.rsv1 and f.payload == JSONISH
        # It still inflates what the server compresses.
        await peer.send(BINARY, deflate(JSONISH, 9), rsv1=True)
        assert (await listener.get())[3] == JSONISH
        await finish(transport)


async def test_in_flight_bytes_after_the_101_are_inflated() -> None:
    # The server's first compressed frame arrives in the same segment as the 101.
    first = bytes((0x80 | 0x40 | BINARY, len(deflate(b"early")))) + deflate(b"early")
    async with raw_ws_server(headers=PMD, extra=first) as srv:
        transport, listener = await connect(CollectingListener, srv.url, permessage_deflate=True)
        assert await asyncio.wait_for(listener.get(), TIMEOUT) == (WSMsgType.BINARY, True, False, b"early")
        await finish(transport)
