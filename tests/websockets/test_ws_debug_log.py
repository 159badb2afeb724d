"""DEBUG logging side by side with websockets: the handshake, every frame, state changes, keepalive.

websockets writes these records when its logger has DEBUG enabled (its logging guide: how to see what a
connection does). The same scenario runs with our client and server and with websockets' client and server;
the records of each logger are compared after the values that differ by nature (ports, keys, dates,
product names) are replaced. websockets' records about the TCP connection itself ("> EOF", "x half-closing
TCP connection") are not written by ours: the core closes the TCP connection.
"""

from __future__ import annotations

import asyncio
import http
import logging
import random
import re
from typing import Any

import pytest
import websockets
import websockets.asyncio.client as upstream_client
import websockets.asyncio.server as upstream_server
import websockets.exceptions as upstream_exceptions
import websockets.frames as upstream_frames

import picows.websockets.asyncio.client as our_client
import picows.websockets.asyncio.server as our_server
from picows.websockets.frames import describe_frame
from support.ws_api import TIMEOUT, run_without_websockets

LIBRARIES = {"ours": (our_server.serve, our_client.connect), "websockets": (upstream_server.serve, upstream_client.connect)}
# The reference is websockets 17; the PyPy job's websockets 15 fails to describe some frames
# (UnicodeDecodeError) and logs the server's closing otherwise.
UPSTREAM_17 = int(websockets.__version__.split(".")[0]) >= 17
TCP_RECORDS = {"> EOF", "< EOF", "x half-closing TCP connection", "x closing TCP connection"}


def frame_corpus() -> list[tuple[int, bytes, bool]]:
    """Frames of every kind whose description has a rule of its own (text, cut characters, elision, ...)."""
    rng = random.Random(6455)
    texts = ["", "hello", "é", "日本語" * 40, "a" * 300, "a" * 301, "x" * 24, "ab\x01", "€" * 120]
    corpus: list[tuple[int, bytes, bool]] = []
    for opcode in (0x0, 0x1, 0x2):
        for text in texts:
            data = text.encode()
            for fin in (True, False):
                corpus.append((opcode, data, fin))
                for cut in (1, 2):  # a character cut at either end
                    corpus += [(opcode, data[cut:], fin), (opcode, data[:-cut], fin)]
    for size in (1, 3, 4, 24, 25, 26, 100, 301, 400):
        data = bytes(rng.getrandbits(8) for _ in range(size))
        corpus += [(opcode, data, fin) for opcode in (0x0, 0x1, 0x2, 0x8, 0x9, 0xA) for fin in (True, False)]
    for payload in (b"\x03\xe8", b"\x03\xe8bye", b"\x03\xe9", b"\x0b\xb8x", b"\x0f\xa0", b"\x03\xed", b"\x03",
                    b"\x03\xe8\xff", b"\x03\xe8" + b"r" * 120, b""):
        corpus.append((0x8, payload, True))
    for payload in (b"ping", b"\x00\x01\x02\x03", b"hello world\t\n", b"x" * 100, b""):
        corpus += [(0x9, payload, True), (0xA, payload, True)]
    return corpus


def test_frame_description_like_websockets() -> None:
    corpus = frame_corpus()
    ours = [describe_frame(opcode, data, fin) for opcode, data, fin in corpus]
    assert describe_frame(0x1, "日本".encode(), False) == "TEXT '日本' [6 bytes, continued]"
    assert describe_frame(0x8, b"\x03\xe8bye") == "CLOSE 1000 (OK) bye [5 bytes]"
    assert describe_frame(0x2, b"\x00\x01") == "BINARY 00 01 [2 bytes]"
    if not UPSTREAM_17:
        pytest.skip("the installed websockets predates 17, the reference (ours is checked above)")
    theirs = [str(upstream_frames.Frame(upstream_frames.Opcode(op), data, fin)) for op, data, fin in corpus]
    assert ours == theirs


def test_frame_str_without_websockets() -> None:
    """Our Frame (used when websockets is not installed) prints as websockets' does."""
    code = """
        from picows.websockets.frames import Frame, Opcode
        assert Frame.__module__ == "picows.websockets.frames"
        print(Frame(Opcode.TEXT, b"hello"))
        print(Frame(Opcode.BINARY, bytes(range(40)), fin=False))
        print(Frame(Opcode.CLOSE, b"\\x03\\xe8bye"))
        """
    lines = run_without_websockets(code, WEBSOCKETS_MAX_LOG_SIZE="75").splitlines()
    Frame, Opcode = upstream_frames.Frame, upstream_frames.Opcode
    assert lines == [
        str(Frame(Opcode.TEXT, b"hello")),
        str(Frame(Opcode.BINARY, bytes(range(40)), fin=False)),
        str(Frame(Opcode.CLOSE, b"\x03\xe8bye")),
    ]
    assert lines[0] == "TEXT 'hello' [5 bytes]"


def normalized(records: list[logging.LogRecord], name: str) -> list[str]:
    """One logger's DEBUG-and-above messages, values that differ by nature replaced, header blocks sorted."""
    lines: list[str] = []
    block: list[str] = []
    for record in records:
        if record.name != name:
            continue
        text = record.getMessage()
        if text in TCP_RECORDS:
            continue
        text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
        text = re.sub(r"^([<>] (?:Sec-WebSocket-Key|Sec-WebSocket-Accept|Date|User-Agent|Server)): .*", r"\1: X", text)
        if re.match(r"^[<>] [\w-]+: ", text):  # a header line: header order is each library's own
            block.append(text)
            continue
        lines += sorted(block)
        block = []
        lines.append(text)
    return lines + sorted(block)


async def scenario(library: str, caplog: pytest.LogCaptureFixture) -> tuple[list[str], list[str]]:
    caplog.clear()
    serve, connect = LIBRARIES[library]

    async def handler(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)
            if message == "ping me":
                await asyncio.wait_for(await ws.ping(b"from server"), TIMEOUT)
                await ws.send("pinged")

    async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        kwargs = {"proxy": None} if library == "ours" else {}
        async with connect(f"ws://127.0.0.1:{port}/path?q=1", ping_interval=None, **kwargs) as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hello"
            await ws.send(b"\x00\x01" * 100)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"\x00\x01" * 100
            await asyncio.wait_for(await ws.ping(b"abc"), TIMEOUT)
            await ws.send("ping me")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ping me"
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "pinged"
        for _ in range(200):  # the server's side closes in its own callbacks: bounded wait
            if any(r.getMessage() == "connection closed" for r in caplog.records):
                break
            await asyncio.sleep(0.01)
    return normalized(caplog.records, "websockets.client"), normalized(caplog.records, "websockets.server")


async def test_debug_log_like_websockets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets")
    our_client_log, our_server_log = await scenario("ours", caplog)
    their_client_log, their_server_log = await scenario("websockets", caplog)
    assert "< TEXT 'hello' [5 bytes]" in our_client_log  # decompressed: permessage-deflate is on
    assert "< HTTP/1.1 101 Switching Protocols" in our_client_log
    assert "> GET /path?q=1 HTTP/1.1" in our_client_log and "< GET /path?q=1 HTTP/1.1" in our_server_log
    assert our_client_log == their_client_log
    if UPSTREAM_17:
        assert our_server_log == their_server_log
    else:  # websockets 15 logs its server's closing in another order: the frames and states only
        assert [line for line in our_server_log if line[:1] in "<>="] == [
            line for line in their_server_log if line[:1] in "<>="
        ]


async def refused_attempts(library: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    """A redirected connection, then one refused with 404, against websockets' server: the client's records."""
    caplog.clear()
    connect = LIBRARIES[library][1]

    def process_request(connection: Any, request: Any) -> Any:
        if request.path == "/old":
            response = connection.respond(http.HTTPStatus.FOUND, "")
            response.headers["Location"] = "/new"
            return response
        if request.path == "/missing":
            return connection.respond(http.HTTPStatus.NOT_FOUND, "nothing here\n")
        return None

    async def handler(ws: Any) -> None:
        await ws.send("hi")

    async with upstream_server.serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        kwargs = {"proxy": None} if library == "ours" else {}
        async with connect(f"{url}/old", **kwargs) as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hi"
        with pytest.raises(upstream_exceptions.InvalidStatus) as refused:
            await asyncio.wait_for(connect(f"{url}/missing", **kwargs), TIMEOUT)
        assert refused.value.response.status_code == 404
    return normalized(caplog.records, "websockets.client")


@pytest.mark.skipif(not UPSTREAM_17, reason="the reference is websockets 17 (PyPy's is 15)")
async def test_refused_attempts_logged_like_websockets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="websockets")
    ours = await refused_attempts("ours", caplog)
    theirs = await refused_attempts("websockets", caplog)
    assert "< HTTP/1.1 302 Found" in ours and "< HTTP/1.1 404 Not Found" in ours
    assert "> GET /missing HTTP/1.1" in ours and "< [body] (13 bytes)" in ours
    assert ours == theirs


@pytest.mark.parametrize("pinging", ["ours", "websockets"])
async def test_pings_are_answered_and_logged_in_debug_mode(pinging: str, caplog: pytest.LogCaptureFixture) -> None:
    """A connection that logs frames answers PINGs itself (the core leaves them to it): keepalive goes on."""
    caplog.set_level(logging.DEBUG, logger="websockets")
    answering = "websockets" if pinging == "ours" else "ours"
    serve, _ = LIBRARIES[answering]
    _, connect = LIBRARIES[pinging]
    kwargs = {"proxy": None} if pinging == "ours" else {}

    async def handler(ws: Any) -> None:
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", ping_interval=0.05, ping_timeout=1, **kwargs) as ws:
            for _ in range(200):
                client_log = normalized(caplog.records, "websockets.client")
                if client_log.count("% received keepalive pong") >= 3:
                    break
                await asyncio.sleep(0.01)
            assert ws.state.name == "OPEN"
    server_log = normalized(caplog.records, "websockets.server")
    assert client_log.count("% received keepalive pong") >= 3, client_log
    assert client_log.count("% sent keepalive ping") >= 3
    assert [line[:7] for line in server_log if "PING" in line or "PONG" in line][:4] == [
        "< PING ", "> PONG ", "< PING ", "> PONG "
    ]


async def test_no_debug_keeps_the_compiled_path(caplog: pytest.LogCaptureFixture) -> None:
    """With DEBUG off nothing is logged per frame and frames stay on the per-message fast path."""
    caplog.set_level(logging.INFO, logger="websockets")
    seen: list[Any] = []

    async def handler(ws: Any) -> None:
        seen.append(ws)
        async for message in ws:
            await ws.send(message)

    async with our_server.serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with our_client.connect(f"ws://127.0.0.1:{port}/", proxy=None) as ws:
            await ws.send("x")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "x"
            assert ws._extensions is None and seen[0]._extensions is None
            assert not ws._debug and not seen[0]._debug
    assert [r for r in caplog.records if r.levelno < logging.INFO] == []
