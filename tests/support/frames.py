"""The suite's independent RFC 6455 frame encoder and decoder: the oracle.

Written from RFC 6455 section 5.2 and never from picows' own builder or
parser, so a test that compares picows' bytes with these cannot pass because
both share a bug. Every header bit is exposed (rsv2/rsv3, the mask bit, the
mask key, the length form), so hostile frames can be written and what a
picows peer really put on the wire can be checked. Does not import picows.
"""

from __future__ import annotations

import asyncio
import os
import struct
from typing import Any

from support import TIMEOUT
from support.net import expect_eof

__all__ = [
    "CLOSE",
    "RawFrame",
    "apply_mask",
    "client_frame",
    "close_payload",
    "decode_frame",
    "encode_frame",
    "expect_close",
    "expect_close_then_eof",
    "frame_for",
    "payload_of",
    "read_frame",
    "read_frame_or_eof",
    "server_frame",
]

CLOSE = 0x8
LENGTH_FORMS = ("7", "16", "64")


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` (one big-integer XOR: fast for large payloads)."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def encode_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    masked: bool = False,
    length_override: int | None = None,
    length_form: str | None = None,
) -> bytes:
    """One frame as bytes.

    ``mask`` (or ``masked=True`` for a random key) makes a client-style masked
    frame. ``length_override`` writes a length other than the payload's (for
    hostile headers). ``length_form`` forces the 7-bit, 16-bit or 64-bit
    length encoding ("7", "16", "64"; None: the minimal one, as RFC 6455
    requires of a sender); a length that does not fit the form asked for
    takes the next larger form.
    """
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0) | opcode
    n = len(payload) if length_override is None else length_override
    if masked and mask is None:
        mask = os.urandom(4)
    mbit = 0x80 if mask is not None else 0
    if length_form is not None and length_form not in LENGTH_FORMS:
        raise ValueError(f"length_form must be one of {LENGTH_FORMS}, got {length_form!r}")
    form = length_form or "7"
    if n >= 65536 or form == "64":
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    elif n >= 126 or form == "16":
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BB", b0, mbit | n)
    if mask is not None:
        return head + mask + apply_mask(payload, mask)
    return head + payload


def client_frame(opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
    """A client-to-server frame: masked with a random key."""
    return encode_frame(opcode, payload, masked=True, **kwargs)


def server_frame(opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
    """A server-to-client frame: unmasked."""
    return encode_frame(opcode, payload, **kwargs)


def frame_for(role_of_sender: str, opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
    """A frame as ``role_of_sender`` ("client": masked, "server": unmasked) sends it."""
    if role_of_sender == "client":
        return client_frame(opcode, payload, **kwargs)
    assert role_of_sender == "server", role_of_sender
    return server_frame(opcode, payload, **kwargs)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """The payload of a CLOSE frame: the 2-byte code, then the reason."""
    return struct.pack("!H", code) + reason


def payload_of(size: int, text: bool, seed: int = 0) -> bytes:
    """A deterministic payload: ASCII (valid UTF-8) for TEXT, arbitrary bytes for BINARY.

    A binary payload starts with random bytes so that a truncation or offset
    bug cannot hide behind a periodic pattern.
    """
    if text:
        alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        return (alphabet * (size // len(alphabet) + 1))[:size]
    if size == 0:
        return b""
    block = bytes((i * 131 + seed * 7 + 17) & 0xFF for i in range(256))
    data = (block * (size // 256 + 1))[:size]
    head = os.urandom(min(size, 64))
    return head + data[len(head) :]


class RawFrame:
    """A decoded frame as it was on the wire (payload already unmasked)."""

    __slots__ = ("opcode", "fin", "rsv1", "rsv2", "rsv3", "masked", "mask", "payload", "wire_size")

    def __init__(
        self,
        opcode: int,
        fin: bool,
        rsv1: bool,
        rsv2: bool,
        rsv3: bool,
        masked: bool,
        mask: bytes | None,
        payload: bytes,
        wire_size: int,
    ) -> None:
        self.opcode = opcode
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.masked = masked
        self.mask = mask
        self.payload = payload
        self.wire_size = wire_size  # header + payload bytes

    @property
    def close_code(self) -> int | None:
        """The code of a CLOSE frame, None when its payload is empty."""
        assert self.opcode == CLOSE, self
        if len(self.payload) < 2:
            return None
        return int(struct.unpack("!H", self.payload[:2])[0])

    @property
    def close_message(self) -> bytes:
        return self.payload[2:]

    def __repr__(self) -> str:
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return (
            f"RawFrame(opcode={self.opcode:#x}, fin={self.fin}, rsv=({self.rsv1},{self.rsv2},{self.rsv3}), "
            f"masked={self.masked}, len={len(self.payload)}, payload={p!r})"
        )


def _header_size(b1: int) -> int:
    n = b1 & 0x7F
    return 2 + (2 if n == 126 else 8 if n == 127 else 0) + (4 if b1 & 0x80 else 0)


def _make(head: bytes, payload: bytes) -> RawFrame:
    b0, b1 = head[0], head[1]
    mask = head[-4:] if b1 & 0x80 else None
    if mask is not None:
        payload = apply_mask(payload, mask)
    return RawFrame(
        b0 & 0x0F, bool(b0 & 0x80), bool(b0 & 0x40), bool(b0 & 0x20), bool(b0 & 0x10),
        mask is not None, mask, payload, len(head) + len(payload),
    )  # fmt: skip


def _length(head: bytes) -> int:
    n = head[1] & 0x7F
    if n == 126:
        return int(struct.unpack("!H", head[2:4])[0])
    if n == 127:
        return int(struct.unpack("!Q", head[2:10])[0])
    return n


def decode_frame(data: bytes) -> tuple[RawFrame, bytes] | None:
    """Decode the first frame of ``data``: ``(frame, rest)``, or None while it is incomplete."""
    if len(data) < 2:
        return None
    size = _header_size(data[1])
    if len(data) < size:
        return None
    head = data[:size]
    end = size + _length(head)
    if len(data) < end:
        return None
    return _make(head, data[size:end]), data[end:]


async def read_frame(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> RawFrame:
    """Read one frame; raises asyncio.IncompleteReadError on EOF, asyncio.TimeoutError on silence."""

    async def read() -> RawFrame:
        head = await reader.readexactly(2)
        head += await reader.readexactly(_header_size(head[1]) - 2)
        return _make(head, await reader.readexactly(_length(head)))

    return await asyncio.wait_for(read(), timeout)


async def read_frame_or_eof(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> RawFrame | None:
    """Like :func:`read_frame`, but None when the peer closed the connection at a frame boundary."""
    try:
        return await read_frame(reader, timeout)
    except asyncio.IncompleteReadError as e:
        assert e.partial == b"", f"connection closed in the middle of a frame: {e.partial!r}"
        return None
    except ConnectionResetError:
        return None


async def expect_close(reader: asyncio.StreamReader, code: int | None, *, max_frames: int = 10000) -> RawFrame:
    """Skip frames until a CLOSE arrives and check its code (None: an empty CLOSE payload)."""
    for _ in range(max_frames):
        f = await read_frame_or_eof(reader)
        assert f is not None, f"connection closed without a CLOSE frame (expected close code {code})"
        if f.opcode == CLOSE:
            assert f.close_code == code, f"expected CLOSE with code {code}, got {f!r} (code {f.close_code})"
            return f
    raise AssertionError("too many frames before CLOSE")


async def expect_close_then_eof(reader: asyncio.StreamReader, code: int | None) -> RawFrame:
    """A CLOSE with ``code``, then the end of the connection with nothing in between."""
    f = await expect_close(reader, code)
    rest = await expect_eof(reader)
    assert rest == b"", f"bytes sent after CLOSE: {rest[:50]!r}"
    return f
