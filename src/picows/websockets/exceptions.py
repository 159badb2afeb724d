"""Exceptions of :mod:`picows.websockets`, with the names, attributes and messages of ``websockets``'.

When the ``websockets`` package is importable, every class here also
subclasses the ``websockets.exceptions`` class of the same name, so existing
``except websockets.exceptions.ConnectionClosed:`` clauses catch ours. Without
it the classes stand alone with the same hierarchy. The constructors and
messages are ours in both cases (so both situations behave the same).

Hierarchy::

    WebSocketException
        ConnectionClosed
            ConnectionClosedOK
            ConnectionClosedError
        InvalidURI
        InvalidProxy
        InvalidHandshake
            SecurityError
                RequestLineTooLong, StatusLineTooLong, HeaderLineTooLong, TooManyHeaders
            ProxyError
                InvalidProxyMessage
                InvalidProxyStatus
            InvalidMessage
            InvalidMethod
            InvalidProtocol
            InvalidStatus
            InvalidHeader
                InvalidHeaderFormat, InvalidHeaderValue, InvalidOrigin, InvalidUpgrade
            NegotiationError
                DuplicateParameter, InvalidParameterName, InvalidParameterValue
        ProtocolError
        PayloadTooBig
        TooManyFragments
        InvalidState
        ConcurrencyError
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from .frames import CloseCode

if TYPE_CHECKING:
    from .frames import Close
    from .http11 import Response

try:  # pragma: no branch - depends on the environment
    import websockets.exceptions as _upstream
except ImportError:
    _upstream = None  # type: ignore[assignment]

__all__ = [
    "WEBSOCKETS_SUBCLASSED",
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DuplicateParameter",
    "HeaderLineTooLong",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidOrigin",
    "InvalidParameterName",
    "InvalidParameterValue",
    "InvalidProtocol",
    "InvalidProxy",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidState",
    "InvalidStatus",
    "InvalidURI",
    "InvalidUpgrade",
    "NegotiationError",
    "PayloadTooBig",
    "ProtocolError",
    "ProxyError",
    "RequestLineTooLong",
    "SecurityError",
    "StatusLineTooLong",
    "TooManyFragments",
    "TooManyHeaders",
    "WebSocketException",
]

#: True when our classes subclass the installed ``websockets.exceptions`` ones.
WEBSOCKETS_SUBCLASSED = _upstream is not None


def _up(name: str) -> tuple[type, ...]:
    """``(websockets.exceptions.<name>,)`` when that class exists, else ``()``."""
    cls = getattr(_upstream, name, None)
    return (cls,) if isinstance(cls, type) else ()


class WebSocketException(*_up("WebSocketException"), Exception):  # type: ignore[misc]
    """Base class for every exception raised by :mod:`picows.websockets`."""


class ConnectionClosed(WebSocketException, *_up("ConnectionClosed")):  # type: ignore[misc]
    """Raised when trying to interact with a closed connection.

    Attributes:
        rcvd: the :class:`~picows.websockets.frames.Close` received, or None.
        sent: the :class:`~picows.websockets.frames.Close` sent, or None.
        rcvd_then_sent: when both exist, whether the received one came first.
    """

    def __init__(self, rcvd: Close | None, sent: Close | None, rcvd_then_sent: bool | None = None) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        Exception.__init__(self, rcvd, sent, rcvd_then_sent)

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"

    @property
    def code(self) -> int:
        """Deprecated in websockets: the received close code (1006 when none)."""
        warnings.warn(
            "ConnectionClosed.code is deprecated; use Protocol.close_code or ConnectionClosed.rcvd.code",
            DeprecationWarning,
            stacklevel=2,
        )
        return CloseCode.ABNORMAL_CLOSURE if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        """Deprecated in websockets: the received close reason ("" when none)."""
        warnings.warn(
            "ConnectionClosed.reason is deprecated; "
            "use Protocol.close_reason or ConnectionClosed.rcvd.reason",
            DeprecationWarning,
            stacklevel=2,
        )
        return "" if self.rcvd is None else self.rcvd.reason


class ConnectionClosedOK(ConnectionClosed, *_up("ConnectionClosedOK")):  # type: ignore[misc]
    """The connection terminated properly (1000, 1001 or no code, received and sent)."""


class ConnectionClosedError(ConnectionClosed, *_up("ConnectionClosedError")):  # type: ignore[misc]
    """The connection terminated with an error code or without a complete closing handshake."""


class InvalidURI(WebSocketException, *_up("InvalidURI")):  # type: ignore[misc]
    """A connection was attempted with a URI that is not a valid WebSocket URI."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg
        Exception.__init__(self, uri, msg)

    def __str__(self) -> str:
        return f"{self.uri} isn't a valid URI: {self.msg}"


class InvalidProxy(WebSocketException, *_up("InvalidProxy")):  # type: ignore[misc]
    """A connection was attempted through a proxy URL that is not valid."""

    def __init__(self, proxy: str, msg: str) -> None:
        self.proxy = proxy
        self.msg = msg
        Exception.__init__(self, proxy, msg)

    def __str__(self) -> str:
        return f"{self.proxy} isn't a valid proxy: {self.msg}"


class InvalidHandshake(WebSocketException, *_up("InvalidHandshake")):  # type: ignore[misc]
    """The opening handshake failed."""


class SecurityError(InvalidHandshake, *_up("SecurityError")):  # type: ignore[misc]
    """The handshake went over a security limit."""


class RequestLineTooLong(SecurityError, *_up("RequestLineTooLong")):  # type: ignore[misc]
    """The request line is too long."""


class StatusLineTooLong(SecurityError, *_up("StatusLineTooLong")):  # type: ignore[misc]
    """The status line is too long."""


class HeaderLineTooLong(SecurityError, *_up("HeaderLineTooLong")):  # type: ignore[misc]
    """A header line is too long."""


class TooManyHeaders(SecurityError, *_up("TooManyHeaders")):  # type: ignore[misc]
    """There are too many headers."""


class ProxyError(InvalidHandshake, *_up("ProxyError")):  # type: ignore[misc]
    """Connecting through the proxy failed."""


class InvalidProxyMessage(ProxyError, *_up("InvalidProxyMessage")):  # type: ignore[misc]
    """The proxy's response is malformed."""


class InvalidProxyStatus(ProxyError, *_up("InvalidProxyStatus")):  # type: ignore[misc]
    """The proxy refused the connection."""

    def __init__(self, response: Response) -> None:
        self.response = response
        Exception.__init__(self, response)

    def __str__(self) -> str:
        return f"proxy rejected connection: HTTP {self.response.status_code:d}"


class InvalidMessage(InvalidHandshake, *_up("InvalidMessage")):  # type: ignore[misc]
    """The handshake request or response is malformed."""


class InvalidMethod(InvalidHandshake, *_up("InvalidMethod")):  # type: ignore[misc]
    """The request method is not GET."""

    def __init__(self, method: str) -> None:
        self.method = method
        Exception.__init__(self, method)

    def __str__(self) -> str:
        return f"unsupported HTTP method: {self.method}"


class InvalidProtocol(InvalidHandshake, *_up("InvalidProtocol")):  # type: ignore[misc]
    """The HTTP version is not 1.1."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        Exception.__init__(self, protocol)

    def __str__(self) -> str:
        return f"unsupported HTTP version: {self.protocol}"


class InvalidStatus(InvalidHandshake, *_up("InvalidStatus")):  # type: ignore[misc]
    """The server answered the upgrade with another status than 101.

    Attributes:
        response: the :class:`~picows.websockets.http11.Response`.
    """

    def __init__(self, response: Response) -> None:
        self.response = response
        Exception.__init__(self, response)

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"


class InvalidHeader(InvalidHandshake, *_up("InvalidHeader")):  # type: ignore[misc]
    """A header is missing or has a wrong format or value."""

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value
        Exception.__init__(self, name, value)

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader, *_up("InvalidHeaderFormat")):  # type: ignore[misc]
    """A header cannot be parsed."""

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")


class InvalidHeaderValue(InvalidHeader, *_up("InvalidHeaderValue")):  # type: ignore[misc]
    """A header parses but its value is not acceptable."""


class InvalidOrigin(InvalidHeader, *_up("InvalidOrigin")):  # type: ignore[misc]
    """The request's Origin is not allowed."""

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader, *_up("InvalidUpgrade")):  # type: ignore[misc]
    """The Upgrade or Connection header is wrong."""


class NegotiationError(InvalidHandshake, *_up("NegotiationError")):  # type: ignore[misc]
    """Negotiating a subprotocol or an extension failed."""


class DuplicateParameter(NegotiationError, *_up("DuplicateParameter")):  # type: ignore[misc]
    """An extension parameter is repeated."""

    def __init__(self, name: str) -> None:
        self.name = name
        Exception.__init__(self, name)

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError, *_up("InvalidParameterName")):  # type: ignore[misc]
    """An extension parameter has an invalid name."""

    def __init__(self, name: str) -> None:
        self.name = name
        Exception.__init__(self, name)

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError, *_up("InvalidParameterValue")):  # type: ignore[misc]
    """An extension parameter has an invalid value."""

    def __init__(self, name: str, value: str | None) -> None:
        self.name = name
        self.value = value
        Exception.__init__(self, name, value)

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class ProtocolError(WebSocketException, *_up("ProtocolError")):  # type: ignore[misc]
    """A received or sent frame breaks the protocol."""


class PayloadTooBig(WebSocketException, *_up("PayloadTooBig")):  # type: ignore[misc]
    """A frame or message is larger than ``max_size``."""

    def __init__(self, size_or_message: int | None | str, max_size: int | None = None,
                 current_size: int | None = None) -> None:
        Exception.__init__(self, size_or_message, max_size, current_size)
        if isinstance(size_or_message, str):
            warnings.warn(  # as websockets 14+
                "PayloadTooBig(message) is deprecated; change to PayloadTooBig(size, max_size)",
                DeprecationWarning,
                stacklevel=2,
            )
        self.message: str | None = size_or_message if isinstance(size_or_message, str) else None
        self.size: int | None = None if isinstance(size_or_message, str) else size_or_message
        self.max_size: int = max_size or 0
        self.current_size: int | None = None
        if current_size is not None:
            self.set_current_size(current_size)

    def __str__(self) -> str:
        if self.message is not None:
            return self.message
        text = "frame "
        if self.size is not None:
            text += f"with {self.size} bytes "
        if self.current_size is not None:
            text += f"after reading {self.current_size} bytes "
        return text + f"exceeds limit of {self.max_size} bytes"

    def set_current_size(self, current_size: int | None) -> None:
        """Record how much of the message was read before this frame."""
        if current_size is not None:
            self.max_size += current_size
            self.current_size = current_size


class TooManyFragments(WebSocketException, *_up("TooManyFragments")):  # type: ignore[misc]
    """A fragmented message has too many frames."""

    def __init__(self, max_fragments: int) -> None:
        Exception.__init__(self, f"fragmented message exceeds limit of {max_fragments} frames")


class InvalidState(WebSocketException, *_up("InvalidState"), AssertionError):  # type: ignore[misc]
    """An operation is forbidden in the connection's current state."""


class ConcurrencyError(WebSocketException, *_up("ConcurrencyError"), RuntimeError):  # type: ignore[misc]
    """Two coroutines tried to receive (or to send a fragmented message) concurrently."""
