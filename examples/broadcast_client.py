"""A client for ``broadcast_server.py``: sends messages and prints what everybody says.

::

    python examples/broadcast_client.py ws://127.0.0.1:9001/ "hello" --count 1

Without ``--count`` it listens until Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class BroadcastClient(WSListener):
    def __init__(self, messages: list[str], count: int | None) -> None:
        self.messages = messages
        self.count = count
        self.received: list[str] = []

    def on_ws_connected(self, transport: WSTransport) -> None:
        for message in self.messages:
            transport.send(WSMsgType.TEXT, message.encode())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            text = frame.get_payload_as_utf8_text()
            print(f"received: {text}", flush=True)
            self.received.append(text)
            if self.count is not None and len(self.received) >= self.count:
                transport.send_close(WSCloseCode.OK)  # the server echoes it, then we disconnect
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def run(url: str, messages: list[str], count: int | None = None) -> list[str]:
    """Send ``messages``; return the messages received once ``count`` have arrived."""
    transport, client = await ws_connect(lambda: BroadcastClient(messages, count), url)
    try:
        await transport.wait_disconnected()
    finally:  # e.g. cancelled by Ctrl+C: leave politely
        transport.send_close(WSCloseCode.GOING_AWAY)
        transport.disconnect()
    return client.received


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9001/", help="default: %(default)s")
    parser.add_argument("messages", nargs="*", help="text messages to send once connected")
    parser.add_argument("--count", type=int, help="exit after receiving this many messages")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args.url, args.messages, args.count))


if __name__ == "__main__":
    main()
