"""Hand-written HTTP upgrade requests and a parser for what comes back (RFC 6455 section 4).

Independent of picows' handshake code. Does not import picows.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os

from support import TIMEOUT

__all__ = [
    "RFC_ACCEPT",
    "RFC_KEY",
    "RawResponse",
    "accept_key",
    "header_values",
    "new_key",
    "read_response_head",
    "request_key",
    "upgrade_request",
]

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: The example from RFC 6455, section 1.3.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def accept_key(key: bytes) -> bytes:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key + WS_GUID).digest())


def new_key() -> str:
    """A fresh Sec-WebSocket-Key."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def header_values(head: bytes, name: bytes) -> list[bytes]:
    """Values of every ``name`` header in a raw HTTP head (name compared case-insensitively)."""
    out = []
    for line in head.split(b"\r\n")[1:]:
        n, sep, v = line.partition(b":")
        if sep and n.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def request_key(head: bytes) -> bytes:
    """The Sec-WebSocket-Key of a raw upgrade request head."""
    keys = header_values(head, b"sec-websocket-key")
    assert keys, f"no Sec-WebSocket-Key in {head[:300]!r}"
    return keys[0]


def upgrade_request(
    port: int,
    *,
    path: str = "/",
    method: str = "GET",
    version: str = "HTTP/1.1",
    key: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    drop: tuple[str, ...] = (),
    replace: dict[str, str] | None = None,
) -> bytes:
    """A hand-written upgrade request to 127.0.0.1:port.

    ``drop`` removes standard headers (by lower-case name), ``replace`` changes
    their value, ``headers`` appends more.
    """
    std = [
        ("Host", f"127.0.0.1:{port}"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", key if key is not None else new_key()),
    ]
    replace = {k.lower(): v for k, v in (replace or {}).items()}
    lines = [f"{method} {path} {version}"]
    for name, value in std:
        if name.lower() in drop:
            continue
        lines.append(f"{name}: {replace.get(name.lower(), value)}")
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class RawResponse:
    """An HTTP response as a raw client saw it."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        head, sep, body = raw.partition(b"\r\n\r\n")
        assert sep, f"no complete HTTP head in {raw[:200]!r}"
        lines = head.split(b"\r\n")
        self.status_line = lines[0]
        parts = lines[0].split(b" ", 2)
        self.version = parts[0]
        self.status = int(parts[1])
        self.headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            self.headers.setdefault(name.strip().decode().lower(), []).append(value.strip().decode("latin1"))
        self.body = body

    def header(self, name: str) -> str | None:
        """The value of a header that must appear at most once."""
        values = self.headers.get(name.lower())
        if not values:
            return None
        assert len(values) == 1, f"{name} repeated: {values}"
        return values[0]

    def tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of every ``name`` header, lower-cased."""
        out: list[str] = []
        for v in self.headers.get(name.lower(), []):
            out.extend(t.strip().lower() for t in v.split(",") if t.strip())
        return out


async def read_response_head(reader: asyncio.StreamReader) -> RawResponse:
    """Read and parse an HTTP response head."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    return RawResponse(head)
