"""A WebSocket echo server.

Every TEXT/BINARY frame is sent back as it came (fragments included), and a
CLOSE frame is answered the polite way: echo the CLOSE, then disconnect.

Run it, then talk to it with ``echo_client.py``::

    python examples/echo_server.py --host 127.0.0.1 --port 9001

``--port 0`` picks a free port. Stop the server with Ctrl+C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server


class EchoListener(WSListener):
    """Handles one connection: sends every data frame straight back."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            # Graceful shutdown: echo the peer's CLOSE, then drop the connection.
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        # The memoryview points into picows' receive buffer: send() copies it out
        # before this callback returns, so no extra copy is needed here.
        transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin, frame.rsv1)


def route(request: WSUpgradeRequest) -> WSListener | None:
    """Called for every upgrade request; returning None answers 404."""
    return EchoListener()


async def start_server(host: str, port: int) -> asyncio.Server:
    """Start listening; the returned server is already accepting connections."""
    return await ws_create_server(route, host, port)


async def serve(host: str, port: int) -> None:
    """Run the echo server until Ctrl+C / SIGTERM."""
    server = await start_server(host, port)
    port = server.sockets[0].getsockname()[1]
    print(f"Echo server listening on ws://{host}:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print("Echo server stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=9001, help="0 for any free port (default: %(default)s)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
