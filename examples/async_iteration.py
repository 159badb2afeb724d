"""An ``async for`` interface on top of picows' callbacks.

picows calls ``on_ws_frame`` for every frame; many applications would rather
write ``async for message in conn``. A small wrapper gives them that: the
listener copies each complete message into an :class:`asyncio.Queue`, and the
connection object reads from it. The cost is one copy and one task wake-up per
message, paid only by code that wants this style.

Talks to any echo server, e.g. ``echo_server.py``::

    python examples/async_iteration.py ws://127.0.0.1:9001/ one two three
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from typing import Any, Union

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

Message = Union[str, bytes]
_CLOSED = object()  # queue sentinel: no more messages


class QueueListener(WSListener):
    """Puts every complete message (str for TEXT, bytes for BINARY) into a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self._msg_type: WSMsgType | None = None
        self._parts: list[bytes] = []

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        if frame.msg_type not in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            return  # PONG; PINGs are answered by picows
        if frame.msg_type != WSMsgType.CONTINUATION:
            self._msg_type = frame.msg_type
        # Copy: the payload is only valid during this callback.
        self._parts.append(frame.get_payload_as_bytes())
        if frame.fin:
            data = b"".join(self._parts)
            self._parts = []
            self.queue.put_nowait(data.decode() if self._msg_type == WSMsgType.TEXT else data)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.queue.put_nowait(_CLOSED)


class Connection:
    """A WebSocket connection you can ``async for`` over."""

    def __init__(self, transport: WSTransport, listener: QueueListener) -> None:
        self.transport = transport
        self._queue = listener.queue

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Connection:
        """Connect to ``url``; ``kwargs`` are passed to :func:`picows.ws_connect`."""
        transport, listener = await ws_connect(QueueListener, url, **kwargs)
        return cls(transport, listener)

    def send(self, message: Message) -> None:
        """Send a str as TEXT or bytes as BINARY (never blocks)."""
        if isinstance(message, str):
            self.transport.send(WSMsgType.TEXT, message.encode())
        else:
            self.transport.send(WSMsgType.BINARY, message)

    async def recv(self) -> Message:
        """The next message; raises ConnectionError once the connection is closed."""
        item = await self._queue.get()
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # keep later recv() calls failing too
            raise ConnectionError("the WebSocket connection is closed")
        return item  # type: ignore[return-value]  # anything but _CLOSED is a Message

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        while True:
            try:
                yield await self.recv()
            except ConnectionError:
                return

    async def close(self, code: WSCloseCode = WSCloseCode.OK, timeout: float = 5.0) -> None:
        """Close gracefully: send CLOSE, let the peer answer, wait for the disconnect."""
        self.transport.send_close(code)
        try:
            await asyncio.wait_for(self.transport.wait_disconnected(), timeout)
        except asyncio.TimeoutError:  # the peer did not answer our CLOSE
            self.transport.disconnect(graceful=False)
            await self.transport.wait_disconnected()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def run(url: str, messages: list[str]) -> list[Message]:
    """Send ``messages`` to an echo server and iterate over the answers."""
    received: list[Message] = []
    async with await Connection.connect(url) as conn:
        for message in messages:
            conn.send(message)
        async for reply in conn:
            received.append(reply)
            if len(received) == len(messages):
                break
    return received


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9001/", help="default: %(default)s")
    parser.add_argument("messages", nargs="*", default=["one", "two", "three"])
    args = parser.parse_args(argv)
    for reply in asyncio.run(run(args.url, args.messages)):
        print(f"received: {reply!r}")


if __name__ == "__main__":
    main()
