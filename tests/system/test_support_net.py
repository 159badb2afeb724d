"""The support fixtures work (support/tls.py, support/proxies.py): proxies really tunnel (and check passwords), TLS certs verify.

These tests use only asyncio and python_socks, not picows, so a failure here
points at the test environment rather than at the library.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess

import pytest
from python_socks import ProxyError
from python_socks.async_.asyncio import Proxy

from support.proxies import PROXY_PASSWORD
from support.tls import TLSCerts, client_ssl_context, server_ssl_context

TIMEOUT = 10.0
PROXY_FIXTURES = ["http_proxy", "http_proxy_auth", "socks4_proxy", "socks5_proxy", "socks5_proxy_auth"]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


class _EchoServer:
    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> _EchoServer:
        self.server = await asyncio.start_server(_echo, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await asyncio.wait_for(self.server.wait_closed(), TIMEOUT)


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes) -> bytes:
    try:
        writer.write(payload)
        await asyncio.wait_for(writer.drain(), TIMEOUT)
        return await asyncio.wait_for(reader.readexactly(len(payload)), TIMEOUT)
    finally:
        writer.close()


async def _via_proxy(url: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = await asyncio.wait_for(Proxy.from_url(url).connect("127.0.0.1", port, timeout=TIMEOUT), TIMEOUT)
    return await asyncio.wait_for(asyncio.open_connection(sock=sock), TIMEOUT)


@pytest.mark.parametrize("proxy_fixture", PROXY_FIXTURES)
async def test_proxy_tunnels(proxy_fixture: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(proxy_fixture)
    assert url.startswith(("http://", "socks4://", "socks5://")) and "127.0.0.1:" in url
    async with _EchoServer() as echo:
        # Twice: the second connection must not depend on state left by the first.
        for i in range(2):
            payload = f"hello through {proxy_fixture} #{i}".encode() * 100
            reader, writer = await _via_proxy(url, echo.port)
            assert await _roundtrip(reader, writer, payload) == payload


@pytest.mark.parametrize("proxy_fixture", ["http_proxy_auth", "socks5_proxy_auth"])
@pytest.mark.parametrize("credentials", ["wrong_password", "none"])
async def test_proxy_refuses_bad_credentials(
    proxy_fixture: str, credentials: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(proxy_fixture)
    assert f":{PROXY_PASSWORD}@" in url
    if credentials == "none":
        scheme, rest = url.split("://", 1)
        bad_url = f"{scheme}://{rest.split('@', 1)[1]}"
    else:
        bad_url = url.replace(f":{PROXY_PASSWORD}@", ":wrong@")
    async with _EchoServer() as echo:
        # A good login first: the proxy must not remember the client's IP as authenticated.
        reader, writer = await _via_proxy(url, echo.port)
        assert await _roundtrip(reader, writer, b"ok") == b"ok"
        with pytest.raises(ProxyError):
            await _via_proxy(bad_url, echo.port)


def test_certificates_have_strict_extensions(tls_certs: TLSCerts) -> None:
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", tls_certs.cert_file],
        stdout=subprocess.PIPE,
        check=True,
        timeout=60,
    ).stdout.decode()
    for needle in (
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "TLS Web Server Authentication",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "CA:FALSE",
    ):
        assert needle in text, needle
    ca_text = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", tls_certs.ca_file],
        stdout=subprocess.PIPE,
        check=True,
        timeout=60,
    ).stdout.decode()
    assert "CA:TRUE" in ca_text and "Certificate Sign" in ca_text


def test_client_context_is_verifying(tls_certs: TLSCerts) -> None:
    ctx = client_ssl_context(tls_certs)
    assert ctx.check_hostname
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    # Python 3.13+ turns this on by default; our certificates must pass it either way.
    strict = getattr(ssl, "VERIFY_X509_STRICT", 0)
    ctx.verify_flags |= strict
    assert ctx.verify_flags & strict == strict


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
async def test_tls_roundtrip(tls_certs: TLSCerts, server_hostname: str) -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0, ssl=server_ssl_context(tls_certs))
    port = server.sockets[0].getsockname()[1]
    try:
        ctx = client_ssl_context(tls_certs)
        ctx.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname=server_hostname), TIMEOUT
        )
        assert writer.get_extra_info("peercert") is not None
        assert await _roundtrip(reader, writer, b"tls works") == b"tls works"
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


async def test_tls_rejects_wrong_hostname(tls_certs: TLSCerts) -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0, ssl=server_ssl_context(tls_certs))
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", port, ssl=client_ssl_context(tls_certs), server_hostname="example.com"
                ),
                TIMEOUT,
            )
            writer.close()
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


async def test_tls_rejects_untrusted_ca(tls_certs: TLSCerts) -> None:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0, ssl=server_ssl_context(tls_certs))
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    "127.0.0.1", port, ssl=ssl.create_default_context(), server_hostname="localhost"
                ),
                TIMEOUT,
            )
            writer.close()
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)
