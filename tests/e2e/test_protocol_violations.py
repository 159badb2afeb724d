"""SPEC "Protocol rules": every violation in both roles, ordering, fragment-order opt-in, garbage.

A raw peer sends the bad bytes; it must receive a CLOSE with the right code
and then see the connection closed. On the client, ``wait_disconnected``
raises ``WSError`` whose ``close_code`` is the code that was sent.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Collection
from typing import Any, Callable

import pytest

from picows import WSCloseCode, WSError, WSMsgType
from support import TIMEOUT
from support.frames import RawFrame, close_payload, encode_frame, frame_for
from support.listeners import (
    CloseEchoListener,
    CollectingListener,
    EchoListener,
    SnapshotListener,
    drain_queue,
)
from support.net import expect_eof, expect_silence, port_of
from support.raw_ws import RawPeer, raw_ws_client, raw_ws_server
from support.servers import ROLES, connect, echo_server, finish, pair, picows_server, wait_disconnected_any

PROTOCOL_ERROR = int(WSCloseCode.PROTOCOL_ERROR)
INVALID_TEXT = int(WSCloseCode.INVALID_TEXT)
MESSAGE_TOO_BIG = int(WSCloseCode.MESSAGE_TOO_BIG)

Builder = Callable[[RawPeer], bytes]


async def read_close_from_picows(peer: RawPeer) -> RawFrame:
    for _ in range(1000):
        f = await peer.read_frame()
        # whatever picows sends must respect the masking rule of its role
        assert f.masked == (peer.role == "server"), f
        if f.opcode == WSMsgType.CLOSE:
            return f
    raise AssertionError("no CLOSE frame")


async def assert_violation(
    picows_role: str,
    build: Builder,
    codes: Collection[int],
    *,
    before: list[bytes] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Send ``build(peer)`` (optionally preceded by valid payloads, same write) and check the reaction.

    Returns the frames that were delivered to on_ws_frame before the disconnect.
    """
    before = before or []
    if picows_role == "client":
        async with raw_ws_server() as srv:
            transport, listener = await connect(SnapshotListener, srv.url, **kwargs)
            peer = await srv.accept()
            await peer.write(b"".join(peer.frame(WSMsgType.BINARY, p) for p in before) + build(peer))
            close = await read_close_from_picows(peer)
            rest = await expect_eof(peer.reader)
            exc = await wait_disconnected_any(transport)
            assert isinstance(exc, WSError), f"wait_disconnected should raise WSError, got {exc!r}"
            assert exc.close_code == close.close_code
            assert exc.close_code in codes
            assert isinstance(exc.close_code, WSCloseCode)
            assert transport.is_close_frame_sent is True
    else:
        async with picows_server(SnapshotListener, **kwargs) as srv:
            async with raw_ws_client(srv.port) as peer:
                listener = await srv.next_listener()
                await peer.write(b"".join(peer.frame(WSMsgType.BINARY, p) for p in before) + build(peer))
                close = await read_close_from_picows(peer)
                rest = await expect_eof(peer.reader)
                # server side: always returns normally
                await asyncio.wait_for(listener.transport.wait_disconnected(), TIMEOUT)
    assert close.close_code in codes, f"got close code {close.close_code}, expected one of {sorted(codes)}"
    assert rest == b"", f"bytes after CLOSE: {rest[:40]!r}"
    await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    delivered = drain_queue(listener.snapshots)
    assert [d["payload"] for d in delivered] == before, "only the valid frames before the bad one are delivered"
    assert listener.events == ["connected"] + ["frame"] * len(before) + ["disconnected"]
    return delivered


def _f(opcode: int, payload: bytes = b"", **kw: Any) -> Builder:
    return lambda peer: peer.frame(opcode, payload, **kw)


def _raw(build: Callable[[str], bytes]) -> Builder:
    return lambda peer: build(peer.role)


# (id, builder, accepted close codes, extra kwargs for ws_connect/ws_create_server)
# RFC 6455 5.2: the minimal number of bytes MUST be used to encode the length.
VIOLATIONS = [
    ("non-minimal-16bit-0", _f(WSMsgType.BINARY, b"", length_form="16"), {PROTOCOL_ERROR}, {}),
    ("non-minimal-16bit-125", _f(WSMsgType.TEXT, b"x" * 125, length_form="16"), {PROTOCOL_ERROR}, {}),
    ("non-minimal-64bit-5", _f(WSMsgType.BINARY, b"five!", length_form="64"), {PROTOCOL_ERROR}, {}),
    ("non-minimal-64bit-65535", _f(WSMsgType.BINARY, b"x" * 65535, length_form="64"), {PROTOCOL_ERROR}, {}),
]
VIOLATIONS += [(f"opcode-{op:#x}", _f(op, b"payload"), {PROTOCOL_ERROR}, {}) for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF)]
VIOLATIONS += [
    ("ping-fin0", _f(WSMsgType.PING, b"p", fin=False), {PROTOCOL_ERROR}, {}),
    ("pong-fin0", _f(WSMsgType.PONG, b"p", fin=False), {PROTOCOL_ERROR}, {}),
    ("close-fin0", _f(WSMsgType.CLOSE, close_payload(1000), fin=False), {PROTOCOL_ERROR}, {}),
    ("ping-126", _f(WSMsgType.PING, b"p" * 126), {PROTOCOL_ERROR}, {}),
    ("pong-126", _f(WSMsgType.PONG, b"p" * 126), {PROTOCOL_ERROR}, {}),
    ("close-126", _f(WSMsgType.CLOSE, close_payload(1000, b"r" * 124)), {PROTOCOL_ERROR}, {}),
    ("ping-1000", _f(WSMsgType.PING, b"p" * 1000), {PROTOCOL_ERROR}, {}),
    ("close-len-1", _f(WSMsgType.CLOSE, b"\x03"), {PROTOCOL_ERROR}, {}),
]
VIOLATIONS += [
    (f"close-code-{code}", _f(WSMsgType.CLOSE, close_payload(code, b"r")), {PROTOCOL_ERROR}, {})
    for code in (0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)
]
VIOLATIONS += [
    ("close-reason-ff", _f(WSMsgType.CLOSE, close_payload(1000, b"\xff")), {INVALID_TEXT}, {}),
    ("close-reason-truncated", _f(WSMsgType.CLOSE, close_payload(1000, b"ok \xc3")), {INVALID_TEXT}, {}),
    ("close-reason-surrogate", _f(WSMsgType.CLOSE, close_payload(1001, b"\xed\xa0\x80")), {INVALID_TEXT}, {}),
    ("close-reason-overlong", _f(WSMsgType.CLOSE, close_payload(3000, b"\xc0\xaf")), {INVALID_TEXT}, {}),
    ("close-reason-too-large-cp", _f(WSMsgType.CLOSE, close_payload(1000, b"\xf4\x90\x80\x80")), {INVALID_TEXT}, {}),
]
VIOLATIONS += [
    ("too-big-custom-7bit", _f(WSMsgType.BINARY, b"x" * 101), {MESSAGE_TOO_BIG}, {"max_frame_size": 100}),
    ("too-big-custom-16bit", _f(WSMsgType.BINARY, b"x" * 1001), {MESSAGE_TOO_BIG}, {"max_frame_size": 1000}),
    ("too-big-custom-64bit", _f(WSMsgType.TEXT, b"x" * 70000), {MESSAGE_TOO_BIG}, {"max_frame_size": 65536}),
    ("too-big-header-only", _f(WSMsgType.BINARY, b"", length_override=5000), {MESSAGE_TOO_BIG}, {"max_frame_size": 4096}),
    ("too-big-default", _f(WSMsgType.BINARY, b"", length_override=10 * 1024 * 1024 + 1), {MESSAGE_TOO_BIG}, {}),
    ("hostile-2**62", _f(WSMsgType.BINARY, b"", length_override=2**62), {MESSAGE_TOO_BIG}, {}),
    ("hostile-2**32", _f(WSMsgType.BINARY, b"", length_override=2**32), {MESSAGE_TOO_BIG}, {}),
    ("hostile-2**32+5", _f(WSMsgType.BINARY, b"", length_override=2**32 + 5), {MESSAGE_TOO_BIG}, {}),
    # RFC 6455: the most significant bit of a 64-bit length MUST be 0
    ("length-msb-set", _f(WSMsgType.BINARY, b"", length_override=2**63 + 5), {PROTOCOL_ERROR, MESSAGE_TOO_BIG}, {}),
    ("length-all-ones", _f(WSMsgType.BINARY, b"", length_override=2**64 - 1), {PROTOCOL_ERROR, MESSAGE_TOO_BIG}, {}),
    ("length-msb-set-small-max", _f(WSMsgType.BINARY, b"", length_override=2**63), {PROTOCOL_ERROR, MESSAGE_TOO_BIG}, {"max_frame_size": 100}),
]


@pytest.mark.parametrize(
    "build,codes,kwargs", [pytest.param(b, c, k, id=i) for i, b, c, k in VIOLATIONS]
)
@pytest.mark.parametrize("picows_role", ROLES)
async def test_violation(picows_role: str, build: Builder, codes: Collection[int], kwargs: dict[str, Any]) -> None:
    await assert_violation(picows_role, build, codes, **kwargs)


async def test_unmasked_frame_from_client_is_rejected_by_server() -> None:
    await assert_violation("server", _raw(lambda role: encode_frame(WSMsgType.TEXT, b"hello", masked=False)), {PROTOCOL_ERROR})


async def test_unmasked_control_frame_from_client_is_rejected_by_server() -> None:
    await assert_violation("server", _raw(lambda role: encode_frame(WSMsgType.PING, b"hello", masked=False)), {PROTOCOL_ERROR})


async def test_masked_frame_from_server_is_rejected_by_client() -> None:
    await assert_violation("client", _raw(lambda role: encode_frame(WSMsgType.TEXT, b"hello", masked=True)), {PROTOCOL_ERROR})


async def test_masked_close_frame_from_server_is_rejected_by_client() -> None:
    await assert_violation(
        "client", _raw(lambda role: encode_frame(WSMsgType.CLOSE, close_payload(1000), masked=True)), {PROTOCOL_ERROR}
    )


# ---------------------------------------------------------------------------
# valid close codes are delivered, not treated as violations
# ---------------------------------------------------------------------------

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999]


@pytest.mark.parametrize("picows_role", ROLES)
async def test_valid_close_codes_are_delivered(picows_role: str) -> None:
    """Each valid code (own connection: bytes after a CLOSE are ignored) reaches on_ws_frame; no reply, no error."""
    for code in VALID_CODES:
        async with pair(picows_role, SnapshotListener) as (peer, listener, transport):
            await peer.send(WSMsgType.CLOSE, close_payload(code, "r\u00e9ason".encode()))
            s = await listener.get()
            assert s["msg_type"] == WSMsgType.CLOSE
            assert s["close_code"] == code
            assert s["close_message"] == "r\u00e9ason".encode()
            # the library does not answer a CLOSE by itself
            await expect_silence(peer.reader, 0.02)
            assert transport.is_close_frame_sent is False


# ---------------------------------------------------------------------------
# ordering
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("picows_role", ROLES)
async def test_valid_frame_before_bad_frame_in_same_segment_is_delivered(picows_role: str) -> None:
    await assert_violation(picows_role, _f(0x3, b"x"), {PROTOCOL_ERROR}, before=[b"valid"])


@pytest.mark.parametrize("picows_role", ROLES)
async def test_reserved_bits_are_delivered(picows_role: str) -> None:
    """RSV1-3 are passed through (picows 2.x): extensions are the application's business."""
    async with pair(picows_role, SnapshotListener) as (peer, listener, transport):
        for rsv1, rsv2, rsv3 in ((False, True, False), (False, False, True), (True, True, True)):
            await peer.send(WSMsgType.BINARY, b"x", rsv1=rsv1, rsv2=rsv2, rsv3=rsv3)
            s = await listener.get()
            assert (s["rsv1"], s["rsv2"], s["rsv3"], s["payload"]) == (rsv1, rsv2, rsv3, b"x")
        await peer.send(WSMsgType.PING, b"p", rsv2=True)  # still answered by auto-pong
        pong = await peer.read_data_frame()
        assert (pong.opcode, pong.payload) == (WSMsgType.PONG, b"p")
        assert transport.is_close_frame_sent is False


@pytest.mark.parametrize("picows_role", ROLES)
async def test_several_valid_frames_before_bad_length(picows_role: str) -> None:
    await assert_violation(
        picows_role,
        _f(WSMsgType.BINARY, b"", length_override=2**62),
        {MESSAGE_TOO_BIG},
        before=[b"one", b"two" * 100, b"three"],
    )


@pytest.mark.parametrize("picows_role", ROLES)
async def test_frames_after_bad_frame_are_not_delivered(picows_role: str) -> None:
    def build(peer: RawPeer) -> bytes:
        return peer.frame(0x3, b"bad") + peer.frame(WSMsgType.TEXT, b"must not be delivered")

    await assert_violation(picows_role, build, {PROTOCOL_ERROR}, before=[b"ok"])


@pytest.mark.parametrize("picows_role", ROLES)
async def test_two_close_frames_in_one_write_deliver_one(picows_role: str) -> None:
    async with pair(picows_role, SnapshotListener) as (peer, listener, transport):
        await peer.write(peer.frame(WSMsgType.CLOSE, close_payload(1000, b"one")) + peer.frame(WSMsgType.CLOSE, close_payload(1001, b"two")))
        s = await listener.get()
        assert (s["close_code"], s["close_message"]) == (1000, b"one")
        await expect_silence(peer.reader)
        assert listener.snapshots.empty()
        peer.close()
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        assert listener.snapshots.empty()
        assert transport.is_close_frame_sent is False


@pytest.mark.parametrize("picows_role", ROLES)
async def test_bytes_after_close_are_ignored(picows_role: str) -> None:
    """CLOSE followed by data, a bad frame and garbage in one write: no violation, nothing delivered after CLOSE."""
    async with pair(picows_role, CloseEchoListener) as (peer, listener, transport):
        await peer.write(
            peer.frame(WSMsgType.CLOSE, close_payload(1000, b"bye"))
            + peer.frame(WSMsgType.TEXT, b"after close")
            + peer.frame(WSMsgType.TEXT, b"bad", rsv2=True)
            + b"\xff\x7f garbage \x00\x01\x02"
        )
        f = await peer.read_data_frame()
        rest = await expect_eof(peer.reader)
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        # client side: no WSError, the peer did nothing wrong (pair() checks wait_disconnected)
        got = drain_queue(listener.frames)
    assert (f.opcode, f.close_code, f.close_message) == (WSMsgType.CLOSE, 1000, b"bye")
    assert rest == b""
    assert got == [(WSMsgType.CLOSE, True, False, close_payload(1000, b"bye"))]


@pytest.mark.parametrize("picows_role", ROLES)
async def test_bytes_arriving_later_after_close_are_ignored(picows_role: str) -> None:
    async with pair(picows_role, SnapshotListener) as (peer, listener, transport):
        await peer.send(WSMsgType.CLOSE, close_payload(1000))
        s = await listener.get()
        assert s["close_code"] == WSCloseCode.OK
        await peer.send(WSMsgType.TEXT, b"x", rsv3=True)  # would be a violation before the CLOSE
        await peer.send(WSMsgType.BINARY, b"data")
        await expect_silence(peer.reader)  # no CLOSE(1002) sent
        assert listener.snapshots.empty()
        assert transport.is_close_frame_sent is False
        assert not listener.disconnected.is_set()


# ---------------------------------------------------------------------------
# max_frame_size boundary
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize("max_size", [125, 126, 1000, 65535, 65536])
async def test_max_frame_size_exact_passes_plus_one_fails(picows_role: str, max_size: int) -> None:
    def build(peer: RawPeer) -> bytes:
        return peer.frame(WSMsgType.BINARY, b"y" * (max_size + 1))

    await assert_violation(picows_role, build, {MESSAGE_TOO_BIG}, before=[b"x" * max_size], max_frame_size=max_size)


async def test_max_frame_size_server_rejects_picows_client() -> None:
    async with picows_server(EchoListener, max_frame_size=1000) as srv:
        transport, listener = await connect(CollectingListener, srv.url)
        transport.send(WSMsgType.BINARY, b"a" * 1000)
        assert await listener.get() == (WSMsgType.BINARY, True, False, b"a" * 1000)
        transport.send(WSMsgType.BINARY, b"b" * 1001)
        msg_type, _fin, _rsv1, payload = await listener.get()
        assert msg_type == WSMsgType.CLOSE
        assert payload[:2] == MESSAGE_TOO_BIG.to_bytes(2, "big")
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        await wait_disconnected_any(transport)


async def test_max_frame_size_client_rejects_picows_server() -> None:
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url, max_frame_size=1000)
        transport.send(WSMsgType.BINARY, b"a" * 1000)
        assert await listener.get() == (WSMsgType.BINARY, True, False, b"a" * 1000)
        transport.send(WSMsgType.BINARY, b"b" * 1001)  # the echo is too big for the client
        with pytest.raises(WSError) as ei:
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
        assert ei.value.close_code == WSCloseCode.MESSAGE_TOO_BIG
        assert listener.frames.empty()


# ---------------------------------------------------------------------------
# fragment order (opt-in)
# ---------------------------------------------------------------------------

FRAGMENT_ERRORS = [
    pytest.param([(WSMsgType.CONTINUATION, b"c", True)], id="continuation-without-start"),
    pytest.param([(WSMsgType.CONTINUATION, b"c", False)], id="continuation-fin0-without-start"),
    pytest.param([(WSMsgType.TEXT, b"a", False), (WSMsgType.TEXT, b"b", True)], id="text-inside-text"),
    pytest.param([(WSMsgType.BINARY, b"a", False), (WSMsgType.CONTINUATION, b"b", False), (WSMsgType.BINARY, b"c", True)], id="binary-inside-binary"),
    pytest.param([(WSMsgType.TEXT, b"a", False), (WSMsgType.BINARY, b"b", False)], id="binary-inside-text"),
    pytest.param([(WSMsgType.TEXT, b"a", True), (WSMsgType.CONTINUATION, b"b", True)], id="continuation-after-complete"),
    pytest.param(
        [(WSMsgType.BINARY, b"a", False), (WSMsgType.CONTINUATION, b"b", True), (WSMsgType.CONTINUATION, b"c", True)],
        id="continuation-after-finished-fragments",
    ),
]


@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize("sequence", FRAGMENT_ERRORS)
async def test_fragment_order_checked_when_enabled(picows_role: str, sequence: list) -> None:
    good = sequence[:-1]
    bad_type, bad_payload, bad_fin = sequence[-1]

    def build(peer: RawPeer) -> bytes:
        return b"".join(peer.frame(t, p, fin=fin) for t, p, fin in good) + peer.frame(bad_type, bad_payload, fin=bad_fin)

    if picows_role == "client":
        async with raw_ws_server() as srv:
            transport, listener = await connect(SnapshotListener, srv.url, check_fragment_order=True)
            peer = await srv.accept()
            await peer.write(build(peer))
            close = await read_close_from_picows(peer)
            assert await expect_eof(peer.reader) == b""
            exc = await wait_disconnected_any(transport)
            assert isinstance(exc, WSError) and exc.close_code == PROTOCOL_ERROR
    else:
        async with picows_server(SnapshotListener, check_fragment_order=True) as srv:
            async with raw_ws_client(srv.port) as peer:
                listener = await srv.next_listener()
                await peer.write(build(peer))
                close = await read_close_from_picows(peer)
                assert await expect_eof(peer.reader) == b""
    assert close.close_code == PROTOCOL_ERROR
    await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    delivered = drain_queue(listener.snapshots)
    assert [(d["msg_type"], d["payload"], d["fin"]) for d in delivered] == good


@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize("sequence", FRAGMENT_ERRORS)
async def test_fragment_order_not_checked_by_default(picows_role: str, sequence: list) -> None:
    async with pair(picows_role, SnapshotListener) as (peer, listener, transport):
        await peer.write(b"".join(peer.frame(t, p, fin=fin) for t, p, fin in sequence))
        got = [await listener.get() for _ in sequence]
        await expect_silence(peer.reader, 0.05)
        assert transport.is_close_frame_sent is False
    assert [(d["msg_type"], d["payload"], d["fin"]) for d in got] == sequence


@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize("check", [False, True])
async def test_valid_fragmentation_passes_fragment_check(picows_role: str, check: bool) -> None:
    seq = [
        (WSMsgType.TEXT, b"t1", False),
        (WSMsgType.PING, b"ping", True),
        (WSMsgType.CONTINUATION, b"t2", False),
        (WSMsgType.PONG, b"pong", True),
        (WSMsgType.CONTINUATION, b"t3", True),
        (WSMsgType.BINARY, b"whole", True),
        (WSMsgType.BINARY, b"b1", False),
        (WSMsgType.CONTINUATION, b"b2", True),
        (WSMsgType.TEXT, b"whole2", True),
    ]
    kwargs = {"check_fragment_order": True} if check else {}
    async with pair(picows_role, SnapshotListener, **kwargs) as (peer, listener, transport):
        await peer.write(b"".join(peer.frame(t, p, fin=fin) for t, p, fin in seq))
        expected = [x for x in seq if x[0] != WSMsgType.PING]  # PING is auto-ponged
        got = [await listener.get() for _ in expected]
        pong = await peer.read_data_frame()
        await expect_silence(peer.reader, 0.05)
        # a CLOSE in the middle of a fragmented message is fine too
        await peer.write(peer.frame(WSMsgType.BINARY, b"x", fin=False) + peer.frame(WSMsgType.CLOSE, close_payload(1000)))
        got2 = [await listener.get() for _ in range(2)]
        assert transport.is_close_frame_sent is False
    assert [(d["msg_type"], d["payload"], d["fin"]) for d in got] == expected
    assert (pong.opcode, pong.payload) == (WSMsgType.PONG, b"ping")
    assert [d["msg_type"] for d in got2] == [WSMsgType.BINARY, WSMsgType.CLOSE]


# ---------------------------------------------------------------------------
# garbage from the network
# ---------------------------------------------------------------------------


def _garbage(seed: int, role: str) -> bytes:
    rnd = random.Random(seed)
    data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
    if seed % 3 == 1:
        # plausible header (right mask bit for the role), then junk
        mbit = 0x80 if role == "client" else 0
        data = bytes([0x80 | rnd.choice([0, 1, 2, 8, 9, 10]), mbit | rnd.randint(0, 127)]) + data
    elif seed % 3 == 2:
        # a run of valid frames with a random tail
        data = b"".join(
            frame_for(role, rnd.choice([1, 2]), bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 200))))
            for _ in range(rnd.randint(1, 20))
        ) + data
    return data


async def test_garbage_to_server_never_escapes_and_server_keeps_working() -> None:
    async with echo_server() as url:
        port = port_of(url)
        bystander, bystander_listener = await connect(CollectingListener, url)
        for seed in range(12):
            async with raw_ws_client(port) as peer:
                try:
                    await peer.write(_garbage(seed, "client"))
                    await expect_eof(peer.reader, timeout=0.2)
                except (asyncio.TimeoutError, ConnectionError):
                    pass  # e.g. the server waits for the rest of a long declared frame
            bystander.send(WSMsgType.BINARY, b"ping %d" % seed)
            assert (await bystander_listener.get())[3] == b"ping %d" % seed
        # new connections still work
        transport, listener = await connect(CollectingListener, url)
        transport.send(WSMsgType.TEXT, b"fresh")
        assert (await listener.get())[3] == b"fresh"
        await finish(transport)
        await finish(bystander)


async def test_garbage_to_client_never_escapes() -> None:
    for seed in range(12):
        async with raw_ws_server() as srv:
            transport, _listener = await connect(CollectingListener, srv.url)
            peer = await srv.accept()
            try:
                await peer.write(_garbage(seed, "server"))
                await expect_eof(peer.reader, timeout=0.2)
            except (asyncio.TimeoutError, ConnectionError):
                pass
            peer.close()
            exc = await wait_disconnected_any(transport)
            assert exc is None or isinstance(exc, WSError), repr(exc)
