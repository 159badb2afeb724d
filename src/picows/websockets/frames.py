"""Close codes, the close frame payload, opcodes and frames, as :mod:`websockets.frames` names them.

``Opcode`` and ``Frame`` (what custom extensions work on) are websockets' own
when it is installed, so an extension's ``frame.opcode is Opcode.TEXT`` holds
whichever library runs it; without websockets they are these.
"""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

__all__ = [
    "CLOSE_CODE_EXPLANATIONS",
    "MAX_LOG_SIZE",
    "Close",
    "CloseCode",
    "Frame",
    "Opcode",
    "describe_frame",
]

#: Longest payload representation in a logged frame: websockets' ``WEBSOCKETS_MAX_LOG_SIZE``.
MAX_LOG_SIZE = int(os.environ.get("WEBSOCKETS_MAX_LOG_SIZE", "75"))

try:  # pragma: no branch - depends on the environment
    import websockets.frames as _upstream
except ImportError:
    _upstream = None  # type: ignore[assignment]

if TYPE_CHECKING or _upstream is None:

    class Opcode(enum.IntEnum):
        """WebSocket frame opcodes (RFC 6455 section 5.2)."""

        CONT, TEXT, BINARY = 0x00, 0x01, 0x02
        CLOSE, PING, PONG = 0x08, 0x09, 0x0A

    @dataclass
    class Frame:
        """A WebSocket frame as custom extensions see it.

        Attributes:
            opcode: the frame's :class:`Opcode`.
            data: its payload.
            fin: the FIN bit.
            rsv1, rsv2, rsv3: the reserved bits (an extension's to use).
        """

        opcode: Opcode
        data: bytes
        fin: bool = True
        rsv1: bool = False
        rsv2: bool = False
        rsv3: bool = False

        #: Longest payload representation in ``str()`` (``WEBSOCKETS_MAX_LOG_SIZE``, default 75).
        MAX_LOG_SIZE: ClassVar[int] = MAX_LOG_SIZE

        def __str__(self) -> str:
            return describe_frame(self.opcode, self.data, self.fin)

else:
    Opcode = _upstream.Opcode
    Frame = _upstream.Frame


class CloseCode(enum.IntEnum):
    """Close code values for WebSocket close frames."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015
    # Aliases: the names of picows.WSCloseCode, which the published
    # picows.websockets exported as CloseCode (not its NO_INFO: 0, no code).
    OK = 1000
    INVALID_TEXT = 1007


#: Human-readable names of close codes, used in :class:`Close`'s ``str()``.
CLOSE_CODE_EXPLANATIONS: dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received [internal]",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure [internal]",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure [internal]",
}

# Codes an endpoint may put in a CLOSE frame (RFC 6455 7.4), besides 3000-4999.
_SENDABLE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))


def is_sendable_close_code(code: int) -> bool:
    """True when ``code`` may appear in a CLOSE frame on the wire."""
    return code in _SENDABLE_CODES or 3000 <= code < 5000


@dataclass
class Close:
    """The code and reason of a CLOSE frame.

    Attributes:
        code: close code.
        reason: close reason (may be empty).
    """

    code: int
    reason: str

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        text = f"{self.code} ({explanation})"
        return f"{text} {self.reason}" if self.reason else text


# -- frames in DEBUG logs -------------------------------------------------------------------

# Whether a payload of this opcode is expected to be text (the description says so when it is not).
_TEXT_BY_DEFAULT = {Opcode.TEXT: True, Opcode.BINARY: False, Opcode.CLOSE: True}
_SPACE_OR_PRINTABLE_ASCII = re.compile(rb"[\t-\r -~]*").fullmatch


def describe_frame(opcode: int, data: bytes | bytearray | memoryview, fin: bool = True) -> str:
    """One line for a frame in DEBUG logs, in websockets' format: ``TEXT 'hello' [5 bytes]``.

    The payload is shown as text when it reads as UTF-8 (data frames; a fragment may start or end
    inside a character), as printable ASCII (PING, PONG) or as a close code and reason (CLOSE),
    else as hex bytes; the middle of a long one is elided to fit :data:`MAX_LOG_SIZE` characters.
    """
    opcode = Opcode(opcode)
    payload = bytes(data)
    shown, is_text = _payload_repr(opcode, payload, fin)
    notes = []
    if is_text != _TEXT_BY_DEFAULT.get(opcode):
        notes.append("text" if is_text else "binary")
    notes.append(f"{len(payload)} byte{'' if len(payload) == 1 else 's'}")
    if not fin:
        notes.append("continued")
    return f"{opcode.name} {shown} [{', '.join(notes)}]"


def _payload_repr(opcode: Opcode, payload: bytes, fin: bool) -> tuple[str, bool | None]:
    if not payload:
        return "''", _TEXT_BY_DEFAULT.get(opcode)
    limit = MAX_LOG_SIZE
    if opcode is Opcode.CLOSE:
        close = _close_or_none(payload)
        shown, is_text = (payload.hex(" "), False) if close is None else (str(close), True)
    elif opcode in (Opcode.PING, Opcode.PONG):
        # Printable ASCII only: a random 4-byte ping payload may happen to be valid UTF-8.
        if _SPACE_OR_PRINTABLE_ASCII(payload):
            shown, is_text = repr(payload.decode("ascii")), True
        else:
            shown, is_text = payload.hex(" "), False
    else:
        starts_clean = opcode is not Opcode.CONT
        if len(payload) > 4 * limit:
            # Only the ends are shown: only they are looked at.
            head, tail = payload[: 8 * limit // 3], payload[(-4 * limit) // 3 :]
            is_text = _utf8_fragment(head, starts_clean, False) and _utf8_fragment(tail, False, fin)
            sample = head + tail
        else:
            is_text = _utf8_fragment(payload, starts_clean, fin)
            sample = payload
        if is_text:
            shown = repr(sample.decode(errors="replace"))
        else:
            if len(payload) > limit // 3:
                # Two placeholder bytes in the middle: the hex is long enough to be elided there.
                keep = (limit // 3 - 1) // 3
                payload = payload[: 2 * keep] + b"\0\0" + payload[-keep:]
            shown = payload.hex(" ")
    if len(shown) > limit:
        keep = limit // 3 - 1
        shown = shown[: 2 * keep] + "..." + shown[-keep:]
    return shown, is_text


def _close_or_none(payload: bytes) -> Close | None:
    """The code and reason of a CLOSE payload, or None when they are not valid."""
    if len(payload) < 2:
        return None
    code = int.from_bytes(payload[:2], "big")
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        return None
    return Close(code, reason) if is_sendable_close_code(code) else None


def _utf8_length(lead: int) -> int:
    """Length of the UTF-8 sequence ``lead`` starts (0: not a leading byte)."""
    if lead < 0x80:
        return 1
    for length, mask, value in ((2, 0xE0, 0xC0), (3, 0xF0, 0xE0), (4, 0xF8, 0xF0)):
        if lead & mask == value:
            return length
    return 0


def _utf8_fragment(data: bytes, starts_clean: bool, ends_clean: bool) -> bool:
    """Whether ``data`` reads as UTF-8 text, allowing a character cut at an end that is not clean."""
    start, end = 0, len(data)
    if not starts_clean:
        # Up to three continuation bytes: the rest of a character that began before.
        while start < min(3, len(data)) and data[start] & 0xC0 == 0x80:
            start += 1
    if not ends_clean:
        # A character whose last bytes are missing: leave its first bytes out.
        last = len(data) - 1
        lowest = max(len(data) - 4, start)
        while last >= lowest and data[last] & 0xC0 == 0x80:
            last -= 1
        end = last
        if last >= lowest and _utf8_length(data[last]) <= len(data) - last:
            end = len(data)
    try:
        text = data[start:end].decode()
    except UnicodeDecodeError:
        return False
    return "\\x" not in repr(text)  # control characters: binary data
