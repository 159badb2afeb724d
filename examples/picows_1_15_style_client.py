"""A client written for picows 1.15, unchanged: bytes in, bytes out, CLOSE answered by hand.

It sends each message as a BINARY frame, collects the echoes, then closes the
way 1.15 code does (send CLOSE; when the peer's CLOSE arrives, echo it and
disconnect). A refused upgrade is caught as the ``RuntimeError`` that 1.15's
``WSError`` is, and reported from its ``raw_header``::

    python examples/picows_1_15_style_client.py ws://127.0.0.1:9001/ hello world
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


@dataclass
class Result:
    """What one run saw."""

    echoes: list[bytes] = field(default_factory=list)
    close_code: int | None = None  # the code of the peer's CLOSE frame
    rejected: str | None = None  # the status line of a refused upgrade


class EchoClient(WSListener):
    """Counts the echoes; sends CLOSE after the last one."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.result = Result()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.result.close_code = frame.get_close_code()
            # The 1.15 idiom: echo the peer's CLOSE (a no-op when ours went out
            # first), then disconnect. It stays correct with picows-ng.
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        # A copy: the frame (and its payload) is only valid during this call.
        self.result.echoes.append(frame.get_payload_as_bytes())
        if len(self.result.echoes) == self.expected:
            transport.send_close(WSCloseCode.OK)


async def run(url: str, messages: list[bytes]) -> Result:
    """Send ``messages`` to the echo server at ``url``; return what came back."""
    try:
        # 1.15: the listener factory takes no arguments.
        transport, client = await ws_connect(lambda: EchoClient(len(messages)), url)
    except RuntimeError as exc:
        # 1.15's WSError is a RuntimeError carrying the server's answer.
        raw_header = getattr(exc, "raw_header", None)
        if raw_header is None:
            raise
        return Result(rejected=raw_header.split(b"\r\n", 1)[0].decode("latin-1"))
    for message in messages:
        transport.send(WSMsgType.BINARY, message)
    if not messages:
        transport.send_close(WSCloseCode.OK)
    await transport.wait_disconnected()
    return client.result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9001/", help="default: %(default)s")
    parser.add_argument("messages", nargs="*", default=["Hello world"], help="messages to send")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.url, [m.encode() for m in args.messages]))
    if result.rejected is not None:
        raise SystemExit(f"upgrade refused: {result.rejected}")
    for echo in result.echoes:
        print(f"echo: {echo!r}")
    print(f"closed with {result.close_code}")


if __name__ == "__main__":
    main()
