"""Conformance, part 4: the opening handshake (RFC 6455 4.1, 4.2, 4.4, 11.3; RFC 7230 3.2, 5.4).

Server role: hand-written upgrade requests to the reference echo server;
an accepted one must get a correct 101 and then a working connection, a
rejected one a 400 and a closed connection. Client role: the reference echo
client against a raw server answering with hand-written responses; the
client's own request is checked on the way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from typing import Callable

import pytest

from picows import WSError
from support import TIMEOUT
from support.conformance import TEXT, client_app, server_app
from support.frames import RawFrame, close_payload
from support.http import RFC_ACCEPT, RFC_KEY, RawResponse, accept_key, new_key, upgrade_request
from support.net import read_until_eof
from support.raw_ws import RawPeer

Request = Callable[[int, str], bytes]  # (port, key) -> request bytes


def _req(**kwargs: object) -> Request:
    return lambda port, key: upgrade_request(port, key=key, **kwargs)  # type: ignore[arg-type]


def _key_of_size(n: int) -> Request:
    return lambda port, key: upgrade_request(port, key=base64.b64encode(b"k" * n).decode())


def _names_lowercase(port: int, key: str) -> bytes:
    return upgrade_request(port, key=key).replace(b"Host:", b"host:").replace(b"Upgrade:", b"upgrade:") \
        .replace(b"Connection:", b"connection:").replace(b"Sec-WebSocket", b"sec-websocket")  # fmt: skip


def _names_uppercase(port: int, key: str) -> bytes:
    head, _, _ = upgrade_request(port, key=key).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    upper = [lines[0]] + [
        name.upper() + b":" + value for name, _, value in (ln.partition(b":") for ln in lines[1:])
    ]
    return (
        b"\r\n".join(upper).replace(b"websocket", b"WebSocket").replace(b"Upgrade\r", b"UPGRADE\r")
        + b"\r\n\r\n"
    )


def _space_before_colon(port: int, key: str) -> bytes:
    return upgrade_request(port, key=key).replace(b"Upgrade: websocket", b"Upgrade : websocket")


# id -> (request, accepted?)
SERVER_CASES = [
    pytest.param(_req(), True, id="canonical"),
    pytest.param(_names_lowercase, True, id="header-names-lowercase"),
    pytest.param(_names_uppercase, True, id="header-names-and-values-uppercase"),
    pytest.param(_req(replace={"Connection": "keep-alive, Upgrade"}), True, id="connection-token-list"),
    pytest.param(
        _req(replace={"Connection": "keep-alive"}, headers=[("Connection", "Upgrade")]),
        True,
        id="connection-repeated-header",
    ),  # fmt: skip
    pytest.param(_req(replace={"Upgrade": "websocket, h2c"}), True, id="upgrade-token-list"),
    pytest.param(
        lambda port, key: upgrade_request(port, key=key, path=f"http://127.0.0.1:{port}/"),
        True,
        id="absolute-form-target",
    ),  # fmt: skip
    pytest.param(
        _req(
            headers=[
                ("Origin", "http://127.0.0.1"),
                ("Sec-WebSocket-Protocol", "chat"),
                ("Sec-WebSocket-Extensions", "permessage-deflate"),
            ]
        ),
        True,
        id="offers-not-taken-up",
    ),  # fmt: skip
    pytest.param(_req(drop=("host",)), False, id="no-host"),
    pytest.param(_req(headers=[("Host", "other.example")]), False, id="two-hosts"),
    pytest.param(_space_before_colon, False, id="space-before-colon"),
    pytest.param(
        lambda port, key: upgrade_request(port, key=key).replace(b"\r\nUpgrade: websocket", b"\r\nUpgrade:\r\n websocket"),
        False,
        id="obsolete-line-folding",
    ),  # fmt: skip
    pytest.param(_req(headers=[("Transfer-Encoding", "chunked")]), False, id="transfer-encoding"),
    pytest.param(_req(headers=[("Content-Length", "4")]), False, id="content-length-4"),
    pytest.param(_req(headers=[("Content-Length", "0")]), True, id="content-length-0"),
    pytest.param(_req(version="HTTP/1.0"), False, id="http-1.0"),
    pytest.param(_req(method="POST"), False, id="method-post"),
    pytest.param(_req(drop=("upgrade",)), False, id="no-upgrade"),
    pytest.param(_req(replace={"Connection": "keep-alive"}), False, id="connection-without-upgrade"),
    pytest.param(_req(replace={"Sec-WebSocket-Version": "8"}), True, id="version-8"),  # hybi-08: same framing
    pytest.param(_req(replace={"Sec-WebSocket-Version": "7"}), True, id="version-7"),
    pytest.param(_req(replace={"Sec-WebSocket-Version": "14"}), False, id="version-14"),
    pytest.param(_req(drop=("sec-websocket-version",)), False, id="no-version"),
    pytest.param(_req(drop=("sec-websocket-key",)), False, id="no-key"),
    pytest.param(_req(headers=[("Sec-WebSocket-Key", new_key())]), False, id="two-keys"),
    pytest.param(_req(headers=[("Sec-WebSocket-Version", "13")]), False, id="two-versions"),
    *[pytest.param(_key_of_size(n), n == 16, id=f"key-{n}-bytes") for n in (0, 1, 15, 16, 17, 32)],
    pytest.param(
        lambda port, key: upgrade_request(port, key="!!!!!!!!!!!!!!!!!!!!!!=="), False, id="key-not-base64"
    ),
]


@pytest.mark.parametrize("request_builder,accepted", SERVER_CASES)
async def test_server_handshake(request_builder: Request, accepted: bool) -> None:
    server = await server_app().start_server("127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        key = new_key()
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        try:
            request = request_builder(port, key)
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            if not accepted:
                assert RawResponse(head).status == 400, head
                raw = head + await read_until_eof(reader)  # the server answers, then closes
                resp = RawResponse(raw)
                assert resp.header("sec-websocket-accept") is None
                if b"sec-websocket-version: 14" in request.lower():
                    # RFC 6455 4.4: tell the client which versions are supported
                    assert resp.tokens("sec-websocket-version") == ["13", "8", "7"], raw
                return
            resp = RawResponse(head)
            assert (resp.version, resp.status) == (b"HTTP/1.1", 101), resp.raw
            assert resp.tokens("upgrade") == ["websocket"]
            assert "upgrade" in resp.tokens("connection")
            sent_key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)\s*$", request).group(1)  # type: ignore[union-attr]
            assert resp.header("sec-websocket-accept") == accept_key(sent_key).decode()
            # nothing was negotiated
            assert resp.header("sec-websocket-extensions") is None
            assert resp.header("sec-websocket-protocol") is None
            peer = RawPeer(reader, writer, resp.raw, "client")
            await peer.send(TEXT, b"upgraded")
            f = await peer.read_frame()
            assert (f.opcode, f.payload) == (TEXT, b"upgraded")
        finally:
            writer.close()


async def test_server_handshake_rfc_example_key() -> None:
    """RFC 6455 1.3: key "dGhlIHNhbXBsZSBub25jZQ==" -> accept "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="."""
    server = await server_app().start_server("127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
        try:
            writer.write(upgrade_request(port, key=RFC_KEY))
            resp = RawResponse(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT))
            assert resp.header("sec-websocket-accept") == RFC_ACCEPT
        finally:
            writer.close()


# ---------------------------------------------------------------------------
# client role
# ---------------------------------------------------------------------------

Response = Callable[[bytes], bytes]  # accept value -> response head


def _resp(status: bytes = b"HTTP/1.1 101 Switching Protocols", *, upgrade: bytes | None = b"websocket",
          connection: bytes | None = b"Upgrade", extra: bytes = b"", accept: bool = True) -> Response:  # fmt: skip
    def build(accept_value: bytes) -> bytes:
        head = status + b"\r\n"
        if upgrade is not None:
            head += b"Upgrade: " + upgrade + b"\r\n"
        if connection is not None:
            head += b"Connection: " + connection + b"\r\n"
        if accept:
            head += b"Sec-WebSocket-Accept: " + accept_value + b"\r\n"
        return head + extra + b"\r\n"

    return build


CLIENT_CASES = [
    pytest.param(_resp(), True, id="canonical"),
    pytest.param(_resp(upgrade=b"websocket", connection=b"upgrade").__call__, True, id="values-lowercase"),
    pytest.param(
        lambda a: (
            _resp()(a)
            .replace(b"Upgrade:", b"upgrade:")
            .replace(b"Connection:", b"CONNECTION:")
            .replace(b"Sec-WebSocket-Accept:", b"sec-websocket-accept:")
        ),
        True,
        id="header-name-case",
    ),  # fmt: skip
    pytest.param(
        _resp(upgrade=b"WebSocket", connection=b"keep-alive, UPGRADE"), True, id="token-lists-and-case"
    ),
    pytest.param(_resp(b"HTTP/1.1 101 Web Socket Protocol Handshake"), True, id="other-reason-phrase"),
    pytest.param(
        _resp(accept=False, extra=b"Sec-WebSocket-Accept: d3JvbmcgYWNjZXB0IHZhbHVlIQ==\r\n"),
        False,
        id="wrong-accept",
    ),  # fmt: skip
    pytest.param(_resp(accept=False), False, id="missing-accept"),
    pytest.param(lambda a: _resp(extra=b"Sec-WebSocket-Accept: " + a + b"\r\n")(a), False, id="accept-twice"),
    pytest.param(
        _resp(extra=b"Sec-WebSocket-Extensions: permessage-deflate\r\n"), False, id="unrequested-extension"
    ),
    pytest.param(_resp(extra=b"Sec-WebSocket-Protocol: chat\r\n"), False, id="unrequested-subprotocol"),
    pytest.param(_resp(b"HTTP/1.1 200 OK", extra=b"Content-Length: 0\r\n"), False, id="status-200"),
    pytest.param(_resp(b"HTTP/1.0 101 Switching Protocols"), False, id="http-1.0"),
    pytest.param(_resp(upgrade=None), False, id="missing-upgrade"),
    pytest.param(_resp(upgrade=b"h2c"), False, id="upgrade-not-websocket"),
    pytest.param(_resp(connection=None), False, id="missing-connection"),
    pytest.param(lambda a: _resp()(a).replace(b"Upgrade: websocket", b"Upgrade : websocket"), False,
                 id="space-before-colon"),  # fmt: skip
    pytest.param(_resp(extra=b"Transfer-Encoding: chunked\r\n"), False, id="transfer-encoding"),
    pytest.param(_resp(extra=b"Content-Length: 2\r\n"), False, id="content-length-2"),
    pytest.param(_resp(extra=b"Content-Length: 0\r\n"), True, id="content-length-0"),
]


def _check_client_request(head: bytes, port: int) -> bytes:
    """RFC 6455 4.1: what the client must send; returns the key."""
    lines = head.split(b"\r\n")
    assert lines[0] == b"GET / HTTP/1.1", lines[0]
    headers: dict[bytes, list[bytes]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    assert headers[b"host"] == [f"127.0.0.1:{port}".encode()]
    assert headers[b"upgrade"] == [b"websocket"]
    assert b"upgrade" in [t.strip().lower() for v in headers[b"connection"] for t in v.split(b",")]
    assert headers[b"sec-websocket-version"] == [b"13"]
    (key,) = headers[b"sec-websocket-key"]
    assert len(base64.b64decode(key, validate=True)) == 16
    return key


@pytest.mark.parametrize("response,accepted", CLIENT_CASES)
async def test_client_handshake(response: Response, accepted: bool) -> None:
    done = asyncio.Event()
    echoed: list[RawFrame] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            port = writer.get_extra_info("sockname")[1]
            writer.write(response(accept_key(_check_client_request(head[:-4], port))))
            if accepted:
                peer = RawPeer(reader, writer, head, "server")
                await peer.send(TEXT, b"after the handshake")
                echoed.append(await peer.read_frame())
                await peer.send(0x8, close_payload(1000))
                echoed.append(await peer.read_frame())
                return  # the server closes the TCP connection first (RFC 6455 7.1.1)
            await read_until_eof(reader)
        finally:
            writer.close()
            done.set()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    async with server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        if accepted:
            result = await asyncio.wait_for(client_app().run_echo(url), TIMEOUT)
            assert (result.messages, result.close_code_received, result.error) == (1, 1000, None)
            assert [(f.opcode, f.payload) for f in echoed] == [(TEXT, b"after the handshake"),
                                                               (0x8, close_payload(1000))]  # fmt: skip
        else:
            with pytest.raises(WSError):
                await asyncio.wait_for(client_app().run_echo(url), TIMEOUT)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done.wait(), TIMEOUT)
        assert done.is_set(), "the client did not close the connection"
