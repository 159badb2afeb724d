"""Conformance, part 1: framing, ping/pong, reserved bits, opcodes (RFC 6455 5.2-5.6).

Harness and roles: see ``support/conformance.py``. Every test runs with
the reference app as server (raw client) and as client (raw server).
"""

from __future__ import annotations

import pytest

from support.conformance import BINARY, CLOSE, PING, PONG, ROLES, TEXT, app, fails_with
from support.frames import encode_frame, frame_for

PROTOCOL_ERROR = 1002


def _payload(n: int) -> bytes:
    return bytes((i * 7 + n) & 0xFF for i in range(n))


def _split_points(frame_size: int, header_size: int) -> list[int]:
    """Every split point of a small frame; of a large one, every point in and around the header, and a few in the payload."""
    if frame_size <= 200:
        return list(range(1, frame_size))
    around_header = range(1, header_size + 3)
    return sorted(set(around_header) | {frame_size // 2, frame_size - 2, frame_size - 1})


# ---------------------------------------------------------------------------
# 1. Framing: every length encoding, at every split point of the byte stream
# ---------------------------------------------------------------------------

# 7-bit lengths (0, 1, 125), the 16-bit form (126 .. 65535), the 64-bit form (65536 ..)
LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 100_000]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("length", LENGTHS)
async def test_length_encoding_at_every_split_point(role: str, length: int) -> None:
    """One connection per length: the frame is written in two pieces, cut at each split point in turn."""
    opcode = TEXT if length % 2 else BINARY
    payload = b"t" * length if opcode == TEXT else _payload(length)
    async with app(role) as conn:
        frame = conn.frame(opcode, payload)
        header = len(frame) - length
        for cut in _split_points(len(frame), header):
            await conn.write_settled(frame[:cut])
            await conn.write_settled(frame[cut:])
            await conn.expect((opcode, payload))
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 13, 1000])
async def test_stream_of_mixed_frames_in_chunks(role: str, chunk_size: int) -> None:
    """Back-to-back frames of every length form (and a PING) arrive in fixed-size chunks; everything is answered in order."""
    sizes = [0, 5, 125, 126, 300] + ([65535, 65536] if chunk_size >= 1000 else [])
    async with app(role) as conn:
        stream = b""
        expected = []
        for i, n in enumerate(sizes):
            stream += conn.frame(BINARY, _payload(n))
            expected.append((BINARY, _payload(n)))
            if i == 2:
                stream += conn.frame(PING, b"in the middle")
                expected.append((PONG, b"in the middle"))
        await conn.write(stream, chunk_size)
        await conn.expect(*expected)
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
async def test_many_frames_in_one_segment(role: str) -> None:
    """All frames of one read are handled, in order (the parser loops over a full buffer)."""
    async with app(role) as conn:
        messages = [(TEXT if i % 3 else BINARY, str(i).encode() * (i % 17)) for i in range(300)]
        await conn.write(b"".join(conn.frame(op, p) for op, p in messages))
        await conn.expect(*messages)
        await conn.clean_close()


# ---------------------------------------------------------------------------
# 2. Ping / pong
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
async def test_ping_is_answered_with_same_payload(role: str) -> None:
    payloads = [b"", b"Hello, world!", bytes(range(125)), "κόσμε".encode(), b"\xff\xfe\x00"]
    async with app(role) as conn:
        for p in payloads:  # one at a time
            await conn.send(PING, p)
            await conn.expect((PONG, p))
        # ten in one write: ten pongs, in order
        await conn.write(b"".join(conn.frame(PING, b"%d" % i) for i in range(10)))
        await conn.expect(*[(PONG, b"%d" % i) for i in range(10)])
        # a 125-byte PING split at every point
        frame = conn.frame(PING, b"p" * 125)
        for cut in range(1, len(frame)):
            await conn.write_settled(frame[:cut])
            await conn.write_settled(frame[cut:])
        await conn.expect(*[(PONG, b"p" * 125)] * (len(frame) - 1))
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
async def test_unsolicited_pongs_are_ignored(role: str) -> None:
    async with app(role) as conn:
        await conn.send(PONG)
        await conn.send(PONG, b"unsolicited" * 11)
        await conn.send(TEXT, b"after the pongs")
        await conn.expect((TEXT, b"after the pongs"))
        await conn.clean_close()


@pytest.mark.parametrize("role", ROLES)
async def test_ping_payload_over_125_bytes_fails(role: str) -> None:
    async with app(role) as conn:
        await conn.write(conn.frame(PING, b"x" * 125) + conn.frame(PING, b"x" * 126))
        await conn.expect((PONG, b"x" * 125))
        await conn.expect_close(PROTOCOL_ERROR)


# ---------------------------------------------------------------------------
# 3. Reserved bits, 4. reserved opcodes
#
# Pattern of the conformance suites: a valid message, the bad frame, then a
# PING; the message is echoed, the connection fails with 1002, the PING is
# never answered. Delivered in one segment and frame by frame.
# ---------------------------------------------------------------------------


def _bad_then_ping(conn: object, bad: bytes) -> list[bytes]:
    return [conn.frame(TEXT, b"valid before"), bad, conn.frame(PING, b"never answered")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("opcode", [TEXT, BINARY, PING, PONG, CLOSE], ids=lambda op: op.name)
async def test_reserved_bits_fail(role: str, opcode: int) -> None:
    """Every combination of RSV1-3 (no extension is negotiated, so RSV1 too), on data and control frames."""
    payload = b"\x03\xe8bye" if opcode == CLOSE else b"payload"
    for rsv in range(1, 8):  # as in the suites: 4 = RSV1, 2 = RSV2, 1 = RSV3
        flags = {"rsv1": bool(rsv & 4), "rsv2": bool(rsv & 2), "rsv3": bool(rsv & 1)}
        async with app(role) as conn:
            frames = _bad_then_ping(conn, conn.frame(opcode, payload, **flags))
            if rsv % 2:  # alternate: one segment / one write per frame
                await conn.write(b"".join(frames))
            else:
                for f in frames:
                    await conn.write_settled(f)
            await conn.expect((TEXT, b"valid before"))
            await conn.expect_close(PROTOCOL_ERROR)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
async def test_reserved_opcodes_fail(role: str, opcode: int) -> None:
    for framewise in (False, True):
        async with app(role) as conn:
            frames = _bad_then_ping(conn, conn.frame(opcode, b"reserved" if opcode % 2 else b""))
            if framewise:
                for f in frames:
                    await conn.write_settled(f)
            else:
                await conn.write(b"".join(frames))
            await conn.expect((TEXT, b"valid before"))
            await conn.expect_close(PROTOCOL_ERROR)


@pytest.mark.parametrize("role", ROLES)
async def test_wrong_masking_for_the_role_fails(role: str) -> None:
    """Clients MUST mask, servers MUST NOT (RFC 6455 5.1)."""
    bad = encode_frame(TEXT, b"wrong mask bit", masked=(role == "client"))
    await fails_with(
        role,
        [frame_for("server" if role == "client" else "client", TEXT, b"ok"), bad],
        PROTOCOL_ERROR,
        echoes=[(TEXT, b"ok")],
    )
