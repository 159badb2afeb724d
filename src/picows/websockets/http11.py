"""The opening handshake's request and response, as :mod:`websockets.http11` names them."""

from __future__ import annotations

from dataclasses import dataclass, field

from .datastructures import Headers

__all__ = ["Request", "Response"]


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

    @property
    def status(self) -> int:
        """``status_code`` (the name the published picows.websockets also had)."""
        return self.status_code
