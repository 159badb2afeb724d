"""The opening handshake's request and response, as :mod:`websockets.http11` names them."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from .datastructures import Headers

__all__ = [
    "MAX_BODY_SIZE",
    "MAX_LINE_LENGTH",
    "MAX_NUM_HEADERS",
    "SERVER",
    "USER_AGENT",
    "Request",
    "Response",
]


def _default_product() -> str:
    from picows import __version__

    return f"Python/{sys.version_info.major}.{sys.version_info.minor} picows/{__version__}"


# The defaults of ``user_agent_header=`` and ``server_header=``; websockets'
# environment variables replace them (read once, when this module is imported).
#: Default ``User-Agent`` of ``connect()``.
USER_AGENT = os.environ.get("WEBSOCKETS_USER_AGENT", _default_product())
#: Default ``Server`` header of ``serve()``.
SERVER = os.environ.get("WEBSOCKETS_SERVER", _default_product())

# websockets' bounds on a peer's handshake head (read once too): a longer line or more headers
# fail the handshake (a server answers 414 or 431) before the head is buffered whole.
#: Header lines in a request or response.
MAX_NUM_HEADERS = int(os.environ.get("WEBSOCKETS_MAX_NUM_HEADERS", "128"))
#: Bytes of the request line, the status line or a header line, with its CRLF.
MAX_LINE_LENGTH = int(os.environ.get("WEBSOCKETS_MAX_LINE_LENGTH", "8192"))
#: Bytes of the body of a response other than 101 that a client reads (more fails the handshake).
MAX_BODY_SIZE = int(os.environ.get("WEBSOCKETS_MAX_BODY_SIZE", "1_048_576"))


@dataclass
class Request:
    """A WebSocket handshake request.

    Attributes:
        path: request target, with the optional query.
        headers: request headers.
        method: request method; WebSocket handshake requests use ``GET``.
        protocol: request protocol; WebSocket handshake requests use ``HTTP/1.1``.
    """

    path: str
    headers: Headers
    method: str = "GET"
    protocol: str = "HTTP/1.1"
    _exception: Exception | None = field(default=None, repr=False, compare=False)

    def serialize(self) -> bytes:
        """The request as sent: request line, headers, blank line.

        :raises UnicodeEncodeError: when the method, path or protocol is not ASCII.
        """
        return f"{self.method} {self.path} {self.protocol}\r\n".encode("ascii") + self.headers.serialize()


@dataclass
class Response:
    """A WebSocket handshake response.

    Attributes:
        status_code: HTTP status code.
        reason_phrase: HTTP reason phrase.
        headers: response headers.
        body: response body.
    """

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes = b""
    _exception: Exception | None = field(default=None, repr=False, compare=False)

    def serialize(self) -> bytes:
        """The response as sent: status line (the reason phrase in ISO-8859-1), headers, blank line, body."""
        status_line = f"HTTP/1.1 {self.status_code} {self.reason_phrase}\r\n".encode("iso-8859-1")
        return status_line + self.headers.serialize() + self.body

    @property
    def status(self) -> int:
        """``status_code`` (the name the published picows.websockets also had)."""
        return self.status_code
