"""The HTTP/1.1 opening handshake (RFC 6455 section 4), for both roles.

Everything here runs once per connection, so it is plain Python shared by
both backends. The backends' protocol objects feed received bytes to a
:class:`ClientUpgrade` or :class:`ServerUpgrade` until it reports a result.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Callable, Union

from multidict import CIMultiDict

from ._deflate_negotiation import accept_response, answer_offers, build_offer
from ._errors import WSError
from ._limits import MAX_HANDSHAKE_BODY_SIZE, MAX_HANDSHAKE_HEAD_SIZE

if TYPE_CHECKING:
    from ._deflate import DeflateAgreement, PerMessageDeflate
    from ._options import AnyLogger
    from ._url import WSParsedURL

__all__ = [
    "ClientUpgrade",
    "ServerUpgrade",
    "WSUpgradeRequest",
    "WSUpgradeResponse",
    "WSUpgradeResponseWithListener",
]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Headers the library owns during the upgrade; users may not set them via extra_headers.
_RESERVED_REQUEST_HEADERS = frozenset(
    ("upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-accept")
)
_TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

ExtraHeaders = Union[Mapping[str, str], Iterable[tuple[str, str]], None]


def compute_accept_key(key: str | bytes) -> str:
    """Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""
    if isinstance(key, str):
        key = key.encode("ascii")
    return base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode("ascii")


def _decode(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _encode(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def normalize_headers(extra_headers: ExtraHeaders, arg_name: str = "extra_headers") -> list[tuple[str, str]]:
    """Validate a mapping or iterable of ``(str, str)`` pairs; return a list of pairs."""
    if extra_headers is None:
        return []
    if isinstance(extra_headers, (str, bytes)):
        raise TypeError(f"{arg_name} must be a mapping or an iterable of (str, str) pairs")
    items: Iterable[Any] = extra_headers.items() if isinstance(extra_headers, Mapping) else extra_headers
    result = []
    try:
        for item in items:
            name, value = item
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(
                    f"{arg_name}: header names and values must be str, got "
                    f"({type(name).__name__}, {type(value).__name__})"
                )
            if not name or any(c not in _TOKEN_CHARS for c in _encode(name)):
                raise ValueError(f"{arg_name}: invalid header name {name!r}")
            if "\r" in value or "\n" in value or "\0" in value:
                raise ValueError(f"{arg_name}: header {name!r} has a value with CR, LF or NUL")
            result.append((name, value))
    except (TypeError, ValueError) as exc:
        if str(exc).startswith(arg_name):
            raise
        raise TypeError(f"{arg_name} must be a mapping or an iterable of (str, str) pairs") from exc
    return result


def _header_tokens(headers: CIMultiDict[str], name: str) -> list[str]:
    """Comma-separated tokens of every ``name`` header, lower-cased."""
    tokens: list[str] = []
    for value in headers.getall(name, ()):
        tokens.extend(t.strip().lower() for t in value.split(","))
    return [t for t in tokens if t]


def _parse_head(raw: bytes, *, is_request: bool) -> tuple[list[bytes], CIMultiDict[str]]:
    """Split an HTTP head (without the blank line) into start-line parts and headers.

    Raises ValueError with a short reason for malformed input. Whitespace
    between a header name and the colon is rejected in requests (RFC 7230
    3.2.4: a server MUST answer 400, it is a request-smuggling vector) and
    tolerated in responses.
    """
    lines = raw.split(b"\r\n")
    start = lines[0]
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        if not line:
            raise ValueError("empty header line")
        if line[0] in b" \t":
            raise ValueError("obsolete header line folding is not supported")
        name, sep, value = line.partition(b":")
        if not is_request:
            name = name.rstrip(b" \t")
        if not sep or not name or any(c not in _TOKEN_CHARS for c in name):
            raise ValueError(f"malformed header line {line[:60]!r}")
        headers.add(_decode(name), _decode(value.strip(b" \t")))
    return start.split(b" ", 2), headers


def _format_head(start_line: str, headers: Iterable[tuple[str, str]]) -> bytearray:
    out = bytearray(_encode(start_line))
    out += b"\r\n"
    for name, value in headers:
        out += _encode(name)
        out += b": "
        out += _encode(value)
        out += b"\r\n"
    out += b"\r\n"
    return out


class WSUpgradeRequest:
    """The HTTP upgrade request of a connection.

    On the server it is what the client sent (passed to ``ws_listener_factory``
    for routing); on the client it is what picows sent. Available afterwards as
    :attr:`WSTransport.request`.
    """

    __slots__ = ("method", "path", "version", "headers")

    def __init__(self, method: bytes, path: bytes, version: bytes, headers: CIMultiDict[str]) -> None:
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers

    def __repr__(self) -> str:
        return f"WSUpgradeRequest(method={self.method!r}, path={self.path!r}, version={self.version!r})"


class WSUpgradeResponse:
    """The HTTP response to an upgrade request.

    On the server, create one with the factory methods to answer a request in
    a custom way (return it from ``ws_listener_factory`` wrapped in a
    :class:`WSUpgradeResponseWithListener`). On the client it is the server's
    response, available as :attr:`WSTransport.response` or ``WSError.response``.
    """

    __slots__ = ("version", "status", "headers", "body")

    def __init__(
        self,
        version: bytes,
        status: http.HTTPStatus,
        headers: CIMultiDict[str],
        body: bytes | None = None,
    ) -> None:
        self.version = version
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"WSUpgradeResponse(version={self.version!r}, status={self.status!r})"

    @staticmethod
    def create_101_response(extra_headers: ExtraHeaders = None) -> WSUpgradeResponse:
        """A ``101 Switching Protocols`` response; picows adds ``Sec-WebSocket-Accept`` when sending it.

        :param extra_headers: mapping or iterable of ``(str, str)`` pairs added to
            the response, e.g. ``{"Sec-WebSocket-Protocol": "chat"}``.
        """
        headers: CIMultiDict[str] = CIMultiDict([("Upgrade", "websocket"), ("Connection", "Upgrade")])
        for name, value in normalize_headers(extra_headers):
            if name.lower() in _RESERVED_REQUEST_HEADERS:
                raise ValueError(f"extra_headers: {name!r} is set by picows and cannot be overridden")
            headers.add(name, value)
        return WSUpgradeResponse(b"HTTP/1.1", http.HTTPStatus.SWITCHING_PROTOCOLS, headers, None)

    @staticmethod
    def create_error_response(
        status: http.HTTPStatus | int,
        body: bytes | None = None,
        extra_headers: ExtraHeaders = None,
    ) -> WSUpgradeResponse:
        """An error response (status >= 400); the connection is closed after it is sent.

        :param status: HTTP status, at least 400, else ValueError.
        :param body: optional body; it is sent with ``Content-Type: text/plain``
            and a ``Content-Length``.
        :param extra_headers: mapping or iterable of ``(str, str)`` pairs.
        """
        st = _as_status(status, "status")
        if st < 400:
            raise ValueError(f"status must be >= 400 for an error response, got {int(st)}")
        if body is not None and not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"body must be bytes or None, got {type(body).__name__}")
        headers: CIMultiDict[str] = CIMultiDict(normalize_headers(extra_headers))
        if body is not None:
            body = bytes(body)
            headers.setdefault("Content-Type", "text/plain")
            headers["Content-Length"] = str(len(body))
        else:
            headers["Content-Length"] = "0"
        headers.setdefault("Connection", "close")
        return WSUpgradeResponse(b"HTTP/1.1", st, headers, body)

    @staticmethod
    def create_redirect_response(
        status: http.HTTPStatus | int,
        location: str,
        extra_headers: ExtraHeaders = None,
    ) -> WSUpgradeResponse:
        """A redirect (3xx) to ``location``; the connection is closed after it is sent.

        :param status: a 3xx HTTP status, else ValueError.
        :param location: the ``Location`` header (absolute or relative URL).
        :param extra_headers: mapping or iterable of ``(str, str)`` pairs.
        """
        st = _as_status(status, "status")
        if not 300 <= st < 400:
            raise ValueError(f"status must be 3xx for a redirect response, got {int(st)}")
        if not isinstance(location, str):
            raise TypeError(f"location must be a str, got {type(location).__name__}")
        if "\r" in location or "\n" in location:
            raise ValueError("location must not contain CR or LF")
        headers: CIMultiDict[str] = CIMultiDict(normalize_headers(extra_headers))
        headers["Location"] = location
        headers["Content-Length"] = "0"
        headers.setdefault("Connection", "close")
        return WSUpgradeResponse(b"HTTP/1.1", st, headers, None)

    def to_bytes(self) -> bytes:
        """The response as it is sent on the wire."""
        start = f"{self.version.decode('ascii')} {int(self.status)} {self.status.phrase}"
        out = _format_head(start, self.headers.items())
        if self.body:
            out += self.body
        return bytes(out)


def _as_status(status: http.HTTPStatus | int, arg: str) -> http.HTTPStatus:
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"{arg} must be an http.HTTPStatus or int, got {type(status).__name__}")
    try:
        return http.HTTPStatus(status)
    except ValueError:
        raise ValueError(f"{arg}: {status} is not a known HTTP status") from None


class WSUpgradeResponseWithListener:
    """What ``ws_listener_factory`` returns to answer an upgrade with a custom response.

    A ``101`` response needs a listener (the connection is upgraded); any other
    response (error or redirect) must come with ``listener=None`` and the
    connection is closed after the response is sent.
    """

    __slots__ = ("response", "listener")

    def __init__(self, response: WSUpgradeResponse, listener: Any) -> None:
        if not isinstance(response, WSUpgradeResponse):
            raise TypeError(f"response must be a WSUpgradeResponse, got {type(response).__name__}")
        if response.status == http.HTTPStatus.SWITCHING_PROTOCOLS:
            if listener is None:
                raise ValueError("a 101 response needs a listener")
        elif listener is not None:
            raise ValueError(f"a {int(response.status)} response must have listener=None")
        self.response = response
        self.listener = listener


# --------------------------------------------------------------------------
# Client side
# --------------------------------------------------------------------------


class ClientUpgrade:
    """Builds the upgrade request and checks the server's response for one connection attempt."""

    def __init__(
        self, url: WSParsedURL, extra_headers: ExtraHeaders, deflate: PerMessageDeflate | None = None
    ) -> None:
        self.url = url
        self._deflate = deflate
        #: The permessage-deflate agreement, once a 101 accepted our offer.
        self.deflate_agreement: DeflateAgreement | None = None
        self.key = base64.b64encode(os.urandom(16)).decode("ascii")
        headers: CIMultiDict[str] = CIMultiDict()
        headers["Host"] = url.host_header
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Version"] = "13"
        headers["Sec-WebSocket-Key"] = self.key
        if url.user_info is not None:
            creds = f"{url.user_info[0]}:{url.user_info[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(creds).decode("ascii")
        for name, value in normalize_headers(extra_headers):
            lname = name.lower()
            if lname in _RESERVED_REQUEST_HEADERS:
                raise ValueError(f"extra_headers: {name!r} is set by picows and cannot be overridden")
            if lname in ("host", "authorization"):
                headers[name] = value  # the user's value replaces ours
            elif lname == "sec-websocket-extensions" and deflate is not None:
                raise ValueError(
                    "extra_headers: Sec-WebSocket-Extensions is set by picows with permessage_deflate"
                )
            else:
                headers.add(name, value)
        if deflate is not None:
            headers["Sec-WebSocket-Extensions"] = build_offer(deflate)
        # Extensions the user offers through extra_headers are the user's to check.
        self._user_extensions = deflate is None and "Sec-WebSocket-Extensions" in headers
        self.request = WSUpgradeRequest(b"GET", url.resource_name.encode("ascii"), b"HTTP/1.1", headers)
        self.request_bytes = bytes(_format_head(f"GET {url.resource_name} HTTP/1.1", headers.items()))
        self.offered_protocols = _header_tokens(headers, "Sec-WebSocket-Protocol")
        self._buf = bytearray()
        self._head: bytes | None = None
        self._response: WSUpgradeResponse | None = None
        self._error: WSError | None = None
        self._body_needed = 0

    def feed(self, data: bytes) -> tuple[WSUpgradeResponse, bytes] | None:
        """Feed received bytes.

        Returns ``(response, leftover)`` once a valid 101 response has been
        received (``leftover`` are the bytes after it: the first frames), or None
        while more bytes are needed. Raises :class:`WSError` for a rejected or
        malformed response (for a non-101 response, once its body has arrived).
        """
        self._buf += data
        if self._head is None:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HANDSHAKE_HEAD_SIZE:
                    raise WSError(
                        f"upgrade response head exceeds {MAX_HANDSHAKE_HEAD_SIZE} bytes",
                        raw_header=bytes(self._buf[:MAX_HANDSHAKE_HEAD_SIZE]),
                    )
                return None
            self._head = bytes(self._buf[:end])
            del self._buf[: end + 4]
            result = self._on_head(self._head)
            if result is not None:
                return result
        # Collecting the body of a non-101 response.
        if self._body_needed <= len(self._buf) or len(self._buf) >= MAX_HANDSHAKE_BODY_SIZE:
            raise self._final_error()
        return None

    def _on_head(self, head: bytes) -> tuple[WSUpgradeResponse, bytes] | None:
        try:
            parts, headers = _parse_head(head, is_request=False)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise ValueError("malformed status line")
            if len(parts[1]) != 3 or not parts[1].isdigit():
                raise ValueError("malformed status code")
            status = http.HTTPStatus(int(parts[1]))
        except ValueError as exc:
            raise WSError(
                f"malformed upgrade response: {exc}", raw_header=head, raw_body=bytes(self._buf)
            ) from None
        response = WSUpgradeResponse(parts[0], status, headers, None)
        self._response = response
        if status != http.HTTPStatus.SWITCHING_PROTOCOLS:
            self._error = WSError(
                f"upgrade failed: server answered {int(status)} {status.phrase}",
                raw_header=head,
                response=response,
            )
            try:
                self._body_needed = int(headers.get("Content-Length", "-1"))
            except ValueError:
                self._body_needed = -1
            if self._body_needed < 0:
                # No length: the body ends when the server closes the connection.
                self._body_needed = MAX_HANDSHAKE_BODY_SIZE
            return None
        self._check_101(response, head)
        leftover = bytes(self._buf)
        self._buf = bytearray()
        return response, leftover

    def _check_101(self, response: WSUpgradeResponse, head: bytes) -> None:
        def fail(reason: str) -> WSError:
            return WSError(
                f"invalid upgrade response: {reason}",
                raw_header=head,
                raw_body=bytes(self._buf),
                response=response,
            )

        headers = response.headers
        if response.version != b"HTTP/1.1":
            raise fail(f"HTTP version must be HTTP/1.1, got {response.version!r}")
        if _header_tokens(headers, "Upgrade") != ["websocket"]:
            raise fail(f"'Upgrade: websocket' missing (got {headers.getall('Upgrade', [])})")
        if "upgrade" not in _header_tokens(headers, "Connection"):
            raise fail(f"'Connection: Upgrade' missing (got {headers.getall('Connection', [])})")
        accept = headers.getall("Sec-WebSocket-Accept", [])
        if accept != [compute_accept_key(self.key)]:
            raise fail(f"wrong Sec-WebSocket-Accept {accept}")
        extensions = headers.getall("Sec-WebSocket-Extensions", [])
        if extensions and not self._user_extensions:
            if self._deflate is None:
                raise fail("the server selected an extension that was not offered")
            try:
                self.deflate_agreement = accept_response(self._deflate, extensions)
            except ValueError as exc:
                raise fail(f"Sec-WebSocket-Extensions: {exc}") from None
        chosen = _header_tokens(headers, "Sec-WebSocket-Protocol")
        if chosen and (len(chosen) != 1 or chosen[0] not in self.offered_protocols):
            raise fail(f"the server selected a subprotocol that was not offered: {chosen}")

    def _final_error(self) -> WSError:
        assert self._error is not None
        body = bytes(self._buf[:MAX_HANDSHAKE_BODY_SIZE])
        self._error.raw_body = body
        if self._response is not None:
            self._response.body = body
        return self._error

    def connection_lost_error(self) -> WSError:
        """The error to report when the connection ends before the handshake completed."""
        if self._error is not None:
            return self._final_error()
        return WSError(
            "connection closed during the opening handshake",
            raw_header=bytes(self._buf) if self._buf else None,
        )


# --------------------------------------------------------------------------
# Server side
# --------------------------------------------------------------------------


class ServerUpgradeResult:
    """What the server protocol must do once the request head is complete."""

    __slots__ = ("response_bytes", "listener", "request", "response", "leftover", "deflate_agreement")

    def __init__(
        self,
        response_bytes: bytes,
        listener: Any,
        request: WSUpgradeRequest | None,
        response: WSUpgradeResponse,
        leftover: bytes,
        deflate_agreement: DeflateAgreement | None = None,
    ) -> None:
        self.response_bytes = response_bytes
        self.listener = listener  # None: send the response, then close
        self.request = request
        self.response = response
        self.leftover = leftover
        self.deflate_agreement = deflate_agreement  # permessage-deflate accepted in the 101


class _BadRequest(Exception):
    def __init__(self, reason: str, extra_headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.extra_headers = extra_headers


class ServerUpgrade:
    """Reads and validates an upgrade request, then routes it through ``ws_listener_factory``."""

    def __init__(
        self,
        listener_factory: Callable[[WSUpgradeRequest], Any],
        listener_class: type,
        logger: AnyLogger,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self._factory = listener_factory
        self._deflate = deflate
        self._listener_class = listener_class
        self._logger = logger
        self._buf = bytearray()

    def feed(self, data: bytes) -> ServerUpgradeResult | None:
        """Feed received bytes; returns a result once the request head is complete, else None.

        Raises :class:`WSError` when the head exceeds the size limit (the
        connection should simply be dropped).
        """
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HANDSHAKE_HEAD_SIZE:
                raise WSError(f"upgrade request head exceeds {MAX_HANDSHAKE_HEAD_SIZE} bytes")
            return None
        if end > MAX_HANDSHAKE_HEAD_SIZE:
            raise WSError(f"upgrade request head exceeds {MAX_HANDSHAKE_HEAD_SIZE} bytes")
        head = bytes(self._buf[:end])
        leftover = bytes(self._buf[end + 4 :])
        self._buf = bytearray()
        try:
            request, key = self._parse_request(head)
        except _BadRequest as exc:
            self._logger.info("rejecting malformed upgrade request: %s", exc.reason)
            response = WSUpgradeResponse.create_error_response(
                http.HTTPStatus.BAD_REQUEST, exc.reason.encode() + b"\n", exc.extra_headers
            )
            return ServerUpgradeResult(response.to_bytes(), None, None, response, b"")
        return self._route(request, key, leftover)

    @staticmethod
    def _parse_request(head: bytes) -> tuple[WSUpgradeRequest, str]:
        try:
            parts, headers = _parse_head(head, is_request=True)
        except ValueError as exc:
            raise _BadRequest(str(exc)) from None
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/") or not parts[1]:
            raise _BadRequest("malformed request line")
        method, path, version = parts
        request = WSUpgradeRequest(method, path, version, headers)
        if method != b"GET":
            raise _BadRequest(f"method must be GET, got {_decode(method)[:20]}")
        if version != b"HTTP/1.1":
            raise _BadRequest(f"HTTP version must be HTTP/1.1, got {_decode(version)[:20]}")
        if len(headers.getall("Host", [])) != 1:
            raise _BadRequest("need exactly one Host header")
        if "websocket" not in _header_tokens(headers, "Upgrade"):
            raise _BadRequest("missing 'Upgrade: websocket' header")
        if "upgrade" not in _header_tokens(headers, "Connection"):
            raise _BadRequest("'Connection' header must contain 'upgrade'")
        if headers.getall("Sec-WebSocket-Version", []) != ["13"]:
            raise _BadRequest(
                "unsupported Sec-WebSocket-Version (need 13)", [("Sec-WebSocket-Version", "13")]
            )
        keys = headers.getall("Sec-WebSocket-Key", [])
        if len(keys) != 1:
            raise _BadRequest("need exactly one Sec-WebSocket-Key header")
        try:
            if len(base64.b64decode(keys[0], validate=True)) != 16:
                raise ValueError
        except (ValueError, binascii.Error):
            raise _BadRequest("Sec-WebSocket-Key must be 16 bytes in base64") from None
        return request, keys[0]

    def _route(self, request: WSUpgradeRequest, key: str, leftover: bytes) -> ServerUpgradeResult:
        try:
            routed = self._factory(request)
        except Exception as exc:
            self._logger.error("ws_listener_factory raised, answering 500", exc_info=True)
            response = WSUpgradeResponse.create_error_response(
                http.HTTPStatus.INTERNAL_SERVER_ERROR, str(exc).encode("utf-8", "replace")
            )
            return ServerUpgradeResult(response.to_bytes(), None, request, response, b"")

        if routed is None:
            response = WSUpgradeResponse.create_error_response(http.HTTPStatus.NOT_FOUND, b"Not Found\n")
            listener = None
        elif isinstance(routed, WSUpgradeResponseWithListener):
            response, listener = routed.response, routed.listener
        elif isinstance(routed, self._listener_class):
            response, listener = WSUpgradeResponse.create_101_response(), routed
        else:
            self._logger.error(
                "ws_listener_factory returned %r; expected a WSListener, a "
                "WSUpgradeResponseWithListener or None, answering 500",
                type(routed).__name__,
            )
            response = WSUpgradeResponse.create_error_response(
                http.HTTPStatus.INTERNAL_SERVER_ERROR, b"invalid ws_listener_factory result\n"
            )
            listener = None

        agreement = None
        if listener is not None:
            response.headers["Sec-WebSocket-Accept"] = compute_accept_key(key)
            # A response that names extensions itself is the application's negotiation.
            if self._deflate is not None and "Sec-WebSocket-Extensions" not in response.headers:
                offers = request.headers.getall("Sec-WebSocket-Extensions", [])
                agreement = answer_offers(self._deflate, offers)
                if agreement is not None:
                    response.headers["Sec-WebSocket-Extensions"] = agreement.header
        else:
            leftover = b""
        return ServerUpgradeResult(response.to_bytes(), listener, request, response, leftover, agreement)

