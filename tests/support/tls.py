"""Real TLS for the tests: a throw-away CA and a server certificate made with ``openssl``.

The ``openssl`` command line tool is used rather than the ``cryptography``
package, which is not available everywhere we test (e.g. Debian's PyPy 3.9).
The certificates carry the extensions that Python 3.13's
``VERIFY_X509_STRICT`` (on by default in ``ssl.create_default_context``)
demands: critical basicConstraints, keyUsage, SKI/AKI, serverAuth EKU.
:func:`server_ssl_context` and :func:`client_ssl_context` turn them into
ready contexts; the ``tls_certs`` fixture makes one set per session. Does not
import picows.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["TLSCerts", "client_ssl_context", "generate_tls_certs", "server_ssl_context", "tls_certs"]

_OPENSSL_TIMEOUT = 60.0  # seconds per openssl invocation


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
