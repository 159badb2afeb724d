"""Interoperability with other WebSocket implementations (websockets, aiohttp), both roles.

Over ws://, scenario by scenario; over wss:// (every TLS path: the tests that
take ``tls_certs`` run on the loop's TLS transport and on aiofastnet's), the
same scenarios in one connection per peer and role.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from websockets.asyncio.client import connect as wsx_connect
from websockets.asyncio.server import serve as wsx_serve
from websockets.exceptions import ConnectionClosed

import picows
from picows import WSCloseCode, WSListener, WSMsgType
from support import TIMEOUT
from support.listeners import CollectingListener
from support.servers import ws_server
from support.tls import TLSCerts, client_ssl_context, server_ssl_context

BIG = 1024 * 1024


# ---------------------------------------------------------------- picows side helpers


class PicowsServerListener(WSListener):
    """picows server side: echoes data frames as-is; text commands trigger other behaviour."""

    def __init__(self) -> None:
        self.frames: list[tuple] = []
        self.close_frames: list[tuple] = []
        self.pongs: list[bytes] = []
        self.disconnected = asyncio.Event()

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.close_frames.append((frame.get_close_code(), frame.get_close_message()))
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        if frame.msg_type == WSMsgType.PONG:
            self.pongs.append(frame.get_payload_as_bytes())
            transport.send(WSMsgType.TEXT, b"got pong:" + frame.get_payload_as_bytes())
            return
        payload = frame.get_payload_as_bytes()
        self.frames.append((frame.msg_type, frame.fin, payload))
        if frame.msg_type == WSMsgType.TEXT and frame.fin:
            if payload == b"cmd:frag":
                transport.send(WSMsgType.TEXT, b"frag-", fin=False)
                transport.send(WSMsgType.CONTINUATION, b"ment", fin=False)
                transport.send(WSMsgType.CONTINUATION, b"ed", fin=True)
                return
            if payload == b"cmd:ping":
                transport.send_ping(b"server-ping")
                return
            if payload == b"cmd:close":
                transport.send_close(4003, b"picows bye")
                return
        transport.send(frame.msg_type, payload, frame.fin)

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        self.disconnected.set()


class ServerSide:
    def __init__(self) -> None:
        self.listeners: list[PicowsServerListener] = []

    def __call__(self, request: Any) -> Any:
        listener = PicowsServerListener()
        self.listeners.append(listener)
        return listener


class ClientListener(CollectingListener):
    """picows client side: collects frames; echoes a received CLOSE and disconnects."""

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def _picows_connect(url: str, **kwargs: Any) -> tuple[Any, ClientListener]:
    return await asyncio.wait_for(picows.ws_connect(ClientListener, url, **kwargs), TIMEOUT)


async def _close(transport: Any) -> None:
    transport.disconnect()
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def _next_data(listener: ClientListener) -> tuple:
    """Next frame that is not a PONG."""
    for _ in range(10):
        item = await listener.get()
        if item[0] != WSMsgType.PONG:
            return item
    raise AssertionError("only pongs received")


# ---------------------------------------------------------------- peers as servers


class PeerLog:
    def __init__(self) -> None:
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.pong_ok = False
        self.tls_version: str | None = None  # of the connection, as the peer saw it
        self.done = asyncio.Event()


async def _wsx_handler(ws: Any, log: PeerLog) -> None:
    ssl_object = ws.transport.get_extra_info("ssl_object")
    log.tls_version = ssl_object.version() if ssl_object is not None else None
    try:
        async for msg in ws:
            if msg == "cmd:frag":
                await ws.send(["frag-", "ment", "ed"])
            elif msg == "cmd:ping":
                waiter = await ws.ping(b"srv-ping")
                await asyncio.wait_for(waiter, TIMEOUT)
                log.pong_ok = True
                await ws.send("pong-ok")
            elif msg == "cmd:close":
                await ws.close(4002, "srv bye")
            else:
                await ws.send(msg)
    except ConnectionClosed:
        pass
    finally:
        log.close_code = ws.close_code
        log.close_reason = ws.close_reason
        log.done.set()


@contextlib.asynccontextmanager
async def websockets_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[tuple[str, PeerLog]]:
    log = PeerLog()
    async with wsx_serve(
        lambda ws: _wsx_handler(ws, log), "127.0.0.1", 0, max_size=None, compression=None, ssl=ssl_context
    ) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"{'wss' if ssl_context else 'ws'}://127.0.0.1:{port}/ws", log


async def _aiohttp_handler(request: web.Request) -> web.WebSocketResponse:
    log: PeerLog = request.app[LOG_KEY]
    ws = web.WebSocketResponse(autoping=False, max_msg_size=0)
    await ws.prepare(request)
    assert request.transport is not None
    ssl_object = request.transport.get_extra_info("ssl_object")
    log.tls_version = ssl_object.version() if ssl_object is not None else None
    try:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                if msg.data == "cmd:ping":
                    await ws.ping(b"srv-ping")
                elif msg.data == "cmd:close":
                    await ws.close(code=4002, message=b"srv bye")
                else:
                    await ws.send_str(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.PONG:
                log.pong_ok = msg.data == b"srv-ping"
                await ws.send_str("pong-ok")
            elif msg.type == aiohttp.WSMsgType.PING:
                await ws.pong(msg.data)
    finally:
        log.close_code = ws.close_code
        log.done.set()
    return ws


LOG_KEY = web.AppKey("log", PeerLog)


@contextlib.asynccontextmanager
async def aiohttp_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[tuple[str, PeerLog]]:
    log = PeerLog()
    app = web.Application()
    app[LOG_KEY] = log
    app.router.add_get("/ws", _aiohttp_handler)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = runner.addresses[0][1]
        yield f"{'wss' if ssl_context else 'ws'}://127.0.0.1:{port}/ws", log
    finally:
        await asyncio.wait_for(runner.cleanup(), TIMEOUT)


PEER_SERVERS = {"websockets": websockets_server, "aiohttp": aiohttp_server}


async def _text_binary_big(transport: Any, listener: ClientListener) -> None:
    assert transport.response.status == 101
    transport.send(WSMsgType.TEXT, "héllo wörld".encode())
    assert await _next_data(listener) == (WSMsgType.TEXT, True, False, "héllo wörld".encode())
    transport.send(WSMsgType.BINARY, b"\x00\xff\x10")
    assert await _next_data(listener) == (WSMsgType.BINARY, True, False, b"\x00\xff\x10")
    transport.send(WSMsgType.BINARY, b"")
    assert await _next_data(listener) == (WSMsgType.BINARY, True, False, b"")
    big = os.urandom(BIG)
    transport.send(WSMsgType.BINARY, big)
    item = await _next_data(listener)
    assert item[0] == WSMsgType.BINARY
    # The peer may fragment its reply; reassemble.
    data = item[3]
    fin = item[1]
    while not fin:
        nxt = await _next_data(listener)
        assert nxt[0] == WSMsgType.CONTINUATION
        data += nxt[3]
        fin = nxt[1]
    assert data == big
    text_big = ("é" * (BIG // 2)).encode()
    transport.send(WSMsgType.TEXT, text_big)
    item = await _next_data(listener)
    data, fin = item[3], item[1]
    while not fin:
        nxt = await _next_data(listener)
        data += nxt[3]
        fin = nxt[1]
    assert data == text_big


async def _sends_fragmented(transport: Any, listener: ClientListener) -> None:
    transport.send(WSMsgType.TEXT, b"hel", fin=False)
    transport.send_ping(b"interleaved")  # control frames may interleave
    transport.send(WSMsgType.CONTINUATION, b"lo ", fin=False)
    transport.send(WSMsgType.CONTINUATION, b"world", fin=True)
    item = await _next_data(listener)
    assert item == (WSMsgType.TEXT, True, False, b"hello world")
    transport.send(WSMsgType.BINARY, b"\x01", fin=False)
    transport.send(WSMsgType.CONTINUATION, b"\x02", fin=True)
    assert await _next_data(listener) == (WSMsgType.BINARY, True, False, b"\x01\x02")


@pytest.mark.parametrize("peer", list(PEER_SERVERS))
async def test_picows_client_text_binary_big(peer: str) -> None:
    async with PEER_SERVERS[peer]() as (url, log):
        transport, listener = await _picows_connect(url)
        try:
            await _text_binary_big(transport, listener)
        finally:
            await _close(transport)


@pytest.mark.parametrize("peer", list(PEER_SERVERS))
async def test_picows_client_sends_fragmented(peer: str) -> None:
    async with PEER_SERVERS[peer]() as (url, log):
        transport, listener = await _picows_connect(url)
        try:
            await _sends_fragmented(transport, listener)
        finally:
            await _close(transport)


async def _receives_fragmented(transport: Any, listener: ClientListener) -> None:
    """From websockets, which sends one frame per fragment (maybe plus an empty final one)."""
    transport.send(WSMsgType.TEXT, b"cmd:frag")
    first = await _next_data(listener)
    assert first[:2] == (WSMsgType.TEXT, False)
    frames = [first]
    while not frames[-1][1]:
        frames.append(await _next_data(listener))
        assert frames[-1][0] == WSMsgType.CONTINUATION
    assert len(frames) >= 3
    assert b"".join(f[3] for f in frames) == b"frag-mented"


async def _ping_pong(transport: Any, listener: ClientListener, log: PeerLog) -> None:
    # picows -> peer ping: the peer answers with a PONG carrying the payload.
    transport.send_ping(b"client-ping")
    assert await listener.get() == (WSMsgType.PONG, True, False, b"client-ping")
    # peer -> picows ping: picows auto-pongs (the PING is not delivered).
    transport.send(WSMsgType.TEXT, b"cmd:ping")
    assert await listener.get() == (WSMsgType.TEXT, True, False, b"pong-ok")
    assert log.pong_ok
    rtts = await asyncio.wait_for(transport.measure_roundtrip_time(3), TIMEOUT)
    assert len(rtts) == 3 and all(r >= 0 for r in rtts)


async def _initiates_close(transport: Any, listener: ClientListener, log: PeerLog, peer: str) -> None:
    transport.send_close(4001, b"client bye")
    assert transport.is_close_frame_sent
    item = await _next_data(listener)
    assert item[0] == WSMsgType.CLOSE
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
    await asyncio.wait_for(log.done.wait(), TIMEOUT)
    assert log.close_code == 4001
    if peer == "websockets":
        assert log.close_reason == "client bye"


async def test_picows_client_receives_fragmented_from_websockets() -> None:
    async with websockets_server() as (url, log):
        transport, listener = await _picows_connect(url)
        try:
            await _receives_fragmented(transport, listener)
        finally:
            await _close(transport)


@pytest.mark.parametrize("peer", list(PEER_SERVERS))
async def test_picows_client_ping_pong(peer: str) -> None:
    async with PEER_SERVERS[peer]() as (url, log):
        transport, listener = await _picows_connect(url)
        try:
            await _ping_pong(transport, listener, log)
        finally:
            await _close(transport)


@pytest.mark.parametrize("peer", list(PEER_SERVERS))
async def test_picows_client_initiates_close(peer: str) -> None:
    async with PEER_SERVERS[peer]() as (url, log):
        transport, listener = await _picows_connect(url)
        try:
            await _initiates_close(transport, listener, log, peer)
        finally:
            await _close(transport)


@pytest.mark.parametrize("peer", list(PEER_SERVERS))
async def test_picows_client_peer_initiates_close(peer: str) -> None:
    async with PEER_SERVERS[peer]() as (url, log):
        transport, listener = await _picows_connect(url)
        try:
            transport.send(WSMsgType.TEXT, b"cmd:close")
            assert await _next_data(listener) == (WSMsgType.CLOSE, True, False, b"\x0f\xa2srv bye")
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
            await asyncio.wait_for(log.done.wait(), TIMEOUT)
            assert log.close_code == 4002
        finally:
            await _close(transport)


class CloseCodeListener(ClientListener):
    def __init__(self) -> None:
        super().__init__()
        self.close_info: list[tuple] = []

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.close_info.append((frame.get_close_code(), frame.get_close_message()))
        super().on_ws_frame(transport, frame)


async def test_close_frame_accessors_with_websockets_server() -> None:
    async with websockets_server() as (url, log):
        transport, listener = await asyncio.wait_for(picows.ws_connect(CloseCodeListener, url), TIMEOUT)
        try:
            transport.send(WSMsgType.TEXT, b"cmd:close")
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
            assert listener.close_info == [(4002, b"srv bye")]
        finally:
            await _close(transport)


@pytest.mark.parametrize("code", [WSCloseCode.OK, WSCloseCode.GOING_AWAY, WSCloseCode.POLICY_VIOLATION, 3000, 4999])
async def test_close_codes_reach_websockets_server(code: int) -> None:
    async with websockets_server() as (url, log):
        transport, listener = await _picows_connect(url)
        try:
            transport.send_close(code, b"r")
            await asyncio.wait_for(log.done.wait(), TIMEOUT)
            assert log.close_code == int(code)
            assert log.close_reason == "r"
        finally:
            await _close(transport)


# ---------------------------------------------------------------- peers as clients


async def _websockets_client_session(url: str, ssl_context: ssl.SSLContext | None = None) -> None:
    """websockets' client through every scenario against a picows ServerSide at ``url``."""
    async with wsx_connect(url, max_size=None, compression=None, open_timeout=TIMEOUT, ssl=ssl_context) as ws:
        if ssl_context is not None:
            assert ws.transport.get_extra_info("ssl_object") is not None
        await asyncio.wait_for(ws.send("héllo"), TIMEOUT)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "héllo"
        await asyncio.wait_for(ws.send(b"\x00\x01"), TIMEOUT)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"\x00\x01"
        big = os.urandom(BIG)
        await asyncio.wait_for(ws.send(big), TIMEOUT)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == big
        # Fragmented message from websockets: picows sees the fragments and echoes them.
        await asyncio.wait_for(ws.send(["ab", "cd", "ef"]), TIMEOUT)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "abcdef"
        # Fragmented message from picows.
        await asyncio.wait_for(ws.send("cmd:frag"), TIMEOUT)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "frag-mented"
        # websockets -> picows ping: auto-pong.
        waiter = await asyncio.wait_for(ws.ping(b"client-ping"), TIMEOUT)
        await asyncio.wait_for(waiter, TIMEOUT)
        # picows -> websockets ping: websockets answers, picows sees the pong.
        await asyncio.wait_for(ws.send("cmd:ping"), TIMEOUT)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "got pong:server-ping"
        await asyncio.wait_for(ws.close(4001, "client bye"), TIMEOUT)
        assert ws.close_code == 4001
        assert ws.close_reason == "client bye"


async def _check_websockets_session(listener: PicowsServerListener) -> None:
    """What the picows server saw of :func:`_websockets_client_session`."""
    await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    assert listener.close_frames == [(4001, b"client bye")]
    # The fragments reached picows as separate frames.
    i = listener.frames.index((WSMsgType.TEXT, False, b"ab"))
    fragments = [listener.frames[i]]
    while not fragments[-1][1]:
        i += 1
        fragments.append(listener.frames[i])
        assert fragments[-1][0] == WSMsgType.CONTINUATION
    assert b"".join(f[2] for f in fragments) == b"abcdef"
    assert listener.pongs == [b"server-ping"]


async def test_websockets_client_to_picows_server() -> None:
    server_side = ServerSide()
    async with ws_server(server_side, path="/chat") as url:
        await _websockets_client_session(url)
    await _check_websockets_session(server_side.listeners[0])


async def test_websockets_client_picows_server_closes() -> None:
    server_side = ServerSide()
    async with ws_server(server_side) as url:
        async with wsx_connect(url, compression=None, open_timeout=TIMEOUT) as ws:
            await asyncio.wait_for(ws.send("cmd:close"), TIMEOUT)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 4003
            assert info.value.rcvd.reason == "picows bye"
    listener = server_side.listeners[0]
    # websockets echoed the CLOSE; the listener echoed nothing back (close already sent) and disconnected.
    await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    assert listener.close_frames == [(4003, b"picows bye")]


async def test_websockets_client_with_subprotocol() -> None:
    def factory(request: Any) -> Any:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        assert offered == ["chat.v1", "chat.v2"]
        response = picows.WSUpgradeResponse.create_101_response(extra_headers={"Sec-WebSocket-Protocol": "chat.v2"})
        return picows.WSUpgradeResponseWithListener(response, PicowsServerListener())

    async with ws_server(factory) as url:
        async with wsx_connect(url, subprotocols=["chat.v1", "chat.v2"], open_timeout=TIMEOUT) as ws:
            assert ws.subprotocol == "chat.v2"
            await asyncio.wait_for(ws.send("x"), TIMEOUT)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "x"


async def test_websockets_client_gets_picows_404() -> None:
    from websockets.exceptions import InvalidStatus

    async with ws_server(lambda r: None) as url:
        with pytest.raises(InvalidStatus) as info:
            async with wsx_connect(url, open_timeout=TIMEOUT):
                pass
        assert info.value.response.status_code == 404


async def _aiohttp_client_session(url: str, ssl_context: ssl.SSLContext | None = None) -> None:
    """aiohttp's client through every scenario against a picows ServerSide at ``url``."""
    timeout = aiohttp.ClientWSTimeout(ws_receive=TIMEOUT)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            url, autoping=False, max_msg_size=0, timeout=timeout, ssl=ssl_context if ssl_context else True
        ) as ws:
            await ws.send_str("héllo")
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "héllo")
            await ws.send_bytes(b"\x00\x01")
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.BINARY, b"\x00\x01")
            big = os.urandom(BIG)
            await ws.send_bytes(big)
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert msg.type == aiohttp.WSMsgType.BINARY and msg.data == big
            # Fragmented message from picows, reassembled by aiohttp.
            await ws.send_str("cmd:frag")
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "frag-mented")
            # aiohttp -> picows ping: picows auto-pongs.
            await ws.ping(b"aio-ping")
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"aio-ping")
            # picows -> aiohttp ping: answered by us (autoping=False).
            await ws.send_str("cmd:ping")
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.PING, b"server-ping")
            await ws.pong(msg.data)
            msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
            assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "got pong:server-ping")
            await asyncio.wait_for(ws.close(code=4001, message=b"aio bye"), TIMEOUT)
            assert ws.close_code == 4001


async def test_aiohttp_client_to_picows_server() -> None:
    server_side = ServerSide()
    async with ws_server(server_side, path="/a") as url:
        await _aiohttp_client_session(url)
    listener = server_side.listeners[0]
    await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    assert listener.close_frames == [(4001, b"aio bye")]


async def test_aiohttp_client_picows_server_closes() -> None:
    server_side = ServerSide()
    async with ws_server(server_side) as url:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_receive=TIMEOUT)) as ws:
                await ws.send_str("cmd:close")
                msg = await asyncio.wait_for(ws.receive(), TIMEOUT)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
                assert ws.close_code == 4003
    listener = server_side.listeners[0]
    await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)


async def test_aiohttp_client_gets_picows_error_status() -> None:
    def factory(request: Any) -> Any:
        raise RuntimeError("nope")

    async with ws_server(factory) as url:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await asyncio.wait_for(session.ws_connect(url), TIMEOUT)
            assert info.value.status == 500


# ---------------------------------------------------------------- over wss://, every TLS path


@pytest.mark.parametrize("peer", list(PEER_SERVERS))
async def test_picows_client_over_wss(tls_certs: TLSCerts, peer: str) -> None:
    async with PEER_SERVERS[peer](server_ssl_context(tls_certs)) as (url, log):
        assert url.startswith("wss://")
        transport, listener = await _picows_connect(url, ssl_context=client_ssl_context(tls_certs))
        try:
            assert transport.is_secure
            await _text_binary_big(transport, listener)
            await _sends_fragmented(transport, listener)
            if peer == "websockets":
                await _receives_fragmented(transport, listener)
            await _ping_pong(transport, listener, log)
            await _initiates_close(transport, listener, log, peer)
        finally:
            await _close(transport)
    assert log.tls_version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("peer", list(PEER_SERVERS))
async def test_picows_client_over_wss_peer_closes(tls_certs: TLSCerts, peer: str) -> None:
    async with PEER_SERVERS[peer](server_ssl_context(tls_certs)) as (url, log):
        transport, listener = await _picows_connect(url, ssl_context=client_ssl_context(tls_certs))
        try:
            transport.send(WSMsgType.TEXT, b"cmd:close")
            assert await _next_data(listener) == (WSMsgType.CLOSE, True, False, b"\x0f\xa2srv bye")
            await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
            await asyncio.wait_for(log.done.wait(), TIMEOUT)
            assert log.close_code == 4002
        finally:
            await _close(transport)


async def test_websockets_client_over_wss_to_picows_server(tls_certs: TLSCerts) -> None:
    server_side = ServerSide()
    async with ws_server(server_side, path="/chat", ssl=server_ssl_context(tls_certs)) as url:
        assert url.startswith("wss://")
        await _websockets_client_session(url, client_ssl_context(tls_certs))
    await _check_websockets_session(server_side.listeners[0])


async def test_aiohttp_client_over_wss_to_picows_server(tls_certs: TLSCerts) -> None:
    server_side = ServerSide()
    async with ws_server(server_side, path="/a", ssl=server_ssl_context(tls_certs)) as url:
        assert url.startswith("wss://")
        await _aiohttp_client_session(url, client_ssl_context(tls_certs))
    listener = server_side.listeners[0]
    await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
    assert listener.close_frames == [(4001, b"aio bye")]
