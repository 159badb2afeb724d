"""A WebSocket echo server over TLS (``wss://``).

The certificate chain and its private key are PEM files given as arguments::

    python examples/tls_server.py --certfile server.pem --keyfile server.key --port 9443
    python examples/echo_client.py wss://localhost:9443/ hello --cafile ca.pem

``--port 0`` picks a free port. Stop the server with Ctrl+C (or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl

from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server


class EchoListener(WSListener):
    def on_ws_connected(self, transport: WSTransport) -> None:
        assert transport.is_secure  # the connection is encrypted

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        else:
            transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin, frame.rsv1)


def server_ssl_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server-side TLS context with our certificate chain."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


async def start_server(host: str, port: int, context: ssl.SSLContext) -> asyncio.Server:
    # ``ssl`` is passed through to loop.create_server: TLS is the transport's job.
    return await ws_create_server(lambda request: EchoListener(), host, port, ssl=context)


async def serve(host: str, port: int, context: ssl.SSLContext) -> None:
    server = await start_server(host, port, context)
    port = server.sockets[0].getsockname()[1]
    print(f"TLS echo server listening on wss://{host}:{port}/", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certfile", required=True, help="server certificate chain (PEM)")
    parser.add_argument("--keyfile", help="private key (PEM), if not inside --certfile")
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=9443, help="0 for any free port (default: %(default)s)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port, server_ssl_context(args.certfile, args.keyfile)))


if __name__ == "__main__":
    main()
