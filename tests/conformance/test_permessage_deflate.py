"""Conformance, part 5: permessage-deflate (RFC 7692), with the reference apps in both roles.

Harness and roles: see ``support/conformance.py``. The apps run with
``permessage_deflate`` on; the raw peer negotiates, compresses with zlib
itself and inflates the app's echoes with a window no larger than the one
agreed (so an app that used more would fail there). Organised like the
well-known suites' compression cases: negotiation with every parameter and
window, messages of growing sizes with and without context takeover,
compressed fragmented messages, and the failures (RSV1 misuse, corrupt data,
a decompression bomb).
"""

from __future__ import annotations

import random
import zlib

import pytest

from picows import PerMessageDeflate
from support.conformance import BINARY, CLOSE, CONT, PING, PONG, ROLES, TEXT, Conn, app

PROTOCOL_ERROR, MESSAGE_TOO_BIG = 1002, 1009
SIZES = [16, 64, 256, 1024, 4096, 16384, 65536, 262144]
EXT = "Sec-WebSocket-Extensions"


def message(size: int, seed: int = 0) -> bytes:
    """Compressible data whose repeats lie up to 5,000 bytes apart: a compressor with a larger window
    than agreed would refer that far back, and the agreed window would not inflate it."""
    block = bytes(random.Random(seed).choices(range(0x20, 0x7F), k=min(5000, max(1, size // 3))))  # ASCII text
    return (block * (size // len(block) + 1))[:size]


class Deflater:
    """The raw peer's compressor: RFC 7692 messages, with or without context takeover."""

    def __init__(self, wbits: int = 15, takeover: bool = True) -> None:
        self.wbits, self.takeover = wbits, takeover
        self.c = zlib.compressobj(6, zlib.DEFLATED, -wbits)

    def chunks(self, data: bytes, parts: int = 1) -> list[bytes]:
        """The compressed message in ``parts`` pieces of the deflate stream (the tail removed)."""
        if not self.takeover:
            self.c = zlib.compressobj(6, zlib.DEFLATED, -self.wbits)
        step = max(1, len(data) // parts)
        pieces = [self.c.compress(data[i : i + step]) for i in range(0, len(data), step)] or [b""]
        pieces[-1] += self.c.flush(zlib.Z_SYNC_FLUSH)[:-4]  # the flush ends with the tail: removed
        return pieces


def agreed(conn: Conn) -> str:
    """The Sec-WebSocket-Extensions the app's side ended with (the 101 it sent, or the one we sent it)."""
    head = conn.peer.head.decode("latin-1")
    for line in head.split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == EXT.lower():
            return value.strip()
    return ""


# offer (server role: what the raw client offers) / answer (client role: what the raw server answers)
# -> (takeover of the app's messages, the app's window, the raw peer's window)
SERVER_CASES = {
    "plain": ("permessage-deflate", True, 12, 15),
    "client-window-bare": ("permessage-deflate; client_max_window_bits", True, 12, 12),
    "client-window-9": ("permessage-deflate; client_max_window_bits=9", True, 12, 9),
    "server-window-9": ("permessage-deflate; server_max_window_bits=9", True, 9, 15),
    "server-window-15": ("permessage-deflate; server_max_window_bits=15", True, 12, 15),
    "no-takeover": ("permessage-deflate; server_no_context_takeover; client_no_context_takeover", False, 12, 15),
    "falls-back": ("permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=10",
                   True, 10, 15),
}
CLIENT_CASES = {
    "plain": ("permessage-deflate", True, 15, 15),
    "client-window-9": ("permessage-deflate; client_max_window_bits=9", True, 9, 15),
    "client-window-12": ("permessage-deflate; client_max_window_bits=12", True, 12, 15),
    "server-window-10": ("permessage-deflate; server_max_window_bits=10", True, 15, 10),
    "no-takeover": ("permessage-deflate; server_no_context_takeover; client_no_context_takeover", False, 15, 15),
    "client-no-takeover": ("permessage-deflate; client_no_context_takeover", False, 15, 15),
}


def case_params() -> list[tuple[str, str]]:
    return [("server", name) for name in SERVER_CASES] + [("client", name) for name in CLIENT_CASES]


def deflate_app(role: str, header: str, **options: object):  # type: ignore[no-untyped-def]
    options.setdefault("permessage_deflate", PerMessageDeflate(compress_threshold=0))
    return app(role, peer_headers=f"{EXT}: {header}\r\n".encode(), **options)


@pytest.mark.parametrize(("role", "case"), case_params())
async def test_messages_of_growing_size_in_both_directions(role: str, case: str) -> None:
    header, app_takeover, app_bits, peer_bits = (SERVER_CASES if role == "server" else CLIENT_CASES)[case]
    async with deflate_app(role, header) as conn:
        if role == "server":
            answer = agreed(conn)
            assert answer.startswith("permessage-deflate"), conn.peer.head
            peer_takeover = "client_no_context_takeover" not in answer
        else:
            peer_takeover = "server_no_context_takeover" not in header
        # The raw peer keeps its context whenever it may (the app must follow it) and stays in its window.
        deflater = Deflater(peer_bits, takeover=peer_takeover)
        conn.inflate_with(app_bits)
        for i, size in enumerate(SIZES):
            if not app_takeover:
                conn.inflate_with(app_bits)  # a fresh inflater: the app's message must not refer to older ones
            data = message(size, i)
            (compressed,) = deflater.chunks(data)
            await conn.send(BINARY if i % 2 else TEXT, compressed, rsv1=True)
            await conn.expect((BINARY if i % 2 else TEXT, data))
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("parts", [2, 5, 40])
async def test_compressed_fragmented_messages_are_echoed_whole(role: str, parts: int) -> None:
    async with deflate_app(role, "permessage-deflate") as conn:
        conn.inflate_with(15)
        deflater = Deflater()
        data = message(20000, parts)
        pieces = deflater.chunks(data, parts)
        frames = [
            conn.frame(TEXT if i == 0 else CONT, piece, fin=i == len(pieces) - 1, rsv1=i == 0)
            for i, piece in enumerate(pieces)
        ]
        frames.insert(1, conn.frame(PING, b"between"))
        await conn.write(b"".join(frames))
        await conn.expect((PONG, b"between"), (TEXT, data))
        # the same, one byte at a time
        data = message(3000, 99)
        pieces = deflater.chunks(data, 3)
        stream = b"".join(
            conn.frame(BINARY if i == 0 else CONT, piece, fin=i == len(pieces) - 1, rsv1=i == 0)
            for i, piece in enumerate(pieces)
        )
        await conn.write(stream, chunk_size=1)
        await conn.expect((BINARY, data))
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
async def test_uncompressed_messages_stay_possible(role: str) -> None:
    async with deflate_app(role, "permessage-deflate", permessage_deflate=True) as conn:
        conn.inflate_with(15)
        await conn.send(TEXT, b"plain text")
        await conn.expect((TEXT, b"plain text"))
        await conn.send(BINARY, b"x" * 5000)
        await conn.expect((BINARY, b"x" * 5000))
        await conn.clean_close()


FAILURES = {
    "rsv1-on-continuation": lambda c: [c.frame(TEXT, b"a", fin=False), c.frame(CONT, b"b", rsv1=True)],
    "rsv1-on-ping": lambda c: [c.frame(PING, b"", rsv1=True)],
    "rsv1-on-pong": lambda c: [c.frame(PONG, b"", rsv1=True)],
    "rsv1-on-close": lambda c: [c.frame(CLOSE, b"\x03\xe8", rsv1=True)],
    "corrupt": lambda c: [c.frame(BINARY, b"\x07\xff\x00\xff\x00", rsv1=True)],
    "new-message-inside-compressed": lambda c: [
        c.frame(TEXT, Deflater().chunks(message(500))[0][:10], fin=False, rsv1=True),
        c.frame(TEXT, b"again"),
    ],
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(FAILURES))
async def test_failures_close_with_protocol_error(role: str, case: str) -> None:
    async with deflate_app(role, "permessage-deflate") as conn:
        conn.inflate_with(15)
        for data in FAILURES[case](conn):
            await conn.write_settled(data)
        await conn.expect_close(PROTOCOL_ERROR)


@pytest.mark.parametrize("role", ROLES)
async def test_decompression_bomb_closes_with_1009(role: str) -> None:
    async with deflate_app(role, "permessage-deflate", max_message_size=64 * 1024) as conn:
        conn.inflate_with(15)
        (bomb,) = Deflater().chunks(bytes(50 * 1024 * 1024))  # 50 MiB of zeros in ~50 KiB
        await conn.send(BINARY, bomb, rsv1=True)
        await conn.expect_close(MESSAGE_TOO_BIG)


@pytest.mark.parametrize("role", ROLES)
async def test_rsv1_without_the_extension_is_the_apps_protocol_error(role: str) -> None:
    # Not negotiated: picows passes RSV1 through; the reference apps (which use no extension) refuse it.
    async with app(role) as conn:
        await conn.send(TEXT, b"x", rsv1=True)
        await conn.expect_close(PROTOCOL_ERROR)
