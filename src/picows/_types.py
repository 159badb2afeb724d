"""Enums and protocol constants shared by both backends."""

from __future__ import annotations

import enum

__all__ = ["PICOWS_DEBUG_LL", "WSAutoPingStrategy", "WSCloseCode", "WSMsgType"]

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
