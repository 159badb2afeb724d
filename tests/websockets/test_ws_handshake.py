"""Opening handshake: hooks, auth, subprotocols, origins, routing, errors (compared with websockets)."""

from __future__ import annotations

import asyncio
import http
import os
import socket
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.asyncio.server as upstream_server
import websockets.exceptions

import picows
from picows.websockets.asyncio.client import connect
from picows.websockets.asyncio.router import route
from picows.websockets.asyncio.server import basic_auth, serve, unix_serve
from picows.websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from support.http import RawResponse, read_response_head
from support.net import exchange, port_of, read_until_eof, run_bounded, tcp_server
from support.ws_api import TIMEOUT, UPSTREAM_ANSWERS_405_505, echo, our_server, their_server, url_of

CLIENTS = {"ours": connect, "websockets": upstream_client.connect}


async def failure_class(client: str, url: str, **kwargs: Any) -> BaseException:
    try:
        async with CLIENTS[client](url, **kwargs):
            pass
    except Exception as exc:  # noqa: BLE001 - the class is what we compare
        return exc
    raise AssertionError("the connection succeeded")


async def test_rejected_upgrade_raises_invalid_status_like_websockets() -> None:
    def reject(connection: Any, request: Any) -> Any:
        return connection.respond(http.HTTPStatus.NOT_FOUND, "nope\n")

    async with their_server(process_request=reject) as url:
        ours = await failure_class("ours", url, proxy=None)
        theirs = await failure_class("websockets", url)
    assert type(theirs).__name__ == type(ours).__name__ == "InvalidStatus"
    assert isinstance(ours, websockets.exceptions.InvalidStatus)
    assert str(ours) == str(theirs) == "server rejected WebSocket connection: HTTP 404"
    assert ours.response.status_code == 404 and ours.response.body == b"nope\n"


@pytest.mark.parametrize("uri", ["http://127.0.0.1/", "ws://", "wss://host/#frag", "not a uri"])
async def test_invalid_uri_like_websockets(uri: str) -> None:
    with pytest.raises(InvalidURI) as ours:
        await connect(uri, proxy=None)
    with pytest.raises(websockets.exceptions.InvalidURI):
        await upstream_client.connect(uri)
    assert isinstance(ours.value, websockets.exceptions.InvalidURI)


async def test_open_timeout_raises_timeout_error() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        url = f"ws://127.0.0.1:{listener.getsockname()[1]}/"
        with pytest.raises(asyncio.TimeoutError):
            await connect(url, proxy=None, open_timeout=0.1)
        with pytest.raises(asyncio.TimeoutError):
            await upstream_client.connect(url, open_timeout=0.1)
    finally:
        listener.close()


async def test_connection_refused_is_oserror() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(OSError):
        await connect(f"ws://127.0.0.1:{port}/", proxy=None)


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_process_request_health_check(client: str, kind: str) -> None:
    def health(connection: Any, request: Any) -> Any:
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    async def async_health(connection: Any, request: Any) -> Any:
        return health(connection, request)

    async with our_server(process_request=health if kind == "sync" else async_health) as url:
        exc = await failure_class(client, url + "healthz", proxy=None)
        assert type(exc).__name__ == "InvalidStatus" and exc.response.status_code == 200  # type: ignore[attr-defined]
        async with CLIENTS[client](url, proxy=None) as ws:
            await ws.send("up")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "up"


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_process_response_can_add_headers(kind: str) -> None:
    def add(connection: Any, request: Any, response: Any) -> None:
        response.headers["X-Extra"] = "1"

    async def async_add(connection: Any, request: Any, response: Any) -> None:
        add(connection, request, response)

    async with our_server(process_response=add if kind == "sync" else async_add) as url:
        async with upstream_client.connect(url) as ws:
            assert ws.response.headers["X-Extra"] == "1"


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_response_seen_by_process_response_and_the_handler_is_the_one_sent(compression: Any) -> None:
    """As websockets: the 101 process_response gets (and ``connection.response``) has every header sent.

    Before, ours lacked Sec-WebSocket-Accept and the permessage-deflate answer, which the core
    added after the hooks; the server still compresses (the core recognises its own answer).
    """
    seen: dict[str, list[list[str]]] = {}

    async def run(library: str) -> None:
        names: list[list[str]] = []

        def record(connection: Any, request: Any, response: Any) -> None:
            names.append([name for name, _ in response.headers.raw_items()])

        async def handler(ws: Any) -> None:
            names.append([name for name, _ in ws.response.headers.raw_items()])
            if library == "ours":  # the core agreed permessage-deflate: it compresses what we send
                assert (ws._transport.permessage_deflate is not None) == (compression is not None)
            await ws.send("x" * 1000)

        server = our_server if library == "ours" else their_server
        async with server(handler, process_response=record, compression=compression) as url:
            async with upstream_client.connect(url, compression=compression) as ws:
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "x" * 1000
                sent = [name for name, _ in ws.response.headers.raw_items()]
                assert sorted(sent) == sorted(names[0]), (library, sent, names[0])
                assert len(ws.protocol.extensions) == (compression is not None)
        seen[library] = names

    await run("ours")
    await run("websockets")
    assert seen["ours"] == seen["websockets"]
    assert ("Sec-WebSocket-Extensions" in seen["ours"][0]) == (compression is not None)


async def test_async_hooks_really_await_io() -> None:
    """process_request / process_response coroutines that suspend on real I/O are awaited by the core."""
    lookups: list[str] = []

    async def lookup(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = (await reader.readline()).decode().strip()
        lookups.append(name)
        writer.write(b"allowed\n" if name == "/ok" else b"denied\n")
        await writer.drain()

    async with tcp_server(lookup) as port:

        async def ask(path: str) -> str:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(path.encode() + b"\n")
                return (await asyncio.wait_for(reader.readline(), TIMEOUT)).decode().strip()
            finally:
                writer.close()

        async def check(connection: Any, request: Any) -> Any:
            if await ask(request.path) != "allowed":
                return connection.respond(http.HTTPStatus.FORBIDDEN, "denied by the lookup\n")
            return None

        async def stamp(connection: Any, request: Any, response: Any) -> None:
            await asyncio.sleep(0.01)
            response.headers["X-Looked-Up"] = await ask("stamp")

        async with our_server(process_request=check, process_response=stamp) as url:
            async with upstream_client.connect(url + "ok") as ws:
                assert ws.response.headers["X-Looked-Up"] == "denied"  # what the lookup said for "stamp"
                await ws.send("through")
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "through"
            exc = await failure_class("websockets", url + "nope")
    assert isinstance(exc, websockets.exceptions.InvalidStatus) and exc.response.status_code == 403
    assert exc.response.body == b"denied by the lookup\n"
    assert lookups == ["/ok", "stamp", "/nope", "stamp"]


async def test_async_hook_that_raises_answers_500() -> None:
    async def broken(connection: Any, request: Any) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("hook bug")

    async with our_server(process_request=broken) as url:
        exc = await failure_class("websockets", url)
    assert isinstance(exc, websockets.exceptions.InvalidStatus) and exc.response.status_code == 500
    assert exc.response.body == b"Failed to open a WebSocket connection.\nSee server log for more information.\n"


async def test_async_hook_slower_than_open_timeout_is_bounded() -> None:
    """A hook that never finishes: the core drops the connection after open_timeout; nothing hangs."""
    never = asyncio.Event()

    async def stuck(connection: Any, request: Any) -> None:
        await never.wait()

    async with our_server(process_request=stuck, open_timeout=0.2) as url:
        exc = await failure_class("websockets", url, open_timeout=TIMEOUT)
    assert isinstance(exc, websockets.exceptions.InvalidMessage)


async def test_remote_address_inside_process_request() -> None:
    seen: list[Any] = []

    def record(connection: Any, request: Any) -> None:
        seen.append(connection.remote_address)

    async with our_server(process_request=record) as url:
        async with upstream_client.connect(url) as ws:
            assert seen == [ws.local_address]


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 426),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", 426),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 400),
    ],
    ids=["plain GET", "other upgrade", "no key", "version 8"],
)
async def test_not_an_upgrade_answered_like_websockets(head: bytes, status: int) -> None:
    """A plain GET reaches the server (2.x routing) and gets websockets' answer, status and text."""
    answers = []
    for server in (our_server, their_server):
        async with server() as url:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
            try:
                writer.write(head)
                answers.append(await asyncio.wait_for(read_response_head(reader), TIMEOUT))
                body = await read_until_eof(reader)
            finally:
                writer.close()
            answers.append(body)
    ours, our_body, theirs, their_body = answers
    assert ours.status == theirs.status == status
    assert our_body == their_body
    assert ours.header("Upgrade") == theirs.header("Upgrade")


UPGRADE_HEADERS = (
    b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
# (request, status, the reason in websockets' body)
REQUEST_LINE_CASES = {
    "post": (b"POST / HTTP/1.1\r\n" + UPGRADE_HEADERS, 405, "unsupported HTTP method: POST"),
    "put": (b"PUT / HTTP/1.1\r\n" + UPGRADE_HEADERS, 405, "unsupported HTTP method: PUT"),
    "lowercase-get": (b"get / HTTP/1.1\r\n" + UPGRADE_HEADERS, 405, "unsupported HTTP method: get"),
    "method-not-a-token": (b"G@T / HTTP/1.1\r\n" + UPGRADE_HEADERS, 405, "unsupported HTTP method: G@T"),
    "head-plain": (b"HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n", 405, "unsupported HTTP method: HEAD"),
    "http-1.0": (b"GET / HTTP/1.0\r\n" + UPGRADE_HEADERS, 505, "unsupported HTTP version: HTTP/1.0"),
    "http-1.0-without-host": (b"GET / HTTP/1.0\r\n\r\n", 505, "unsupported HTTP version: HTTP/1.0"),
    "post-http-1.0": (b"POST / HTTP/1.0\r\n" + UPGRADE_HEADERS, 405, "unsupported HTTP method: POST"),
}


async def answer_of(server: Any, head: bytes, **kwargs: Any) -> RawResponse:
    """The raw answer of a server (``our_server`` or ``their_server``) to one request."""
    async with server(**kwargs) as url:
        return RawResponse(await exchange(port_of(url), head))


@pytest.mark.parametrize("case", sorted(REQUEST_LINE_CASES))
@pytest.mark.parametrize("server_header", ["default", None])
async def test_other_method_or_http_1_0_answered_like_websockets(case: str, server_header: str | None) -> None:
    """405 (Allow: GET) for another method, 505 for HTTP/1.0: status, body and headers as websockets'."""
    head, status, reason = REQUEST_LINE_CASES[case]
    kwargs = {} if server_header == "default" else {"server_header": None}
    ours = await answer_of(our_server, head, **kwargs)
    assert ours.status == status
    assert ours.body == f"Failed to open a WebSocket connection: {reason}.\n".encode()
    assert ours.header("Allow") == ("GET" if status == 405 else None)
    assert ours.header("Connection") == "close"
    assert ours.header("Content-Type") == "text/plain; charset=utf-8"
    assert ours.header("Content-Length") == str(len(ours.body))
    assert (ours.header("Server") is None) == (server_header is None)
    if UPSTREAM_ANSWERS_405_505:
        theirs = await answer_of(their_server, head, **kwargs)
        assert (ours.status, ours.body) == (theirs.status, theirs.body)
        for name in ("Allow", "Connection", "Content-Type", "Content-Length", "Upgrade"):
            assert ours.header(name) == theirs.header(name), name
        assert (theirs.header("Server") is None) == (server_header is None)


async def test_request_without_host_is_upgraded_like_websockets() -> None:
    """websockets does not check Host (HTTP/1.1 requires one); picows' core alone answers 400."""
    head = (
        b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    for server in (our_server, their_server):
        async with server() as url:
            reader, writer = await asyncio.open_connection("127.0.0.1", port_of(url))
            try:
                writer.write(head)
                assert (await read_response_head(reader)).status == 101, server
            finally:
                writer.close()
    # Two Host headers stay refused (websockets takes them): which host is meant is ambiguous.
    two_hosts = head.replace(b"Upgrade: websocket", b"Host: a\r\nHost: b\r\nUpgrade: websocket")
    assert (await answer_of(our_server, two_hosts)).status == 400


@pytest.mark.parametrize("server", ["ours", "websockets"])
async def test_process_request_sees_the_method_and_protocol(server: str) -> None:
    """Requests with another method or over HTTP/1.0 reach process_request first, as in websockets."""
    if server == "websockets" and not UPSTREAM_ANSWERS_405_505:
        pytest.skip("the installed websockets (< 16) refuses these requests before process_request")
    seen: list[tuple[str, str, str]] = []

    def health(connection: Any, request: Any) -> Any:
        seen.append((request.method, request.protocol, request.path))
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    serve_with = our_server if server == "ours" else their_server
    async with serve_with(process_request=health) as url:
        port = port_of(url)
        ok = RawResponse(await exchange(port, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
        old = RawResponse(await exchange(port, b"GET /healthz HTTP/1.0\r\n\r\n"))
        refused = RawResponse(await exchange(port, b"POST /other HTTP/1.1\r\n" + UPGRADE_HEADERS))
        async with upstream_client.connect(url) as ws:
            await ws.send("still")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "still"
    assert (ok.status, ok.body, old.status, refused.status) == (200, b"OK\n", 200, 405)
    assert seen == [
        ("HEAD", "HTTP/1.1", "/healthz"),
        ("GET", "HTTP/1.0", "/healthz"),
        ("POST", "HTTP/1.1", "/other"),
        ("GET", "HTTP/1.1", "/"),
    ]


SERVER_HEADER_CASES = {
    "101": b"",  # opened by websockets' client
    "426": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "405": b"POST / HTTP/1.1\r\n" + UPGRADE_HEADERS,
    "process_request-200": b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(SERVER_HEADER_CASES))
@pytest.mark.parametrize("server_header", ["default", "custom/1", None])
async def test_server_header_like_websockets(case: str, server_header: str | None) -> None:
    """serve(server_header=...) on every answer, process_request's too; None sends no Server header."""

    def health(connection: Any, request: Any) -> Any:
        return connection.respond(http.HTTPStatus.OK, "OK\n") if request.path == "/healthz" else None

    kwargs: dict[str, Any] = {"process_request": health}
    if server_header != "default":
        kwargs["server_header"] = server_header
    # The Server headers each library sent (websockets < 16 does not answer a POST: nothing to compare).
    sent: dict[Any, list[str]] = {}
    for server in (our_server, their_server):
        if case == "101":
            async with server(**kwargs) as url, upstream_client.connect(url) as ws:
                sent[server] = ws.response.headers.get_all("Server")
        elif case != "405" or server is our_server or UPSTREAM_ANSWERS_405_505:
            answer = await answer_of(server, SERVER_HEADER_CASES[case], **kwargs)
            assert answer.status == int(case[-3:])
            sent[server] = answer.headers.get("server", [])
    ours, theirs = sent[our_server], sent.get(their_server)
    assert len(ours) == (server_header is not None)
    if server_header == "default":
        assert ours[0].startswith("Python/") and "picows/" in ours[0]
    elif server_header is not None:
        assert ours == [server_header]
    if theirs is not None:
        assert len(theirs) == len(ours)
        assert server_header == "default" or theirs == ours


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_basic_auth(client: str) -> None:
    async def check(username: str, password: str) -> bool:
        return (username, password) == ("bob", "secret")

    for auth in (basic_auth(realm="r", credentials=("bob", "secret")), basic_auth(check_credentials=check)):
        async def whoami(ws: Any) -> None:
            await ws.send(ws.username)

        async with our_server(whoami, process_request=auth) as url:
            host = url.split("//", 1)[1]
            async with CLIENTS[client](f"ws://bob:secret@{host}", proxy=None) as ws:
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "bob"
            exc = await failure_class(client, f"ws://bob:wrong@{host}", proxy=None)
            assert exc.response.status_code == 401  # type: ignore[attr-defined]
            assert exc.response.headers["WWW-Authenticate"].startswith("Basic")  # type: ignore[attr-defined]
            exc = await failure_class(client, url, proxy=None)
            assert exc.response.status_code == 401 and b"Missing credentials" in exc.response.body  # type: ignore[attr-defined]


async def test_subprotocols_both_ways() -> None:
    async def which(ws: Any) -> None:
        await ws.send(str(ws.subprotocol))

    async with our_server(which, subprotocols=["chat", "superchat"]) as url:
        async with upstream_client.connect(url, subprotocols=["superchat"]) as ws:
            assert ws.subprotocol == "superchat" and await ws.recv() == "superchat"
        exc = await failure_class("websockets", url, subprotocols=["other"])
        assert exc.response.status_code == 400  # type: ignore[attr-defined]
    async with their_server(which, subprotocols=["chat"]) as url:
        async with connect(url, proxy=None, subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat" and await ws.recv() == "chat"


async def test_select_subprotocol_hook() -> None:
    def pick(connection: Any, offered: Any) -> Any:
        return offered[-1] if offered else None

    async with our_server(select_subprotocol=pick) as url:
        async with connect(url, proxy=None, subprotocols=["a", "b"]) as ws:
            assert ws.subprotocol == "b"


async def test_server_subprotocol_not_offered_is_negotiation_error() -> None:
    def force(connection: Any, request: Any, response: Any) -> None:
        response.headers["Sec-WebSocket-Protocol"] = "unasked"

    async with our_server(process_response=force) as url:
        ours = await failure_class("ours", url, proxy=None)
        theirs = await failure_class("websockets", url)
    assert type(ours).__name__ == type(theirs).__name__ == "NegotiationError"
    assert isinstance(ours, InvalidHandshake)


async def test_origins() -> None:
    async with our_server(origins=["https://good.example", None]) as url:
        async with upstream_client.connect(url, origin="https://good.example"):
            pass
        async with upstream_client.connect(url):
            pass
        exc = await failure_class("websockets", url, origin="https://evil.example")
        assert exc.response.status_code == 403  # type: ignore[attr-defined]
        assert b"invalid Origin header: https://evil.example" in exc.response.body  # type: ignore[attr-defined]


async def test_route_with_werkzeug() -> None:
    from werkzeug.routing import Map, Rule

    async def item(ws: Any, item_id: int) -> None:
        await ws.send(f"item {item_id}")

    url_map = Map([Rule("/items/<int:item_id>", endpoint=item)])
    async with route(url_map, "127.0.0.1", 0) as server:
        url = url_of(server)
        async with connect(url + "items/7", proxy=None) as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "item 7"
        exc = await failure_class("ours", url + "missing", proxy=None)
        assert isinstance(exc, InvalidStatus) and exc.response.status_code == 404


async def test_server_close_closes_connections_1001() -> None:
    server = await serve(echo, "127.0.0.1", 0)
    async with upstream_client.connect(url_of(server)) as ws:
        assert len(server.connections) == 1
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
        with pytest.raises(websockets.exceptions.ConnectionClosedOK) as info:
            await ws.recv()
        assert info.value.rcvd.code == 1001
    assert not server.is_serving()


async def test_serve_forever_ends_on_close() -> None:
    """close() from another task makes serve_forever return (uvloop's own serve_forever would not end)."""
    server = await serve(echo, "127.0.0.1", 0)
    forever = asyncio.ensure_future(server.serve_forever())
    await asyncio.sleep(0.01)
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
    assert await run_bounded(forever) is None  # Hung if it never ends


async def test_serve_forever_starts_a_server_made_with_start_serving_false() -> None:
    server = await serve(echo, "127.0.0.1", 0, start_serving=False)
    assert not server.is_serving()
    forever = asyncio.ensure_future(server.serve_forever())
    for _ in range(200):  # the socket listens once the task has run
        if server.is_serving():
            break
        await asyncio.sleep(0.01)
    assert server.is_serving()
    async with upstream_client.connect(url_of(server)) as ws:
        await ws.send("served")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "served"
    server.close()
    assert await run_bounded(forever) is None


async def test_unix_serve(tmp_path: Any) -> None:
    path = os.path.join(str(tmp_path), "ws.sock")
    async with unix_serve(echo, path):
        async with upstream_client.unix_connect(path, "ws://localhost/") as ws:
            await ws.send("over unix")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "over unix"


async def test_reconnecting_async_for() -> None:
    """async for connect(...) retries a 503 with reconnect_delays, then yields the connection."""
    attempts = 0

    def flaky(connection: Any, request: Any) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "later\n")
        return None

    def no_wait() -> Any:
        while True:
            yield 0.0

    async with our_server(process_request=flaky) as url:
        async for ws in connect(url, proxy=None, reconnect_delays=no_wait):
            await ws.send("finally")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "finally"
            break
    assert attempts == 3


async def test_reconnect_stops_on_fatal_error() -> None:
    def forbidden(connection: Any, request: Any) -> Any:
        return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    async with our_server(process_request=forbidden) as url:
        with pytest.raises(InvalidStatus):
            async for _ws in connect(url, proxy=None):
                raise AssertionError("unreachable")


async def test_proxy_from_environment_honours_no_proxy(http_proxy: str, monkeypatch: Any) -> None:
    """proxy=True (default) uses *_proxy from the environment, except for hosts in no_proxy."""
    async with our_server() as url:
        monkeypatch.setenv("http_proxy", http_proxy)
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        async with connect(url) as ws:  # bypassed: direct
            await ws.send("direct")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "direct"
        monkeypatch.setenv("no_proxy", "")
        async with connect(url) as ws:  # through the proxy
            await ws.send("proxied")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "proxied"
        async with connect(url, proxy=http_proxy) as ws:
            await ws.send("explicit")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "explicit"


@pytest.mark.parametrize("direction", ["our client", "our server"])
async def test_wss(tls_certs: Any, direction: str) -> None:
    from support.tls import client_ssl_context, server_ssl_context

    server_ctx, client_ctx = server_ssl_context(tls_certs), client_ssl_context(tls_certs)
    if direction == "our client":
        async with their_server(ssl=server_ctx, scheme="wss") as url, connect(url, ssl=client_ctx, proxy=None) as ws:
            await ws.send("secure")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "secure"
    else:
        async with our_server(ssl=server_ctx, scheme="wss") as url, upstream_client.connect(url, ssl=client_ctx) as ws:
            await ws.send(b"secure")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"secure"


def test_picows_core_still_importable() -> None:
    assert picows.ws_connect is not None and upstream_server.serve is not None


async def test_reconnect_over_wss_keeps_the_ssl_context(tls_certs: Any) -> None:
    from support.tls import client_ssl_context, server_ssl_context

    attempts = 0

    def flaky(connection: Any, request: Any) -> Any:
        nonlocal attempts
        attempts += 1
        return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "later\n") if attempts == 1 else None

    def no_wait() -> Any:
        while True:
            yield 0.0

    ctx = client_ssl_context(tls_certs)
    async with our_server(ssl=server_ssl_context(tls_certs), scheme="wss", process_request=flaky) as url:
        async for ws in connect(url, ssl=ctx, proxy=None, reconnect_delays=no_wait):
            await ws.send("tls again")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "tls again"
            break
    assert attempts == 2


async def test_server_closing_during_handshake_is_retryable_like_websockets() -> None:
    """A peer that closes before answering: InvalidMessage caused by EOFError (retried by default)."""
    from picows.websockets.asyncio.client import process_exception

    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # read the request (closing unread input would reset)
        writer.close()

    server = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    async with server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        ours = await failure_class("ours", url, proxy=None)
        theirs = await failure_class("websockets", url)
    assert type(ours).__name__ == type(theirs).__name__ == "InvalidMessage"
    assert isinstance(ours.__cause__, EOFError) and isinstance(theirs.__cause__, EOFError)
    assert process_exception(ours) is None  # type: ignore[arg-type]


async def test_unix_route(tmp_path: Any) -> None:
    from werkzeug.routing import Map, Rule

    from picows.websockets.asyncio.router import unix_route

    async def hello(ws: Any, name: str) -> None:
        await ws.send(f"hello {name}")

    path = os.path.join(str(tmp_path), "route.sock")
    async with unix_route(Map([Rule("/hello/<name>", endpoint=hello)]), path):
        async with upstream_client.unix_connect(path, "ws://localhost/hello/unix") as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hello unix"


async def test_route_redirects_like_werkzeug() -> None:
    from werkzeug.routing import Map, Rule

    async def index(ws: Any) -> None:
        await ws.send("index")

    async with route(Map([Rule("/dir/", endpoint=index)]), "127.0.0.1", 0) as server:
        # Both clients follow the 302 to /dir/, as websockets does.
        for client in sorted(CLIENTS):
            async with CLIENTS[client](url_of(server) + "dir", proxy=None) as ws:
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "index"


async def test_redirect_loop_is_security_error_like_websockets() -> None:
    def loop_forever(connection: Any, request: Any) -> Any:
        response = connection.respond(http.HTTPStatus.FOUND, "again\n")
        response.headers["Location"] = request.path
        return response

    async with our_server(process_request=loop_forever) as url:
        ours = await failure_class("ours", url, proxy=None)
        theirs = await failure_class("websockets", url)
    assert type(ours).__name__ == type(theirs).__name__ == "SecurityError"
    assert str(ours) == str(theirs)


async def test_server_close_without_closing_connections() -> None:
    server = await serve(echo, "127.0.0.1", 0)
    async with upstream_client.connect(url_of(server)) as ws:
        server.close(close_connections=False)
        await asyncio.sleep(0.05)
        assert not server.is_serving()
        await ws.send("still served")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "still served"
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)


async def test_rejected_connection_is_not_tracked_and_closes_at_once() -> None:
    captured: list[Any] = []

    def reject(connection: Any, request: Any) -> Any:
        captured.append(connection)
        return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")

    server = await serve(echo, "127.0.0.1", 0, process_request=reject)
    exc = await failure_class("websockets", url_of(server))
    assert exc.response.status_code == 403  # type: ignore[attr-defined]
    assert server.connections == set() and server._connections == set()
    await asyncio.wait_for(captured[0].close(), TIMEOUT)  # never opened: nothing to wait for
    server.close()
    await asyncio.wait_for(server.wait_closed(), TIMEOUT)
