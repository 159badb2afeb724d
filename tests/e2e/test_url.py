"""URL validation and encoding done by ws_connect."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import picows
from picows import WSError, WSInvalidURL
from support import TIMEOUT
from support.http import accept_key
from support.listeners import CollectingListener, EchoListener
from support.net import Hung, collect_garbage, read_http_head, read_until_eof, run_bounded, tcp_server
from support.servers import ws_server


def _key_of(head: bytes) -> bytes:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError(head)


def _header(head: bytes, name: bytes) -> list[bytes]:
    out = []
    for line in head.split(b"\r\n")[1:]:
        n, _, v = line.partition(b":")
        if n.strip().lower() == name.lower():
            out.append(v.strip())
    return out


class _Recorder:
    """Raw WebSocket server: records the request head and answers a valid 101."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_http_head(reader)
        self.heads.append(head)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(_key_of(head)) + b"\r\n\r\n"
        )
        await read_until_eof(reader)


class _FakeHttpProxy:
    """An HTTP CONNECT "proxy" that does not connect anywhere.

    It records the CONNECT request, answers 200 and then plays a WebSocket
    server itself, so URLs with names that cannot be resolved here (IDNA,
    default ports, IPv6 literals) can be checked on the wire.
    """

    def __init__(self, answer_upgrade: bool = True) -> None:
        self.connects: list[bytes] = []
        self.heads: list[bytes] = []
        self.answer_upgrade = answer_upgrade

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connect = await read_http_head(reader)
        self.connects.append(connect)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if not self.answer_upgrade:
            await writer.drain()
            return  # closes the tunnel
        head = await read_http_head(reader)
        self.heads.append(head)
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(_key_of(head)) + b"\r\n\r\n"
        )
        await read_until_eof(reader)


async def _connect_and_close(url: str, **kwargs: Any) -> None:
    transport, _ = await asyncio.wait_for(picows.ws_connect(CollectingListener, url, **kwargs), TIMEOUT)
    transport.disconnect()
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


# ---------------------------------------------------------------- invalid URLs


INVALID = [
    ("http://127.0.0.1:{port}/", "http scheme"),
    ("https://127.0.0.1:{port}/", "https scheme"),
    ("ftp://127.0.0.1:{port}/", "ftp scheme"),
    ("127.0.0.1:{port}/", "no scheme"),
    ("//127.0.0.1:{port}/", "scheme-relative"),
    ("/just/a/path", "path only"),
    ("ws:///path", "no host"),
    ("ws://", "empty"),
    ("wss://:{port}/", "port without host"),
    ("ws://127.0.0.1:{port}/#frag", "fragment"),
    ("ws://127.0.0.1:{port}/path?q=1#frag", "fragment after query"),
    ("wss://127.0.0.1:{port}#", "empty fragment"),
    ("", "empty string"),
]


@pytest.mark.single_loop  # argument validation: fails before any I/O
@pytest.mark.parametrize("template", [t for t, _ in INVALID], ids=[i for _, i in INVALID])
async def test_invalid_url(template: str) -> None:
    connected: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(1)
        await read_until_eof(reader)

    async with tcp_server(handler) as port:
        url = template.format(port=port)
        with pytest.raises(WSInvalidURL) as info:
            await asyncio.wait_for(picows.ws_connect(CollectingListener, url), TIMEOUT)
        exc = info.value
        assert isinstance(exc, WSError)
        assert exc.url == url
        assert isinstance(exc.msg, str) and exc.msg
        assert exc.response is None
    # Rejected before any connection attempt.
    assert connected == []


@pytest.mark.single_loop  # argument validation: fails before any I/O
async def test_invalid_port_is_invalid_url() -> None:
    with pytest.raises(WSInvalidURL) as info:
        await asyncio.wait_for(picows.ws_connect(CollectingListener, "ws://127.0.0.1:99999/"), TIMEOUT)
    assert info.value.url == "ws://127.0.0.1:99999/"


@pytest.mark.parametrize("scheme", ["ws", "WS", "Ws"])
async def test_scheme_is_case_insensitive(scheme: str) -> None:
    async with ws_server(lambda r: EchoListener()) as url:
        await _connect_and_close(scheme + url[2:])


# ---------------------------------------------------------------- path and query encoding


async def test_non_ascii_path_and_query_are_percent_encoded() -> None:
    rec = _Recorder()
    async with tcp_server(rec) as port:
        await _connect_and_close(f"ws://127.0.0.1:{port}/путь?q=значение")
    head = rec.heads[0]
    head.decode("ascii")  # the request is pure ASCII
    request_line = head.split(b"\r\n", 1)[0]
    expected = b"GET /%D0%BF%D1%83%D1%82%D1%8C?q=%D0%B7%D0%BD%D0%B0%D1%87%D0%B5%D0%BD%D0%B8%D0%B5 HTTP/1.1"
    assert request_line.upper() == expected.upper()


async def test_non_ascii_path_reaches_picows_server_encoded() -> None:
    paths: list[bytes] = []

    def factory(request: Any) -> Any:
        paths.append(request.path)
        return EchoListener()

    async with ws_server(factory) as url:
        await _connect_and_close(url + "ü/ß?ä=ö")
    assert paths[0].upper() == b"/%C3%BC/%C3%9F?%C3%A4=%C3%B6"


async def test_existing_percent_escapes_are_kept() -> None:
    rec = _Recorder()
    async with tcp_server(rec) as port:
        await _connect_and_close(f"ws://127.0.0.1:{port}/a%20b/c%2Fd?x=%26y")
    assert rec.heads[0].split(b"\r\n", 1)[0] == b"GET /a%20b/c%2Fd?x=%26y HTTP/1.1"


async def test_ascii_path_and_query_unchanged() -> None:
    rec = _Recorder()
    async with tcp_server(rec) as port:
        await _connect_and_close(f"ws://127.0.0.1:{port}/api/v1/stream?symbols=a,b&depth=10&x=-._~")
    assert rec.heads[0].split(b"\r\n", 1)[0] == b"GET /api/v1/stream?symbols=a,b&depth=10&x=-._~ HTTP/1.1"


async def test_query_without_path() -> None:
    rec = _Recorder()
    async with tcp_server(rec) as port:
        await _connect_and_close(f"ws://127.0.0.1:{port}?token=abc")
    assert rec.heads[0].split(b"\r\n", 1)[0] == b"GET /?token=abc HTTP/1.1"


# ---------------------------------------------------------------- hosts and ports (via a fake CONNECT proxy)


async def test_non_ascii_host_is_idna_encoded() -> None:
    proxy = _FakeHttpProxy()
    async with tcp_server(proxy) as port:
        await _connect_and_close("ws://пример.испытание:8765/путь", proxy=f"http://127.0.0.1:{port}")
    connect = proxy.connects[0]
    connect.decode("ascii")
    assert connect.split(b"\r\n", 1)[0] == b"CONNECT xn--e1afmkfd.xn--80akhbyknj4f:8765 HTTP/1.1"
    head = proxy.heads[0]
    head.decode("ascii")
    assert _header(head, b"host") == [b"xn--e1afmkfd.xn--80akhbyknj4f:8765"]
    assert head.split(b"\r\n", 1)[0] == b"GET /%D0%BF%D1%83%D1%82%D1%8C HTTP/1.1"


async def test_non_ascii_host_without_proxy_is_os_error_not_unicode_error() -> None:
    # Resolution of the IDNA name fails (nothing resolves it here); what
    # matters is that the failure is an OS/DNS error, not an encoding error.
    with pytest.raises(OSError) as info:
        await asyncio.wait_for(
            picows.ws_connect(CollectingListener, "ws://пример.invalid:8765/"), 3 * TIMEOUT
        )
    assert not isinstance(info.value, UnicodeError)


@pytest.mark.parametrize(
    "url, connect_target, hosts",
    [
        ("ws://example.com/", b"example.com:80", [b"example.com", b"example.com:80"]),
        ("ws://example.com:8080/", b"example.com:8080", [b"example.com:8080"]),
        ("ws://EXAMPLE.com:80/x", b"example.com:80", [b"example.com", b"example.com:80"]),
    ],
)
async def test_default_port_and_host_header(url: str, connect_target: bytes, hosts: list[bytes]) -> None:
    proxy = _FakeHttpProxy()
    async with tcp_server(proxy) as port:
        await _connect_and_close(url, proxy=f"http://127.0.0.1:{port}")
    assert proxy.connects[0].split(b"\r\n", 1)[0].lower() == (b"CONNECT " + connect_target + b" HTTP/1.1").lower()
    host = _header(proxy.heads[0], b"host")
    assert len(host) == 1 and host[0].lower() in hosts


@pytest.mark.loop_errors_ok("SSL handshake failed")  # a peer aborted a TLS handshake (asyncio and aiofastnet report it)
async def test_wss_default_port_is_443() -> None:
    proxy = _FakeHttpProxy(answer_upgrade=False)
    async with tcp_server(proxy) as port:
        # The fake proxy does not speak TLS: it closes the tunnel after CONNECT.
        with pytest.raises(Exception) as info:
            await run_bounded(
                picows.ws_connect(CollectingListener, "wss://example.com/", proxy=f"http://127.0.0.1:{port}")
            )
        assert not isinstance(info.value, (WSInvalidURL, Hung))
        await collect_garbage()
    assert proxy.connects[0].split(b"\r\n", 1)[0] == b"CONNECT example.com:443 HTTP/1.1"


async def test_ipv6_literal_url_parses() -> None:
    proxy = _FakeHttpProxy()
    async with tcp_server(proxy) as port:
        await _connect_and_close("ws://[::1]:8765/v6", proxy=f"http://127.0.0.1:{port}")
    assert proxy.connects[0].split(b"\r\n", 1)[0] == b"CONNECT [::1]:8765 HTTP/1.1"
    assert _header(proxy.heads[0], b"host") == [b"[::1]:8765"]
    assert proxy.heads[0].split(b"\r\n", 1)[0] == b"GET /v6 HTTP/1.1"


async def test_explicit_port_is_used() -> None:
    async with ws_server(lambda r: EchoListener(), path="/x?y=1") as url:
        await _connect_and_close(url)
