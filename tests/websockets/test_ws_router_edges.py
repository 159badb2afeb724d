"""route()/unix_route(): 404s, redirects, server_name, ssl, converters, the user's hooks (compared with websockets)."""

from __future__ import annotations

import asyncio
import contextlib
import http
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets.asyncio.router as upstream_router
from werkzeug.routing import Map, Rule

from picows.websockets.asyncio.client import connect, unix_connect
from picows.websockets.asyncio.router import Router, route, unix_route
from picows.websockets.exceptions import InvalidStatus
from support.http import RawResponse, upgrade_request
from support.net import exchange, read_until_eof
from support.ws_api import TIMEOUT, url_of

ROUTERS = {"ours": route, "websockets": upstream_router.route}


async def index(ws: Any) -> None:
    await ws.send(f"index {ws.request.path}")


async def item(ws: Any, item_id: int) -> None:
    await ws.send(f"item {item_id!r}")


async def file(ws: Any, name: str) -> None:
    await ws.send(f"file {name}")


def url_map() -> Map:
    """A fresh map each time: route() marks its rules as WebSocket rules."""
    return Map([
        Rule("/dir/", endpoint=index),
        Rule("/items/<int:item_id>", endpoint=item),
        Rule("/files/<path:name>", endpoint=file),
        Rule("/old", redirect_to="/dir/"),
    ])


@contextlib.asynccontextmanager
async def router_of(kind: str, **kwargs: Any) -> AsyncIterator[int]:
    """A route() server of either library on 127.0.0.1; yields its port."""
    async with ROUTERS[kind](url_map(), "127.0.0.1", 0, **kwargs) as server:
        yield int(next(iter(server.sockets)).getsockname()[1])


ANSWER_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "not-found": ("/missing", {}),
    "int-converter-mismatch": ("/items/abc", {}),
    "slash-redirect": ("/dir", {}),
    "slash-redirect-keeps-query": ("/dir?a=1", {}),
    "redirect-rule": ("/old", {}),
    "server-name": ("/dir", {"server_name": "example.com"}),
    "ssl-true-binds-wss": ("/dir", {"ssl": True}),
}


@pytest.mark.parametrize("case", sorted(ANSWER_CASES))
async def test_answers_like_websockets(case: str) -> None:
    """Status, body and Location of 404s and redirects are websockets' (ssl=True: wss:// URLs, no TLS)."""
    path, kwargs = ANSWER_CASES[case]
    answers = {}
    for kind in ROUTERS:
        async with router_of(kind, **kwargs) as port:
            # Both answer with the same Host header, so the URLs are comparable.
            request = upgrade_request(port, path=path, replace={"Host": "127.0.0.1:8000"})
            answers[kind] = RawResponse(await exchange(port, request))
    ours, theirs = answers["ours"], answers["websockets"]
    assert ours.status == theirs.status
    assert ours.body == theirs.body
    assert ours.header("Location") == theirs.header("Location")
    if ours.status == 302:
        scheme = "wss" if "ssl" in kwargs else "ws"
        host = kwargs.get("server_name", "127.0.0.1:8000")
        assert str(ours.header("Location")).startswith(f"{scheme}://{host}/dir/")
    else:
        assert ours.status == 404 and ours.body == b"Not Found"


async def test_request_without_host_is_refused_by_the_router() -> None:
    """serve() takes requests without Host (as websockets); the router, which needs one, answers 400.

    websockets' router fails with 500 there (KeyError, logged as "process_request failed").
    """
    async with router_of("ours") as port:
        answer = RawResponse(await exchange(port, upgrade_request(port, path="/dir/", drop=("host",))))
    assert answer.status == 400
    assert answer.body == b"Failed to open a WebSocket connection: missing Host header.\n"
    async with router_of("ours", server_name="fixed.example") as port:  # a server name needs no Host
        answer = RawResponse(await exchange(port, upgrade_request(port, path="/missing", drop=("host",))))
    assert answer.status == 404


def custom_router(base: type) -> type:
    """A router (subclass of either library's Router) with its own 404 and a fixed server name."""

    class Custom(base):  # type: ignore[misc,valid-type]
        def not_found(self, connection: Any) -> Any:
            return connection.respond(http.HTTPStatus.GONE, "gone")

        def get_server_name(self, connection: Any, request: Any) -> str:
            return "routed.example"

    return Custom


@pytest.mark.parametrize("kind", sorted(ROUTERS))
async def test_create_router_customises_routing(kind: str) -> None:
    base = Router if kind == "ours" else upstream_router.Router
    async with router_of(kind, create_router=custom_router(base)) as port:
        missing = RawResponse(await exchange(port, upgrade_request(port, path="/missing")))
        redirected = RawResponse(await exchange(port, upgrade_request(port, path="/dir")))
        async with connect(f"ws://127.0.0.1:{port}/items/7", proxy=None) as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "item 7"
    assert (missing.status, missing.body) == (410, b"gone")
    assert redirected.status == 302 and redirected.header("Location") == "ws://routed.example/dir/"


async def test_router_sets_the_connection_handler_like_websockets() -> None:
    """route_request leaves the endpoint and URL arguments on the connection (handler, handler_kwargs)."""
    seen: list[Any] = []

    async def endpoint(ws: Any, item_id: int) -> None:
        seen.append((ws.handler, dict(ws.handler_kwargs)))
        await ws.send("ok")

    async with route(Map([Rule("/items/<int:item_id>", endpoint=endpoint)]), "127.0.0.1", 0) as server:
        async with connect(url_of(server) + "items/3", proxy=None) as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ok"
    assert seen == [(endpoint, {"item_id": 3})]


async def test_converters_and_query_string() -> None:
    async with route(url_map(), "127.0.0.1", 0) as server:
        url = url_of(server)
        for path, expected in [
            ("items/42?verbose=1", "item 42"),
            ("files/a/b/c.txt", "file a/b/c.txt"),
            ("dir/?x=y", "index /dir/?x=y"),
        ]:
            async with connect(url + path, proxy=None) as ws:
                assert await asyncio.wait_for(ws.recv(), TIMEOUT) == expected
        # A followed redirect reaches the endpoint, as with websockets' client.
        async with connect(url + "old", proxy=None) as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "index /dir/"


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize("router", sorted(ROUTERS))
async def test_user_process_request_runs_before_the_map(kind: str, router: str) -> None:
    """The user's hook answers first; when it returns None the URL map decides (404 still applies)."""
    seen: list[str] = []

    def decide(connection: Any, request: Any) -> Any:
        seen.append(request.path)
        if request.path == "/items/1":
            return connection.respond(http.HTTPStatus.FORBIDDEN, "no\n")
        return None

    async def decide_later(connection: Any, request: Any) -> Any:
        await asyncio.sleep(0)
        return decide(connection, request)

    hook = decide if kind == "sync" else decide_later
    async with ROUTERS[router](url_map(), "127.0.0.1", 0, process_request=hook) as server:
        url = url_of(server)
        with pytest.raises(InvalidStatus) as forbidden:
            async with connect(url + "items/1", proxy=None):
                pass
        assert forbidden.value.response.status_code == 403 and forbidden.value.response.body == b"no\n"
        with pytest.raises(InvalidStatus) as missing:
            async with connect(url + "nowhere", proxy=None):
                pass
        assert missing.value.response.status_code == 404
        async with connect(url + "items/2", proxy=None) as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "item 2"
    assert seen == ["/items/1", "/nowhere", "/items/2"]


async def test_route_over_tls_redirects_to_wss(tls_certs: Any) -> None:
    """With a TLS context the URL map is bound as wss: the redirect stays on wss:// and is followed."""
    from support.tls import client_ssl_context, server_ssl_context

    async with route(url_map(), "127.0.0.1", 0, ssl=server_ssl_context(tls_certs)) as server:
        url = url_of(server, "wss") + "dir"
        async with connect(url, ssl=client_ssl_context(tls_certs), proxy=None) as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "index /dir/"


async def test_unix_route_uses_server_name_and_ssl_true(tmp_path: Any) -> None:
    path = os.path.join(str(tmp_path), "route.sock")
    async with unix_route(url_map(), path, server_name="example.com", ssl=True):
        reader, writer = await asyncio.open_unix_connection(path)
        try:
            writer.write(upgrade_request(0, path="/dir"))
            answer = RawResponse(await read_until_eof(reader, TIMEOUT))
        finally:
            writer.close()
        assert answer.status == 302
        assert answer.header("Location") == "wss://example.com/dir/"
        async with unix_connect(path, "ws://localhost/items/5") as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "item 5"


def test_route_without_werkzeug_raises_import_error(monkeypatch: Any) -> None:
    """Without werkzeug, route() and unix_route() raise ImportError, as websockets' do."""
    for name in [m for m in sys.modules if m == "werkzeug" or m.startswith("werkzeug.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="need werkzeug"):
        route(object(), "127.0.0.1", 0)
    with pytest.raises(ImportError, match="need werkzeug"):
        unix_route(object(), "/nonexistent.sock")
