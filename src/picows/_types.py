"""Enums and protocol constants shared by both backends."""

from __future__ import annotations

import enum

__all__ = [
    "PICOWS_DEBUG_LL",
    "WSAutoPingStrategy",
    "WSCloseCode",
    "WSCloseHandshake",
    "WSCloseInfo",
    "WSMsgType",
]

#: Log level of picows' per-frame debug messages (below :data:`logging.DEBUG`).
#: Enable it with ``logging.getLogger("picows").setLevel(picows.PICOWS_DEBUG_LL)``
#: *before* connections are made: each connection checks it once, so the
#: per-frame cost of a disabled debug log is one boolean test.
PICOWS_DEBUG_LL = 9


class WSMsgType(enum.IntEnum):
    """WebSocket frame opcode (RFC 6455, section 5.2)."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class WSCloseCode(enum.IntEnum):
    """Close status codes (RFC 6455, section 7.4).

    ``NO_INFO`` (0) means "the CLOSE frame carried no code"; it and
    ``ABNORMAL_CLOSURE`` (1006) describe local situations and never appear on
    the wire. Codes 3000-4999 are legal on the wire without being members:
    :meth:`WSFrame.get_close_code` returns them as plain ``int``.
    """

    NO_INFO = 0
    OK = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    ABNORMAL_CLOSURE = 1006
    INVALID_TEXT = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


class WSAutoPingStrategy(enum.IntEnum):
    """When auto-ping sends its pings."""

    #: Ping after ``auto_ping_idle_timeout`` seconds without incoming data.
    PING_WHEN_IDLE = 1
    #: Ping every ``auto_ping_idle_timeout`` seconds, whatever the traffic.
    PING_PERIODICALLY = 2


class WSCloseInfo:
    """One side's CLOSE frame: its close code and its reason as text (see :class:`WSCloseHandshake`).

    Attributes:
        code: the close code: a :class:`WSCloseCode`, :attr:`WSCloseCode.NO_INFO`
            when the frame carried none, a plain ``int`` for codes 3000-4999.
        reason: the reason (UTF-8 decoded), ``""`` when the frame carried none.
    """

    __slots__ = ("code", "reason")

    def __init__(self, code: WSCloseCode | int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __repr__(self) -> str:
        return f"WSCloseInfo(code={self.code!r}, reason={self.reason!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WSCloseInfo):
            return NotImplemented
        return self.code == other.code and self.reason == other.reason

    def __hash__(self) -> int:
        return hash((self.code, self.reason))


class WSCloseHandshake:
    """The closing handshake of a connection, as far as it went (:attr:`WSTransport.close_handshake`).

    Attributes:
        recv: the CLOSE frame received from the peer, or None.
        sent: the CLOSE frame picows sent, or None.
        recv_then_sent: True when the peer's CLOSE arrived before ours was
            sent (the peer started the closing handshake).
    """

    __slots__ = ("recv", "sent", "recv_then_sent")

    def __init__(self, recv: WSCloseInfo | None, sent: WSCloseInfo | None, recv_then_sent: bool) -> None:
        self.recv = recv
        self.sent = sent
        self.recv_then_sent = recv_then_sent

    def __repr__(self) -> str:
        fields = f"recv={self.recv!r}, sent={self.sent!r}, recv_then_sent={self.recv_then_sent}"
        return f"WSCloseHandshake({fields})"
