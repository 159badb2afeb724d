"""ws_connect following HTTP redirects (max_redirects)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

import picows
from picows import WSError, WSMsgType, WSUpgradeResponse, WSUpgradeResponseWithListener
from support import TIMEOUT
from support.listeners import CollectingListener, EchoListener
from support.net import collect_garbage, port_of, read_http_head, read_until_eof, tcp_server
from support.servers import ws_server
from support.tls import client_ssl_context, server_ssl_context


def _redirect(status: int, location: str) -> WSUpgradeResponseWithListener:
    return WSUpgradeResponseWithListener(WSUpgradeResponse.create_redirect_response(status, location), None)


class Router:
    """ws_listener_factory routing by path: ``{path: location}`` redirects, ``echo`` paths upgrade."""

    def __init__(self, redirects: dict[bytes, tuple[int, str]] | None = None, echo: tuple[bytes, ...] = ()) -> None:
        self.redirects = dict(redirects or {})
        self.echo = set(echo)
        self.seen: list[bytes] = []

    def __call__(self, request: Any) -> Any:
        self.seen.append(request.path)
        if request.path in self.echo:
            return EchoListener()
        if request.path in self.redirects:
            status, location = self.redirects[request.path]
            return _redirect(status, location)
        return None


async def _echo_roundtrip(transport: Any, listener: CollectingListener) -> None:
    transport.send(WSMsgType.TEXT, b"after redirect")
    assert await listener.get() == (WSMsgType.TEXT, True, False, b"after redirect")


async def _close(transport: Any) -> None:
    transport.disconnect()
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def _connect(url: str, **kwargs: Any) -> tuple[Any, Any]:
    try:
        return await asyncio.wait_for(picows.ws_connect(CollectingListener, url, **kwargs), TIMEOUT)
    except Exception:
        await collect_garbage()
        raise


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_relative_redirect_is_followed(status: int) -> None:
    router = Router({b"/start": (status, "/final")}, echo=(b"/final",))
    async with ws_server(router) as url:
        transport, listener = await _connect(url + "start")
        try:
            await _echo_roundtrip(transport, listener)
            assert transport.request.path == b"/final"
            assert transport.response.status == 101
        finally:
            await _close(transport)
    assert router.seen == [b"/start", b"/final"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_absolute_redirect_to_other_server_is_followed(status: int) -> None:
    final = Router(echo=(b"/there?x=1",))
    async with ws_server(final) as final_url:
        first = Router({b"/start": (status, final_url + "there?x=1")})
        async with ws_server(first) as first_url:
            transport, listener = await _connect(first_url + "start")
            try:
                await _echo_roundtrip(transport, listener)
                assert transport.request.path == b"/there?x=1"
                assert transport.request.headers["Host"] == f"127.0.0.1:{port_of(final_url)}"
            finally:
                await _close(transport)
        assert first.seen == [b"/start"]
    assert final.seen == [b"/there?x=1"]


async def test_path_relative_location_is_resolved_against_current_url() -> None:
    router = Router({b"/a/b/start": (302, "next?k=v")}, echo=(b"/a/b/next?k=v",))
    async with ws_server(router) as url:
        transport, listener = await _connect(url + "a/b/start")
        try:
            await _echo_roundtrip(transport, listener)
        finally:
            await _close(transport)
    assert router.seen == [b"/a/b/start", b"/a/b/next?k=v"]


async def test_dot_dot_relative_location() -> None:
    router = Router({b"/a/b/start": (307, "../c")}, echo=(b"/a/c",))
    async with ws_server(router) as url:
        transport, listener = await _connect(url + "a/b/start")
        try:
            await _echo_roundtrip(transport, listener)
        finally:
            await _close(transport)
    assert router.seen == [b"/a/b/start", b"/a/c"]


async def test_redirect_chain_across_servers() -> None:
    a = Router(echo=(b"/r/3",))
    b = Router()
    async with ws_server(a) as a_url, ws_server(b) as b_url:
        a.redirects[b"/r/0"] = (301, b_url + "r/1")
        b.redirects[b"/r/1"] = (307, "/r/2")
        b.redirects[b"/r/2"] = (308, a_url + "r/3")
        transport, listener = await _connect(a_url + "r/0")
        try:
            await _echo_roundtrip(transport, listener)
        finally:
            await _close(transport)
    assert a.seen == [b"/r/0", b"/r/3"]
    assert b.seen == [b"/r/1", b"/r/2"]


def _chain(n: int) -> Router:
    """/r/0 -> /r/1 -> ... -> /r/n (echo): n redirects."""
    return Router({f"/r/{i}".encode(): (302, f"/r/{i + 1}") for i in range(n)}, echo=(f"/r/{n}".encode(),))


async def test_default_max_redirects_allows_five() -> None:
    router = _chain(5)
    async with ws_server(router) as url:
        transport, listener = await _connect(url + "r/0")
        try:
            await _echo_roundtrip(transport, listener)
        finally:
            await _close(transport)
    assert len(router.seen) == 6


async def test_default_max_redirects_stops_after_five() -> None:
    router = _chain(6)
    async with ws_server(router) as url:
        with pytest.raises(WSError) as info:
            await _connect(url + "r/0")
    exc = info.value
    assert exc.response is not None
    assert exc.response.status == 302
    assert exc.response.headers["Location"] == "/r/6"
    assert router.seen == [f"/r/{i}".encode() for i in range(6)]


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_max_redirects_exact_limit_succeeds(limit: int) -> None:
    router = _chain(limit)
    async with ws_server(router) as url:
        transport, listener = await _connect(url + "r/0", max_redirects=limit)
        try:
            await _echo_roundtrip(transport, listener)
        finally:
            await _close(transport)


@pytest.mark.parametrize("limit", [1, 2])
async def test_max_redirects_exceeded_raises_with_last_redirect(limit: int) -> None:
    router = _chain(limit + 1)
    async with ws_server(router) as url:
        with pytest.raises(WSError) as info:
            await _connect(url + "r/0", max_redirects=limit)
    exc = info.value
    assert not isinstance(exc, picows.WSInvalidURL)
    assert exc.response is not None
    assert exc.response.status == 302
    # The last redirect response received (the one that was not followed).
    assert exc.response.headers["Location"] == f"/r/{limit + 1}"
    assert exc.raw_header is not None and exc.raw_header.startswith(b"HTTP/1.1 302")
    assert router.seen == [f"/r/{i}".encode() for i in range(limit + 1)]


@pytest.mark.parametrize("status", [301, 307])
async def test_max_redirects_zero_disables(status: int) -> None:
    router = Router({b"/start": (status, "/final")}, echo=(b"/final",))
    async with ws_server(router) as url:
        with pytest.raises(WSError) as info:
            await _connect(url + "start", max_redirects=0)
    exc = info.value
    assert exc.response is not None
    assert exc.response.status == status
    assert exc.response.headers["Location"] == "/final"
    assert router.seen == [b"/start"]


async def test_redirect_loop_ends_with_ws_error() -> None:
    router = Router({b"/loop": (302, "/loop")})
    async with ws_server(router) as url:
        with pytest.raises(WSError) as info:
            await _connect(url + "loop", max_redirects=3)
    assert info.value.response is not None
    assert info.value.response.status == 302
    assert router.seen == [b"/loop"] * 4


async def test_final_error_after_redirect_is_reported() -> None:
    router = Router({b"/start": (302, "/missing")})
    async with ws_server(router) as url:
        with pytest.raises(WSError) as info:
            await _connect(url + "start")
    assert info.value.response is not None
    assert info.value.response.status == 404
    assert router.seen == [b"/start", b"/missing"]


# ---------------------------------------------------------------- raw servers


def _raw_redirect_server(response_for: Callable[[bytes], bytes], heads: list[bytes]) -> Callable[..., Any]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        heads.append(head)
        writer.write(response_for(head))
        await read_until_eof(reader)

    return handler


async def test_redirect_with_body_is_followed() -> None:
    heads: list[bytes] = []
    async with ws_server(Router(echo=(b"/final",))) as final_url:

        def respond(head: bytes) -> bytes:
            body = b"<html>moved</html>"
            return (
                b"HTTP/1.1 301 Moved Permanently\r\nLocation: " + (final_url + "final").encode()
                + b"\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            )

        async with tcp_server(_raw_redirect_server(respond, heads)) as port:
            transport, listener = await _connect(f"ws://127.0.0.1:{port}/x")
            try:
                await _echo_roundtrip(transport, listener)
            finally:
                await _close(transport)
    assert len(heads) == 1


async def test_redirect_with_lowercase_location_header_is_followed() -> None:
    heads: list[bytes] = []
    async with ws_server(Router(echo=(b"/final",))) as final_url:

        def respond(head: bytes) -> bytes:
            return b"HTTP/1.1 302 Found\r\nlocation: " + (final_url + "final").encode() + b"\r\ncontent-length: 0\r\n\r\n"

        async with tcp_server(_raw_redirect_server(respond, heads)) as port:
            transport, listener = await _connect(f"ws://127.0.0.1:{port}/x")
            try:
                await _echo_roundtrip(transport, listener)
            finally:
                await _close(transport)


@pytest.mark.parametrize("status", [302, 307])
async def test_redirect_without_location_is_ws_error(status: int) -> None:
    heads: list[bytes] = []

    def respond(head: bytes) -> bytes:
        return b"HTTP/1.1 %d Redirect\r\nContent-Length: 0\r\n\r\n" % status

    async with tcp_server(_raw_redirect_server(respond, heads)) as port:
        with pytest.raises(WSError) as info:
            await _connect(f"ws://127.0.0.1:{port}/x")
    assert info.value.response is not None
    assert info.value.response.status == status
    assert len(heads) == 1


@pytest.mark.parametrize("status", [300, 304, 305])
async def test_other_3xx_statuses_are_not_followed(status: int) -> None:
    async with ws_server(Router(echo=(b"/final",))) as final_url:
        heads: list[bytes] = []

        def respond(head: bytes) -> bytes:
            return b"HTTP/1.1 %d Whatever\r\nLocation: " % status + (final_url + "final").encode() + b"\r\nContent-Length: 0\r\n\r\n"

        async with tcp_server(_raw_redirect_server(respond, heads)) as port:
            with pytest.raises(WSError) as info:
                await _connect(f"ws://127.0.0.1:{port}/x")
        assert info.value.response is not None
        assert info.value.response.status == status


# ---------------------------------------------------------------- TLS


async def test_wss_to_ws_redirect_is_refused(tls_certs: Any) -> None:
    plain = Router(echo=(b"/plain",))
    async with ws_server(plain) as plain_url:
        secure = Router({b"/start": (302, plain_url + "plain")})
        async with ws_server(secure, ssl=server_ssl_context(tls_certs)) as secure_url:
            assert secure_url.startswith("wss://")
            with pytest.raises(WSError):
                await _connect(secure_url + "start", ssl_context=client_ssl_context(tls_certs))
        assert secure.seen == [b"/start"]
    # The insecure target was never contacted.
    assert plain.seen == []


async def test_wss_relative_redirect_stays_secure(tls_certs: Any) -> None:
    router = Router({b"/start": (308, "/final")}, echo=(b"/final",))
    async with ws_server(router, ssl=server_ssl_context(tls_certs)) as url:
        transport, listener = await _connect(url + "start", ssl_context=client_ssl_context(tls_certs))
        try:
            assert transport.is_secure is True
            await _echo_roundtrip(transport, listener)
        finally:
            await _close(transport)
    assert router.seen == [b"/start", b"/final"]


async def test_wss_absolute_redirect_to_wss_is_followed(tls_certs: Any) -> None:
    final = Router(echo=(b"/final",))
    async with ws_server(final, ssl=server_ssl_context(tls_certs)) as final_url:
        first = Router({b"/start": (302, final_url + "final")})
        async with ws_server(first, ssl=server_ssl_context(tls_certs)) as first_url:
            transport, listener = await _connect(first_url + "start", ssl_context=client_ssl_context(tls_certs))
            try:
                assert transport.is_secure is True
                await _echo_roundtrip(transport, listener)
            finally:
                await _close(transport)
    assert final.seen == [b"/final"]

