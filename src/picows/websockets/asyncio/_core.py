"""The only module of :mod:`picows.websockets` that talks to picows' callback core.

It picks the per-message implementation for the active backend, converts
handshake objects and errors between the core's types and websockets', and
wraps :func:`picows.ws_connect` / :func:`picows.ws_create_server`.

Stopgaps until the core has these (see ``CORE_NEEDS.md``): close-frame
bookkeeping is done by the connection itself (core: ``close_handshake``);
async ``process_request`` hooks run only when they finish without suspending
(core: async listener factories); the peer address is unknown during the
handshake (core: peer address on ``WSUpgradeRequest``); handshake errors are
classified from the core's ``WSError`` (core: typed handshake errors).
"""

from __future__ import annotations

import asyncio
import http
import os
import ssl as ssl_module
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Callable

import picows

from ..datastructures import Headers
from ..exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    SecurityError,
)
from ..http11 import Request, Response

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

# Redirects followed by connect(), as websockets (same environment variable).
MAX_REDIRECTS = int(os.environ.get("WEBSOCKETS_MAX_REDIRECTS", "10"))

# Largest frame the core accepts when no limit is wanted.
UNLIMITED_FRAME_SIZE = 2**62


def request_from_core(request: Any) -> Request:
    """A :class:`Request` from the core's ``WSUpgradeRequest``."""
    return Request(request.path.decode("utf-8", "surrogateescape"), Headers(list(request.headers.items())))


def response_from_core(response: Any) -> Response:
    """A :class:`Response` from the core's ``WSUpgradeResponse``."""
    status = int(response.status)
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return Response(status, phrase, Headers(list(response.headers.items())), bytes(response.body or b""))


def response_to_core(response: Response) -> Any:
    """The core's ``WSUpgradeResponse`` for a :class:`Response` we send."""
    headers = list(response.headers.raw_items())
    if response.status_code == 101:
        reserved = {"upgrade", "connection", "sec-websocket-accept"}
        return picows.WSUpgradeResponse.create_101_response(
            [(name, value) for name, value in headers if name.lower() not in reserved]
        )
    from multidict import CIMultiDict

    core_headers: CIMultiDict[str] = CIMultiDict(headers)
    body = bytes(response.body)
    core_headers.popall("Content-Length", None)
    core_headers["Content-Length"] = str(len(body))
    core_headers.setdefault("Connection", "close")
    try:
        status: Any = http.HTTPStatus(response.status_code)
    except ValueError:
        status = response.status_code
    return picows.WSUpgradeResponse(b"HTTP/1.1", status, core_headers, body)


def with_listener(response: Any, listener: Any) -> Any:
    return picows.WSUpgradeResponseWithListener(response, listener)


def handshake_error(exc: picows.WSError) -> InvalidHandshake:
    """The websockets exception for a failed opening handshake (core ``WSError``)."""
    response = getattr(exc, "response", None)
    message = str(exc)
    if message.startswith("too many redirects"):
        return SecurityError(f"more than {MAX_REDIRECTS} redirects")
    if message.startswith("refusing to follow a redirect from wss://"):
        target = message.rsplit("(", 1)[-1].rstrip(")")
        return SecurityError(f"cannot follow redirect to non-secure URI {target}")
    if response is not None and int(response.status) != 101:
        return InvalidStatus(response_from_core(response))
    lowered = message.lower()
    if "subprotocol" in lowered:
        return NegotiationError("no subprotocols supported")
    if "sec-websocket-accept" in lowered:
        value = None if response is None else response.headers.get("Sec-WebSocket-Accept")
        return InvalidHeader("Sec-WebSocket-Accept", value)
    for name in ("Upgrade", "Connection"):
        if f"{name.lower()} header" in lowered or f"'{name.lower()}'" in lowered:
            value = None if response is None else response.headers.get(name)
            return InvalidUpgrade(name, value)
    if response is None:
        invalid = InvalidMessage("did not receive a valid HTTP response")
        if "connection closed" in lowered:
            # As websockets: a network failure (retried by process_exception).
            invalid.__cause__ = EOFError("connection closed while reading HTTP status line")
        return invalid
    return InvalidHandshake(message)


async def core_connect(
    listener_factory: Callable[[], Any],
    uri: str,
    *,
    ssl_context: ssl_module.SSLContext | None,
    extra_headers: list[tuple[str, str]],
    handshake_timeout: float | None,
    max_frame_size: int | None,
    proxy: str | None,
    logger_name: str,
    **kwargs: Any,
) -> Any:
    """Open a connection with the core and return the listener (our connection object)."""
    try:
        _, listener = await picows.ws_connect(
            listener_factory,
            uri,
            ssl_context=ssl_context,
            disconnect_on_exception=True,
            websocket_handshake_timeout=1e9 if handshake_timeout is None else handshake_timeout,
            logger_name=logger_name,
            enable_auto_pong=True,
            max_frame_size=UNLIMITED_FRAME_SIZE if max_frame_size is None else max_frame_size,
            extra_headers=extra_headers,
            max_redirects=MAX_REDIRECTS,
            proxy=proxy,
            **kwargs,
        )
    except picows.WSInvalidURL as exc:
        raise InvalidURI(uri, exc.msg) from exc
    except picows.WSError as exc:
        error = handshake_error(exc)
        raise error from (error.__cause__ or exc)
    return listener


async def core_serve(
    route: Callable[[Any], Any],
    host: Any,
    port: Any,
    *,
    handshake_timeout: float | None,
    max_frame_size: int | None,
    logger_name: str,
    **kwargs: Any,
) -> asyncio.Server:
    """Start the core's server; ``route(core_request)`` returns a core route result."""
    return await picows.ws_create_server(
        route,
        host,
        port,
        disconnect_on_exception=True,
        websocket_handshake_timeout=1e9 if handshake_timeout is None else handshake_timeout,
        logger_name=logger_name,
        enable_auto_pong=True,
        max_frame_size=UNLIMITED_FRAME_SIZE if max_frame_size is None else max_frame_size,
        **kwargs,
    )


def run_without_suspending(awaitable: Awaitable[Any], hook: str) -> Any:
    """Stopgap: the result of an async hook that completes without suspending.

    The core's listener factory is synchronous until async factories land;
    hooks that really await I/O need that core feature.
    """
    coro = awaitable.__await__()
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError(
        f"async {hook} suspended (awaited I/O): not supported until picows' server core "
        "accepts async listener factories"
    )


CloseCode = picows.WSCloseCode
MsgType = picows.WSMsgType


def close_sent_by_core(transport: Any) -> tuple[int, str] | None:
    """``(code, reason)`` of a CLOSE the core sent by itself (a protocol violation it detected).

    Uses ``transport.close_handshake`` when the core has it; until then the
    client learns the code from ``wait_disconnected()``'s ``WSError`` (the
    future is already resolved when ``on_ws_disconnected`` runs) and the
    server does not learn it (None).
    """
    handshake = getattr(transport, "close_handshake", None)
    if handshake is not None and getattr(handshake, "sent", None) is not None:
        return int(handshake.sent.code), str(handshake.sent.reason or "")
    if not transport.is_client_side or not transport.is_close_frame_sent:
        return None
    try:
        run_without_suspending(transport.wait_disconnected(), "wait_disconnected")
    except picows.WSError as exc:
        if exc.close_code is not None:
            return int(exc.close_code), str(exc).removeprefix("protocol violation: ")[:123]
    except Exception:  # noqa: BLE001 - not resolved yet, or a callback's error: unknown code
        return None
    return None
