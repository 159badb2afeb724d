# Typed surface of _messages.py (the .py is shared with Cython and typed by _messages_c.pxd).
import asyncio
from collections import deque
from typing import Any

from picows import WSFrame, WSListener, WSTransport

CONNECTING: int
OPEN: int
CLOSING: int
CLOSED: int

class _Fragments:
    is_text: bool
    parts: list[Any]
    size: int
    complete: bool
    streamed: bool
    def __init__(self, is_text: bool) -> None: ...
    def add(self, payload: bytes, fin: bool) -> None: ...
    def join(self) -> str | bytes: ...

class MessageListener(WSListener):
    _transport: Any
    _loop: asyncio.AbstractEventLoop
    _state: int
    _messages: deque[Any]
    _partial: _Fragments | None
    _waiter: asyncio.Future[None] | None
    _recv_active: bool
    _streaming: bool
    _max_message: int
    _high: int
    _low: int
    _reading_paused: bool
    _write_paused: bool
    _drain_waiter: asyncio.Future[None] | None
    _fragmenting: bool
    _discard: bool
    def __init__(self) -> None: ...
    def _configure_messages(
        self, loop: asyncio.AbstractEventLoop, max_message: int | None, high: int | None, low: int | None
    ) -> None: ...
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None: ...
    def _message_taken(self) -> None: ...
    def _wake_receiver(self) -> None: ...
    async def recv(self, decode: bool | None = None) -> Any: ...
    def _convert(self, message: Any, decode: bool) -> Any: ...
    async def _wait_message(self) -> None: ...
    async def send(self, message: Any, text: bool | None = None) -> None: ...
    async def _drain(self) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...
    def _release_drain(self) -> None: ...
