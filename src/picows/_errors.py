"""Exception classes shared by both backends."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._handshake import WSUpgradeResponse
    from ._types import WSCloseCode

__all__ = ["WSError", "WSInvalidURL"]


class WSError(RuntimeError):
    """A WebSocket handshake or protocol failure.

    Raised by :func:`ws_connect` when the upgrade fails (then ``raw_header``,
    ``raw_body`` and ``response`` describe what the server sent), and by
    :meth:`WSTransport.wait_disconnected` on the client when the connection
    was ended because of a protocol violation (then ``close_code`` is the code
    picows sent in its CLOSE frame).

    Attributes:
        raw_header: bytes of the HTTP response head up to (not including) the
            blank line, or None.
        raw_body: bytes received after the blank line, or None.
        response: the parsed :class:`WSUpgradeResponse`, or None when the
            response could not be parsed or the error is not a handshake error.
        close_code: for a protocol violation detected by picows, the
            :class:`WSCloseCode` it closed the connection with; otherwise None.
    """

    def __init__(
        self,
        msg: str,
        raw_header: bytes | None = None,
        raw_body: bytes | None = None,
        response: WSUpgradeResponse | None = None,
        close_code: WSCloseCode | None = None,
    ) -> None:
        super().__init__(msg)
        self.raw_header = raw_header
        self.raw_body = raw_body
        self.response = response
        self.close_code = close_code


class WSInvalidURL(WSError):
    """The URL given to :func:`ws_connect` (or a redirect target) is not a usable WebSocket URL.

    Attributes:
        url: the offending URL.
        msg: why it was rejected.
    """

    def __init__(self, url: str, msg: str) -> None:
        super().__init__(f"invalid WebSocket URL {url!r}: {msg}")
        self.url = url
        self.msg = msg


class ProtocolViolation(Exception):
    """Internal: raised by a frame parser; ends the connection with ``close_code``."""

    def __init__(self, close_code: WSCloseCode, msg: str) -> None:
        super().__init__(msg)
        self.close_code = close_code
        self.msg = msg
