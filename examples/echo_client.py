"""A WebSocket echo client.

Sends each message given on the command line, prints the echo, then closes
the connection gracefully (CLOSE, wait for the server's CLOSE, disconnect)::

    python examples/echo_client.py ws://127.0.0.1:9001/ hello world

For a ``wss://`` server with a private CA, pass ``--cafile ca.pem``.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class EchoClientListener(WSListener):
    """Sends the messages one at a time and collects the echoes."""

    def __init__(self, messages: list[str]) -> None:
        self.pending = list(messages)
        self.received: list[str] = []

    def on_ws_connected(self, transport: WSTransport) -> None:
        self._send_next(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            # The server answered our CLOSE (or closed first): we are done.
            transport.disconnect()
        elif frame.msg_type == WSMsgType.TEXT:
            self.received.append(frame.get_payload_as_utf8_text())
            self._send_next(transport)

    def _send_next(self, transport: WSTransport) -> None:
        if self.pending:
            transport.send(WSMsgType.TEXT, self.pending.pop(0).encode())
        else:
            transport.send_close(WSCloseCode.OK)


async def run(url: str, messages: list[str], ssl_context: ssl.SSLContext | None = None) -> list[str]:
    """Send ``messages`` to the echo server at ``url``; return the echoes."""
    transport, listener = await ws_connect(lambda: EchoClientListener(messages), url, ssl_context=ssl_context)
    await transport.wait_disconnected()  # raises if the connection failed
    return listener.received


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9001/", help="default: %(default)s")
    parser.add_argument("messages", nargs="*", default=["Hello world"], help="text messages to send")
    parser.add_argument("--cafile", help="CA certificate (PEM) to verify a wss:// server with")
    args = parser.parse_args(argv)
    ssl_context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    for echo in asyncio.run(run(args.url, args.messages, ssl_context)):
        print(f"echo: {echo}")


if __name__ == "__main__":
    main()
