"""Sending a message in fragments and reassembling fragmented messages.

picows delivers *frames*: a message sent in fragments arrives as a TEXT or
BINARY frame with ``fin=False``, CONTINUATION frames, and a last frame with
``fin=True``. This script starts a server that reassembles messages and sends
each one back as a single frame, then a client that sends one message in
fragments::

    python examples/fragmented_messages.py --fragment-size 5 "Hello fragmented world"
"""

from __future__ import annotations

import argparse
import asyncio

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
    ws_create_server,
)


def send_fragmented(transport: WSTransport, msg_type: WSMsgType, data: bytes, fragment_size: int) -> int:
    """Send ``data`` as one message split into frames of ``fragment_size`` bytes; return the frame count."""
    chunks = [data[i : i + fragment_size] for i in range(0, len(data), fragment_size)] or [b""]
    for i, chunk in enumerate(chunks):
        # The first frame carries the message type, the others are CONTINUATION;
        # only the last one has fin=True.
        transport.send(msg_type if i == 0 else WSMsgType.CONTINUATION, chunk, fin=i == len(chunks) - 1)
    return len(chunks)


class MessageAssembler:
    """Turns data frames into whole messages (one assembler per connection)."""

    def __init__(self, max_message_size: int = 1024 * 1024) -> None:
        self.max_message_size = max_message_size
        self._msg_type: WSMsgType | None = None
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, frame: WSFrame) -> tuple[WSMsgType, bytes] | None:
        """Return ``(msg_type, payload)`` when ``frame`` completes a message, else None.

        Raises ValueError for a message over ``max_message_size``. Open the
        connection with ``check_fragment_order=True``: picows then fails it
        (PROTOCOL_ERROR) on fragments out of order, so they never get here.
        """
        if frame.msg_type != WSMsgType.CONTINUATION:
            if frame.fin:
                # Fast path: an unfragmented message, the common case.
                return frame.msg_type, frame.get_payload_as_bytes()
            self._msg_type = frame.msg_type
        self._size += len(frame.get_payload_as_memoryview())
        if self._size > self.max_message_size:
            raise ValueError(f"message exceeds {self.max_message_size} bytes")
        # Copy: the frame's payload is only valid during on_ws_frame.
        self._parts.append(frame.get_payload_as_bytes())
        if not frame.fin:
            return None
        assert self._msg_type is not None  # set by the first fragment
        message = (self._msg_type, b"".join(self._parts))
        self._msg_type, self._parts, self._size = None, [], 0
        return message


class ReassemblingServer(WSListener):
    """Sends every complete message back as one unfragmented frame."""

    def __init__(self) -> None:
        self.assembler = MessageAssembler()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        if frame.msg_type in (WSMsgType.PING, WSMsgType.PONG):
            return
        try:
            message = self.assembler.feed(frame)
        except ValueError as exc:
            transport.send_close(WSCloseCode.MESSAGE_TOO_BIG, str(exc).encode())
            transport.disconnect()
            return
        if message is not None:
            transport.send(*message)


class FragmentingClient(WSListener):
    def __init__(self, text: str, fragment_size: int) -> None:
        self.text = text
        self.fragment_size = fragment_size
        self.frames_sent = 0
        self.reply: str | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.frames_sent = send_fragmented(transport, WSMsgType.TEXT, self.text.encode(), self.fragment_size)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            assert frame.fin  # the server answers with one frame
            self.reply = frame.get_payload_as_utf8_text()
            transport.send_close(WSCloseCode.OK)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


async def run(host: str, port: int, text: str, fragment_size: int) -> tuple[int, str | None]:
    """Start the server, send ``text`` in fragments; return (frames sent, reply)."""
    # check_fragment_order=True: picows fails the connection (1002) on out-of-order fragments.
    server = await ws_create_server(
        lambda request: ReassemblingServer(), host, port, check_fragment_order=True
    )
    async with server:
        port = server.sockets[0].getsockname()[1]
        transport, client = await ws_connect(
            lambda: FragmentingClient(text, fragment_size), f"ws://{host}:{port}/"
        )
        await transport.wait_disconnected()
    return client.frames_sent, client.reply


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", nargs="?", default="Hello fragmented world")
    parser.add_argument("--fragment-size", type=int, default=5, help="bytes per frame (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=0, help="server port, 0 for any free one (default)")
    args = parser.parse_args(argv)
    frames, reply = asyncio.run(run(args.host, args.port, args.text, args.fragment_size))
    print(f"sent 1 message in {frames} frames, the server reassembled it: {reply!r}")


if __name__ == "__main__":
    main()
