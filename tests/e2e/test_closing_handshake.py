"""The closing handshake (picows 2.x): ``close_handshake``, ``is_disconnected``, ``auto_close``, ``close_timeout``.

``WSTransport.close_handshake`` records both CLOSE frames in every order: we
close first, the peer closes first, both at once, and an abrupt loss (None or
a partial record). ``auto_close=True`` answers the peer's CLOSE after it was
delivered to ``on_ws_frame`` and disconnects; ``close_timeout`` drops a peer
that never finishes the handshake. After the connection is gone every send is
a silent no-op and ``is_disconnected`` is True.
"""

from __future__ import annotations

import asyncio
import struct

import pytest

import picows
from picows import WSCloseCode, WSCloseHandshake, WSCloseInfo, WSMsgType
from support import TIMEOUT
from support.frames import close_payload
from support.listeners import CloseEchoListener, CollectingListener
from support.net import expect_eof, expect_silence
from support.servers import ROLES, connect, echo_server, pair, wait_disconnected_any

CLOSE = WSMsgType.CLOSE


def info(code: int, reason: str = "") -> WSCloseInfo:
    return WSCloseInfo(code, reason)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_we_close_first(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener) as (peer, listener, transport):
        assert transport.close_handshake is None
        transport.send_close(WSCloseCode.GOING_AWAY, "bye")
        handshake = transport.close_handshake
        assert isinstance(handshake, WSCloseHandshake)
        assert (handshake.recv, handshake.sent, handshake.recv_then_sent) == (None, info(1001, "bye"), False)
        f = await peer.read_data_frame()
        assert (f.opcode, f.payload) == (CLOSE, close_payload(1001, b"bye"))
        await peer.send(CLOSE, close_payload(1001, "ok 🙂".encode()))
        assert (await listener.get())[0] == CLOSE
        handshake = transport.close_handshake
        assert (handshake.recv, handshake.sent, handshake.recv_then_sent) == (info(1001, "ok 🙂"), info(1001, "bye"), False)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_peer_closes_first(picows_role: str) -> None:
    async with pair(picows_role, CloseEchoListener) as (peer, listener, transport):
        await peer.send(CLOSE, close_payload(4001, b"app says bye"))
        f = await peer.read_data_frame()
        assert (f.opcode, f.payload) == (CLOSE, close_payload(4001, b"app says bye"))
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        handshake = transport.close_handshake
        assert handshake.recv == info(4001, "app says bye")
        assert handshake.sent == info(4001, "app says bye")
        assert handshake.recv_then_sent is True
        assert transport.is_disconnected is True


@pytest.mark.parametrize("picows_role", ROLES)
async def test_both_close_at_once(picows_role: str) -> None:
    """Both sides send CLOSE before seeing the other's: both are recorded, ours counted as first."""
    async with pair(picows_role, CollectingListener) as (peer, listener, transport):
        peer.writer.write(peer.frame(CLOSE, close_payload(1000)))  # in flight (not read by picows yet)...
        transport.send_close(WSCloseCode.OK)  # ...while we close too
        assert (await peer.read_data_frame()).opcode == CLOSE
        assert (await listener.get())[0] == CLOSE
        handshake = transport.close_handshake
        assert (handshake.recv, handshake.sent, handshake.recv_then_sent) == (info(1000), info(1000), False)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_abrupt_loss_leaves_none_or_a_partial_record(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener, check_clean=False) as (peer, listener, transport):
        peer.close()
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        assert transport.close_handshake is None
        assert transport.is_disconnected is True
    async with pair(picows_role, CollectingListener, check_clean=False) as (peer, listener, transport):
        await peer.send(CLOSE, close_payload(1001))
        assert (await listener.get())[0] == CLOSE
        peer.close()  # and gone, without waiting for our answer
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        handshake = transport.close_handshake
        assert (handshake.recv, handshake.sent, handshake.recv_then_sent) == (info(1001), None, True)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_close_without_code(picows_role: str) -> None:
    async with pair(picows_role, CloseEchoListener) as (peer, listener, transport):
        await peer.send(CLOSE)
        f = await peer.read_data_frame()
        assert (f.opcode, f.payload) == (CLOSE, b"")
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        assert transport.close_handshake.recv == info(WSCloseCode.NO_INFO)
        assert transport.close_handshake.sent == info(WSCloseCode.NO_INFO)


async def test_sends_after_loss_are_silent_noops() -> None:
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url)
        assert transport.is_disconnected is False
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        assert transport.is_disconnected is True
        transport.send(WSMsgType.TEXT, "late")
        transport.send_ping()
        transport.send_pong()
        transport.send_reuse_external_bytearray(WSMsgType.BINARY, bytearray(16), 14)
        transport.send_close(WSCloseCode.OK)
        transport.disconnect()
        assert transport.close_handshake is None  # nothing was sent


# -- auto_close -----------------------------------------------------------------------------------


class _RecordingOnly(CollectingListener):
    """Does nothing about CLOSE itself: auto_close must."""


@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize("payload", [close_payload(1000, b"done"), close_payload(3001), b""], ids=["1000", "3001", "empty"])
async def test_auto_close_answers_after_delivering(picows_role: str, payload: bytes) -> None:
    async with pair(picows_role, _RecordingOnly, auto_close=True) as (peer, listener, transport):
        await peer.send(CLOSE, payload)
        delivered = await listener.get()
        assert (delivered[0], delivered[3]) == (CLOSE, payload)  # on_ws_frame saw the CLOSE
        f = await peer.read_data_frame()
        assert (f.opcode, f.payload) == (CLOSE, payload[:2])  # the same code, no reason
        assert await expect_eof(peer.reader) == b""  # and picows disconnects
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        assert transport.close_handshake.recv_then_sent is True


@pytest.mark.parametrize("picows_role", ROLES)
async def test_auto_close_does_not_answer_twice(picows_role: str) -> None:
    """A listener that echoes CLOSE itself keeps working: one CLOSE on the wire."""
    async with pair(picows_role, CloseEchoListener, auto_close=True) as (peer, listener, transport):
        await peer.send(CLOSE, close_payload(1001, b"x"))
        f = await peer.read_data_frame()
        assert (f.opcode, f.payload) == (CLOSE, close_payload(1001, b"x"))
        assert await expect_eof(peer.reader) == b""


@pytest.mark.parametrize("picows_role", ROLES)
async def test_auto_close_after_we_closed_disconnects(picows_role: str) -> None:
    async with pair(picows_role, _RecordingOnly, auto_close=True) as (peer, listener, transport):
        transport.send_close(WSCloseCode.OK)
        assert (await peer.read_data_frame()).opcode == CLOSE
        await peer.send(CLOSE, close_payload(1000))
        assert await expect_eof(peer.reader) == b""
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)


# -- close_timeout ------------------------------------------------------------------------------------


@pytest.mark.parametrize("picows_role", ROLES)
async def test_close_timeout_drops_a_silent_peer(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener, close_timeout=0.2, check_clean=False) as (peer, listener, transport):
        loop = asyncio.get_running_loop()
        start = loop.time()
        transport.send_close(WSCloseCode.OK)
        assert (await peer.read_data_frame()).opcode == CLOSE
        # the peer never answers and never closes
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        assert loop.time() - start >= 0.15
        assert transport.is_disconnected is True


@pytest.mark.parametrize("picows_role", ROLES)
async def test_no_close_timeout_waits(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener, close_timeout=None) as (peer, listener, transport):
        transport.send_close(WSCloseCode.OK)
        assert (await peer.read_data_frame()).opcode == CLOSE
        await expect_silence(peer.reader, 0.3)
        assert not listener.disconnected.is_set()


async def test_close_timeout_default_is_ten_seconds() -> None:
    import inspect

    assert inspect.signature(picows.ws_connect).parameters["close_timeout"].default == 10
    assert inspect.signature(picows.ws_create_server).parameters["close_timeout"].default == 10


async def test_client_wait_disconnected_after_protocol_violation_is_ws_protocol_error() -> None:
    """Client side: the violation is a WSProtocolError (2.x) and still a WSError/RuntimeError (1.15)."""
    async with pair("client", CollectingListener, check_clean=False, max_frame_size=10) as (peer, listener, transport):
        await peer.send(WSMsgType.BINARY, b"x" * 11)
        f = await peer.read_data_frame()
        assert (f.opcode, struct.unpack("!H", f.payload[:2])[0]) == (CLOSE, 1009)
        peer.close()
        exc = await wait_disconnected_any(transport)
    assert isinstance(exc, picows.WSProtocolError)
    assert isinstance(exc, picows.WSError) and isinstance(exc, RuntimeError)
    assert exc.code == exc.close_code == WSCloseCode.MESSAGE_TOO_BIG
    assert "violates max allowed size" in str(exc)
    assert transport.close_handshake.sent.code == WSCloseCode.MESSAGE_TOO_BIG
