"""Backpressure: a server streaming to a client that reads slowly.

``send`` never blocks: what the socket cannot take is queued in the asyncio
transport's write buffer. When that buffer goes over its high watermark picows
calls the listener's ``pause_writing()``; once it drains below the low
watermark, ``resume_writing()``. A producer that stops in ``pause_writing``
and continues in ``resume_writing`` keeps memory bounded however slow the
peer is. The watermarks are set on the underlying transport with
``set_write_buffer_limits``.

This script starts a streaming server and a client that stops reading for a
while, then prints how often the server had to pause::

    python examples/slow_client_backpressure.py --total 4194304 --stall 0.2
"""

from __future__ import annotations

import argparse
import asyncio
import socket

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect, ws_create_server

CHUNK_SIZE = 64 * 1024


class StreamingServer(WSListener):
    """Sends ``total`` bytes as fast as the client takes them, never faster."""

    def __init__(self, total: int) -> None:
        self.remaining = total
        self.paused = False
        self.pauses = 0
        self.chunk = bytes(CHUNK_SIZE)
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        # pause_writing() once 256 KiB are queued, resume_writing() below 64 KiB.
        transport.underlying_transport.set_write_buffer_limits(high=256 * 1024, low=64 * 1024)
        # A small kernel send buffer makes the asyncio buffer (and so backpressure) kick in early.
        sock = transport.underlying_transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        self.produce()

    def produce(self) -> None:
        assert self.transport is not None
        while not self.paused and self.remaining > 0:
            size = min(CHUNK_SIZE, self.remaining)
            self.transport.send(WSMsgType.BINARY, self.chunk[:size])  # may call pause_writing()
            self.remaining -= size
        if self.remaining == 0:
            self.transport.send_close(WSCloseCode.OK)  # sent after the data; a no-op the 2nd time

    def pause_writing(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_writing(self) -> None:
        self.paused = False
        self.produce()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:  # the client answered our CLOSE
            transport.disconnect()


class SlowClient(WSListener):
    """Stops reading from the socket for ``stall`` seconds after connecting."""

    def __init__(self, stall: float) -> None:
        self.stall = stall
        self.received = 0

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.underlying_transport.pause_reading()
        asyncio.get_running_loop().call_later(self.stall, transport.underlying_transport.resume_reading)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.BINARY:
            self.received += len(frame.get_payload_as_memoryview())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def run(host: str, port: int, total: int, stall: float) -> tuple[int, int]:
    """Stream ``total`` bytes to a slow client; return (times the server paused, bytes received)."""
    servers: list[StreamingServer] = []

    def factory(request: object) -> StreamingServer:
        servers.append(StreamingServer(total))
        return servers[-1]

    server = await ws_create_server(factory, host, port)
    async with server:
        url = f"ws://{host}:{server.sockets[0].getsockname()[1]}/"
        transport, client = await ws_connect(lambda: SlowClient(stall), url)
        await transport.wait_disconnected()
    return servers[0].pauses, client.received


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=4 * 1024 * 1024, help="bytes (default: %(default)s)")
    parser.add_argument("--stall", type=float, default=0.2, help="seconds (default: %(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=0, help="server port, 0 for any free one (default)")
    args = parser.parse_args(argv)
    pauses, received = asyncio.run(run(args.host, args.port, args.total, args.stall))
    print(f"the server paused {pauses} times; the client received {received} bytes")


if __name__ == "__main__":
    main()
