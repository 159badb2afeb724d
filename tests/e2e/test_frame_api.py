"""The received-frame API (``WSFrame``), checked inside ``on_ws_frame`` in both roles."""

from __future__ import annotations

from typing import Any

import pytest

from picows import WSCloseCode, WSFrame, WSMsgType
from support.frames import close_payload
from support.listeners import SnapshotListener
from support.servers import ROLES, pair


def _accessors(frame: WSFrame) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["bytes"] = frame.get_payload_as_bytes()
    mv = frame.get_payload_as_memoryview()
    out["mv_type"] = type(mv)
    out["mv_readonly"] = mv.readonly
    out["mv_bytes"] = bytes(mv)
    out["mv_len"] = len(mv)
    try:
        if len(mv):
            mv[0] = 0  # type: ignore[index]
            out["mv_write"] = "succeeded"
        else:
            mv[0:0] = b""  # type: ignore[index]
            out["mv_write"] = "succeeded"
    except TypeError:
        out["mv_write"] = "TypeError"
    try:
        out["utf8"] = frame.get_payload_as_utf8_text()
    except UnicodeDecodeError as e:
        out["utf8"] = e
    try:
        out["ascii"] = frame.get_payload_as_ascii_text()
    except UnicodeDecodeError as e:
        out["ascii"] = e
    # the payload as bytes must be unchanged by the attempted write above
    out["bytes_after"] = frame.get_payload_as_bytes()
    return out


class AccessorListener(SnapshotListener):
    probe = staticmethod(_accessors)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_msg_type_fin_rsv1_attributes(picows_role: str) -> None:
    async with pair(picows_role, SnapshotListener) as (peer, listener, _t):
        await peer.send(WSMsgType.BINARY, b"abc", fin=False, rsv1=True)
        await peer.send(WSMsgType.CONTINUATION, b"def", fin=True)
        await peer.send(WSMsgType.TEXT, b"t")
        await peer.send(WSMsgType.PONG, b"")
        s1 = await listener.get()
        s2 = await listener.get()
        s3 = await listener.get()
        s4 = await listener.get()
    assert isinstance(s1["msg_type"], WSMsgType)
    assert s1["msg_type"] == WSMsgType.BINARY and s1["msg_type"] == 2
    assert s1["fin"] is False and s1["rsv1"] is True
    assert s2["msg_type"] == WSMsgType.CONTINUATION and s2["fin"] is True and s2["rsv1"] is False
    assert s3["msg_type"] == WSMsgType.TEXT and s3["fin"] is True
    assert s4["msg_type"] == WSMsgType.PONG and s4["payload"] == b""


@pytest.mark.parametrize("picows_role", ROLES)
async def test_payload_accessors(picows_role: str) -> None:
    text = "h\u00e9llo w\u00f6rld \u2713 \U0001f600"
    async with pair(picows_role, AccessorListener) as (peer, listener, _t):
        await peer.send(WSMsgType.TEXT, text.encode("utf-8"))
        await peer.send(WSMsgType.TEXT, b"plain ascii")
        await peer.send(WSMsgType.BINARY, b"")
        await peer.send(WSMsgType.BINARY, b"\xff\xfe\x00bad")
        utf = (await listener.get())["probe"]
        asc = (await listener.get())["probe"]
        empty = (await listener.get())["probe"]
        bad = (await listener.get())["probe"]

    assert utf["bytes"] == text.encode("utf-8") and type(utf["bytes"]) is bytes
    assert utf["mv_type"] is memoryview
    assert utf["mv_readonly"] is True
    assert utf["mv_write"] == "TypeError"
    assert utf["mv_bytes"] == text.encode("utf-8")
    assert utf["bytes_after"] == text.encode("utf-8")
    assert utf["utf8"] == text and type(utf["utf8"]) is str

    assert asc["ascii"] == "plain ascii" and type(asc["ascii"]) is str
    assert asc["utf8"] == "plain ascii"

    assert empty["bytes"] == b""
    assert empty["mv_len"] == 0 and empty["mv_bytes"] == b""
    assert empty["utf8"] == "" and empty["ascii"] == ""

    assert bad["bytes"] == b"\xff\xfe\x00bad"
    assert isinstance(bad["utf8"], UnicodeDecodeError)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_text_frame_with_invalid_utf8_is_delivered(picows_role: str) -> None:
    """Only CLOSE reasons are validated; a TEXT payload is passed through and decoding it raises."""
    async with pair(picows_role, AccessorListener) as (peer, listener, _t):
        await peer.send(WSMsgType.TEXT, b"\xc3\x28")
        await peer.send(WSMsgType.TEXT, b"\xe2\x82", fin=False)  # split code point across fragments
        await peer.send(WSMsgType.CONTINUATION, b"\xac", fin=True)
        s = await listener.get()
        s2 = await listener.get()
        s3 = await listener.get()
    assert s["msg_type"] == WSMsgType.TEXT and s["payload"] == b"\xc3\x28"
    assert isinstance(s["probe"]["utf8"], UnicodeDecodeError)
    assert s2["payload"] == b"\xe2\x82" and s3["payload"] == b"\xac"


CLOSE_CASES = [
    pytest.param(b"", WSCloseCode.NO_INFO, None, id="empty"),
    pytest.param(close_payload(1000), WSCloseCode.OK, None, id="1000-no-reason"),
    pytest.param(close_payload(1001, b"bye"), WSCloseCode.GOING_AWAY, b"bye", id="1001-reason"),
    pytest.param(close_payload(1011, "\u00fc\u2713".encode()), WSCloseCode.INTERNAL_ERROR, "\u00fc\u2713".encode(), id="1011-utf8"),
    pytest.param(close_payload(3000), 3000, None, id="3000"),
    pytest.param(close_payload(4999, b"app"), 4999, b"app", id="4999-reason"),
    pytest.param(close_payload(1014, b"x" * 123), WSCloseCode.BAD_GATEWAY, b"x" * 123, id="1014-max-reason"),
]


@pytest.mark.parametrize("payload,code,message", CLOSE_CASES)
@pytest.mark.parametrize("picows_role", ROLES)
async def test_close_code_and_message(picows_role: str, payload: bytes, code: int, message: Any) -> None:
    async with pair(picows_role, SnapshotListener) as (peer, listener, _t):
        await peer.send(WSMsgType.CLOSE, payload)
        s = await listener.get()
    assert s["msg_type"] == WSMsgType.CLOSE
    assert s["payload"] == payload
    got = s["close_code"]
    assert isinstance(got, int)
    assert got == code
    assert int(got) == int(code)
    if int(code) in {m.value for m in WSCloseCode}:
        assert isinstance(got, WSCloseCode) and got is WSCloseCode(int(code))
    assert s["close_message"] == message
    if message is not None:
        assert type(s["close_message"]) is bytes


@pytest.mark.parametrize("picows_role", ROLES)
async def test_str_describes_the_frame(picows_role: str) -> None:
    async with pair(picows_role, SnapshotListener) as (peer, listener, _t):
        await peer.send(WSMsgType.BINARY, b"z" * 123, fin=False, rsv1=True)
        s = await listener.get()
    text = s["str"].lower()
    assert "binary" in text
    assert "fin" in text and "rsv1" in text
    assert "last_in_buffer" in text
    assert "123" in text


@pytest.mark.parametrize("picows_role", ROLES)
async def test_last_in_buffer_and_tail_size_for_one_write(picows_role: str) -> None:
    """Several frames in ONE TCP write: all but the last report the buffered tail."""
    async with pair(picows_role, SnapshotListener) as (peer, listener, _t):
        f1 = peer.frame(WSMsgType.TEXT, b"one")
        f2 = peer.frame(WSMsgType.BINARY, b"2" * 200)  # 16-bit length form
        f3 = peer.frame(WSMsgType.PING, b"three")
        f4 = peer.frame(WSMsgType.TEXT, b"")
        # auto-pong consumes the PING: it must not be delivered, but its bytes count in the tail
        await peer.write(f1 + f2 + f3 + f4)
        s1 = await listener.get()
        s2 = await listener.get()
        s4 = await listener.get()
        pong = await peer.read_data_frame()
    assert pong.opcode == WSMsgType.PONG and pong.payload == b"three"
    assert (s1["payload"], s1["last_in_buffer"], s1["tail_size"]) == (b"one", False, len(f2) + len(f3) + len(f4))
    assert (s2["payload"], s2["last_in_buffer"], s2["tail_size"]) == (b"2" * 200, False, len(f3) + len(f4))
    assert (s4["payload"], s4["last_in_buffer"], s4["tail_size"]) == (b"", True, 0)
    assert type(s1["last_in_buffer"]) is bool and isinstance(s1["tail_size"], int)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_last_in_buffer_with_partial_frame_buffered(picows_role: str) -> None:
    """A buffered *incomplete* frame counts in tail_size but does not clear last_in_buffer."""
    async with pair(picows_role, SnapshotListener) as (peer, listener, _t):
        f1 = peer.frame(WSMsgType.BINARY, b"a" * 10)
        f2 = peer.frame(WSMsgType.BINARY, b"b" * 20)
        f3 = peer.frame(WSMsgType.BINARY, b"c" * 30)
        await peer.write(f1 + f2 + f3[:3])
        s1 = await listener.get()
        s2 = await listener.get()
        await peer.write(f3[3:])
        s3 = await listener.get()
    assert (s1["payload"], s1["last_in_buffer"], s1["tail_size"]) == (b"a" * 10, False, len(f2) + 3)
    assert (s2["payload"], s2["last_in_buffer"], s2["tail_size"]) == (b"b" * 20, True, 3)
    assert (s3["payload"], s3["last_in_buffer"], s3["tail_size"]) == (b"c" * 30, True, 0)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_single_frame_is_last_in_buffer(picows_role: str) -> None:
    async with pair(picows_role, SnapshotListener) as (peer, listener, _t):
        await peer.send(WSMsgType.BINARY, b"solo")
        s = await listener.get()
    assert s["last_in_buffer"] is True and s["tail_size"] == 0


@pytest.mark.parametrize("picows_role", ROLES)
async def test_frame_2x_attributes(picows_role: str) -> None:
    """picows 2.x frame API: rsv2/rsv3, payload_size from Python, get_close_reason()."""
    async with pair(picows_role, SnapshotListener) as (peer, listener, _t):
        await peer.send(WSMsgType.BINARY, b"five!", rsv2=True)
        s = await listener.get()
        assert (s["payload_size"], s["rsv1"], s["rsv2"], s["rsv3"]) == (5, False, True, False)
        assert "rsv2=True" in s["str"]
        await peer.send(WSMsgType.CLOSE, close_payload(1000, "bientôt".encode()))
        s = await listener.get()
    assert (s["close_code"], s["close_message"], s["close_reason"]) == (1000, "bientôt".encode(), "bientôt")
    assert s["payload_size"] == 2 + len("bientôt".encode())


@pytest.mark.parametrize("picows_role", ROLES)
async def test_close_reason_is_none_without_reason(picows_role: str) -> None:
    async with pair(picows_role, SnapshotListener) as (peer, listener, _t):
        await peer.send(WSMsgType.CLOSE, close_payload(1001))
        s = await listener.get()
    assert (s["close_code"], s["close_message"], s["close_reason"]) == (1001, None, None)
