"""A throw-away self-signed certificate per run, for ``wss://`` on 127.0.0.1 (no key is ever committed).

Made with the ``openssl`` command line tool, or with the ``cryptography``
package when there is no ``openssl``. The key is ECDSA P-256, the usual
choice of a modern server (cheap handshakes: scale.py opens 10,000 of them).
The certificate is its own CA: clients trust exactly it and verify the
server's name (IP 127.0.0.1 / localhost) as a real client would.
"""

from __future__ import annotations

import datetime
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certificate:
    cert_file: str
    key_file: str
    how: str  # what made it, for the report

    def server_args(self) -> list[str]:
        """Worker arguments of a wss:// server."""
        return ["--tls-cert", self.cert_file, "--tls-key", self.key_file]

    def client_args(self) -> list[str]:
        """Worker arguments of a wss:// client."""
        return ["--cafile", self.cert_file]


def _with_openssl(openssl: str, cert: Path, key: Path) -> None:
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _with_cryptography(cert: Path, key: Path) -> None:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    key.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def make_certificate(directory: str) -> Certificate:
    """A fresh certificate and key in ``directory`` (a temporary directory of the run)."""
    cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
    openssl = shutil.which("openssl")
    if openssl is not None:
        _with_openssl(openssl, cert, key)
        version = subprocess.run([openssl, "version"], capture_output=True, text=True, timeout=10).stdout.strip()
        how = f"openssl req (ECDSA P-256, {version})"
    else:
        try:
            _with_cryptography(cert, key)
        except ImportError:
            raise RuntimeError("--tls needs the openssl command or the cryptography package") from None
        how = "cryptography (ECDSA P-256)"
    key.chmod(0o600)
    return Certificate(str(cert), str(key), how)


def temporary_directory() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="picows-bench-tls-")
