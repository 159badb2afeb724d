"""Negotiating a subprotocol (``Sec-WebSocket-Protocol``).

The client lists the subprotocols it speaks in the ``Sec-WebSocket-Protocol``
request header. The server's ``ws_listener_factory`` sees the request, picks
one, and answers with ``WSUpgradeResponseWithListener``: a 101 response built
by ``WSUpgradeResponse.create_101_response`` that names the chosen protocol,
plus the listener for that protocol. If it supports none of them, it rejects
the upgrade with ``400 Bad Request``::

    python examples/subprotocol_negotiation.py "chat.v1, chat.v2" "chat.v1" "chat.v3"
"""

from __future__ import annotations

import argparse
import asyncio
from http import HTTPStatus

from picows import (
    WSCloseCode,
    WSError,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_connect,
    ws_create_server,
)

SUPPORTED = ["chat.v2", "chat.v1"]  # the server's preference order


class ChatServer(WSListener):
    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, f"welcome, we speak {self.protocol}".encode())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def choose_subprotocol(request: WSUpgradeRequest) -> WSListener | WSUpgradeResponseWithListener:
    """The server's ``ws_listener_factory``: route by the offered subprotocols."""
    offered = [
        token.strip()
        for header in request.headers.getall("Sec-WebSocket-Protocol", [])
        for token in header.split(",")
    ]
    for protocol in SUPPORTED:
        if protocol in offered:
            response = WSUpgradeResponse.create_101_response(
                extra_headers={"Sec-WebSocket-Protocol": protocol}
            )
            return WSUpgradeResponseWithListener(response, ChatServer(protocol))
    body = f"unsupported subprotocol; this server speaks {', '.join(SUPPORTED)}".encode()
    response = WSUpgradeResponse.create_error_response(HTTPStatus.BAD_REQUEST, body)
    return WSUpgradeResponseWithListener(response, None)  # error responses have no listener


class ChatClient(WSListener):
    def __init__(self) -> None:
        self.greeting: str | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.greeting = frame.get_payload_as_utf8_text()
            transport.send_close(WSCloseCode.OK)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


async def negotiate(url: str, offer: str) -> str:
    """Connect offering ``offer``; describe the outcome."""
    try:
        transport, client = await ws_connect(
            ChatClient, url, extra_headers={"Sec-WebSocket-Protocol": offer}
        )
    except WSError as exc:  # the server refused the upgrade
        assert exc.response is not None
        return f"offered {offer!r}: rejected with {int(exc.response.status)}: {exc.raw_body!r}"
    chosen = transport.response.headers.get("Sec-WebSocket-Protocol")
    await transport.wait_disconnected()
    return f"offered {offer!r}: server chose {chosen!r} and said {client.greeting!r}"


async def run(host: str, port: int, offers: list[str]) -> list[str]:
    server = await ws_create_server(choose_subprotocol, host, port)
    async with server:
        url = f"ws://{host}:{server.sockets[0].getsockname()[1]}/"
        return [await negotiate(url, offer) for offer in offers]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("offers", nargs="*", default=["chat.v1, chat.v2", "chat.v1", "chat.v3"])
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=0, help="server port, 0 for any free one (default)")
    args = parser.parse_args(argv)
    for line in asyncio.run(run(args.host, args.port, args.offers)):
        print(line)


if __name__ == "__main__":
    main()
