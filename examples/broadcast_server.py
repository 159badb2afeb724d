"""A broadcast (chat) server: every message from one client goes to all clients.

Each data frame is forwarded to every connected client, the sender included,
without copying the payload (``send`` copies it into each socket's buffer
before ``on_ws_frame`` returns). A client that cannot keep up is dropped once
its write buffer exceeds ``--max-buffer`` bytes, so one slow reader cannot
make the server's memory grow without bound::

    python examples/broadcast_server.py --port 9001
    python examples/broadcast_client.py ws://127.0.0.1:9001/            # listens
    python examples/broadcast_client.py ws://127.0.0.1:9001/ "hi all"   # talks

Stop the server with Ctrl+C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server


class Hub:
    """The set of connected clients."""

    def __init__(self, max_buffer: int = 4 * 1024 * 1024) -> None:
        self.clients: set[WSTransport] = set()
        self.max_buffer = max_buffer

    def broadcast(self, frame: WSFrame) -> None:
        payload = frame.get_payload_as_memoryview()  # zero copy, valid during on_ws_frame
        for client in list(self.clients):
            if client.underlying_transport.get_write_buffer_size() > self.max_buffer:
                self.clients.discard(client)
                client.send_close(WSCloseCode.POLICY_VIOLATION, b"too slow")
                client.disconnect(graceful=False)
                continue
            client.send(frame.msg_type, payload, frame.fin)


class BroadcastListener(WSListener):
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.hub.clients.add(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.hub.clients.discard(transport)
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
            self.hub.broadcast(frame)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.hub.clients.discard(transport)


async def start_server(host: str, port: int, hub: Hub) -> asyncio.Server:
    return await ws_create_server(lambda request: BroadcastListener(hub), host, port)


async def serve(host: str, port: int, max_buffer: int) -> None:
    server = await start_server(host, port, Hub(max_buffer))
    print(f"Broadcast server listening on ws://{host}:{server.sockets[0].getsockname()[1]}/", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=9001, help="0 for any free port (default: %(default)s)")
    parser.add_argument(
        "--max-buffer", type=int, default=4 * 1024 * 1024, help="drop clients above (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, args.max_buffer))


if __name__ == "__main__":
    main()
