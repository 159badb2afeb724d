"""Graceful shutdown of a server with connected clients.

RFC 6455's closing handshake: one side sends CLOSE, the other answers with
CLOSE, then the TCP connection is closed. picows does not answer a CLOSE by
itself; every listener does it in ``on_ws_frame``: echo the CLOSE, then
``transport.disconnect()``.

On Ctrl+C (or SIGTERM) this server stops accepting connections, sends
CLOSE(GOING_AWAY) to every client, waits (bounded) until they have answered
and disconnected, aborts the stragglers, and exits::

    python examples/graceful_shutdown.py --port 9001
    python examples/graceful_shutdown.py --demo     # 3 clients, then shut down
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect, ws_create_server


class ServerListener(WSListener):
    def __init__(self, clients: set[WSTransport]) -> None:
        self.clients = clients

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.clients.add(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            # Either the client's answer to our CLOSE (then send_close is a no-op)
            # or the client is leaving first (then we answer it).
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.clients.discard(transport)


async def shutdown(server: asyncio.Server, clients: set[WSTransport], timeout: float = 5.0) -> None:
    """Stop accepting, close every connection with GOING_AWAY, then close the server."""
    server.close()
    connections = list(clients)
    for transport in connections:
        transport.send_close(WSCloseCode.GOING_AWAY, b"server shutting down")
    try:
        await asyncio.wait_for(asyncio.gather(*(t.wait_disconnected() for t in connections)), timeout)
    except asyncio.TimeoutError:
        for transport in connections:  # clients that did not answer in time
            transport.disconnect(graceful=False)
    await server.wait_closed()


class Client(WSListener):
    """A well-behaved client: answers the server's CLOSE and disconnects."""

    def __init__(self) -> None:
        self.close: tuple[int, bytes | None] | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.close = (frame.get_close_code(), frame.get_close_message())
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def demo(host: str, port: int, n_clients: int = 3) -> list[tuple[int, bytes | None] | None]:
    """Connect ``n_clients`` clients, shut the server down; return what each client was told."""
    clients: set[WSTransport] = set()
    server = await ws_create_server(lambda request: ServerListener(clients), host, port)
    url = f"ws://{host}:{server.sockets[0].getsockname()[1]}/"
    connections = [await ws_connect(Client, url) for _ in range(n_clients)]
    await shutdown(server, clients)
    for transport, _ in connections:
        await transport.wait_disconnected()
    return [listener.close for _, listener in connections]


async def serve(host: str, port: int) -> None:
    clients: set[WSTransport] = set()
    server = await ws_create_server(lambda request: ServerListener(clients), host, port)
    print(f"Listening on ws://{host}:{server.sockets[0].getsockname()[1]}/", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    print(f"Shutting down, closing {len(clients)} connection(s)", flush=True)
    await shutdown(server, clients)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, help="0 for any free port (default: 9001, with --demo 0)")
    parser.add_argument("--demo", action="store_true", help="connect 3 clients, then shut down at once")
    args = parser.parse_args(argv)
    if args.demo:
        port = 0 if args.port is None else args.port
        for i, close in enumerate(asyncio.run(demo(args.host, port))):
            print(f"client {i} was closed with {close}")
    else:
        asyncio.run(serve(args.host, 9001 if args.port is None else args.port))


if __name__ == "__main__":
    main()
