"""Closing a connection after an error without losing our CLOSE frame (shared by both backends)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from ._limits import LINGER_QUIET_INTERVAL, LINGER_TIMEOUT

__all__ = ["Linger"]


class Linger:
    """Waits, after our FIN, until the peer stops sending, then closes.

    Closing a socket that still has unread input makes the kernel answer with
    RST, and an RST can destroy our CLOSE frame in the peer's receive queue. So
    after an error picows sends CLOSE and FIN, keeps draining (the parser counts
    what it discards), and calls ``close`` once nothing arrived for
    ``LINGER_QUIET_INTERVAL`` seconds, or after ``LINGER_TIMEOUT`` at the latest.
    """

    __slots__ = ("_loop", "_parser", "_close", "_deadline", "_seen", "_handle")

    def __init__(self, loop: asyncio.AbstractEventLoop, parser: Any, close: Callable[[], None]) -> None:
        self._loop = loop
        self._parser = parser
        self._close = close
        self._deadline = loop.time() + LINGER_TIMEOUT
        self._seen: int = parser.discarded
        self._handle: asyncio.TimerHandle | None = loop.call_later(LINGER_QUIET_INTERVAL, self._on_timer)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _on_timer(self) -> None:
        self._handle = None
        discarded = self._parser.discarded
        if discarded == self._seen or self._loop.time() >= self._deadline:
            self._close()
        else:
            self._seen = discarded
            self._handle = self._loop.call_later(LINGER_QUIET_INTERVAL, self._on_timer)
