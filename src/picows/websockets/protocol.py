"""Connection states, as :mod:`websockets.protocol` names them."""

from __future__ import annotations

import enum

__all__ = ["Side", "State"]


class State(enum.IntEnum):
    """The state of a WebSocket connection."""

    CONNECTING, OPEN, CLOSING, CLOSED = range(4)


class Side(enum.IntEnum):
    """Which end of the connection this is."""

    SERVER, CLIENT = range(2)
