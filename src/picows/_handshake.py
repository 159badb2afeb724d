"""The HTTP/1.1 opening handshake (RFC 6455 section 4), for both roles.

Everything here runs once per connection, so it is plain Python shared by
both backends. The backends' protocol objects feed received bytes to a
:class:`ClientUpgrade` or :class:`ServerUpgrade` until it reports a result;
neither object does I/O (the HTTP syntax itself is in ``_http.py``).

The server routes every well-formed ``GET`` through ``ws_listener_factory``
(picows 2.x), WebSocket upgrade or not, so one port can serve plain HTTP
(a health check) next to WebSockets; the WebSocket-specific headers are
checked only when the factory wants to upgrade.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http
import inspect
import os
import platform
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable

from multidict import CIMultiDict

from ._deflate_negotiation import accept_response, answer_offers, build_offer, deflate_elements, names_deflate
from ._errors import (
    WSError,
    WSHandshakeError,
    WSInvalidHeaderError,
    WSInvalidMessageError,
    WSInvalidStatusError,
    WSInvalidUpgradeError,
)
from ._http import (
    DEFAULT_HEAD_LIMITS,
    ExtraHeaders,
    HeadError,
    HeadLimits,
    HeadScanner,
    HeadTooLarge,
    decode,
    decode_chunked,
    format_head,
    header_tokens,
    normalize_headers,
    parse_head,
)
from ._limits import MAX_HANDSHAKE_HEAD_SIZE
from ._listener import check_listener

if TYPE_CHECKING:
    from ._deflate import DeflateAgreement, PerMessageDeflate
    from ._options import AnyLogger
    from ._url import WSParsedURL

__all__ = [
    "ClientUpgrade",
    "ExtraHeaders",
    "RoutePending",
    "ServerUpgrade",
    "ServerUpgradeResult",
    "WSUpgradeRequest",
    "WSUpgradeResponse",
    "WSUpgradeResponseWithListener",
    "compute_accept_key",
    "normalize_headers",
]

_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Headers the library owns during the upgrade; users may not set them via extra_headers.
_RESERVED_REQUEST_HEADERS = frozenset(
    ("upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-accept")
)
# Request headers picows generates that a user's extra_headers replace (never duplicate).
_REPLACEABLE_REQUEST_HEADERS = frozenset(("host", "authorization", "user-agent"))
#: WebSocket versions a server accepts: 13 (RFC 6455) and the drafts 8 and 7, whose framing is the same.
SUPPORTED_VERSIONS = ("13", "8", "7")
_SUPPORTED_VERSIONS_HEADER = ", ".join(SUPPORTED_VERSIONS)
_STATUS_LINE_VERSION = re.compile(rb"HTTP/1\.[0-9]")
# A request target: visible ASCII only (RFC 7230 3.1.1, RFC 3986).
_REQUEST_TARGET = re.compile(rb"[\x21-\x7e]+")
# A method a lenient ServerUpgrade routes besides GET: visible ASCII, as the websockets package takes.
_LENIENT_METHOD = _REQUEST_TARGET
# Strict base64 of 16 bytes: 21 characters, one whose low 4 bits are unused (so zero), padding.
_WEBSOCKET_KEY = re.compile(r"[A-Za-z0-9+/]{21}[AQgw]==")
# Statuses whose response never has a body (RFC 7230 3.3.3).
_NO_BODY_STATUSES = frozenset((204, 304))
_CHUNKED = -1


def compute_accept_key(key: str | bytes) -> str:
    """Sec-WebSocket-Accept value for a Sec-WebSocket-Key."""
    if isinstance(key, str):
        key = key.encode("ascii")
    return base64.b64encode(hashlib.sha1(key + _WS_GUID).digest()).decode("ascii")


@functools.cache
def default_user_agent() -> str:
    """``picows/<version> Python/<version>``: the User-Agent of ws_connect's upgrade request."""
    from . import __version__  # here: the package imports this module before it sets __version__

    return f"picows/{__version__} Python/{platform.python_version()}"


def looks_like_tls(data: bytes | bytearray) -> bool:
    """Whether ``data`` starts like a TLS record (an alert or a handshake), never like HTTP."""
    return data[:1] in (b"\x15", b"\x16") and data[1:2] in (b"", b"\x03")


def _shown(value: bytes, limit: int = 40) -> str:
    """Received bytes quoted in a message: cut short, printable ASCII (others escaped as in a bytes repr)."""
    return repr(value[:limit])[2:-1]


class WSUpgradeRequest:
    """The HTTP upgrade request of a connection.

    On the server it is what the client sent (passed to ``ws_listener_factory``
    for routing), with the client's address in ``remote_address``; on the
    client it is what picows sent. Available afterwards as
    :attr:`WSTransport.request`.
    """

    __slots__ = ("method", "path", "version", "headers", "remote_address")

    def __init__(
        self,
        method: bytes,
        path: bytes,
        version: bytes,
        headers: CIMultiDict[str],
        remote_address: Any = None,
    ) -> None:
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers
        self.remote_address = remote_address  # the client's "peername" (server side only)

    def __repr__(self) -> str:
        return f"WSUpgradeRequest(method={self.method!r}, path={self.path!r}, version={self.version!r})"


class WSUpgradeResponse:
    """The HTTP response to an upgrade request.

    On the server, create one with the factory methods to answer a request in
    a custom way (return it from ``ws_listener_factory`` wrapped in a
    :class:`WSUpgradeResponseWithListener`). On the client it is the server's
    response, available as :attr:`WSTransport.response` or ``WSError.response``;
    its ``status`` is an :class:`http.HTTPStatus`, or, for a code HTTPStatus
    does not know, an ``int`` with the received reason phrase as ``phrase``.
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
    def create_ok_response(
        body: bytes | None = None,
        extra_headers: ExtraHeaders = None,
    ) -> WSUpgradeResponse:
        """A ``200 OK`` response, to serve plain HTTP (e.g. a health check) on a WebSocket port.

        Return it from ``ws_listener_factory`` as
        ``WSUpgradeResponseWithListener(WSUpgradeResponse.create_ok_response(b"ok"), None)``;
        the connection is closed after it is sent.

        :param body: optional body (bytes); ``Content-Length`` is set to its size.
        :param extra_headers: mapping or iterable of ``(str, str)`` pairs;
            ``Content-Type`` defaults to ``text/plain; charset=utf-8`` unless given here.
        """
        headers: CIMultiDict[str] = CIMultiDict(normalize_headers(extra_headers))
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return _ending_response(http.HTTPStatus.OK, headers, body)

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
        headers: CIMultiDict[str] = CIMultiDict(normalize_headers(extra_headers))
        if body is not None:
            headers.setdefault("Content-Type", "text/plain")
        return _ending_response(st, headers, body)

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
        return _ending_response(st, headers, None)

    def to_bytes(self) -> bytes:
        """The response as it is sent on the wire."""
        start = f"{self.version.decode('ascii')} {int(self.status)} {_reason_phrase(self.status)}"
        out = format_head(start, self.headers.items())
        if self.body:
            out += self.body
        return bytes(out)


class PhrasedStatus(int):
    """An HTTP status code with its own reason phrase, written and read like an ``HTTPStatus``.

    The core's client reports a received status :class:`http.HTTPStatus` does
    not know with it (a client must understand any three-digit status by its
    class, RFC 9110 15), with the phrase as received; a response built with it
    is sent with its phrase (picows.websockets' ``Response.reason_phrase``). It
    compares and formats as the int it is.
    """

    phrase: str

    def __new__(cls, code: int, phrase: str) -> PhrasedStatus:
        status = super().__new__(cls, code)
        status.phrase = phrase
        return status

    def __repr__(self) -> str:
        return f"<PhrasedStatus {int(self)}: {self.phrase!r}>"


def _reason_phrase(status: http.HTTPStatus | int) -> str:
    """The reason phrase of a status line: the status's own ``phrase``, else HTTPStatus's, else empty.

    A response built directly with a plain int (or a code HTTPStatus does not
    know) is still written; RFC 9112 allows an empty reason phrase.
    """
    phrase = getattr(status, "phrase", None)
    if isinstance(phrase, str):
        return phrase
    try:
        return http.HTTPStatus(int(status)).phrase
    except ValueError:
        return ""


def _as_status(status: http.HTTPStatus | int, arg: str) -> http.HTTPStatus:
    if isinstance(status, bool) or not isinstance(status, int):
        raise TypeError(f"{arg} must be an http.HTTPStatus or int, got {type(status).__name__}")
    try:
        return http.HTTPStatus(status)
    except ValueError:
        raise ValueError(f"{arg}: {status} is not a known HTTP status") from None


def _ending_response(
    status: http.HTTPStatus, headers: CIMultiDict[str], body: bytes | None
) -> WSUpgradeResponse:
    """A response after which the connection closes: its body, Content-Length, ``Connection: close``."""
    if body is not None and not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"body must be bytes or None, got {type(body).__name__}")
    if body is not None:
        body = bytes(body)
    headers["Content-Length"] = str(len(body or b""))
    headers.setdefault("Connection", "close")
    return WSUpgradeResponse(b"HTTP/1.1", status, headers, body)


class WSUpgradeResponseWithListener:
    """What ``ws_listener_factory`` returns to answer a request with a custom response.

    A ``101`` response needs a listener (the connection is upgraded); any other
    response (``200`` from :meth:`WSUpgradeResponse.create_ok_response`, an
    error, a redirect) must come with ``listener=None``, and the connection is
    closed after it is sent.
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
    """Builds the upgrade request and checks the server's response for one connection attempt.

    Every rejected response raises a :class:`WSHandshakeError` subclass
    carrying ``raw_header``, ``raw_body`` and ``response`` (None when the head
    could not be parsed); for a non-101 status it is a
    :class:`WSInvalidStatusError` whose ``response`` the redirect logic reads.
    """

    def __init__(
        self,
        url: WSParsedURL,
        extra_headers: ExtraHeaders,
        deflate: PerMessageDeflate | None = None,
        send_user_agent: bool = True,
        extension_offer: str | None = None,
        head_limits: HeadLimits = DEFAULT_HEAD_LIMITS,
    ) -> None:
        self.url = url
        self._head_limits = head_limits
        self._scanner = HeadScanner(head_limits)
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
        if send_user_agent:  # False: a layer that sends its own User-Agent, or none (picows.websockets)
            headers["User-Agent"] = default_user_agent()
        if url.user_info is not None:
            creds = f"{url.user_info[0]}:{url.user_info[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(creds).decode("ascii")
        for name, value in normalize_headers(extra_headers):
            lname = name.lower()
            if lname in _RESERVED_REQUEST_HEADERS:
                raise ValueError(f"extra_headers: {name!r} is set by picows and cannot be overridden")
            if lname in _REPLACEABLE_REQUEST_HEADERS:
                headers[name] = value  # the user's value replaces ours
            elif lname == "sec-websocket-extensions" and deflate is not None:
                raise ValueError(
                    "extra_headers: Sec-WebSocket-Extensions is set by picows with permessage_deflate"
                )
            else:
                headers.add(name, value)
        if extension_offer is not None:
            if "Sec-WebSocket-Extensions" in headers:
                raise ValueError("extra_headers: Sec-WebSocket-Extensions is set by the extensions offered")
            offers = [extension_offer] if deflate is None else [extension_offer, build_offer(deflate)]
            headers["Sec-WebSocket-Extensions"] = ", ".join(offers)
        elif deflate is not None:
            headers["Sec-WebSocket-Extensions"] = build_offer(deflate)
        # Extensions the user offers through extra_headers are the user's to check; with other
        # extensions offered next to permessage-deflate, the core checks only its answer.
        self._user_extensions = deflate is None and "Sec-WebSocket-Extensions" in headers
        self._other_extensions = deflate is not None and extension_offer is not None
        self.request = WSUpgradeRequest(b"GET", url.resource_name.encode("ascii"), b"HTTP/1.1", headers)
        self.request_bytes = bytes(format_head(f"GET {url.resource_name} HTTP/1.1", headers.items()))
        self.offered_protocols = header_tokens(headers, "Sec-WebSocket-Protocol")
        #: The request's User-Agent (picows' default, the caller's, or None): also a proxy CONNECT's.
        self.user_agent: str | None = headers.get("User-Agent")
        self._buf = bytearray()
        self._head: bytes | None = None
        self._response: WSUpgradeResponse | None = None
        self._error: WSHandshakeError | None = None
        self._body_needed = 0  # of a non-101 response; _CHUNKED: until the end of its chunked encoding

    def feed(self, data: bytes) -> tuple[WSUpgradeResponse, bytes] | None:
        """Feed received bytes.

        Returns ``(response, leftover)`` once a valid 101 response has been
        received (``leftover`` are the bytes after it: the first frames), or None
        while more bytes are needed. Raises a :class:`WSHandshakeError` for a
        rejected or malformed response (for a non-101 response, once its body
        has arrived).
        """
        self._buf += data
        if self._head is None:
            if len(self._buf) >= 2 and looks_like_tls(self._buf):
                raise self._tls_error()
            try:
                end = self._scanner.find_end(self._buf)
            except HeadTooLarge as exc:
                if exc.kind == "head":
                    message = f"upgrade response head exceeds {exc.limit} bytes"
                else:
                    message = f"malformed upgrade response: {exc}"
                # The cause says which limit (picows.websockets raises websockets' class for it).
                # What was read of the head (a limit on lines or headers can end it before the blank line).
                end = self._buf.find(b"\r\n\r\n")
                raw = self._buf[:end] if end >= 0 else self._buf[: self._head_limits.max_head]
                raw_body = None if exc.kind == "head" else b""
                raise WSInvalidMessageError(message, raw_header=bytes(raw), raw_body=raw_body) from exc
            if end < 0:
                return None
            self._head = bytes(self._buf[:end])
            del self._buf[: end + 4]
            result = self._on_head(self._head)
            if result is not None:
                return result
        # Collecting the body of a non-101 response.
        max_body = self._head_limits.max_body
        if self._body_needed == _CHUNKED:
            try:
                chunked = decode_chunked(self._buf)
            except HeadError:
                self._body_needed = max_body  # malformed: the body ends with the connection
            else:
                if chunked is not None:
                    raise self._final_error(*chunked)
                if len(self._buf) >= max_body:
                    raise self._final_error()
                return None
        if self._body_needed <= len(self._buf) or len(self._buf) >= max_body:
            raise self._final_error()
        return None

    def _on_head(self, head: bytes) -> tuple[WSUpgradeResponse, bytes] | None:
        try:
            start, headers = parse_head(head, self._head_limits.max_headers)
            version, status = _parse_status_line(start)
        except HeadError as exc:
            raise WSInvalidMessageError(
                f"malformed upgrade response: {exc}", raw_header=head, raw_body=bytes(self._buf)
            ) from None
        response = WSUpgradeResponse(version, status, headers, None)
        self._response = response
        if status != http.HTTPStatus.SWITCHING_PROTOCOLS:
            self._error = WSInvalidStatusError(
                "expected upgrade response with status 101 Switching Protocols, "
                f"but received {int(status)} {status.phrase}".rstrip(),
                raw_header=head,
                response=response,
            )
            self._error._request = self.request
            self._body_needed = _body_length(status, headers, self._head_limits.max_body)
            return None
        self._check_101(response, head)
        leftover = bytes(self._buf)
        self._buf = bytearray()
        return response, leftover

    def _check_101(self, response: WSUpgradeResponse, head: bytes) -> None:
        headers = response.headers
        body = bytes(self._buf)

        def invalid(cls: type[WSInvalidHeaderError], name: str, why: str) -> WSInvalidHeaderError:
            values = headers.getall(name, [])
            value = ", ".join(values) if values else None
            return cls(f"invalid upgrade response: {why}", name, value, head, body, response)

        if response.version != b"HTTP/1.1":
            version = decode(response.version)
            raise WSInvalidMessageError(
                f"malformed upgrade response: a 101 response must be HTTP/1.1, got {version}",
                head,
                body,
                response,
            )
        if "Transfer-Encoding" in headers:
            why = "a 101 response cannot have Transfer-Encoding"
            raise invalid(WSInvalidHeaderError, "Transfer-Encoding", why)
        lengths = headers.getall("Content-Length", [])
        if lengths and (len(lengths) > 1 or not lengths[0] or lengths[0].strip("0")):
            why = f"a 101 response has no body, but Content-Length is {lengths}"
            raise invalid(WSInvalidHeaderError, "Content-Length", why)
        upgrade = header_tokens(headers, "Upgrade")
        if upgrade != ["websocket"]:
            raise invalid(WSInvalidUpgradeError, "Upgrade", f"Upgrade must be 'websocket', got {upgrade}")
        connection = header_tokens(headers, "Connection")
        if "upgrade" not in connection:
            why = f"Connection must contain 'upgrade', got {connection}"
            raise invalid(WSInvalidUpgradeError, "Connection", why)
        accept = headers.getall("Sec-WebSocket-Accept", [])
        if not accept:
            raise invalid(WSInvalidHeaderError, "Sec-WebSocket-Accept", "Sec-WebSocket-Accept is missing")
        if accept != [compute_accept_key(self.key)]:
            raise invalid(
                WSInvalidHeaderError,
                "Sec-WebSocket-Accept",
                f"wrong Sec-WebSocket-Accept {accept} (expected {compute_accept_key(self.key)!r})",
            )
        extensions = headers.getall("Sec-WebSocket-Extensions", [])
        if extensions and not self._user_extensions:
            if self._deflate is None:
                why = f"the server selected an extension that was not offered: {extensions}"
                raise invalid(WSInvalidHeaderError, "Sec-WebSocket-Extensions", why)
            try:
                if self._other_extensions:
                    extensions = deflate_elements(extensions)
                self.deflate_agreement = accept_response(self._deflate, extensions)
            except ValueError as exc:
                raise invalid(
                    WSInvalidHeaderError, "Sec-WebSocket-Extensions", f"Sec-WebSocket-Extensions: {exc}"
                ) from None
        chosen = header_tokens(headers, "Sec-WebSocket-Protocol")
        if chosen and (len(chosen) != 1 or chosen[0] not in self.offered_protocols):
            raise invalid(
                WSInvalidHeaderError,
                "Sec-WebSocket-Protocol",
                f"the server selected a subprotocol that was not offered: {chosen}",
            )

    def _final_error(self, end: int | None = None, decoded: bytes | None = None) -> WSHandshakeError:
        """The non-101 error, with the body: ``raw_body`` as received, ``response.body`` decoded."""
        assert self._error is not None
        max_body = self._head_limits.max_body
        if end is None:
            end = max_body if self._body_needed == _CHUNKED else self._body_needed
        raw = bytes(self._buf[: min(end, max_body)])
        self._error.raw_body = raw
        if self._response is not None:
            self._response.body = raw if decoded is None else decoded
        return self._error

    def _tls_error(self) -> WSInvalidMessageError:
        hint = "" if self.url.is_secure else ": it speaks TLS, use a wss:// URL"
        return WSInvalidMessageError(
            f"the server answered the upgrade request with a TLS record, not HTTP{hint}",
            raw_header=bytes(self._buf[:MAX_HANDSHAKE_HEAD_SIZE]),
        )

    def connection_lost_error(self) -> WSHandshakeError:
        """The error to report when the connection ends before the handshake completed.

        Says what arrived before the end, and the likely cause when a plain
        ``ws://`` connection reached a TLS server.
        """
        if self._error is not None:
            return self._final_error()
        received = bytes(self._buf)
        if looks_like_tls(received):
            return self._tls_error()
        if received:
            return WSHandshakeError(
                "connection closed during the opening handshake, after "
                f"{len(received)} bytes of an incomplete upgrade response",
                raw_header=received,
            )
        hint = (
            ""
            if self.url.is_secure
            else " (a TLS server closes plain connections like this: does the URL need wss://?)"
        )
        return WSHandshakeError(
            f"connection closed during the opening handshake: the server closed it without answering{hint}"
        )


def _parse_status_line(start: bytes) -> tuple[bytes, http.HTTPStatus]:
    parts = start.split(b" ", 2)
    if len(parts) < 2 or not _STATUS_LINE_VERSION.fullmatch(parts[0]):
        raise HeadError(f"malformed status line '{_shown(start)}'")
    code = parts[1]
    if len(code) != 3 or not code.isdigit() or not code.isascii():
        raise HeadError(f"malformed status code '{_shown(code)}'")
    number = int(code)
    if not 100 <= number < 600:
        raise HeadError(f"unsupported status code {number}")
    try:
        return parts[0], http.HTTPStatus(number)
    except ValueError:
        phrase = parts[2].decode("latin-1") if len(parts) > 2 else ""
        return parts[0], PhrasedStatus(number, phrase)  # type: ignore[return-value]


def _body_length(status: http.HTTPStatus, headers: CIMultiDict[str], max_body: int) -> int:
    """The body size a non-101 response announces; ``max_body``: until the connection ends."""
    if status < 200 or status in _NO_BODY_STATUSES:
        return 0
    if header_tokens(headers, "Transfer-Encoding")[-1:] == ["chunked"]:
        return _CHUNKED  # a server that keeps the connection open after its error page
    lengths = headers.getall("Content-Length", [])
    if len(lengths) == 1 and lengths[0].isdigit() and lengths[0].isascii():
        return int(lengths[0])
    return max_body


# --------------------------------------------------------------------------
# Server side
# --------------------------------------------------------------------------


class ServerUpgradeResult:
    """What the server protocol must do once the request is answered."""

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
        self.request = request  # None when the request was malformed (never routed)
        self.response = response
        self.leftover = leftover  # bytes after the request: the first frames
        self.deflate_agreement = deflate_agreement  # permessage-deflate accepted in the 101


class RoutePending:
    """``ws_listener_factory`` returned an awaitable: await it, then call ``ServerUpgrade.route_finished``."""

    __slots__ = ("awaitable",)

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self.awaitable = awaitable


class ServerUpgrade:
    """Reads an HTTP request, routes it through ``ws_listener_factory`` and builds the answer.

    * a malformed request (see ``_http.py`` and :meth:`_parse_request`) gets
      400 and is never routed;
    * every well-formed ``GET`` is routed; a non-101 answer (404 for None,
      the factory's own 200/3xx/4xx, 500 when it raised) is sent and the
      connection closed;
    * a 101 is sent only when the request is a valid WebSocket upgrade
      (else 400) and the listener is usable (else 500).

    ``lenient_request_line`` (picows.websockets' server, which answers as the
    websockets package does) also routes requests with any method (visible
    ASCII), HTTP/1.0 requests and requests without a Host header; the factory
    answers them, and a 101 for one is refused with 405 (``Allow: GET``) or 505.

    When the factory returns an awaitable, :meth:`feed` returns a
    :class:`RoutePending`; bytes that arrive meanwhile are kept for the
    listener, and the protocol finishes with :meth:`route_finished` or
    :meth:`route_failed`.
    """

    def __init__(
        self,
        listener_factory: Callable[[WSUpgradeRequest], Any],
        listener_class: type,
        logger: AnyLogger,
        remote_address: Any = None,
        deflate: PerMessageDeflate | None = None,
        lenient_request_line: bool = False,
        deflate_after_extensions: bool = False,
        head_limits: HeadLimits = DEFAULT_HEAD_LIMITS,
        refuse_large_head: Callable[[HeadTooLarge], WSUpgradeResponse] | None = None,
    ) -> None:
        self._factory = listener_factory
        self._head_limits = head_limits
        self._scanner = HeadScanner(head_limits)
        self._refuse_large_head = refuse_large_head
        self._lenient = lenient_request_line
        self._deflate = deflate
        self._deflate_after_extensions = deflate_after_extensions
        self._listener_class = listener_class
        self._logger = logger
        self._remote_address = remote_address
        self._buf = bytearray()
        self._request: WSUpgradeRequest | None = None  # set once the request is being routed
        self._refused = False  # a non-101 answer was made: what arrives next is discarded
        #: Bytes discarded after a refusal (the connection's linger watches it).
        self.discarded = 0

    @property
    def early_data_size(self) -> int:
        """Bytes received after the request head, kept while an async factory runs."""
        return len(self._buf) if self._request is not None else 0

    def feed(self, data: bytes) -> ServerUpgradeResult | RoutePending | None:
        """Feed received bytes.

        Returns None while the request head is incomplete (or while an async
        factory runs, or after a non-101 answer: then the bytes are only
        counted in :attr:`discarded`), the result once the request is answered, or a
        :class:`RoutePending`. Raises :class:`WSError` when the head exceeds
        the size limit (the connection should simply be dropped).
        """
        if self._refused:
            self.discarded += len(data)
            return None
        self._buf += data
        if self._request is not None:
            return None  # an async factory is running: these are the first frames
        if len(self._buf) >= 2 and looks_like_tls(self._buf):
            return self._bad_request("this server speaks plain HTTP, but the client started a TLS handshake")
        try:
            end = self._scanner.find_end(self._buf)
        except HeadTooLarge as exc:
            return self._head_too_large(exc)
        if end < 0:
            return None
        head = bytes(self._buf[:end])
        del self._buf[: end + 4]
        try:
            request = self._parse_request(head)
        except HeadError as exc:
            return self._bad_request(str(exc))
        self._request = request
        try:
            routed = self._factory(request)
        except Exception as exc:
            return self.route_failed(exc)
        if not isinstance(routed, self._listener_class) and inspect.isawaitable(routed):
            return RoutePending(routed)
        return self.route_finished(routed)

    def _parse_request(self, head: bytes) -> WSUpgradeRequest:
        """A well-formed HTTP/1.1 GET request, or :class:`HeadError` with the reason."""
        start, headers = parse_head(head, self._head_limits.max_headers)
        parts = start.split(b" ")
        if len(parts) != 3:
            raise HeadError(f"malformed request line '{_shown(start)}'")
        method, target, version = parts
        if method != b"GET" and not (self._lenient and _LENIENT_METHOD.fullmatch(method)):
            raise HeadError(f"method must be GET, got {_shown(method, 20)}")
        if _REQUEST_TARGET.fullmatch(target) is None:
            raise HeadError(f"malformed request target '{_shown(target)}'")
        if version != b"HTTP/1.1" and not (self._lenient and version == b"HTTP/1.0"):
            raise HeadError(f"HTTP version must be HTTP/1.1, got {_shown(version, 20)}")
        hosts = len(headers.getall("Host", []))
        # HTTP/1.0 did not require Host; a lenient server (websockets does not check it) neither.
        if hosts != 1 and not (hosts == 0 and (version == b"HTTP/1.0" or self._lenient)):
            raise HeadError("need exactly one Host header")
        if "Transfer-Encoding" in headers:
            raise HeadError("Transfer-Encoding is not allowed: the request cannot have a body")
        if headers.getall("Content-Length", ["0"]) != ["0"]:
            raise HeadError("the request cannot have a body: Content-Length must be a single 0")
        return WSUpgradeRequest(method, target, version, headers, self._remote_address)

    # -- answers -------------------------------------------------------------------

    def route_finished(self, routed: Any) -> ServerUpgradeResult:
        """The answer for what ``ws_listener_factory`` returned (or its awaitable resolved to)."""
        request = self._request
        assert request is not None
        if isinstance(routed, self._listener_class):
            response, listener = WSUpgradeResponse.create_101_response(), routed
        elif isinstance(routed, WSUpgradeResponseWithListener):
            response, listener = routed.response, routed.listener
        elif routed is None:
            not_found = WSUpgradeResponse.create_error_response(http.HTTPStatus.NOT_FOUND, b"Not Found\n")
            return self._refuse(not_found)
        else:
            self._logger.error(
                "ws_listener_factory returned %r; expected a WSListener, a "
                "WSUpgradeResponseWithListener or None, answering 500",
                type(routed).__name__,
            )
            return self._server_error(b"invalid ws_listener_factory result\n")
        if response.status != http.HTTPStatus.SWITCHING_PROTOCOLS:
            return self._refuse(response)
        refusal = _request_line_refusal(request)
        if refusal is not None:
            self._logger.info("rejecting an upgrade that is not GET over HTTP/1.1: %r", request)
            return self._refuse(refusal)
        problem = _upgrade_problem(request.headers)
        if problem is not None:
            reason, extra_headers = problem
            self._logger.info("rejecting a request that is not a valid WebSocket upgrade: %s", reason)
            return self._refuse(
                WSUpgradeResponse.create_error_response(
                    http.HTTPStatus.BAD_REQUEST, reason.encode() + b"\n", extra_headers
                )
            )
        if not isinstance(listener, self._listener_class):
            self._logger.error(
                "ws_listener_factory returned a 101 response with a listener of type %r, "
                "not a WSListener, answering 500",
                type(listener).__name__,
            )
            return self._server_error(b"invalid ws_listener_factory result\n")
        try:
            check_listener(listener)
        except TypeError as exc:
            self._logger.error(
                "ws_listener_factory returned a listener picows cannot use, answering 500: %s", exc
            )
            return self._server_error(b"invalid ws_listener_factory result\n")
        key = request.headers["Sec-WebSocket-Key"]
        response.headers["Sec-WebSocket-Accept"] = compute_accept_key(key)
        agreement = None
        # A response that names extensions itself is the application's negotiation (unless
        # deflate_after_extensions: the core's permessage-deflate answer follows other extensions).
        answered = response.headers.getall("Sec-WebSocket-Extensions", [])
        if self._deflate is not None and (not answered or self._deflate_after_extensions):
            offers = request.headers.getall("Sec-WebSocket-Extensions", [])
            agreement = answer_offers(self._deflate, offers)
            if agreement is not None and names_deflate(answered):
                # (deflate_after_extensions only) The layer wrote an answer naming permessage-deflate:
                # ours, written ahead so that its hooks see the final response; else its own negotiation.
                if not _answers_with(answered, agreement.header):
                    agreement = None
            elif agreement is not None:
                response.headers["Sec-WebSocket-Extensions"] = ", ".join([*answered, agreement.header])
        leftover = bytes(self._buf)
        self._buf = bytearray()
        return ServerUpgradeResult(response.to_bytes(), listener, request, response, leftover, agreement)

    def route_failed(self, exc: BaseException) -> ServerUpgradeResult:
        """The answer when ``ws_listener_factory`` (or its awaitable) raised: 500 with the exception text."""
        self._logger.error("ws_listener_factory raised, answering 500", exc_info=exc)
        return self._server_error(str(exc).encode("utf-8", "replace"))

    def _server_error(self, body: bytes) -> ServerUpgradeResult:
        status = http.HTTPStatus.INTERNAL_SERVER_ERROR
        return self._refuse(WSUpgradeResponse.create_error_response(status, body))

    def _head_too_large(self, exc: HeadTooLarge) -> ServerUpgradeResult:
        """The answer to a request head beyond the limits: the layer's, else 400 (none for its size)."""
        if self._refuse_large_head is not None:
            self._logger.info("rejecting oversized upgrade request: %s", exc)
            return self._refuse(self._refuse_large_head(exc))
        if exc.kind == "head":
            raise WSError(f"upgrade request head exceeds {exc.limit} bytes")
        return self._bad_request(str(exc))

    def _bad_request(self, reason: str) -> ServerUpgradeResult:
        self._logger.info("rejecting malformed upgrade request: %s", reason)
        body = reason.encode("ascii", "backslashreplace") + b"\n"  # reasons quote received bytes escaped
        return self._refuse(WSUpgradeResponse.create_error_response(http.HTTPStatus.BAD_REQUEST, body))

    def _refuse(self, response: WSUpgradeResponse) -> ServerUpgradeResult:
        """A non-101 answer: it says the connection closes, and nothing after the request is kept."""
        headers = response.headers
        headers["Connection"] = "close"
        if "Content-Length" not in headers:
            headers["Content-Length"] = str(len(response.body or b""))
        self._buf = bytearray()
        self._refused = True
        return ServerUpgradeResult(response.to_bytes(), None, self._request, response, b"")


def _answers_with(values: list[str], element: str) -> bool:
    """Whether ``Sec-WebSocket-Extensions`` values hold exactly this permessage-deflate answer."""
    try:
        return element in deflate_elements(values)
    except ValueError:
        return False


def _request_line_refusal(request: WSUpgradeRequest) -> WSUpgradeResponse | None:
    """405 or 505 for a routed request that cannot be upgraded (only a lenient ServerUpgrade routes one)."""
    if request.method != b"GET":
        body = f"WebSocket upgrades need GET, got {_shown(request.method, 20)}\n".encode()
        return WSUpgradeResponse.create_error_response(
            http.HTTPStatus.METHOD_NOT_ALLOWED, body, [("Allow", "GET")]
        )
    if request.version != b"HTTP/1.1":
        body = f"WebSocket upgrades need HTTP/1.1, got {_shown(request.version, 20)}\n".encode()
        return WSUpgradeResponse.create_error_response(http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, body)
    return None


def _upgrade_problem(headers: CIMultiDict[str]) -> tuple[str, list[tuple[str, str]] | None] | None:
    """Why a well-formed request is not a valid WebSocket upgrade (and headers for the 400), or None."""
    if "websocket" not in header_tokens(headers, "Upgrade"):
        return "not a WebSocket upgrade request: 'Upgrade: websocket' is missing", None
    if "upgrade" not in header_tokens(headers, "Connection"):
        return "not a WebSocket upgrade request: the 'Connection' header must contain 'upgrade'", None
    versions = headers.getall("Sec-WebSocket-Version", [])
    if len(versions) != 1 or versions[0] not in SUPPORTED_VERSIONS:
        return (
            f"unsupported Sec-WebSocket-Version (supported: {_SUPPORTED_VERSIONS_HEADER})",
            [("Sec-WebSocket-Version", _SUPPORTED_VERSIONS_HEADER)],
        )
    keys = headers.getall("Sec-WebSocket-Key", [])
    if len(keys) != 1:
        return "need exactly one Sec-WebSocket-Key header", None
    if _WEBSOCKET_KEY.fullmatch(keys[0]) is None:
        return "Sec-WebSocket-Key must be 16 bytes in base64", None
    return None
