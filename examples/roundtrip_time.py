"""Measuring the round-trip time of a connection.

``WSTransport.measure_roundtrip_time(rounds)`` sends ``rounds`` pings one
after another and returns the time each pong took, in seconds. Any RFC 6455
server answers pings, e.g. ``echo_server.py``::

    python examples/roundtrip_time.py ws://127.0.0.1:9001/ --rounds 10

By default the pings are PING frames; a listener that overrides
``send_user_specific_ping`` and ``is_user_specific_pong`` measures with
application-level messages instead (pass ``--app-ping`` to see it; the peer
must echo TEXT messages).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


class Client(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()


class AppPingClient(Client):
    """Uses a TEXT "ping" message, answered by an echo server, as ping and pong."""

    def send_user_specific_ping(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, b"ping")

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        # Called only while a pong is awaited; True consumes the frame.
        return frame.msg_type == WSMsgType.TEXT and frame.get_payload_as_bytes() == b"ping"


async def run(url: str, rounds: int, app_ping: bool = False) -> list[float]:
    """Round-trip times in seconds, one per round."""
    transport, _ = await ws_connect(AppPingClient if app_ping else Client, url)
    try:
        return await transport.measure_roundtrip_time(rounds)
    finally:
        transport.send_close(WSCloseCode.OK)
        await transport.wait_disconnected()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9001/", help="default: %(default)s")
    parser.add_argument("--rounds", type=int, default=10, help="default: %(default)s")
    parser.add_argument("--app-ping", action="store_true", help="ping with TEXT messages, not PING frames")
    args = parser.parse_args(argv)
    times = asyncio.run(run(args.url, args.rounds, args.app_ping))
    ms = [t * 1000 for t in times]
    print(f"{len(ms)} rounds: min {min(ms):.3f}, median {statistics.median(ms):.3f}, max {max(ms):.3f} ms")


if __name__ == "__main__":
    main()
