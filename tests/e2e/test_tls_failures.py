"""Failed TLS openings on every TLS path, in both roles: a clear error, never a hang.

* certificates: an unknown CA, a certificate for another name (IP and DNS),
  and, with mutual TLS, a client without a certificate or with an untrusted one;
* the wrong protocol on a port: a plain-TCP peer on a TLS port and a TLS peer
  on a plain port, with picows in either role;
* a peer that stalls in the middle of the TLS handshake, or after it.

The server side always survives: no listener is created for a failed
opening, nothing escapes into the loop beyond the "SSL handshake failed"
report that asyncio/aiofastnet make themselves, and the next client is served.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

import picows
from picows import WSMsgType
from support import TIMEOUT
from support.listeners import CollectingListener, EchoListener
from support.net import collect_garbage, expect_eof, open_raw, read_until_eof, run_bounded, tcp_server
from support.servers import finish, picows_server
from support.tls import (
    TLSCerts,
    client_ssl_context,
    mutual_tls_server_context,
    server_ssl_context,
)

HANDSHAKE_FAILED = "SSL handshake failed"  # what asyncio and aiofastnet report to the loop for a failed handshake


async def _served(url: str, **kwargs: Any) -> None:
    """A well-behaved client still gets an echo."""
    transport, listener = await asyncio.wait_for(picows.ws_connect(CollectingListener, url, **kwargs), TIMEOUT)
    try:
        transport.send(WSMsgType.TEXT, b"served")
        assert await listener.get() == (WSMsgType.TEXT, True, False, b"served")
    finally:
        await finish(transport)


# -- the server's certificate is refused by the picows client ---------------------------------------


@pytest.mark.loop_errors_ok(HANDSHAKE_FAILED)
@pytest.mark.parametrize(
    ("case", "host", "wrong_name"),
    [("unknown-ca", "127.0.0.1", False), ("wrong-ip", "127.0.0.1", True), ("wrong-dns-name", "localhost", True)],
)
async def test_server_certificate_is_refused(tls_certs: TLSCerts, case: str, host: str, wrong_name: bool) -> None:
    ctx = ssl.create_default_context() if case == "unknown-ca" else client_ssl_context(tls_certs)
    async with picows_server(EchoListener, ssl=server_ssl_context(tls_certs, wrong_name=wrong_name)) as srv:
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await run_bounded(picows.ws_connect(CollectingListener, f"wss://{host}:{srv.port}/", ssl_context=ctx))
        exc = info.value
        assert exc.reason == "CERTIFICATE_VERIFY_FAILED"
        message = str(exc).lower()
        if case == "unknown-ca":
            assert "local issuer" in message, exc
        else:
            assert ("ip address" if case == "wrong-ip" else "hostname") + " mismatch" in message, exc
        await collect_garbage()
        assert srv.requests == []  # no opening reached the upgrade
        if wrong_name:  # the same certificate is fine for the name it was made for
            good = client_ssl_context(tls_certs)
            good.check_hostname = False
            await _served(srv.url, ssl_context=good)
        else:
            await _served(srv.url, ssl_context=client_ssl_context(tls_certs))


# -- the client's certificate is refused by the picows server (mutual TLS) --------------------------


@pytest.mark.loop_errors_ok(HANDSHAKE_FAILED)
@pytest.mark.parametrize("tls_version", ["1.2", "1.3"])
@pytest.mark.parametrize("client_cert", [None, "rogue"], ids=["no-client-cert", "untrusted-client-cert"])
async def test_client_certificate_is_refused(
    tls_certs: TLSCerts, client_cert: str | None, tls_version: str
) -> None:
    """The server's alert (certificate required / unknown CA) never reaches the client as such: every
    transport swallows it. TLS 1.2 verifies the client inside the handshake, which then fails with a
    ConnectionResetError; TLS 1.3 verifies it after the client's side of the handshake completed, so the
    client sees the connection end while it waits for the upgrade response: a WSError saying so."""
    async with picows_server(EchoListener, ssl=mutual_tls_server_context(tls_certs)) as srv:
        ctx = client_ssl_context(tls_certs, cert=client_cert)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2 if tls_version == "1.2" else ssl.TLSVersion.TLSv1_3
        expected: Any = ConnectionResetError if tls_version == "1.2" else picows.WSError
        with pytest.raises(expected) as info:
            await run_bounded(picows.ws_connect(CollectingListener, srv.url, ssl_context=ctx))
        if tls_version == "1.3":
            assert "connection closed during the opening handshake" in str(info.value)
        await collect_garbage()
        assert srv.requests == []  # no opening reached the upgrade
        await _served(srv.url, ssl_context=client_ssl_context(tls_certs, cert="client"))
        assert len(srv.requests) == 1


# -- a plain-TCP peer on a TLS port ---------------------------------------------------------------


async def test_plain_client_on_the_tls_server_port(tls_certs: TLSCerts) -> None:
    """The server's TLS layer rejects the clear-text request: a raw client sees the connection end
    (no HTTP answer in the clear), a ws:// picows client a WSError about the opening handshake."""
    async with picows_server(EchoListener, ssl=server_ssl_context(tls_certs)) as srv:
        reader, writer = await open_raw(srv.port)
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert not (await read_until_eof(reader)).startswith(b"HTTP/")
        finally:
            writer.transport.abort()
        with pytest.raises(picows.WSError) as info:
            await run_bounded(picows.ws_connect(CollectingListener, "ws" + srv.url[3:]))
        assert "connection closed during the opening handshake" in str(info.value)
        await collect_garbage()
        assert srv.requests == []  # no opening reached the upgrade
        await _served(srv.url, ssl_context=client_ssl_context(tls_certs))


@pytest.mark.loop_errors_ok(HANDSHAKE_FAILED)
async def test_picows_client_on_a_plain_http_port_says_so(tls_certs: TLSCerts) -> None:
    """A wss:// client whose server answers in clear-text HTTP: an SSLError that names the likely mistake."""

    async def http_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        await expect_eof(reader)

    async with tcp_server(http_server) as port:
        with pytest.raises(ssl.SSLError) as info:
            await run_bounded(
                picows.ws_connect(
                    CollectingListener, f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context(tls_certs)
                )
            )
        assert info.value.reason == "WRONG_VERSION_NUMBER"
        assert f"127.0.0.1:{port} does not speak TLS (a plain ws:// server?)" in str(info.value)


# -- a TLS peer on a plain port -------------------------------------------------------------------


@pytest.mark.loop_errors_ok(HANDSHAKE_FAILED)
async def test_tls_client_on_the_plain_server_port(tls_certs: TLSCerts) -> None:
    """The ClientHello never becomes an HTTP head: the plain server drops the connection at its
    websocket_handshake_timeout, and the TLS client's handshake fails with the reset."""
    async with picows_server(EchoListener, websocket_handshake_timeout=0.3) as srv:
        with pytest.raises((ConnectionResetError, ssl.SSLError)):
            await run_bounded(
                asyncio.open_connection(
                    "127.0.0.1", srv.port, ssl=client_ssl_context(tls_certs), server_hostname="127.0.0.1"
                )
            )
        await collect_garbage()
        assert srv.requests == []  # no opening reached the upgrade
        await _served(srv.url)


@pytest.mark.loop_errors_ok(HANDSHAKE_FAILED)
async def test_picows_tls_client_on_a_plain_picows_server(tls_certs: TLSCerts) -> None:
    """Today: the plain server holds the ClientHello until its handshake timeout, then resets, and
    ws_connect raises a bare ConnectionResetError. Bounded, but it does not say what went wrong."""
    async with picows_server(EchoListener, websocket_handshake_timeout=0.3) as srv:
        with pytest.raises(OSError) as info:
            await run_bounded(
                picows.ws_connect(
                    CollectingListener, "wss" + srv.url[2:], ssl_context=client_ssl_context(tls_certs)
                )
            )
        assert isinstance(info.value, (ConnectionResetError, ssl.SSLError)), repr(info.value)


@pytest.mark.loop_errors_ok(HANDSHAKE_FAILED)
async def test_picows_tls_client_on_a_plain_picows_server_names_tls(tls_certs: TLSCerts) -> None:
    async with picows_server(EchoListener, websocket_handshake_timeout=0.3) as srv:
        with pytest.raises(OSError) as info:
            await run_bounded(
                picows.ws_connect(
                    CollectingListener, "wss" + srv.url[2:], ssl_context=client_ssl_context(tls_certs)
                )
            )
        assert "TLS" in str(info.value), repr(info.value)


# -- a peer that stalls mid-handshake -------------------------------------------------------------


@pytest.mark.parametrize("stall", ["silent", "half-record", "after-tls"])
async def test_server_stalling_the_opening_hits_the_handshake_timeout(tls_certs: TLSCerts, stall: str) -> None:
    """websocket_handshake_timeout bounds the whole opening, TLS included, and says which stage stalled."""

    async def stalling(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if stall == "half-record":
            await reader.read(1)
            writer.write(b"\x16\x03\x03\x00\x7a\x02\x00")  # the start of a ServerHello record
        await expect_eof(reader)  # until the client gives up

    kwargs: dict[str, Any] = {"ssl": server_ssl_context(tls_certs)} if stall == "after-tls" else {}
    async with tcp_server(stalling, **kwargs) as port:
        with pytest.raises(asyncio.TimeoutError) as info:
            await run_bounded(
                picows.ws_connect(
                    CollectingListener, f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context(tls_certs),
                    websocket_handshake_timeout=0.3,
                )
            )  # fmt: skip
    message = str(info.value)
    assert message.startswith("websocket handshake timeout: ")
    if stall == "after-tls":
        assert f"the upgrade response from 127.0.0.1:{port}" in message
    else:
        assert f"the TLS handshake with 127.0.0.1:{port}" in message
    await collect_garbage()


async def _stall_mid_tls_handshake(port: int) -> bytes:
    """Send the first bytes of a ClientHello and nothing more; returns what arrived until the server hung up."""
    reader, writer = await open_raw(port)
    try:
        writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        return await read_until_eof(reader)
    finally:
        writer.transport.abort()


@pytest.mark.loop_errors_ok(HANDSHAKE_FAILED)
async def test_client_stalling_the_tls_handshake_hits_ssl_handshake_timeout(tls_certs: TLSCerts) -> None:
    """ssl_handshake_timeout (passed through to the transport layer) cuts a TLS slow-loris client."""
    async with picows_server(EchoListener, ssl=server_ssl_context(tls_certs), ssl_handshake_timeout=0.3) as srv:
        assert await _stall_mid_tls_handshake(srv.port) == b""
        await collect_garbage()
        assert srv.requests == []  # no opening reached the upgrade
        await _served(srv.url, ssl_context=client_ssl_context(tls_certs))


@pytest.mark.loop_errors_ok(HANDSHAKE_FAILED)
async def test_client_stalling_the_tls_handshake_hits_websocket_handshake_timeout(tls_certs: TLSCerts) -> None:
    ctx = server_ssl_context(tls_certs)
    async with picows_server(EchoListener, ssl=ctx, websocket_handshake_timeout=0.3) as srv:
        # 10x the handshake timeout: far more than it needs, far less than the 60 s default of the TLS layer
        assert await run_bounded(_stall_mid_tls_handshake(srv.port), timeout=3.0) == b""
