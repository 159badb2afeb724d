"""Close codes, the close frame payload, opcodes and frames, as :mod:`websockets.frames` names them.

``Opcode`` and ``Frame`` (what custom extensions work on) are websockets' own
when it is installed, so an extension's ``frame.opcode is Opcode.TEXT`` holds
whichever library runs it; without websockets they are these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

__all__ = ["CLOSE_CODE_EXPLANATIONS", "Close", "CloseCode", "Frame", "Opcode"]

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
