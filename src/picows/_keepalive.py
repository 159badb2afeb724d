"""Auto-ping and round-trip measurement: per connection, written once for both backends."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from ._types import PICOWS_DEBUG_LL, WSAutoPingStrategy, WSCloseCode

if TYPE_CHECKING:
    from ._connection import Connection

__all__ = ["Keepalive"]


class Keepalive:
    """The ping machinery of one connection.

    Created when the connection opens if auto-ping is enabled, else on the first
    :meth:`WSTransport.measure_roundtrip_time`. While a pong is awaited it sets
    the connection's ``_expect_pong`` flag: only then does the read path offer
    frames to ``listener.is_user_specific_pong`` (no cost per frame otherwise).
    """

    __slots__ = (
        "_conn",
        "_loop",
        "_auto",
        "_idle_timeout",
        "_reply_timeout",
        "_when_idle",
        "_ping_handle",
        "_reply_handle",
        "_waiter",
    )

    def __init__(self, conn: Connection) -> None:
        options = conn._options
        self._conn = conn
        self._loop = conn._loop
        self._auto = options.enable_auto_ping
        self._idle_timeout = options.auto_ping_idle_timeout
        self._reply_timeout = options.auto_ping_reply_timeout
        self._when_idle = options.auto_ping_strategy == WSAutoPingStrategy.PING_WHEN_IDLE
        self._ping_handle: asyncio.TimerHandle | None = None
        self._reply_handle: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future[None] | None = None

    def start(self) -> None:
        """The connection is open: schedule the first auto-ping."""
        if self._auto:
            self._conn._last_recv_time = self._loop.time()
            self._schedule_ping(self._idle_timeout)

    def stop(self) -> None:
        """The connection is lost: cancel the timers and fail a pending measurement."""
        for handle in (self._ping_handle, self._reply_handle):
            if handle is not None:
                handle.cancel()
        self._ping_handle = self._reply_handle = None
        waiter = self._take_waiter()
        if waiter is not None and not waiter.done():
            waiter.set_exception(
                ConnectionResetError("the WebSocket connection was lost while waiting for a pong")
            )
            # Mark retrieved: nobody may be awaiting an auto-ping's waiter.
            waiter.exception()

    async def measure(self, rounds: int) -> list[float]:
        """``rounds`` sequential ping/pong exchanges through the listener's hooks; seconds each."""
        if isinstance(rounds, bool) or not isinstance(rounds, int):
            raise TypeError(f"rounds must be an int, got {type(rounds).__name__}")
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        conn = self._conn
        results = []
        for _ in range(rounds):
            while self._waiter is not None:
                await asyncio.shield(self._waiter)
            if conn.transport.is_disconnected:
                raise ConnectionResetError("the WebSocket connection is closed")
            waiter = self._set_waiter()
            start = time.perf_counter()
            try:
                conn.listener.send_user_specific_ping(conn.transport)
            except Exception as exc:
                self._take_waiter()
                conn._callback_failed(exc, "send_user_specific_ping")
                raise
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._take_waiter()
            results.append(time.perf_counter() - start)
        return results

    def pong_received(self) -> None:
        """The awaited pong arrived (recognised by the read path or notified by the user)."""
        waiter = self._take_waiter()
        if waiter is None:
            return
        if self._reply_handle is not None:
            self._reply_handle.cancel()
            self._reply_handle = None
        if not waiter.done():
            waiter.set_result(None)
        if self._auto and self._ping_handle is None and not self._conn.transport.is_disconnected:
            self._schedule_ping(self._idle_timeout)

    # -- internals -----------------------------------------------------------------

    def _set_waiter(self) -> asyncio.Future[None]:
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiter = waiter
        self._conn._expect_pong = True
        return waiter

    def _take_waiter(self) -> asyncio.Future[None] | None:
        waiter = self._waiter
        self._waiter = None
        self._conn._expect_pong = False
        return waiter

    def _schedule_ping(self, delay: float) -> None:
        self._ping_handle = self._loop.call_later(delay, self._on_ping_timer)

    def _on_ping_timer(self) -> None:
        self._ping_handle = None
        conn = self._conn
        transport = conn.transport
        if transport.is_disconnected or transport.is_close_frame_sent:
            return
        delay = self._idle_timeout
        if self._when_idle:
            idle_for = self._loop.time() - conn._last_recv_time
            if idle_for < delay:
                self._schedule_ping(delay - idle_for)
                return
        if self._waiter is not None:
            # A round-trip measurement is in flight; it serves as the keep-alive.
            self._schedule_ping(delay)
            return
        self._set_waiter()
        if transport._log_debug:
            conn._logger.log(PICOWS_DEBUG_LL, "auto-ping: sending ping")
        try:
            conn.listener.send_user_specific_ping(transport)
        except Exception as exc:
            conn._callback_failed(exc, "send_user_specific_ping")
            return
        self._reply_handle = self._loop.call_later(self._reply_timeout, self._on_reply_timeout)

    def _on_reply_timeout(self) -> None:
        self._reply_handle = None
        conn = self._conn
        if conn.transport.is_disconnected:
            return
        conn._logger.info(
            "no pong within auto_ping_reply_timeout=%s s, closing with GOING_AWAY", self._reply_timeout
        )
        conn.transport.send_close(WSCloseCode.GOING_AWAY, b"no pong")
        conn.transport.disconnect(graceful=False)
