"""Network fixtures: real TLS certificates and real proxy servers.

* ``tls_certs`` creates a throw-away CA and a server certificate for
  ``localhost`` / ``127.0.0.1`` with the ``openssl`` command line tool (not the
  ``cryptography`` package, which is not available everywhere we test, e.g.
  Debian's PyPy 3.9). The certificates carry the extensions that Python 3.13's
  ``VERIFY_X509_STRICT`` (on by default in ``ssl.create_default_context``)
  demands: critical basicConstraints, keyUsage, SKI/AKI, serverAuth EKU.
  :func:`server_ssl_context` and :func:`client_ssl_context` turn them into
  ready contexts.
* ``http_proxy``, ``http_proxy_auth``, ``socks4_proxy``, ``socks5_proxy`` and
  ``socks5_proxy_auth`` start a real proxy server (pproxy) in a subprocess on
  an ephemeral 127.0.0.1 port for the whole session and return its URL in the
  form ``python_socks`` (and ``ws_connect(proxy=...)``) accepts, e.g.
  ``http://user:password@127.0.0.1:PORT``.

This module does not import picows, so it can be checked on its own.
Everything listens on 127.0.0.1 only and every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "PROXY_PASSWORD",
    "PROXY_USER",
    "ProxyServer",
    "TLSCerts",
    "client_ssl_context",
    "generate_tls_certs",
    "http_proxy",
    "http_proxy_auth",
    "server_ssl_context",
    "socks4_proxy",
    "socks5_proxy",
    "socks5_proxy_auth",
    "start_proxy",
    "tls_certs",
]

#: Credentials of the ``*_proxy_auth`` fixtures.
PROXY_USER = "picows"
PROXY_PASSWORD = "s3cret"

_OPENSSL_TIMEOUT = 60.0  # seconds per openssl invocation
_PROXY_START_TIMEOUT = 30.0  # seconds until a proxy must accept connections (PyPy starts slowly)
_PROXY_STOP_TIMEOUT = 10.0


# --------------------------------------------------------------------- TLS ---


@dataclass(frozen=True)
class TLSCerts:
    """Paths (str) of a generated test PKI."""

    ca_file: str  # PEM certificate of the CA: what clients trust
    cert_file: str  # PEM certificate of the server (localhost, 127.0.0.1), signed by the CA
    key_file: str  # PEM private key of the server certificate


_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn_ca
prompt = no

[dn_ca]
CN = picows test CA

[dn_server]
CN = localhost

[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def _openssl(openssl: str, *args: str, cwd: Path) -> None:
    proc = subprocess.run(
        [openssl, *args],
        cwd=str(cwd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=_OPENSSL_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"openssl {' '.join(args)} failed with exit code {proc.returncode}:\n"
            + proc.stdout.decode(errors="replace")
        )


def generate_tls_certs(directory: Path) -> TLSCerts:
    """Create ``ca.pem``, ``server.pem`` and ``server.key`` in *directory*."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the 'openssl' command line tool is needed to generate test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "openssl.cnf").write_text(_OPENSSL_CONFIG)
    ec_key = ("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")

    _openssl(openssl, *ec_key, "-out", "ca.key", cwd=directory)
    _openssl(
        openssl, "req", "-x509", "-new", "-config", "openssl.cnf", "-extensions", "v3_ca",
        "-key", "ca.key", "-sha256", "-days", "3650", "-set_serial", _random_serial(),
        "-out", "ca.pem",
        cwd=directory,
    )  # fmt: skip
    _openssl(openssl, *ec_key, "-out", "server.key", cwd=directory)
    _openssl(
        openssl, "req", "-new", "-config", "openssl.cnf", "-subj", "/CN=localhost",
        "-key", "server.key", "-sha256", "-out", "server.csr",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        openssl, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", _random_serial(), "-days", "825", "-sha256",
        "-extfile", "openssl.cnf", "-extensions", "v3_server", "-out", "server.pem",
        cwd=directory,
    )  # fmt: skip
    return TLSCerts(
        ca_file=str(directory / "ca.pem"),
        cert_file=str(directory / "server.pem"),
        key_file=str(directory / "server.key"),
    )


def _random_serial() -> str:
    # Positive, non-zero, at most 20 octets (RFC 5280 section 4.1.2.2).
    return "0x" + (b"\x01" + os.urandom(15)).hex()


def server_ssl_context(tls_certs: TLSCerts) -> ssl.SSLContext:
    """A TLS server context presenting the generated localhost certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_certs.cert_file, tls_certs.key_file)
    return ctx


def client_ssl_context(tls_certs: TLSCerts) -> ssl.SSLContext:
    """A verifying TLS client context (hostname check on) that trusts only the generated CA."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls_certs.ca_file)
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    return ctx


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TLSCerts:
    """A CA plus a server certificate for ``DNS:localhost, IP:127.0.0.1`` signed by it."""
    return generate_tls_certs(tmp_path_factory.mktemp("tls"))


# ------------------------------------------------------------------ proxies ---

# pproxy's ``python -m pproxy`` calls asyncio.get_event_loop() outside a running
# loop and installs uvloop when it is importable; uvloop's policy (and CPython
# >= 3.14) raise there. Run it on a fresh stdlib loop instead.
_PPROXY_BOOTSTRAP = (
    "import asyncio, sys\n"
    "sys.modules['uvloop'] = None\n"
    "asyncio.set_event_loop(asyncio.new_event_loop())\n"
    "from pproxy.server import main\n"
    "main(sys.argv[1:])\n"
)


@dataclass
class ProxyServer:
    """A running proxy subprocess."""

    url: str  # for python_socks / ws_connect(proxy=...), credentials included
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(_PROXY_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(_PROXY_STOP_TIMEOUT)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def start_proxy(
    scheme: str, directory: Path, *, auth: tuple[str, str] | None = None, attempts: int = 3
) -> ProxyServer:
    """Start ``pproxy`` serving *scheme* (http, socks4, socks5) on a free 127.0.0.1 port.

    Returns once the proxy accepts TCP connections (bounded wait). The port is
    picked before the proxy binds it, so another process may grab it in
    between: then the proxy exits at once and another port is tried.
    """
    failures: list[str] = []
    for attempt in range(attempts):
        port = _free_port()
        listen = f"{scheme}://127.0.0.1:{port}"
        url_auth = ""
        if auth is not None:
            listen += f"#{auth[0]}:{auth[1]}"
            url_auth = f"{auth[0]}:{auth[1]}@"
        log_file = directory / f"pproxy-{scheme}-{port}-{attempt}.log"
        with open(log_file, "wb") as log:
            process = subprocess.Popen(
                # --auth 0: check credentials on every connection. By default
                # pproxy trusts an IP for 30 days after one successful login,
                # which would make "wrong password is refused" order-dependent.
                [sys.executable, "-c", _PPROXY_BOOTSTRAP, "--auth", "0", "-l", listen],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = ProxyServer(f"{scheme}://{url_auth}127.0.0.1:{port}", port, process, log_file)
        deadline = time.monotonic() + _PROXY_START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _accepts_connections(port):
                if process.poll() is None:  # not someone else on that port
                    return server
                break
            time.sleep(0.05)
        server.stop()
        failures.append(
            f"attempt {attempt + 1} on port {port} (exit code {process.returncode}):\n{server.log()}"
        )
    raise RuntimeError(f"could not start a {scheme} proxy (pproxy):\n" + "\n".join(failures))


def _proxy_fixture(
    tmp_path_factory: pytest.TempPathFactory, scheme: str, auth: tuple[str, str] | None = None
) -> Iterator[str]:
    server = start_proxy(scheme, tmp_path_factory.mktemp("proxy"), auth=auth)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HTTP CONNECT proxy without authentication: ``http://127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "http")


@pytest.fixture(scope="session")
def http_proxy_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HTTP CONNECT proxy with Basic auth: ``http://picows:s3cret@127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "http", (PROXY_USER, PROXY_PASSWORD))


@pytest.fixture(scope="session")
def socks4_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SOCKS4 proxy: ``socks4://127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "socks4")


@pytest.fixture(scope="session")
def socks5_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SOCKS5 proxy without authentication: ``socks5://127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "socks5")


@pytest.fixture(scope="session")
def socks5_proxy_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SOCKS5 proxy with username/password auth: ``socks5://picows:s3cret@127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "socks5", (PROXY_USER, PROXY_PASSWORD))
