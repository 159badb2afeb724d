"""The only module of :mod:`picows.websockets` that talks to picows' callback core.

It picks the per-message implementation for the active backend, converts
handshake objects and errors between the core's types and websockets'
(class to class: the core's typed handshake errors carry what websockets'
exceptions need), and wraps :func:`picows.ws_connect` /
:func:`picows.ws_create_server` with the options the layer always uses.
"""

from __future__ import annotations

import asyncio
import http
import os
import re
import ssl as ssl_module
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Callable

import picows
from picows._deflate_negotiation import answer_offers
from picows._handshake import PhrasedStatus, compute_accept_key
from picows._http import HeadLimits, HeadTooLarge

from ..datastructures import Headers
from ..exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidProxyStatus,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from ..http11 import MAX_BODY_SIZE, MAX_LINE_LENGTH, MAX_NUM_HEADERS, Request, Response

__all__ = [
    "BACKEND",
    "MessageListener",
    "core_connect",
    "core_serve",
    "request_from_core",
    "response_from_core",
    "response_to_core",
]

BACKEND = picows.BACKEND


def _load_message_module() -> Any:
    if BACKEND == "cython":
        from . import _messages_c as compiled

        if str(getattr(compiled, "__file__", "")).endswith(".py"):
            raise ImportError(
                "picows uses its compiled backend but picows.websockets.asyncio._messages_c "
                "was not compiled; reinstall picows"
            )
        return compiled
    from . import _messages as pure

    return pure


messages_module = _load_message_module()
if TYPE_CHECKING:
    from ._messages import MessageListener
else:
    MessageListener = messages_module.MessageListener

# websockets' limits, read from the same environment variables when the module is imported.
#: Redirects followed by connect().
MAX_REDIRECTS = int(os.environ.get("WEBSOCKETS_MAX_REDIRECTS", "10"))
#: Frames recv() reassembles into one message (more: the connection fails with 1009).
MAX_FRAGMENTS = int(os.environ.get("WEBSOCKETS_MAX_FRAGMENTS", "4096"))

# Largest frame the core accepts when no limit is wanted.
UNLIMITED_FRAME_SIZE = 2**62


# Header values on the wire are bytes. websockets has them as ISO-8859-1 (every byte one character,
# U+0000..U+00FF); the core has them as UTF-8 with other bytes as surrogates. Both round-trip the
# bytes exactly, so the layer converts at its edge and users see websockets' strings.
def headers_from_core(pairs: Iterable[tuple[str, str]]) -> Headers:
    """The core's received headers as websockets decodes them (ISO-8859-1)."""
    return Headers._from_wire(
        [(name, value if value.isascii() else value.encode("utf-8", "surrogateescape").decode("latin-1"))
         for name, value in pairs]
    )  # fmt: skip


def headers_to_core(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers to send, as the core encodes them, so that the bytes sent are websockets' (ISO-8859-1).

    A value beyond U+00FF (only ``Headers.set_insecure`` lets one in) goes as UTF-8.
    """
    converted = []
    for name, value in pairs:
        if not value.isascii():
            try:
                value = value.encode("latin-1").decode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                pass
        converted.append((name, value))
    return converted


def request_from_core(request: Any) -> Request:
    """A :class:`Request` from the core's ``WSUpgradeRequest``."""
    return Request(
        request.path.decode("utf-8", "surrogateescape"),
        headers_from_core(request.headers.items()),
        request.method.decode("ascii"),
        request.version.decode("ascii"),
    )


def response_from_core(response: Any, raw_header: bytes | None = None) -> Response:
    """A :class:`Response` from the core's ``WSUpgradeResponse``.

    The reason phrase is the one received (websockets keeps it) when the raw
    head is known, else the status's own (the core's has ``phrase``).
    """
    status = int(response.status)
    phrase = str(getattr(response.status, "phrase", ""))
    if raw_header is not None:
        parts = raw_header.split(b"\r\n", 1)[0].split(b" ", 2)
        phrase = parts[2].decode("latin-1") if len(parts) > 2 else ""
    return Response(status, phrase, headers_from_core(response.headers.items()), bytes(response.body or b""))


def response_to_core(response: Response) -> Any:
    """The core's ``WSUpgradeResponse`` for a :class:`Response` we send."""
    from multidict import CIMultiDict

    headers = headers_to_core(response.headers.raw_items())
    if response.status_code == 101:
        # As they are, in their order (the core writes Sec-WebSocket-Accept in place, or adds it).
        return picows.WSUpgradeResponse(
            b"HTTP/1.1", http.HTTPStatus.SWITCHING_PROTOCOLS, CIMultiDict(headers), None
        )
    core_headers: CIMultiDict[str] = CIMultiDict(headers)
    body = bytes(response.body)
    core_headers.popall("Content-Length", None)
    core_headers["Content-Length"] = str(len(body))
    core_headers.setdefault("Connection", "close")
    # As websockets, the status line carries reason_phrase as given, for any status code.
    status = PhrasedStatus(response.status_code, response.reason_phrase)
    return picows.WSUpgradeResponse(b"HTTP/1.1", status, core_headers, body)  # type: ignore[arg-type]


#: The core's permessage-deflate options (built from websockets' factories by ``_extensions``).
permessage_deflate = picows.PerMessageDeflate


def deflate_options(compression: str | None, side: str, max_message: int | None) -> Any:
    """The core's ``permessage_deflate`` for websockets' ``compression`` argument (None: not negotiated).

    websockets' defaults: memLevel 5; the client offers ``client_max_window_bits``
    without a value (no ``server_max_window_bits``), the server caps both windows
    at 12 bits; every message is compressed (no size threshold). The inflated
    size of a received message is bounded by ``max_size`` (1009 beyond it).
    """
    if compression is None:
        return None
    if compression != "deflate":
        raise ValueError(f"unsupported compression: {compression}")
    common: dict[str, Any] = {"mem_level": 5, "compress_threshold": 0, "max_message_size": max_message}
    if side == "client":
        return picows.PerMessageDeflate(client_max_window_bits=True, **common)
    return picows.PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=12, **common)


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (what the core sends)."""
    return compute_accept_key(key)


def deflate_answer(options: Any, offers: list[str]) -> str | None:
    """The core's permessage-deflate answer to the client's offers, or None when it declines them all.

    The server writes it into its response ahead of the core (which recognises its own answer),
    so that ``process_response`` and ``connection.response`` see the headers sent, as in websockets.
    """
    agreement = answer_offers(options, offers)
    return None if agreement is None else agreement.header


def with_listener(response: Any, listener: Any) -> Any:
    return picows.WSUpgradeResponseWithListener(response, listener)


def handshake_error(exc: picows.WSError, subprotocols: Sequence[str] | None) -> InvalidHandshake:
    """websockets' exception for the core's failed opening handshake (``subprotocols``: what we offered)."""
    if isinstance(exc, picows.WSInvalidStatusError):
        body_error = _body_error(exc.response, exc.raw_body or b"")
        if body_error is not None:
            invalid = InvalidMessage("did not receive a valid HTTP response")
            invalid.__cause__ = body_error
            return invalid
        return InvalidStatus(response_from_core(exc.response, exc.raw_header))
    if isinstance(exc, picows.WSInvalidUpgradeError):
        return InvalidUpgrade(exc.name, exc.value)
    if isinstance(exc, picows.WSInvalidHeaderError):
        return _header_error(exc.name, exc.value, subprotocols)
    if isinstance(exc, picows.WSInvalidMessageError):
        invalid = InvalidMessage("did not receive a valid HTTP response")
        if isinstance(exc.__cause__, HeadTooLarge):
            too_large = head_limit_error(exc.__cause__, is_request=False)
            if isinstance(too_large, StatusLineTooLong):
                return too_large  # raised as it is by websockets
            invalid.__cause__ = too_large
        else:
            invalid.__cause__ = ValueError(str(exc))
        return invalid
    if isinstance(exc, picows.WSHandshakeError):
        # The base class: the connection ended before a complete response. As websockets: a network
        # failure (retried by process_exception).
        invalid = InvalidMessage("did not receive a valid HTTP response")
        invalid.__cause__ = EOFError("connection closed while reading HTTP status line")
        return invalid
    return InvalidHandshake(str(exc))


#: websockets' bounds on the peer's handshake head, for the core (no bound on the whole head but
#: these: the longest head they allow).
HEAD_LIMITS = HeadLimits(
    max_head=(MAX_NUM_HEADERS + 1) * MAX_LINE_LENGTH,
    max_headers=MAX_NUM_HEADERS,
    max_line=MAX_LINE_LENGTH,
    # A byte more than websockets reads, so a longer body is seen as longer; and room for the
    # chunked encoding's framing around MAX_BODY_SIZE bytes of body.
    max_body=MAX_BODY_SIZE + 1 + 64 * 1024,
)


def head_limit_error(exc: HeadTooLarge, is_request: bool) -> SecurityError:
    """websockets' exception, with its wording, for a head beyond :data:`HEAD_LIMITS`."""
    if exc.kind == "headers":
        return TooManyHeaders(f"expected no more than {exc.limit} headers")
    text = f"read {exc.size} bytes, expected no more than {exc.limit} bytes"
    if exc.kind == "start-line":
        return RequestLineTooLong(text) if is_request else StatusLineTooLong(text)
    if exc.kind == "header-line":
        return HeaderLineTooLong(text)
    return SecurityError(text)


_DIGITS = re.compile(r"[0-9]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]+)[^\r\n]*\r\n")


def _body_error(response: Any, raw_body: bytes) -> Exception | None:
    """What websockets raises reading the body of this refusal (the cause of InvalidMessage), if anything.

    ``raw_body`` is the body as received (chunked encoding included), cut at HEAD_LIMITS.max_body.
    """
    status = int(response.status)
    if status < 200 or status in (204, 304):
        return None
    headers = response.headers
    coding = headers.get("Transfer-Encoding")
    if coding is not None:
        if coding != "chunked":
            return NotImplementedError(f"transfer coding {coding} isn't supported")
        size, pos = 0, 0
        while (match := _CHUNK_SIZE.match(raw_body, pos)) is not None:
            chunk = int(match.group(1), 16)
            if size + chunk > MAX_BODY_SIZE:
                return SecurityError(f"chunk too large: {chunk} bytes after {size} bytes")
            size, pos = size + chunk, match.end() + chunk + 2
            if chunk == 0:
                break
        return None
    length = headers.get("Content-Length")
    if length is not None:
        if _DIGITS.fullmatch(length) is None:
            return SecurityError(f"invalid content length: {length}")
        if int(length) > MAX_BODY_SIZE:
            return SecurityError(f"body too large: {int(length)} bytes")
        return None
    if len(raw_body) > MAX_BODY_SIZE:
        return SecurityError(f"read {len(raw_body)} bytes, expected no more than {MAX_BODY_SIZE} bytes")
    return None


def _header_error(name: str, value: str | None, subprotocols: Sequence[str] | None) -> InvalidHandshake:
    """websockets' exception for a wrong header of the 101 response."""
    lowered = name.lower()
    if lowered == "sec-websocket-protocol" and value is not None:
        # websockets' checks, in its order.
        if subprotocols is None:
            return NegotiationError("no subprotocols supported")
        names = [token.strip() for token in value.split(",")]
        if len(names) > 1:
            return InvalidHeader(name, f"multiple values: {', '.join(names)}")
        return NegotiationError(f"unsupported subprotocol: {value}")
    if lowered == "sec-websocket-extensions" and value is not None:
        return NegotiationError(f"Unsupported extension: {value}")
    if value is not None and lowered == "sec-websocket-accept":
        return InvalidHeader(name, "multiple values") if "," in value else InvalidHeaderValue(name, value)
    return InvalidHeader(name, value)


def proxy_error(exc: Exception, proxy: str) -> ProxyError:
    """websockets' exception for a proxy that refused or broke the tunnel (python-socks' ``ProxyError``)."""
    status = getattr(exc, "error_code", None)
    if proxy.startswith(("http://", "https://")) and isinstance(status, int) and 100 <= status < 600:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        return InvalidProxyStatus(Response(status, phrase, Headers()))
    if proxy.startswith("socks"):
        return ProxyError("failed to connect to SOCKS proxy")  # websockets' text; the cause is chained
    return ProxyError(f"failed to connect through the proxy: {exc}")


def _proxy_error_class() -> type[Exception] | None:
    try:
        from python_socks import ProxyError as SocksProxyError
    except ImportError:  # pragma: no cover - a runtime dependency of picows
        return None
    return SocksProxyError


_CORE_PROXY_ERROR = _proxy_error_class()


async def core_connect(
    listener_factory: Callable[[], Any],
    uri: str,
    *,
    ssl_context: ssl_module.SSLContext | None,
    extra_headers: list[tuple[str, str]],
    handshake_timeout: float | None,
    max_frame_size: int | None,
    close_timeout: float | None,
    proxy: str | None,
    socks_remote_dns: bool | None,
    subprotocols: Sequence[str] | None,
    logger_name: str,
    auto_pong: bool = True,
    **kwargs: Any,
) -> Any:
    """Open one connection with the core (no redirects: the caller follows them); return the listener.

    ``extra_headers`` carry the whole ``User-Agent`` decision (websockets' ``user_agent_header``
    and ``additional_headers``): the core's own default is left out. ``socks_remote_dns``: whether
    a SOCKS proxy resolves the server's name (websockets' rule, not the core's scheme default).
    """
    try:
        _, listener = await picows.ws_connect(
            listener_factory,
            uri,
            ssl_context=ssl_context,
            disconnect_on_exception=True,
            websocket_handshake_timeout=handshake_timeout,
            logger_name=logger_name,
            enable_auto_pong=auto_pong,
            max_frame_size=UNLIMITED_FRAME_SIZE if max_frame_size is None else max_frame_size,
            close_timeout=close_timeout,
            extra_headers=extra_headers,
            max_redirects=0,
            proxy=proxy,
            _send_user_agent=False,
            _socks_remote_dns=socks_remote_dns,
            _head_limits=HEAD_LIMITS,
            **kwargs,
        )
    except picows.WSInvalidURL as exc:
        raise InvalidURI(uri, exc.msg) from exc
    except picows.WSError as exc:
        error = handshake_error(exc, subprotocols)
        raise error from (error.__cause__ or exc)
    except Exception as exc:
        if _CORE_PROXY_ERROR is not None and proxy is not None and isinstance(exc, _CORE_PROXY_ERROR):
            raise proxy_error(exc, proxy) from exc
        raise
    return listener


async def core_serve(
    route: Callable[[Any], Any],
    host: Any,
    port: Any,
    *,
    handshake_timeout: float | None,
    max_frame_size: int | None,
    close_timeout: float | None,
    logger_name: str,
    refuse_large_head: Callable[[HeadTooLarge], Any],
    auto_pong: bool = True,
    **kwargs: Any,
) -> asyncio.Server:
    """Start the core's server; ``route(core_request)`` returns a core route result.

    Requests with another method than GET, or over HTTP/1.0, reach ``route`` too (the core would
    answer them 400): websockets passes them to ``process_request`` and answers 405 / 505.
    A request head beyond websockets' limits is answered by ``refuse_large_head(exc)`` (the core's
    response) and never routed.
    """
    return await picows.ws_create_server(
        route,
        host,
        port,
        disconnect_on_exception=True,
        websocket_handshake_timeout=handshake_timeout,
        logger_name=logger_name,
        enable_auto_pong=auto_pong,
        max_frame_size=UNLIMITED_FRAME_SIZE if max_frame_size is None else max_frame_size,
        close_timeout=close_timeout,
        _lenient_request_line=True,
        _deflate_after_extensions=True,
        _head_limits=HEAD_LIMITS,
        _refuse_large_head=refuse_large_head,
        **kwargs,
    )


def broadcast(transports: list[Any], opcode: Any, payload: Any) -> None:
    """One message to many open connections, framed once; no connection is skipped for being slow."""
    picows.broadcast(transports, opcode, payload, skip_slow=False)


CloseCode = picows.WSCloseCode
MsgType = picows.WSMsgType


def close_sent_by_core(transport: Any) -> tuple[int, str] | None:
    """``(code, reason)`` of a CLOSE the core sent by itself (a protocol violation it detected), or None."""
    handshake = transport.close_handshake
    if handshake is None or handshake.sent is None:
        return None
    return int(handshake.sent.code), handshake.sent.reason


def connection_lost_exception(transport: Any) -> BaseException | None:
    """What asyncio reported when the TCP connection was lost (an ``OSError`` after a reset), or None."""
    return transport._protocol._lost_exc  # type: ignore[no-any-return]


def cause_of_core_close(code: int, reason: str) -> BaseException | None:
    """The exception websockets chains to ConnectionClosed for a violation the core closed for, if any."""
    if code == CloseCode.PROTOCOL_ERROR:
        return ProtocolError(reason)
    if code == CloseCode.MESSAGE_TOO_BIG:
        # The core's reasons: "frame payload of N bytes violates max allowed size (max_frame_size=M)",
        # "inflated message violates max allowed size (max_message_size=M)" (size unknown: None).
        sizes = _CORE_TOO_BIG.search(reason)
        if sizes is not None:
            return PayloadTooBig(int(sizes[1]) if sizes[1] else None, int(sizes[2]))
    return None


_CORE_TOO_BIG = re.compile(r"(?:of (\d+) bytes )?violates max allowed size \(max_\w+_size=(\d+)\)")
