"""Conformance, part 2: fragmentation, UTF-8 handling, limits (RFC 6455 5.4, 5.6, 8.1, 10.4).

Harness and roles: see ``support/conformance.py``. The UTF-8 verdicts
(valid, invalid, and *where* a fail-fast validator must stop) come from the
RFC 3629 automaton there.
"""

from __future__ import annotations

import pytest

from support.conformance import (
    BINARY,
    CLOSE,
    CONT,
    PING,
    PONG,
    ROLES,
    TEXT,
    app,
    fails_with,
    utf8_fail_point,
    utf8_valid,
)
from support.frames import frame_for

PROTOCOL_ERROR, INVALID_TEXT, MESSAGE_TOO_BIG = 1002, 1007, 1009

# the fragment-order check done by picows (opt-in) and, with it off, by the listener alone
ORDER_CHECK = pytest.mark.parametrize(
    "check_fragment_order", [True, False], ids=["library-check", "listener-check"]
)


# ---------------------------------------------------------------------------
# 5. Fragmentation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_fragmented_messages_are_echoed_whole(role: str) -> None:
    async with app(role) as conn:
        # two fragments; then the same stream chopped into 1-byte writes
        two = conn.frame(TEXT, b"fragment1", fin=False) + conn.frame(CONT, b"fragment2")
        await conn.write(two)
        await conn.expect((TEXT, b"fragment1fragment2"))
        await conn.write(two, chunk_size=1)
        await conn.expect((TEXT, b"fragment1fragment2"))
        # 1000 one-byte fragments
        data = bytes(range(256)) * 4
        frames = [conn.frame(BINARY, data[:1], fin=False)]
        frames += [conn.frame(CONT, data[i : i + 1], fin=False) for i in range(1, 999)]
        frames.append(conn.frame(CONT, data[999:1000]))
        await conn.write(b"".join(frames))
        await conn.expect((BINARY, data[:1000]))
        # empty fragments anywhere, and an entirely empty fragmented message
        await conn.write(
            conn.frame(TEXT, b"", fin=False) + conn.frame(CONT, b"", fin=False) + conn.frame(CONT, b"abc", fin=False)
            + conn.frame(CONT, b"", fin=False) + conn.frame(CONT, b"")
        )  # fmt: skip
        await conn.expect((TEXT, b"abc"))
        await conn.write(conn.frame(BINARY, b"", fin=False) + conn.frame(CONT, b""))
        await conn.expect((BINARY, b""))
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
async def test_control_frames_interleaved_with_fragments(role: str) -> None:
    """PING is answered at once (before the message completes), PONG ignored, then the whole message."""
    async with app(role) as conn:
        stream = (
            conn.frame(TEXT, b"one ", fin=False) + conn.frame(PING, b"ping 1") + conn.frame(CONT, b"two ", fin=False)
            + conn.frame(PONG, b"unsolicited") + conn.frame(PING, b"") + conn.frame(CONT, b"three")
        )  # fmt: skip
        for chunk_size in (None, 1):  # one segment; byte by byte
            await conn.write(stream, chunk_size)
            await conn.expect((PONG, b"ping 1"), (PONG, b""), (TEXT, b"one two three"))
        # frame by frame: the PONG comes while the message is still incomplete
        await conn.send(BINARY, b"\x00", fin=False)
        await conn.send(PING, b"while fragmented")
        await conn.expect((PONG, b"while fragmented"))
        await conn.send(CONT, b"\x01")
        await conn.expect((BINARY, b"\x00\x01"))
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("opcode", [PING, PONG, CLOSE])
async def test_fragmented_control_frame_fails(role: str, opcode: int) -> None:
    async with app(role) as conn:
        payload = b"\x03\xe8" if opcode == CLOSE else b"frag"
        await conn.write(conn.frame(opcode, payload, fin=False) + conn.frame(CONT, b"ment"))
        await conn.expect_close(PROTOCOL_ERROR)


# id -> (frames as (opcode, payload, fin), echoes expected before the CLOSE 1002)
ORDER_ERRORS: dict[str, tuple[list[tuple[int, bytes, bool]], list[tuple[int, bytes]]]] = {
    "continuation-without-start": ([(CONT, b"orphan", True)], []),
    "continuation-without-start-fin0": ([(CONT, b"orphan", False), (CONT, b"end", True)], []),
    "continuation-after-complete-message": (
        [(TEXT, b"done", True), (CONT, b"late", True)],
        [(TEXT, b"done")],
    ),
    "text-inside-fragmented-text": ([(TEXT, b"start", False), (TEXT, b"again", True)], []),
    "binary-inside-fragmented-text": ([(TEXT, b"start", False), (BINARY, b"x", False)], []),
    "text-inside-fragmented-binary-after-ping": (
        [(BINARY, b"a", False), (PING, b"p", True), (CONT, b"b", False), (TEXT, b"c", True)],
        [(PONG, b"p")],
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(ORDER_ERRORS))
@ORDER_CHECK
async def test_fragment_order_errors_fail(role: str, case: str, check_fragment_order: bool) -> None:
    async with app(role, check_fragment_order=check_fragment_order) as conn:
        frames, echoes = ORDER_ERRORS[case]
        # one segment: the valid frames before the bad one still count
        await conn.write(b"".join(conn.frame(op, payload, fin=fin) for op, payload, fin in frames))
        await conn.expect(*echoes)
        await conn.expect_close(PROTOCOL_ERROR)


# ---------------------------------------------------------------------------
# 6. UTF-8
# ---------------------------------------------------------------------------

VALID_TEXTS = [
    b"",
    b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
    "κόσμε".encode(),
    b"\x00",
    # first and last code point of each sequence length, and the other boundaries
    *("\u0080 \u07ff \u0800 \uffff \U00010000 \U0010ffff".encode().split(b" ")),
    *("\ud7ff \ue000 \ufffd \ufffe \ufeff".encode("utf-8", "surrogatepass").split(b" ")),
    "\u00e9\u4e2d\U0001f600".encode() * 20,
]

INVALID_TEXTS = {
    "lone-continuation": b"\x80",
    "two-continuations": b"\x80\xbf",
    "continuation-after-ascii": "κόσμε".encode() + b"\xbfedited",
    "overlong-nul-2": b"\xc0\x80",
    "overlong-slash-2": b"\xc1\xbf",
    "overlong-3": b"\xe0\x80\xaf",
    "overlong-3-max": b"\xe0\x9f\xbf",
    "overlong-4": b"\xf0\x80\x80\xaf",
    "overlong-4-max": b"\xf0\x8f\xbf\xbf",
    "5-byte-form": b"\xf8\x88\x80\x80\x80",
    "6-byte-form": b"\xfc\x84\x80\x80\x80\x80",
    "fe": b"\xfe",
    "ff": b"\xff",
    "surrogate-high": "κόσμε".encode() + b"\xed\xa0\x80edited",
    "surrogate-low": b"\xed\xbf\xbf",
    "surrogate-pair": b"\xed\xa0\x80\xed\xb0\x80",
    "above-u10ffff": b"\xf4\x90\x80\x80",
    "f5-lead": b"\xf5\x80\x80\x80",
    "lead-then-ascii": b"ab\xc2A",
    "3-byte-cut-by-ascii": b"\xe1\xbdA",
    "truncated-2": b"\xce",
    "truncated-3": "κόσμε".encode() + b"\xe1\xbd",
    "truncated-4": b"\xf0\x9f\x98",
}


@pytest.mark.parametrize("role", ROLES)
async def test_valid_utf8_in_every_fragmentation(role: str) -> None:
    """Valid texts as one frame, as one fragment per byte, and cut into two fragments at every point."""
    async with app(role) as conn:
        for text in VALID_TEXTS:
            assert utf8_valid(text)
            await conn.send(TEXT, text)
            per_byte = [
                conn.frame(TEXT if i == 0 else CONT, text[i : i + 1], fin=False) for i in range(len(text))
            ]
            await conn.write(b"".join(per_byte) + conn.frame(CONT if text else TEXT, b""))
            await conn.expect((TEXT, text), (TEXT, text))
        text = "\u00e9\u4e2d\U0001f600x".encode()  # every split of 2-, 3- and 4-byte characters
        for cut in range(len(text) + 1):
            await conn.write(conn.frame(TEXT, text[:cut], fin=False) + conn.frame(CONT, text[cut:]))
            await conn.expect((TEXT, text))
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", list(INVALID_TEXTS))
async def test_invalid_utf8_fails_fast(role: str, case: str) -> None:
    """Invalid text as one frame fails with 1007. Then one fragment per byte, never finishing the message: CLOSE 1007 must come right after
    the first byte that cannot start or continue valid UTF-8, and not before (a PING is
    still answered one byte earlier). Only for text cut inside its last character does
    the failure wait for the final fragment."""
    text = INVALID_TEXTS[case]
    assert not utf8_valid(text)
    async with app(role) as conn:  # first as one frame, after a valid one
        await conn.write(conn.frame(TEXT, b"ok") + conn.frame(TEXT, text))
        await conn.expect((TEXT, b"ok"))
        await conn.expect_close(INVALID_TEXT)
    point = utf8_fail_point(text)
    async with app(role) as conn:
        n = len(text) if point is None else point
        frags = [conn.frame(TEXT if i == 0 else CONT, text[i : i + 1], fin=False) for i in range(n)]
        await conn.write(b"".join(frags[:-1]) + conn.frame(PING, b"still fine"))
        await conn.expect((PONG, b"still fine"))
        if point is None:
            await conn.write(frags[-1] + conn.frame(PING, b"still fine"))
            await conn.expect((PONG, b"still fine"))
            await conn.send(CONT, b"")  # the end of the message reveals the truncation
        else:
            await conn.write(frags[-1])  # and nothing more: the message is never finished
        await conn.expect_close(INVALID_TEXT)


# ---------------------------------------------------------------------------
# 9. Limits
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_large_messages(role: str) -> None:
    one_mib = 1 << 20
    text = ("0123456789abcdef" * (one_mib // 16)).encode()
    data = bytes(range(256)) * (one_mib // 256)
    async with app(role) as conn:
        await conn.send(TEXT, text)
        await conn.expect((TEXT, text))
        await conn.send(BINARY, data)
        await conn.expect((BINARY, data))
        # 4 MiB in 64 KiB fragments, written in 4 KiB chunks
        big = data * 4
        frames = [conn.frame(BINARY if i == 0 else CONT, big[i : i + 65536], fin=i + 65536 >= len(big))
                  for i in range(0, len(big), 65536)]  # fmt: skip
        await conn.write(b"".join(frames), chunk_size=4096 if role == "server" else None)
        await conn.expect((BINARY, big))
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
async def test_many_small_messages_in_order(role: str) -> None:
    count = 3000
    async with app(role) as conn:
        await conn.write(b"".join(conn.frame(BINARY, i.to_bytes(2, "big")) for i in range(count)))
        await conn.expect(*[(BINARY, i.to_bytes(2, "big")) for i in range(count)])
        await conn.clean_close()


LIMIT = 65536


@pytest.mark.parametrize("role", ROLES)
async def test_message_size_limit(role: str) -> None:
    """A message of exactly the limit passes (single frame and fragmented); one byte more closes with 1009."""
    async with app(role, max_message_size=LIMIT) as conn:
        await conn.send(BINARY, b"a" * LIMIT)
        await conn.write(conn.frame(TEXT, b"b" * (LIMIT - 1), fin=False) + conn.frame(CONT, b"c"))
        await conn.expect((BINARY, b"a" * LIMIT), (TEXT, b"b" * (LIMIT - 1) + b"c"))
        await conn.clean_close()
    # too big in one frame: refused by picows from the header alone (max_frame_size)
    await fails_with(role, bytes(app_frame(role, BINARY, b"", length_override=LIMIT + 1)), MESSAGE_TOO_BIG,
                     max_message_size=LIMIT)  # fmt: skip
    # too big in fragments: refused by the listener once the sum is over the limit
    async with app(role, max_message_size=LIMIT) as conn:
        await conn.write(conn.frame(TEXT, b"x" * LIMIT, fin=False) + conn.frame(PING, b"p"))
        await conn.expect((PONG, b"p"))
        await conn.send(CONT, b"y", fin=False)
        await conn.expect_close(MESSAGE_TOO_BIG)


def app_frame(role: str, opcode: int, payload: bytes, **kwargs: object) -> bytes:
    return frame_for("client" if role == "server" else "server", opcode, payload, **kwargs)  # type: ignore[arg-type]
