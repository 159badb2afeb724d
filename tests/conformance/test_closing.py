"""Conformance, part 3: the closing handshake (RFC 6455 5.5.1, 7.1-7.4).

Harness and roles: see ``support/conformance.py``.
"""

from __future__ import annotations

import socket
import struct

import pytest

from support.conformance import BINARY, CLOSE, CONT, PING, PONG, ROLES, TEXT, app, server_app
from support.frames import close_payload, read_frame
from support.raw_ws import raw_ws_client

PROTOCOL_ERROR, INVALID_TEXT = 1002, 1007

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]
INVALID_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("role", ROLES)
async def test_close_is_echoed_with_its_code_and_reason(role: str) -> None:
    """Every code that may be sent, a CLOSE without code, and the longest reason (123 bytes)."""
    cases = [(code, b"") for code in VALID_CODES] + [
        (None, b""),
        (1000, b"r" * 123),
        (4000, "κόσμε".encode() * 5),
    ]
    for code, reason in cases:
        async with app(role) as conn:
            await conn.send(TEXT, b"before close")
            await conn.expect((TEXT, b"before close"))
            await conn.clean_close(code, reason)
            if role == "client":
                result = conn.result
                assert (result.messages, result.close_code_received, result.error) == (1, code or 0, None)


@pytest.mark.parametrize("role", ROLES)
async def test_invalid_close_payloads_fail(role: str) -> None:
    cases = [(struct.pack("!H", code) + b"r", PROTOCOL_ERROR) for code in INVALID_CODES]
    cases += [
        (b"\x03", PROTOCOL_ERROR),  # 1-byte payload
        (close_payload(1000, b"r" * 124), PROTOCOL_ERROR),  # 126 bytes: control frame too long
        (close_payload(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"), INVALID_TEXT),
        (close_payload(1000, b"\xff"), INVALID_TEXT),
        (close_payload(1000, b"cut \xe1\xbd"), INVALID_TEXT),
    ]
    for payload, code in cases:
        async with app(role) as conn:
            await conn.write(conn.frame(TEXT, b"ok") + conn.frame(CLOSE, payload))
            await conn.expect((TEXT, b"ok"))
            await conn.expect_close(code)
            if role == "client":
                assert conn.result.error is not None and conn.result.error.close_code == code


@pytest.mark.parametrize("role", ROLES)
async def test_nothing_after_close_is_processed(role: str) -> None:
    """Data, PING, a bad frame, a second CLOSE and garbage after the peer's CLOSE: only the CLOSE is echoed."""
    tails = {
        "text": lambda c: c.frame(TEXT, b"after close"),
        "ping": lambda c: c.frame(PING, b"after close"),
        "bad-frame": lambda c: c.frame(TEXT, b"x", rsv2=True),
        "second-close": lambda c: c.frame(CLOSE, close_payload(1001, b"two")),
        "garbage": lambda c: b"\xff\x7f\x00garbage",
    }
    for name, tail in tails.items():
        async with app(role) as conn:
            await conn.write(conn.frame(CLOSE, close_payload(1000, b"one")) + tail(conn))
            f = await conn.read()
            assert (f.opcode, f.payload) == (CLOSE, close_payload(1000, b"one")), name
            await conn.finish_closing(reply=None)  # fails on any byte after the CLOSE


@pytest.mark.parametrize("role", ROLES)
async def test_close_during_fragmented_message(role: str) -> None:
    """The unfinished message is dropped (never echoed); the CLOSE is echoed; the rest is ignored."""
    async with app(role) as conn:
        await conn.write(
            conn.frame(TEXT, b"frag", fin=False)
            + conn.frame(CLOSE, close_payload(1000))
            + conn.frame(CONT, b"ment")
        )
        await conn.expect((CLOSE, close_payload(1000)))
        await conn.finish_closing(reply=None)


@pytest.mark.parametrize("role", ROLES)
async def test_large_message_then_close_in_one_write(role: str) -> None:
    big = bytes(range(256)) * 1024
    async with app(role) as conn:
        await conn.write(conn.frame(BINARY, big) + conn.frame(CLOSE, close_payload(1000)))
        await conn.expect((BINARY, big), (CLOSE, close_payload(1000)))
        await conn.finish_closing(reply=None)


@pytest.mark.parametrize("role", ROLES)
async def test_after_failing_the_app_waits_for_close_and_ignores_data(role: str) -> None:
    """The app failed the connection (RSV1): until the peer's CLOSE it answers nothing, then the connection ends."""
    async with app(role) as conn:
        await conn.send(TEXT, b"x", rsv1=True)
        f = await conn.read()
        assert (f.opcode, f.close_code) == (CLOSE, PROTOCOL_ERROR)
        await conn.write(conn.frame(TEXT, b"late data") + conn.frame(PING, b"late ping") + conn.frame(PONG))
        await conn.expect_silence()  # still open, nothing answered
        await conn.finish_closing(reply=close_payload(PROTOCOL_ERROR))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("where", ["mid-header", "mid-payload", "between-frames", "reset"])
async def test_abrupt_tcp_close(role: str, where: str) -> None:
    """The peer vanishes without a closing handshake: the app ends quietly (no exception escapes)
    and, as a server, goes on serving other clients."""
    async with app(role) as conn:
        await conn.send(TEXT, b"hello")
        await conn.expect((TEXT, b"hello"))
        frame = conn.frame(BINARY, b"z" * 1000)
        if where == "mid-header":
            await conn.write(frame[:3])
        elif where == "mid-payload":
            await conn.write(frame[:500])
        elif where == "reset":
            await conn.write(frame[:500])
            sock = conn.peer.writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        conn.peer.writer.close()
        if role == "client":
            result = await conn.wait_app()
            assert (result.messages, result.close_code_received, result.error) == (1, None, None)
    if role == "server":
        await _server_survives_abrupt_clients()


async def _server_survives_abrupt_clients() -> None:
    """One server, a client that resets mid-frame, then a normal client that is served."""
    server = await server_app().start_server("127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        async with raw_ws_client(port) as rude:
            await rude.write(rude.frame(BINARY, b"q" * 100)[:40])
            rude.writer.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            rude.writer.close()
        async with raw_ws_client(port) as polite:
            await polite.send(TEXT, b"still served")
            f = await read_frame(polite.reader)
            assert (f.opcode, f.payload) == (TEXT, b"still served")
