"""RFC 6455 rules shared by both backends: opcodes, control frames, close codes.

The parsers and senders of both backends take every rule from here (the
compiled one caches the opcode table in C at import), so a rule is changed in
one place.
"""

from __future__ import annotations

from ._types import WSCloseCode, WSCloseInfo, WSMsgType

__all__ = [
    "CLOSE_CODE_BY_VALUE",
    "MAX_CLOSE_REASON_SIZE",
    "MAX_CONTROL_PAYLOAD_SIZE",
    "MSG_TYPE_BY_OPCODE",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "VALID_OPCODE",
    "close_frame_payload",
    "close_info_of",
    "is_valid_wire_close_code",
    "truncated_reason",
]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

#: ``VALID_OPCODE[op]`` is True for the opcodes RFC 6455 defines (0-2 data, 8-10 control).
VALID_OPCODE: tuple[bool, ...] = tuple(op in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA) for op in range(16))
#: Opcodes >= this are control frames.
FIRST_CONTROL_OPCODE = 0x8
#: Largest payload of a control frame (RFC 6455 5.5).
MAX_CONTROL_PAYLOAD_SIZE = 125
#: Largest reason in a CLOSE frame (125 minus the 2-byte code).
MAX_CLOSE_REASON_SIZE = MAX_CONTROL_PAYLOAD_SIZE - 2

#: Lookup tables used on the hot path instead of calling the enum constructors.
MSG_TYPE_BY_OPCODE: tuple[WSMsgType | None, ...] = tuple(
    WSMsgType(op) if VALID_OPCODE[op] else None for op in range(16)
)
CLOSE_CODE_BY_VALUE: dict[int, WSCloseCode] = {int(c): c for c in WSCloseCode}


def is_valid_wire_close_code(code: int) -> bool:
    """True for the close codes that may appear in a CLOSE frame (RFC 6455 7.4).

    1000-1003, 1007-1014 and 3000-4999. NO_INFO (0) and ABNORMAL_CLOSURE (1006)
    exist as enum members but describe local situations, never the wire.
    """
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def close_frame_payload(close_code: int, close_message: bytes | bytearray | memoryview | str | None) -> bytes:
    """The payload of a CLOSE frame we send, validated as ``send_close`` documents.

    ``NO_INFO`` gives an empty payload (and allows no message); any other code
    must be valid on the wire; the message (a ``str`` is UTF-8 encoded) is at
    most 123 bytes.
    """
    if isinstance(close_code, bool) or not isinstance(close_code, int):
        raise TypeError(f"close_code must be a WSCloseCode or int, got {type(close_code).__name__}")
    if close_message is None:
        reason = b""
    elif isinstance(close_message, str):
        reason = close_message.encode("utf-8")
    else:
        try:
            reason = bytes(memoryview(close_message).cast("B"))
        except TypeError:
            raise TypeError(
                f"close_message must be a bytes-like object, str or None, not {type(close_message).__name__}"
            ) from None
    if close_code == WSCloseCode.NO_INFO:
        if reason:
            raise ValueError("close_message needs a close_code other than NO_INFO")
        return b""
    if not is_valid_wire_close_code(close_code):
        raise ValueError(f"close_code {int(close_code)} may not be sent in a CLOSE frame")
    if len(reason) > MAX_CLOSE_REASON_SIZE:
        raise ValueError(f"close_message must be at most {MAX_CLOSE_REASON_SIZE} bytes, got {len(reason)}")
    try:
        reason.decode("utf-8")
    except UnicodeDecodeError:
        # A peer fails the connection with INVALID_TEXT for such a reason (RFC 6455 5.5.1).
        raise ValueError("close_message must be valid UTF-8") from None
    return int(close_code).to_bytes(2, "big") + reason


def close_info_of(payload: bytes) -> WSCloseInfo:
    """The code and reason of a (validated) CLOSE frame payload."""
    if len(payload) < 2:
        return WSCloseInfo(WSCloseCode.NO_INFO, "")
    code = int.from_bytes(payload[:2], "big")
    return WSCloseInfo(CLOSE_CODE_BY_VALUE.get(code, code), payload[2:].decode("utf-8", "replace"))


def truncated_reason(reason: str) -> bytes:
    """``reason`` UTF-8 encoded and cut to fit a CLOSE frame, never inside a character."""
    data = reason.encode("utf-8")
    if len(data) <= MAX_CLOSE_REASON_SIZE:
        return data
    return data[:MAX_CLOSE_REASON_SIZE].decode("utf-8", "ignore").encode("utf-8")
