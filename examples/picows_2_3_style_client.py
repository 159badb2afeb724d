"""A client written for picows 2.3, unchanged: str messages, typed errors, the close handshake.

Its listener factory takes the upgrade request and response; it sends ``str``
messages, refuses binary data by raising ``WSProtocolError`` from
``on_ws_frame``, reports a refused upgrade as ``WSInvalidStatusError``, and
prints how the closing handshake went (``transport.close_handshake``)::

    python examples/picows_2_3_style_client.py ws://127.0.0.1:9001/ hello world
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field

from picows import (
    WSCloseCode,
    WSCloseHandshake,
    WSFrame,
    WSInvalidStatusError,
    WSListener,
    WSMsgType,
    WSProtocolError,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    ws_connect,
)


@dataclass
class Outcome:
    """What one run saw."""

    echoes: list[str] = field(default_factory=list)
    subprotocol: str | None = None  # what the server's 101 response chose, if anything
    close_handshake: WSCloseHandshake | None = None
    error: str | None = None  # why the connection failed, if it did
    rejected_status: int | None = None  # the status of a refused upgrade


class TextClient(WSListener):
    """Sends the messages, collects text echoes, closes after the last one."""

    def __init__(self, request: WSUpgradeRequest, response: WSUpgradeResponse, messages: list[str]) -> None:
        self.messages = messages
        self.outcome = Outcome(subprotocol=response.headers.get("Sec-WebSocket-Protocol"))

    def on_ws_connected(self, transport: WSTransport) -> None:
        for message in self.messages:
            transport.send(WSMsgType.TEXT, message)  # a str is sent UTF-8 encoded
        if not self.messages:
            transport.send_close(WSCloseCode.OK, "nothing to say")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            # Decoded now: the frame is only valid during this call.
            self.outcome.echoes.append(frame.get_payload_as_utf8_text())
            if len(self.outcome.echoes) == len(self.messages):
                transport.send_close(WSCloseCode.OK, "done")  # the reason may be a str
        elif frame.msg_type == WSMsgType.BINARY:
            # Closes the connection with this code and reason; wait_disconnected() raises it.
            raise WSProtocolError(WSCloseCode.UNSUPPORTED_DATA, "this client only takes text")
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


async def run(url: str, messages: list[str]) -> Outcome:
    """Send ``messages`` to the echo server at ``url``; return what happened."""

    def factory(request: WSUpgradeRequest, response: WSUpgradeResponse) -> TextClient:
        return TextClient(request, response, messages)

    try:
        transport, client = await ws_connect(factory, url)
    except WSInvalidStatusError as exc:  # the server answered, but not with 101
        return Outcome(rejected_status=int(exc.response.status) if exc.response else None)
    outcome = client.outcome
    try:
        await transport.wait_disconnected()
    except WSProtocolError as exc:
        outcome.error = f"closed with {int(exc.code)}: {exc}"
    assert transport.is_disconnected
    transport.send(WSMsgType.TEXT, "too late")  # after the connection is gone: a silent no-op
    outcome.close_handshake = transport.close_handshake
    return outcome


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9001/", help="default: %(default)s")
    parser.add_argument("messages", nargs="*", default=["Hello world"], help="text messages to send")
    args = parser.parse_args(argv)
    outcome = asyncio.run(run(args.url, args.messages))
    if outcome.rejected_status is not None:
        raise SystemExit(f"upgrade refused with status {outcome.rejected_status}")
    for echo in outcome.echoes:
        print(f"echo: {echo}")
    if outcome.error:
        print(outcome.error)
    handshake = outcome.close_handshake
    if handshake is not None:
        print(f"sent CLOSE: {handshake.sent}, received CLOSE: {handshake.recv}")


if __name__ == "__main__":
    main()
