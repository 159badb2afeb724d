"""serve(): bad upgrade requests, failing hooks, basic_auth, subprotocols, lifecycle, unix_serve, broadcast.

Answers are compared byte for byte (status, body, selected headers) with the websockets server given
the same request and the same hooks.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.asyncio.server as upstream_server

from picows.websockets.asyncio.client import connect, unix_connect
from picows.websockets.asyncio.server import Server, basic_auth, broadcast, serve, unix_serve
from picows.websockets.exceptions import ConcurrencyError, ConnectionClosedError, ConnectionClosedOK
from support.http import RawResponse, upgrade_request
from support.net import exchange, port_of, run_bounded
from support.ws_api import TIMEOUT, UPSTREAM_MAJOR, echo, our_server, their_server

SERVERS = {"ours": (our_server, basic_auth), "websockets": (their_server, upstream_server.basic_auth)}
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


async def answers_to(request_of: Any, **kwargs: Any) -> tuple[RawResponse, RawResponse]:
    """The raw answers of our server and of websockets' to the request ``request_of(port)``."""
    answers = []
    for make_server, _ in SERVERS.values():
        async with make_server(**kwargs) as url:
            port = port_of(url)
            answers.append(RawResponse(await exchange(port, request_of(port))))
    return answers[0], answers[1]


def assert_same_answer(ours: RawResponse, theirs: RawResponse, *headers: str) -> None:
    assert ours.status == theirs.status
    assert ours.body == theirs.body
    for name in headers:
        assert ours.header(name) == theirs.header(name), name


BAD_UPGRADES: dict[str, dict[str, Any]] = {
    "two-keys": {"headers": [("Sec-WebSocket-Key", KEY)]},
    "two-versions": {"headers": [("Sec-WebSocket-Version", "13")]},
    "key-not-base64": {"replace": {"Sec-WebSocket-Key": "not base64!"}},
    "key-too-short": {"replace": {"Sec-WebSocket-Key": base64.b64encode(b"short").decode()}},
    "no-version": {"drop": ("sec-websocket-version",)},
    "no-connection-header": {"drop": ("connection",)},
}


@pytest.mark.parametrize("case", sorted(BAD_UPGRADES))
async def test_bad_upgrade_answered_like_websockets(case: str) -> None:
    ours, theirs = await answers_to(lambda port: upgrade_request(port, **BAD_UPGRADES[case]))
    assert ours.status in (400, 426)
    assert_same_answer(ours, theirs, "Upgrade")


@pytest.mark.parametrize("offered", [None, "superchat"])
async def test_subprotocol_required_but_missing_or_unknown_like_websockets(offered: str | None) -> None:
    headers = [] if offered is None else [("Sec-WebSocket-Protocol", offered)]
    ours, theirs = await answers_to(lambda port: upgrade_request(port, headers=headers), subprotocols=["chat"])
    assert ours.status == 400
    assert_same_answer(ours, theirs)


def _boom(*args: Any) -> Any:
    raise RuntimeError("hook failed")


async def _async_boom(*args: Any) -> Any:
    await asyncio.sleep(0)
    raise RuntimeError("hook failed")


FAILING_HOOKS = {
    "sync-process-request": {"process_request": _boom},
    "sync-process-response": {"process_response": _boom},
    "async-process-response": {"process_response": _async_boom},
    "select-subprotocol": {"select_subprotocol": _boom, "subprotocols": ["chat"]},
}


@pytest.mark.parametrize("case", sorted(FAILING_HOOKS))
async def test_failing_hook_answers_500_like_websockets(case: str, caplog: Any) -> None:
    headers = [("Sec-WebSocket-Protocol", "chat")]
    with caplog.at_level(logging.CRITICAL, logger="websockets.server"):  # the tracebacks are expected
        ours, theirs = await answers_to(lambda port: upgrade_request(port, headers=headers), **FAILING_HOOKS[case])
    assert ours.status == 500
    assert_same_answer(ours, theirs)


@pytest.mark.parametrize(("status", "phrase"), [(299, ""), (599, ""), (404, "Gone Fishing"), (403, "")])
async def test_status_and_reason_phrase_from_process_request_like_websockets(status: int, phrase: str) -> None:
    """The status line carries the response's code and reason phrase as given, known to HTTP or not."""
    def answer(connection: Any, request: Any) -> Any:
        response = connection.respond(404, "custom")
        response.status_code, response.reason_phrase = status, phrase
        return response

    ours, theirs = await answers_to(lambda port: upgrade_request(port), process_request=answer)
    assert ours.status_line == theirs.status_line == f"HTTP/1.1 {status} {phrase}".encode()
    assert_same_answer(ours, theirs)


@pytest.mark.parametrize(("code", "phrase"), [(599, "Odd"), (404, "Nowhere"), (403, "")])
async def test_our_client_reports_any_status_as_received_like_websockets(code: int, phrase: str) -> None:
    def answer(connection: Any, request: Any) -> Any:
        response = connection.respond(404, "custom")
        response.status_code, response.reason_phrase = code, phrase
        return response

    async with their_server(process_request=answer) as url:
        ours = await failure_of_client(connect, url, proxy=None)
        theirs = await failure_of_client(upstream_client.connect, url, proxy=None)
    assert type(ours).__name__ == type(theirs).__name__ == "InvalidStatus"
    assert (ours.response.status_code, ours.response.reason_phrase) == (code, phrase)
    assert (theirs.response.status_code, theirs.response.reason_phrase) == (code, phrase)
    assert ours.response.body == theirs.response.body == b"custom"
    assert str(ours) == str(theirs)


async def failure_of_client(factory: Any, url: str, **kwargs: Any) -> Any:
    with pytest.raises(Exception) as info:  # noqa: PT011 - the caller checks it
        async with factory(url, **kwargs):
            pass
    return info.value


def authorization(value: str) -> Any:
    return lambda port: upgrade_request(port, headers=[("Authorization", value)])


AUTH_REQUESTS = {
    "missing": lambda port: upgrade_request(port),
    "other-scheme": authorization("Bearer abc"),
    "not-base64": authorization("Basic %%%"),
    "no-colon": authorization("Basic " + base64.b64encode(b"alice").decode()),
    "wrong-password": authorization("Basic " + base64.b64encode(b"alice:nope").decode()),
}


@pytest.mark.parametrize("case", sorted(AUTH_REQUESTS))
async def test_basic_auth_answers_like_websockets(case: str) -> None:
    answers = []
    for make_server, make_auth in SERVERS.values():
        hook = make_auth(realm="test", credentials=[("alice", "wonder"), ("bob", "builder")])
        async with make_server(process_request=hook) as url:
            port = port_of(url)
            answers.append(RawResponse(await exchange(port, AUTH_REQUESTS[case](port))))
    ours, theirs = answers
    assert_same_answer(ours, theirs, "WWW-Authenticate")
    assert ours.status == 401


async def test_basic_auth_accepts_any_listed_user_from_the_uri() -> None:
    """Credentials in the URI become the Authorization header; connection.username is the user."""
    usernames: list[str] = []

    async def handler(ws: Any) -> None:
        usernames.append(ws.username)
        await ws.send("welcome")

    auth = basic_auth(realm="test", credentials=[("alice", "wonder"), ("bob", "builder")])
    async with our_server(handler, process_request=auth) as url:
        for user in ("alice:wonder", "bob:builder"):
            async with connect(url.replace("ws://", f"ws://{user}@"), proxy=None) as ws:
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "welcome"
    assert usernames == ["alice", "bob"]


@pytest.mark.single_loop
@pytest.mark.parametrize("kind", sorted(SERVERS))
async def test_basic_auth_argument_errors_like_websockets(kind: str) -> None:
    make_auth = SERVERS[kind][1]
    with pytest.raises(ValueError, match="provide either credentials or check_credentials"):
        make_auth()
    with pytest.raises(ValueError, match="provide either credentials or check_credentials"):
        make_auth(credentials=("a", "b"), check_credentials=lambda u, p: True)
    for bad in [42, [("a", "b", "c")], [("a", 1)], ("a", "b", "c")]:
        with pytest.raises(TypeError, match="invalid credentials argument"):
            make_auth(credentials=bad)
    for good in [("a", "b"), ["a", "b"], [["a", "b"], ("c", "d")], {("a", "b")}]:  # any pairs, as websockets
        make_auth(credentials=good)


async def test_lifecycle_start_serving_get_loop_close_twice() -> None:
    server = await serve(echo, "127.0.0.1", 0, start_serving=False)
    assert server.get_loop() is asyncio.get_running_loop()
    assert not server.is_serving()
    await server.start_serving()
    assert server.is_serving()
    async with connect(f"ws://127.0.0.1:{port_of_server(server)}/", proxy=None) as ws:
        await ws.send("up")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "up"
        server.close()
        server.close()  # a second close() joins the first one
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
        with pytest.raises(ConnectionClosedOK):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert ws.close_code == 1001


# websockets 17's Server.close takes code and reason; websockets 15 (what PyPy 3.9 runs) does not.
CLOSE_WITH_CODE = ["ours"] + (["websockets"] if "code" in inspect.signature(upstream_server.Server.close).parameters else [])


@pytest.mark.parametrize("kind", CLOSE_WITH_CODE)
async def test_close_with_a_code_and_reason_like_websockets(kind: str) -> None:
    """Server.close(code=, reason=) (websockets 17) closes the open connections with them."""
    serve_of = serve if kind == "ours" else upstream_server.serve
    async with serve_of(echo, "127.0.0.1", 0) as server:
        async with connect(f"ws://127.0.0.1:{port_of_server(server)}/", proxy=None) as ws:
            server.close(code=1012, reason="restarting")
            await asyncio.wait_for(server.wait_closed(), TIMEOUT)
            with pytest.raises(ConnectionClosedError):  # 1012 is not a normal closure
                await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert (ws.close_code, ws.close_reason) == (1012, "restarting")


def port_of_server(server: Any) -> int:
    return int(next(iter(server.sockets)).getsockname()[1])


@pytest.mark.parametrize("impl", ["ours", "websockets"])
async def test_cancelling_serve_forever_closes_the_server(impl: str) -> None:
    """Cancelled from outside, serve_forever closes the server and its connections (1001), then raises."""
    if impl == "websockets" and UPSTREAM_MAJOR < 17:
        pytest.skip(f"websockets {UPSTREAM_MAJOR} only cancels asyncio's serve_forever (17 closes the server)")
    serve_function = serve if impl == "ours" else upstream_server.serve
    server = await serve_function(echo, "127.0.0.1", 0)
    forever = asyncio.ensure_future(server.serve_forever())
    async with upstream_client.connect(f"ws://127.0.0.1:{port_of_server(server)}/") as ws:
        await ws.send("before")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "before"
        forever.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run_bounded(forever)  # Hung if it never ends
        await run_bounded(server.wait_closed())  # closed without a close() call
        await run_bounded(ws.wait_closed())
    assert (ws.close_code, ws.close_reason) == (1001, "")
    assert not server.is_serving()


@pytest.mark.single_loop
async def test_extension_factory_without_a_name_is_refused() -> None:
    with pytest.raises(TypeError, match="has no name"):
        serve(echo, "127.0.0.1", 0, extensions=[object()])


async def test_unix_serve_replaces_a_stale_socket_file_and_refuses_path_with_sock(tmp_path: Any) -> None:
    path = os.path.join(str(tmp_path), "stale.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # a socket file left behind by an earlier process
    stale.close()
    assert os.path.exists(path)
    async with unix_serve(echo, path), unix_connect(path) as ws:
        await ws.send("fresh")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "fresh"
    with socket.socket(socket.AF_UNIX) as sock, pytest.raises(TypeError, match="path or sock, not both"):
        unix_serve(echo, path, sock=sock)


@pytest.fixture
def connected_pair() -> Any:
    """An async context manager: our server's connection and our client, both open."""

    async def make() -> AsyncIterator[tuple[Any, Any]]:
        server_side: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            server_side.set_result(ws)
            await ws.wait_closed()

        async with our_server(handler) as url, connect(url, proxy=None, compression=None) as client:
            yield await asyncio.wait_for(server_side, TIMEOUT), client

    import contextlib

    return contextlib.asynccontextmanager(make)


@pytest.mark.parametrize("raise_exceptions", [False, True])
async def test_broadcast_skips_a_connection_sending_fragments(
    raise_exceptions: bool, connected_pair: Any, caplog: Any
) -> None:
    """As websockets: a connection in a fragmented send is skipped (warning, or ConcurrencyError raised)."""
    async with connected_pair() as (server_ws, client):
        release = asyncio.Event()

        async def stalled() -> AsyncIterator[str]:
            yield "part"
            await release.wait()
            yield "end"

        sending = asyncio.ensure_future(server_ws.send(stalled()))
        await asyncio.sleep(0)
        if raise_exceptions:
            with pytest.raises(Exception) as info:  # noqa: PT011 - checked below
                broadcast([server_ws], "skipped", raise_exceptions=True)
            # An ExceptionGroup (the exceptiongroup backport before 3.11; without it, the exception itself).
            errors = getattr(info.value, "exceptions", [info.value])
            assert [type(e) for e in errors] == [ConcurrencyError]
        else:
            with caplog.at_level(logging.WARNING, logger="websockets.server"):
                broadcast([server_ws], "skipped")
            assert "skipped broadcast: sending a fragmented message" in caplog.text
        release.set()
        await asyncio.wait_for(sending, TIMEOUT)
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "partend"
        broadcast([server_ws], b"as text", text=True)
        broadcast([server_ws], "as bytes", text=False)
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == "as text"
        assert await asyncio.wait_for(client.recv(), TIMEOUT) == b"as bytes"
        with pytest.raises(TypeError, match="data must be str or bytes"):
            broadcast([server_ws], 42)
        await client.close()
        await asyncio.wait_for(server_ws.wait_closed(), TIMEOUT)
        broadcast([server_ws], "to a closed connection: skipped")


async def _serve_as_websockets_17_writes_it(serve_function: Any) -> str:
    """websockets 17's pattern: keep what serve() returns, ``async with`` it, call the Server's methods on it."""
    server = serve_function(echo, "127.0.0.1", 0)
    async with server:
        assert (await server) is (await server)  # awaiting again gives the same running server
        port = next(iter(server.sockets)).getsockname()[1]
        forever = asyncio.ensure_future(server.serve_forever())
        async with upstream_client.connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send("once")
            reply = await asyncio.wait_for(ws.recv(), TIMEOUT)
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
        assert await run_bounded(forever) is None  # close() ends serve_forever (Hung if not)
    return reply


async def test_what_serve_returns_reaches_the_server_as_in_websockets_17() -> None:
    assert await _serve_as_websockets_17_writes_it(serve) == "once"
    if UPSTREAM_MAJOR >= 17:  # websockets 15 (PyPy's) returned a serve object without these
        assert await _serve_as_websockets_17_writes_it(upstream_server.serve) == "once"


async def test_serve_returns_the_server_as_websockets_17() -> None:
    pending = serve(echo, "127.0.0.1", 0)
    assert isinstance(pending, Server)  # as websockets 17: serve() returns the Server, started when awaited
    with pytest.raises(AttributeError, match="not started yet: await serve"):
        pending.sockets  # noqa: B018 - the attribute access is the test
    assert not pending.is_serving()
    starts = await asyncio.gather(pending, pending, pending.__aenter__())  # concurrent starts: one server
    assert starts == [pending, pending, pending] and pending.is_serving()
    assert len(list(pending.sockets)) == 1
    assert await pending is pending
    pending.close()
    await asyncio.wait_for(pending.wait_closed(), TIMEOUT)
    if UPSTREAM_MAJOR >= 17:
        assert isinstance(upstream_server.serve(echo, "127.0.0.1", 0), upstream_server.Server)


def test_serve_can_be_made_before_the_loop_runs() -> None:
    """The old pattern ``start = serve(...)`` then ``loop.run_until_complete(start)`` (as before 17)."""
    loop = asyncio.new_event_loop()
    try:
        start = serve(echo, "127.0.0.1", 0)
        server = loop.run_until_complete(start)
        assert server is start and server.is_serving()

        async def stop() -> None:
            server.close()
            await asyncio.wait_for(server.wait_closed(), TIMEOUT)

        loop.run_until_complete(stop())
    finally:
        loop.close()


async def test_a_failed_or_cancelled_start_can_be_retried() -> None:
    """A start that failed (port taken) raises to every waiter and leaves the server unstarted; so does a
    cancelled one; the next await starts it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        pending = serve(echo, "127.0.0.1", port)
        outcomes = await asyncio.gather(pending.create(), pending.create(), return_exceptions=True)
        assert all(isinstance(outcome, OSError) for outcome in outcomes), outcomes
        assert not pending.is_serving()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(pending.create(), 0)
    assert await asyncio.wait_for(pending, TIMEOUT) is pending and pending.is_serving()
    async with connect(f"ws://127.0.0.1:{port}/", proxy=None) as ws:
        await ws.send("after a retry")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "after a retry"
    pending.close()
    await asyncio.wait_for(pending.wait_closed(), TIMEOUT)
