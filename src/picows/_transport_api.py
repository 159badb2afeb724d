"""The per-connection methods of ``WSTransport``, written once for both backends.

Each backend's ``WSTransport`` class implements the send path itself (it runs
per frame) and takes these methods into its class body
(``disconnect = _transport_api.disconnect``), so they are real methods of both
classes with one implementation and one docstring. They reach the connection's
state through ``self._protocol`` (the connection's ``WSProtocol``).
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, NoReturn, Union

from ._rules import close_frame_payload
from ._types import WSCloseCode, WSCloseHandshake, WSMsgType

if TYPE_CHECKING:
    from ._keepalive import Keepalive
    from ._pure.transport import WSTransport

__all__ = [
    "close_handshake",
    "disconnect",
    "measure_roundtrip_time",
    "notify_user_specific_pong_received",
    "send_close",
    "wait_disconnected",
]

CloseMessage = Union[bytes, bytearray, memoryview, str, None]


def wrong_thread(method: str) -> NoReturn:
    """Raise the error for a WSTransport method called off the event loop's thread."""
    raise RuntimeError(
        f"WSTransport.{method} called from a wrong thread: a connection belongs to the thread of its "
        "event loop (use loop.call_soon_threadsafe to reach it from another thread)"
    )


def _check_thread(self: WSTransport, method: str) -> None:
    if threading.get_ident() != self._thread_id:
        wrong_thread(method)


def send_close(
    self: WSTransport, close_code: WSCloseCode | int = WSCloseCode.NO_INFO, close_message: CloseMessage = None
) -> None:
    """Send a CLOSE frame; it does not disconnect.

    :param close_code: status code; ``WSCloseCode.NO_INFO`` sends an empty
        payload. Codes that may not appear on the wire (1004-1006, 1015-2999,
        >= 5000) raise ValueError.
    :param close_message: optional reason (bytes, or str encoded as UTF-8),
        at most 123 bytes; needs a close code.

    A no-op once a CLOSE was sent or when the underlying transport is closing.
    """
    _check_thread(self, "send_close")
    payload = close_frame_payload(close_code, close_message)
    if self.is_close_frame_sent or self.is_disconnected or self.underlying_transport.is_closing():
        return
    self.send(WSMsgType.CLOSE, payload)


def disconnect(self: WSTransport, graceful: bool = True) -> None:
    """Close the connection; it does not send CLOSE by itself. Idempotent.

    :param graceful: True flushes queued data before closing (``close()``);
        False drops it (``abort()``).
    """
    _check_thread(self, "disconnect")
    self._protocol._stop_io()
    if self.is_disconnected:
        return
    if graceful:
        self.underlying_transport.close()
    else:
        self.underlying_transport.abort()


async def wait_disconnected(self: WSTransport) -> None:
    """Wait until the socket is closed and ``on_ws_disconnected`` has returned.

    Shielded: cancelling the waiter does not affect the connection. On the
    client it re-raises the first exception raised by a listener callback
    (including a :class:`WSProtocolError` raised to close the connection), or
    a :class:`WSProtocolError` (``code``, alias ``close_code``) describing the
    protocol violation of the peer that ended the connection. On the server it
    returns normally.
    """
    _check_thread(self, "wait_disconnected")
    conn = self._protocol
    waiter = conn._disconnection_waiter()
    if waiter is not None:
        await asyncio.shield(waiter)
    if self.is_client_side and conn._error is not None:
        raise conn._error


async def measure_roundtrip_time(self: WSTransport, rounds: int) -> list[float]:
    """Measure the round-trip time with ``rounds`` sequential ping/pong exchanges.

    Uses the listener's :meth:`WSListener.send_user_specific_ping` and
    :meth:`WSListener.is_user_specific_pong` hooks. If an auto-ping is
    outstanding, its pong is awaited first. Raises ConnectionResetError if
    the connection is lost meanwhile.

    :return: round-trip times in seconds, one per round.
    """
    _check_thread(self, "measure_roundtrip_time")
    keepalive: Keepalive = self._protocol._get_keepalive()
    return await keepalive.measure(rounds)


def notify_user_specific_pong_received(self: WSTransport) -> None:
    """Tell the ping machinery that the awaited pong arrived.

    For pongs recognised inside ``on_ws_frame`` rather than by
    :meth:`WSListener.is_user_specific_pong`. Harmless when no pong is awaited.
    """
    _check_thread(self, "notify_user_specific_pong_received")
    keepalive = self._protocol._keepalive
    if keepalive is not None:
        keepalive.pong_received()


def _close_handshake(self: WSTransport) -> WSCloseHandshake | None:
    handshake: WSCloseHandshake | None = self._protocol._close_handshake()
    return handshake


close_handshake = property(
    _close_handshake,
    doc="""The closing handshake so far (:class:`WSCloseHandshake`).

    None until a CLOSE frame was sent or received.
    ``recv`` is the peer's CLOSE (code and reason), ``sent`` ours, and
    ``recv_then_sent`` tells whether the peer closed first. After an abrupt
    loss either may be missing.""",
)
