"""What picows.websockets logs, side by side with websockets: the same records at INFO and above.

websockets documents its log (``websockets.server`` / ``websockets.client``) and puts the connection in
each record as ``websocket`` (its logging guide builds adapters on it). The same scenario runs against
both servers and the records are compared.
"""

from __future__ import annotations

import asyncio
import http
import logging
import re
from typing import Any

import pytest
import websockets
import websockets.asyncio.client as upstream_client
import websockets.asyncio.server as upstream_server

import picows.websockets.asyncio.client as our_client
import picows.websockets.asyncio.server as our_server
from support.net import free_port
from support.ws_api import TIMEOUT

SERVERS = {"ours": our_server, "websockets": upstream_server}
UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


async def handler(ws: Any) -> None:
    await ws.send("hi")
    await ws.recv()


def process_request(connection: Any, request: Any) -> Any:
    if request.path == "/health":
        return connection.respond(http.HTTPStatus.OK, "OK\n")
    if request.path == "/request-fails":
        raise RuntimeError("process_request broke")
    return None


def process_response(connection: Any, request: Any, response: Any) -> Any:
    if request.path == "/response-fails":
        raise RuntimeError("process_response broke")
    if request.path == "/deny":
        return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")
    return None


async def http_status_line(port: int, path: str, upgrade: bool) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{UPGRADE if upgrade else ''}\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), TIMEOUT)  # both servers close after answering
    finally:
        writer.close()
    return answer.split(b"\r\n", 1)[0]


async def wait_for_records(caplog: pytest.LogCaptureFixture, count: int) -> None:
    """The closing records come from other callbacks: wait (bounded) until ``count`` are there."""
    for _ in range(200):
        if len(caplog.records) >= count:
            return
        await asyncio.sleep(0.01)


async def server_log(library: str, caplog: pytest.LogCaptureFixture) -> tuple[list[tuple[str, str]], Any]:
    caplog.clear()
    module = SERVERS[library]
    async with module.serve(
        handler, "127.0.0.1", 0, process_request=process_request, process_response=process_response
    ) as server:
        port = server.sockets[0].getsockname()[1]
        async with upstream_client.connect(f"ws://127.0.0.1:{port}/", compression=None) as client:
            assert await asyncio.wait_for(client.recv(), TIMEOUT) == "hi"
            await client.send("bye")
        await wait_for_records(caplog, 3)  # listening, open, closed
        answers = [
            await http_status_line(port, path, upgrade)
            for path, upgrade in [
                ("/health", False),
                ("/request-fails", True),
                ("/response-fails", True),
                ("/deny", True),
                ("/", False),
            ]
        ]
        await wait_for_records(caplog, 3 + 2 * 5 + 2)  # each answer: its record and "connection closed"
    assert answers == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 500 Internal Server Error",
        b"HTTP/1.1 500 Internal Server Error",
        b"HTTP/1.1 403 Forbidden",
        b"HTTP/1.1 426 Upgrade Required",
    ]
    records = [r for r in caplog.records if r.name == "websockets.server" and r.levelno >= logging.INFO]
    text = [(r.levelname, re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", r.getMessage())) for r in records]
    return text, records


# What websockets 17 (the reference) logs for server_log()'s scenario.
EXPECTED_SERVER_LOG = [
    ("INFO", "server listening on 127.0.0.1:PORT"),
    ("INFO", "connection open"),
    ("INFO", "connection closed"),
    ("INFO", "HTTP response sent (200 OK)"),
    ("INFO", "connection closed"),
    ("ERROR", "process_request failed"),
    ("INFO", "HTTP response sent (500 Internal Server Error)"),
    ("INFO", "connection closed"),
    ("ERROR", "process_response failed"),
    ("INFO", "connection rejected (500 Internal Server Error)"),
    ("INFO", "connection closed"),
    ("INFO", "connection rejected (403 Forbidden)"),
    ("INFO", "connection closed"),
    ("INFO", "connection rejected (426 Upgrade Required)"),
    ("INFO", "connection closed"),
    ("INFO", "server closing"),
    ("INFO", "server closed"),
]


async def test_server_log_like_websockets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websockets")
    ours, our_records = await server_log("ours", caplog)
    theirs, _ = await server_log("websockets", caplog)
    assert ours == EXPECTED_SERVER_LOG
    if int(websockets.__version__.split(".")[0]) >= 17:  # the PyPy job's websockets 15 words some otherwise
        assert theirs == EXPECTED_SERVER_LOG
    # Records about a connection carry it (a weak proxy, gone with the connection by now), as
    # websockets' LoggerAdapter does; server records do not; failures carry their traceback.
    carries = [("websocket" in r.__dict__) for r in our_records]
    assert carries == [not r.getMessage().startswith("server ") for r in our_records]
    failed = [r for r in our_records if r.levelno == logging.ERROR]
    assert [str(r.exc_info[1]) for r in failed if r.exc_info] == ["process_request broke", "process_response broke"]


async def test_connection_logger_is_an_adapter_with_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websockets")
    seen: list[Any] = []

    async def log_from_handler(ws: Any) -> None:
        ws.logger.info("from the handler")
        seen.append(ws)

    async with our_server.serve(log_from_handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with our_client.connect(f"ws://127.0.0.1:{port}/", proxy=None) as client:
            client.logger.warning("from the client")
            await asyncio.wait_for(client.wait_closed(), TIMEOUT)
    by_message = {r.getMessage(): r for r in caplog.records}
    assert by_message["from the handler"].name == "websockets.server"
    assert by_message["from the handler"].websocket.id == seen[0].id
    assert by_message["from the client"].name == "websockets.client"
    assert by_message["from the client"].websocket.id == client.id
    assert isinstance(client.logger, logging.LoggerAdapter)


async def test_nothing_is_made_for_logging_when_info_is_off(caplog: pytest.LogCaptureFixture) -> None:
    """With INFO disabled, a connection's open/close records cost no adapter (memory per connection)."""
    caplog.set_level(logging.WARNING, logger="websockets")
    connections: list[Any] = []

    async def remember(ws: Any) -> None:
        connections.append(ws)

    async with our_server.serve(remember, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with our_client.connect(f"ws://127.0.0.1:{port}/", proxy=None) as client:
            await asyncio.wait_for(client.wait_closed(), TIMEOUT)
    assert connections[0]._logger is None
    assert [r for r in caplog.records if r.levelno < logging.WARNING] == []


@pytest.mark.parametrize("library", ["ours", "websockets"])
async def test_reconnect_log_names_the_error_like_websockets(library: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="websockets.client")
    connect = our_client.connect if library == "ours" else upstream_client.connect
    kwargs = {"proxy": None} if library == "ours" else {}
    iterator = connect(f"ws://127.0.0.1:{free_port()}/", open_timeout=2, **kwargs).__aiter__()
    attempt = asyncio.ensure_future(iterator.__anext__())
    await wait_for_records(caplog, 1)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    message = caplog.records[0].getMessage()
    assert re.fullmatch(
        r"connect failed; reconnecting in \d+\.\d seconds: ConnectionRefusedError: \[Errno \d+\] .*", message
    ), message
