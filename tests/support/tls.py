"""Real TLS for the tests: a throw-away CA and a server certificate made with ``openssl``.

The ``openssl`` command line tool is used rather than the ``cryptography``
package, which is not available everywhere we test (e.g. Debian's PyPy 3.9).
The certificates carry the extensions that Python 3.13's
``VERIFY_X509_STRICT`` (on by default in ``ssl.create_default_context``)
demands: critical basicConstraints, keyUsage, SKI/AKI, serverAuth EKU.
:func:`server_ssl_context` and :func:`client_ssl_context` turn them into
ready contexts; the ``tls_certs`` fixture makes one set per session. Besides
the server certificate the set holds the certificates that make TLS fail on
purpose or authenticate a client: one for another host name
(``wrong_name_*``), a client certificate from the same CA (``client_*``), and
a self-signed client certificate no one trusts (``rogue_*``). Does not
import picows.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "WRONG_HOST_NAME",
    "TLSCerts",
    "client_ssl_context",
    "generate_tls_certs",
    "mutual_tls_server_context",
    "server_ssl_context",
    "spki_sha256",
    "tls_certs",
]

_OPENSSL_TIMEOUT = 60.0  # seconds per openssl invocation

#: The only name in the ``wrong_name_*`` certificate (never resolvable: RFC 6761 reserves .invalid).
WRONG_HOST_NAME = "wrong-name.invalid"


@dataclass(frozen=True)
class TLSCerts:
    """Paths (str) of a generated test PKI."""

    ca_file: str  # PEM certificate of the CA: what clients trust
    cert_file: str  # PEM certificate of the server (localhost, 127.0.0.1), signed by the CA
    key_file: str  # PEM private key of the server certificate
    wrong_name_cert_file: str  # a server certificate for WRONG_HOST_NAME only, signed by the CA
    wrong_name_key_file: str
    client_cert_file: str  # a client certificate (clientAuth) signed by the CA
    client_key_file: str
    rogue_cert_file: str  # a self-signed client certificate: no one trusts its issuer
    rogue_key_file: str


_OPENSSL_CONFIG = f"""\
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

[v3_wrong_name]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:{WRONG_HOST_NAME}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer

[v3_client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
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


_EC_KEY = ("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")


def generate_tls_certs(directory: Path) -> TLSCerts:
    """Create the CA (``ca.pem``) and the certificates of :class:`TLSCerts` in *directory*."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the 'openssl' command line tool is needed to generate test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "openssl.cnf").write_text(_OPENSSL_CONFIG)
    _openssl(openssl, *_EC_KEY, "-out", "ca.key", cwd=directory)
    _openssl(
        openssl, "req", "-x509", "-new", "-config", "openssl.cnf", "-extensions", "v3_ca",
        "-key", "ca.key", "-sha256", "-days", "3650", "-set_serial", _random_serial(),
        "-out", "ca.pem",
        cwd=directory,
    )  # fmt: skip
    _issue(openssl, directory, "server", "/CN=localhost", "v3_server")
    _issue(openssl, directory, "wrong_name", f"/CN={WRONG_HOST_NAME}", "v3_wrong_name")
    _issue(openssl, directory, "client", "/CN=picows test client", "v3_client")
    _openssl(openssl, *_EC_KEY, "-out", "rogue.key", cwd=directory)
    _openssl(
        openssl, "req", "-x509", "-new", "-config", "openssl.cnf", "-extensions", "v3_client",
        "-subj", "/CN=picows rogue client", "-key", "rogue.key", "-sha256", "-days", "825",
        "-set_serial", _random_serial(), "-out", "rogue.pem",
        cwd=directory,
    )  # fmt: skip
    return TLSCerts(
        ca_file=str(directory / "ca.pem"),
        cert_file=str(directory / "server.pem"),
        key_file=str(directory / "server.key"),
        wrong_name_cert_file=str(directory / "wrong_name.pem"),
        wrong_name_key_file=str(directory / "wrong_name.key"),
        client_cert_file=str(directory / "client.pem"),
        client_key_file=str(directory / "client.key"),
        rogue_cert_file=str(directory / "rogue.pem"),
        rogue_key_file=str(directory / "rogue.key"),
    )


def _issue(openssl: str, directory: Path, name: str, subject: str, extensions: str) -> None:
    """``NAME.key`` and ``NAME.pem``: a new key and its certificate, signed by the CA in ``directory``."""
    _openssl(openssl, *_EC_KEY, "-out", f"{name}.key", cwd=directory)
    _openssl(
        openssl, "req", "-new", "-config", "openssl.cnf", "-subj", subject,
        "-key", f"{name}.key", "-sha256", "-out", f"{name}.csr",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        openssl, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", _random_serial(), "-days", "825", "-sha256",
        "-extfile", "openssl.cnf", "-extensions", extensions, "-out", f"{name}.pem",
        cwd=directory,
    )  # fmt: skip


def spki_sha256(cert_file: str) -> str:
    """Base64 of the SHA-256 of a certificate's public key (SPKI, DER): what browsers pin."""
    openssl = shutil.which("openssl")
    assert openssl is not None
    pem = subprocess.run(
        [openssl, "x509", "-in", cert_file, "-pubkey", "-noout"],
        capture_output=True, check=True, timeout=_OPENSSL_TIMEOUT,
    ).stdout  # fmt: skip
    der = subprocess.run(
        [openssl, "pkey", "-pubin", "-outform", "DER"], input=pem, capture_output=True, check=True,
        timeout=_OPENSSL_TIMEOUT,
    ).stdout  # fmt: skip
    return base64.b64encode(hashlib.sha256(der).digest()).decode("ascii")


def _random_serial() -> str:
    # Positive, non-zero, at most 20 octets (RFC 5280 section 4.1.2.2).
    return "0x" + (b"\x01" + os.urandom(15)).hex()


def server_ssl_context(tls_certs: TLSCerts, *, wrong_name: bool = False) -> ssl.SSLContext:
    """A TLS server context presenting the generated localhost certificate (``wrong_name``: the other one)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if wrong_name:
        ctx.load_cert_chain(tls_certs.wrong_name_cert_file, tls_certs.wrong_name_key_file)
    else:
        ctx.load_cert_chain(tls_certs.cert_file, tls_certs.key_file)
    return ctx


def client_ssl_context(tls_certs: TLSCerts, *, cert: str | None = None) -> ssl.SSLContext:
    """A verifying TLS client context (hostname check on) that trusts only the generated CA.

    ``cert``: present a client certificate, ``"client"`` (signed by the CA) or ``"rogue"`` (self-signed).
    """
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls_certs.ca_file)
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    if cert == "client":
        ctx.load_cert_chain(tls_certs.client_cert_file, tls_certs.client_key_file)
    elif cert == "rogue":
        ctx.load_cert_chain(tls_certs.rogue_cert_file, tls_certs.rogue_key_file)
    else:
        assert cert is None, cert
    return ctx


def mutual_tls_server_context(tls_certs: TLSCerts) -> ssl.SSLContext:
    """A server context that demands a client certificate signed by the generated CA."""
    ctx = server_ssl_context(tls_certs)
    ctx.load_verify_locations(tls_certs.ca_file)
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> TLSCerts:
    """A CA plus a server certificate for ``DNS:localhost, IP:127.0.0.1`` signed by it."""
    return generate_tls_certs(tmp_path_factory.mktemp("tls"))
