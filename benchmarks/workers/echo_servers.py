"""Echo servers, one per library, all started the same way (standard library at module level only).

``serve(impl, host, ssl_context, kwargs, seen)`` starts the echo server of
``impl`` on a free port and returns ``(server, port, info)``; ``server`` has
``close()`` and ``wait_closed()`` like ``asyncio.Server``. Every accepted
connection is recorded in ``seen`` (transport implementation, TLS session),
so the tool can tell which transport path the numbers came from.
"""

from __future__ import annotations

import asyncio

from common import connection_transport, picows_info, tls_session_info, transport_kind


class Seen:
    """What the server saw of its connections: transport implementations and TLS sessions."""

    def __init__(self) -> None:
        self.transports: set = set()
        self.tls: dict = {}
        self.connections = 0

    def record(self, transport) -> None:
        self.connections += 1
        self.transports.add(transport_kind(transport))
        if not self.tls and transport is not None:
            self.tls = tls_session_info(transport.get_extra_info("ssl_object"))

    def as_dict(self) -> dict:
        return {"transports": sorted(self.transports), "connections": self.connections, **self.tls}


async def _serve_picows(host, ssl_context, kwargs, seen, deflate):
    import picows

    data_types = (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.CONTINUATION)
    close_type = picows.WSMsgType.CLOSE

    class EchoListener(picows.WSListener):
        def on_ws_connected(self, transport):
            seen.record(transport.underlying_transport)

        def on_ws_frame(self, transport, frame):
            mt = frame.msg_type
            if mt in data_types:
                transport.send(mt, frame.get_payload_as_memoryview(), frame.fin)
            elif mt == close_type:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()

    if ssl_context is not None:
        kwargs = {"ssl": ssl_context, **kwargs}
    if deflate:
        kwargs = {"permessage_deflate": True, **kwargs}
    server = await picows.ws_create_server(lambda request: EchoListener(), host, 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    return server, port, picows_info(picows)


async def _serve_websockets(host, ssl_context, kwargs, seen, deflate):
    import websockets
    from websockets.asyncio.server import serve

    async def echo(ws):
        seen.record(ws.transport)
        try:
            async for message in ws:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass

    server = await serve(
        echo, host, 0, ssl=ssl_context, compression="deflate" if deflate else None, max_size=None,
        ping_interval=None, **kwargs,
    )
    port = next(iter(server.sockets)).getsockname()[1]
    return server, port, {"websockets_version": websockets.__version__}


async def _serve_picows_websockets(host, ssl_context, kwargs, seen, deflate):
    """picows.websockets (ours or the published one's), configured as the websockets server above."""
    import picows
    from picows.websockets import ConnectionClosed, serve

    async def echo(ws):
        seen.record(connection_transport(ws))
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass

    if ssl_context is not None:
        kwargs = {"ssl": ssl_context, **kwargs}
    kwargs = {"compression": "deflate" if deflate else None, **kwargs}
    server = await serve(echo, host, 0, max_size=None, ping_interval=None, **kwargs)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, port, {**picows_info(picows), "api": "picows.websockets"}


class _AiohttpServer:
    """close()/wait_closed() over an aiohttp AppRunner, like asyncio.Server."""

    def __init__(self, runner) -> None:
        self.runner = runner
        self._closing = None

    def close(self) -> None:
        self._closing = asyncio.ensure_future(self.runner.cleanup())

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await self._closing


async def _serve_aiohttp(host, ssl_context, kwargs, seen, deflate):
    import aiohttp
    from aiohttp import web

    BINARY, TEXT = aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT

    async def echo(request):
        seen.record(request.transport)
        ws = web.WebSocketResponse(max_msg_size=0, **({"compress": 15} if deflate else {}), **kwargs)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == TEXT:
                await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    return _AiohttpServer(runner), port, {"aiohttp_version": aiohttp.__version__}


SERVERS = {
    "picows": _serve_picows,
    "picows-websockets": _serve_picows_websockets,
    "websockets": _serve_websockets,
    "aiohttp": _serve_aiohttp,
}


async def serve(impl: str, host: str, ssl_context, kwargs: dict, seen: Seen, deflate: bool = False):
    if impl not in SERVERS:
        raise SystemExit(f"unknown server impl {impl!r}")
    return await SERVERS[impl](host, ssl_context, kwargs, seen, deflate)
