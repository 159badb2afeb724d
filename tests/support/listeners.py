"""``WSListener`` subclasses that record what they see, through picows' public API only.

A ``WSFrame`` is valid only during ``on_ws_frame``, so every listener here
copies what it needs inside the callback.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from picows import WSFrame, WSListener, WSMsgType, WSTransport
from support import TIMEOUT

__all__ = ["CloseEchoListener", "CollectingListener", "EchoListener", "SnapshotListener", "drain_queue", "snapshot"]


class CollectingListener(WSListener):
    """Records every frame it receives as ``(msg_type, fin, rsv1, payload)``; awaitable helpers wait for them."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[tuple[WSMsgType, bool, bool, bytes]] = asyncio.Queue()
        self.transport: WSTransport | None = None
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.connected.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.frames.put_nowait((frame.msg_type, frame.fin, frame.rsv1, frame.get_payload_as_bytes()))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.disconnected.set()

    async def get(self, timeout: float = TIMEOUT) -> tuple[WSMsgType, bool, bool, bytes]:
        return await asyncio.wait_for(self.frames.get(), timeout)


class EchoListener(WSListener):
    """Echoes data frames as they come (same type, fin, rsv1); echoes CLOSE, then disconnects."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type != WSMsgType.PONG:
            transport.send(frame.msg_type, frame.get_payload_as_bytes(), frame.fin, frame.rsv1)


class CloseEchoListener(CollectingListener):
    """Collects frames; answers a received CLOSE with the same code and message, then disconnects."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def snapshot(frame: WSFrame) -> dict[str, Any]:
    """Everything observable about a frame, captured while it is valid."""
    d = {
        "msg_type": frame.msg_type,
        "fin": frame.fin,
        "rsv1": frame.rsv1,
        "rsv2": frame.rsv2,
        "rsv3": frame.rsv3,
        "payload_size": frame.payload_size,
        "last_in_buffer": frame.last_in_buffer,
        "tail_size": frame.tail_size,
        "payload": frame.get_payload_as_bytes(),
        "str": str(frame),
    }
    if frame.msg_type == WSMsgType.CLOSE:
        d["close_code"] = frame.get_close_code()
        d["close_message"] = frame.get_close_message()
        d["close_reason"] = frame.get_close_reason()
    return d


class SnapshotListener(WSListener):
    """Records a :func:`snapshot` of every frame (plus an optional probe's result) and the lifecycle events."""

    probe: Callable[[WSFrame], Any] | None = None

    def __init__(self) -> None:
        self.snapshots: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.transport: WSTransport | None = None
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.events: list[str] = []

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.events.append("connected")
        self.connected.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        assert transport is self.transport
        self.events.append("frame")
        d = snapshot(frame)
        if self.probe is not None:
            try:
                d["probe"] = self.probe(frame)
            except Exception as e:  # noqa: BLE001 - recorded for the test to check
                d["probe"] = e
        self.snapshots.put_nowait(d)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        assert transport is self.transport
        self.events.append("disconnected")
        self.disconnected.set()

    async def get(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        return await asyncio.wait_for(self.snapshots.get(), timeout)


def drain_queue(q: asyncio.Queue[Any]) -> list[Any]:
    """Everything queued so far, without waiting."""
    items = []
    while not q.empty():
        items.append(q.get_nowait())
    return items
