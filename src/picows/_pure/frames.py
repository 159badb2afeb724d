"""Frames: the received-frame view, the incremental parser, the builder and masking.

Pure-Python twin of ``picows/_cython/frames.pyx``; both must behave
identically (the differential tests feed them the same bytes).
"""

from __future__ import annotations

import codecs
import os
import random
import struct
import sys
import zlib
from typing import TYPE_CHECKING, NoReturn

from .._deflate import DEFLATE_TAIL
from .._errors import ProtocolViolation
from .._limits import INITIAL_BUFFER_SIZE, MAX_READ_SIZE, MIN_FREE_SPACE
from .._rules import (
    CLOSE_CODE_BY_VALUE,
    FIRST_CONTROL_OPCODE,
    MAX_CONTROL_PAYLOAD_SIZE,
    MSG_TYPE_BY_OPCODE,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_TEXT,
    VALID_OPCODE,
    is_valid_wire_close_code,
)
from .._types import WSCloseCode, WSMsgType

if TYPE_CHECKING:
    from .._deflate import DeflateState

__all__ = ["FrameParser", "WSFrame", "build_frame", "frame_header", "mask_payload"]

_from_bytes = int.from_bytes
# codecs' decoders rather than str(view, "utf-8"): PyPy's str() accepts encoded surrogates.
_utf8_decode = codecs.utf_8_decode
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_ascii_decode = codecs.ascii_decode
_pack_2 = struct.Struct("!BB").pack
_pack_4 = struct.Struct("!BBH").pack
_pack_10 = struct.Struct("!BBQ").pack
# The buffer of a parser that has not read yet: shared, never written (capacity 0).
_NO_BUFFER = bytearray()
_NO_VIEW = memoryview(_NO_BUFFER)

# Mask keys only need to be unpredictable to the peer's intermediaries, not
# cryptographically strong; a seeded Mersenne Twister avoids a syscall per frame.
_rng = random.Random(os.urandom(16))
_randbits = _rng.getrandbits


# Masking without a compiler (RFC 6455 5.3: XOR with the 4-byte key repeated).
# CPython has no bulk XOR for buffers; the fastest stdlib route is four
# strided ``bytes.translate`` passes, one per key byte, each through a 256-byte
# XOR table (~0.8 ns/byte, in place, ~25% faster than an integer XOR). Small
# payloads that need a copy anyway are cheaper as one wide-integer XOR (fewer
# calls). PyPy's JIT turns a plain byte loop into ~0.5 ns/byte, 2-9x faster
# there than either.
_SMALL_PAYLOAD = 1024


def _xor_tables() -> tuple[bytes, ...]:
    identity = _from_bytes(bytes(range(256)), "little")
    return tuple(
        (identity ^ _from_bytes(bytes((k,)) * 256, "little")).to_bytes(256, "little") for k in range(256)
    )


_XOR_TABLES = _xor_tables()  # _XOR_TABLES[k][b] == b ^ k


def _mask_in_place_translate(buf: bytearray, start: int, end: int, key: bytes) -> None:
    if end - start < 4:
        # An empty extended slice assignment is a "resize" to CPython, which a
        # bytearray with exported memoryviews (the parser's) refuses.
        _mask_in_place_byte_loop(buf, start, end, key)
        return
    tables = _XOR_TABLES
    k0, k1, k2, k3 = key
    buf[start:end:4] = buf[start:end:4].translate(tables[k0])
    i = start + 1
    buf[i:end:4] = buf[i:end:4].translate(tables[k1])
    i += 1
    buf[i:end:4] = buf[i:end:4].translate(tables[k2])
    i += 1
    buf[i:end:4] = buf[i:end:4].translate(tables[k3])


def _mask_in_place_byte_loop(buf: bytearray, start: int, end: int, key: bytes) -> None:
    k0, k1, k2, k3 = key
    i = start
    stop = end - 3
    while i < stop:
        buf[i] ^= k0
        buf[i + 1] ^= k1
        buf[i + 2] ^= k2
        buf[i + 3] ^= k3
        i += 4
    j = 0
    while i < end:
        buf[i] ^= key[j]
        i += 1
        j += 1


def _mask_wide_int(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    n = len(data)
    q, r = divmod(n, 4)
    keystream = _from_bytes(key * q + key[:r], "little")
    return (_from_bytes(data, "little") ^ keystream).to_bytes(n, "little")


_USE_BYTE_LOOP = sys.implementation.name == "pypy"
_mask_in_place = _mask_in_place_byte_loop if _USE_BYTE_LOOP else _mask_in_place_translate


def _masked_frame(header: bytes, payload: bytes | bytearray | memoryview, key: bytes) -> bytes | bytearray:
    """``header`` followed by ``payload`` masked with ``key``, with one copy of the payload."""
    if len(payload) < _SMALL_PAYLOAD and not _USE_BYTE_LOOP:
        return header + _mask_wide_int(payload, key)
    out = bytearray(header)
    out += payload
    _mask_in_place(out, len(header), len(out), key)
    return out


def mask_payload(data: bytes | bytearray | memoryview, key: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 5.3); returns new bytes."""
    if len(key) != 4:
        raise ValueError("mask_key must be 4 bytes")
    return bytes(_masked_frame(b"", data, key))


def mask_in_place(buf: bytearray, start: int, end: int, key: bytes) -> None:
    """XOR ``buf[start:end]`` with the 4-byte ``key`` repeated, in place."""
    if len(key) != 4:
        raise ValueError("mask_key must be 4 bytes")
    if end > start:
        _mask_in_place(buf, start, end, key)


def opcode_of(msg_type: object) -> int:
    """The opcode of a ``msg_type`` argument (a WSMsgType or an int naming a valid opcode)."""
    if type(msg_type) is WSMsgType:
        return msg_type
    if isinstance(msg_type, int) and not isinstance(msg_type, bool) and 0 <= msg_type < 16:
        if VALID_OPCODE[msg_type]:
            return int(msg_type)
    raise ValueError(f"msg_type must be a WSMsgType, got {msg_type!r}")


def check_control(size: int, fin: bool) -> None:
    """Reject a control frame we are asked to send that RFC 6455 5.5 forbids."""
    if size > MAX_CONTROL_PAYLOAD_SIZE:
        raise ValueError(f"control frame payload must be <= 125 bytes, got {size}")
    if not fin:
        raise ValueError("control frames cannot be fragmented (fin must be True)")


def check_external_control(opcode: int, size: int, fin: bool) -> None:
    """Control frames through ``send_reuse_external_*``: as :func:`check_control`, and no CLOSE."""
    if opcode == OP_CLOSE:
        raise ValueError("a CLOSE frame cannot be sent with send_reuse_external_*: use send_close()")
    check_control(size, fin)


class WSFrame:
    """A received frame, valid only during :meth:`WSListener.on_ws_frame`.

    The payload is not copied: the frame points into the connection's receive
    buffer, which is reused once the callback returns. Copy what you need to
    keep (``get_payload_as_bytes``). Never construct a WSFrame yourself.
    """

    __slots__ = (
        "msg_type", "fin", "rsv1", "rsv2", "rsv3", "last_in_buffer", "tail_size", "_mv", "_start", "_end"
    )

    msg_type: WSMsgType
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    last_in_buffer: bool
    tail_size: int

    def __init__(self) -> None:
        self.msg_type = WSMsgType.CONTINUATION
        self.fin = True
        self.rsv1 = False
        self.rsv2 = False
        self.rsv3 = False
        self.last_in_buffer = True
        self.tail_size = 0
        self._mv = memoryview(b"")
        self._start = 0
        self._end = 0

    @property
    def payload_size(self) -> int:
        """Size of the payload in bytes."""
        return self._end - self._start

    def get_payload_as_bytes(self) -> bytes:
        """A copy of the payload as :class:`bytes`."""
        return bytes(self._mv[self._start : self._end])

    def get_payload_as_memoryview(self) -> memoryview:
        """A read-only, zero-copy view of the payload; invalid once ``on_ws_frame`` returns."""
        return self._mv[self._start : self._end].toreadonly()

    def get_payload_as_utf8_text(self) -> str:
        """The payload decoded as UTF-8; raises :class:`UnicodeDecodeError` if it is not valid UTF-8."""
        return _utf8_decode(self._mv[self._start : self._end], "strict", True)[0]

    def get_payload_as_ascii_text(self) -> str:
        """The payload decoded as ASCII; raises :class:`UnicodeDecodeError` for non-ASCII bytes."""
        return _ascii_decode(self._mv[self._start : self._end], "strict")[0]

    def get_close_code(self) -> WSCloseCode | int:
        """The status code of a CLOSE frame.

        ``WSCloseCode.NO_INFO`` when the payload carries no code. Codes that are
        not :class:`WSCloseCode` members (3000-4999) are returned as ``int``.
        Raises ValueError for frames other than CLOSE.
        """
        if self.msg_type != OP_CLOSE:
            raise ValueError(f"get_close_code() is only valid for CLOSE frames, not {self.msg_type.name}")
        if self._end - self._start < 2:
            return WSCloseCode.NO_INFO
        mv = self._mv
        code = (mv[self._start] << 8) | mv[self._start + 1]
        return CLOSE_CODE_BY_VALUE.get(code, code)

    def get_close_message(self) -> bytes | None:
        """The bytes after the status code of a CLOSE frame, or None when there are none."""
        if self.msg_type != OP_CLOSE:
            raise ValueError(f"get_close_message() is only valid for CLOSE frames, not {self.msg_type.name}")
        if self._end - self._start <= 2:
            return None
        return bytes(self._mv[self._start + 2 : self._end])

    def get_close_reason(self) -> str | None:
        """The reason of a CLOSE frame as text (UTF-8, validated on receipt), or None when there is none."""
        if self.msg_type != OP_CLOSE:
            raise ValueError(f"get_close_reason() is only valid for CLOSE frames, not {self.msg_type.name}")
        if self._end - self._start <= 2:
            return None
        return _utf8_decode(self._mv[self._start + 2 : self._end], "strict", True)[0]

    def __str__(self) -> str:
        return (
            f"WSFrame({self.msg_type.name}, fin={self.fin}, rsv1={self.rsv1}, "
            f"rsv2={self.rsv2}, rsv3={self.rsv3}, "
            f"last_in_buffer={self.last_in_buffer}, payload_sz={self._end - self._start}, "
            f"tail_sz={self.tail_size})"
        )

    __repr__ = __str__


class FrameParser:
    """Incremental frame parser that owns the connection's receive buffer.

    The protocol hands ``get_buffer``/``buffer_updated`` straight from asyncio's
    buffered-protocol API, then calls ``get_next_frame`` until it returns None.
    A :class:`ProtocolViolation` ends parsing for good; so does a CLOSE frame
    (bytes after it are discarded).

    Order of checks for one frame (the compiled twin does the same): with the
    first two bytes: opcode, control frame fin, control frame length, mask bit
    for the role, fragment order (if enabled); with the extended length:
    minimal encoding, 64-bit length MSB, ``max_frame_size`` (data frames);
    with the whole frame: for CLOSE payload length 1, close code, UTF-8
    reason; for compressed messages the inflated size; for text messages, if
    ``validate_utf8``, UTF-8 (incrementally, across fragments, of the
    inflated text). RSV bits are passed through (``frame.rsv1/2/3``):
    extensions are the application's business, except when permessage-deflate
    was agreed (:meth:`set_deflate`): then RSV1 on a control or continuation
    frame is a violation (right after the control-frame checks), RSV1 on the
    first frame of a data message marks it compressed, and the frames of a
    compressed message are delivered inflated, frame by frame (a new data
    message before a compressed one ended is a violation), with
    ``rsv1=False`` (as if the message had not been compressed).
    """

    __slots__ = (
        "_buf",
        "_mv",
        "_start",
        "_end",
        "_needed",
        "_is_client_side",
        "_max_frame_size",
        "_check_fragment_order",
        "_in_fragmented_message",
        "_utf8",
        "_in_text",
        "_initial_size",
        "_done",
        "_frame",
        "_discarded",
        "_deflate",
        "_inflater",
        "_compressed",
        "_inflate_budget",
    )

    def __init__(
        self,
        is_client_side: bool,
        max_frame_size: int,
        check_fragment_order: bool = False,
        validate_utf8: bool = False,
        initial_size: int | None = None,
    ) -> None:
        if not 0 <= max_frame_size <= 2**62:
            raise ValueError("max_frame_size must be in [0, 2**62]")
        if initial_size is None:
            initial_size = INITIAL_BUFFER_SIZE
        self._initial_size = initial_size
        # Allocated by the first read: an idle connection (the handshake is read
        # through another buffer) holds no receive buffer.
        self._buf = _NO_BUFFER
        self._mv = _NO_VIEW
        self._start = 0  # first unparsed byte
        self._end = 0  # end of received data
        self._needed = 0  # total size of the incomplete frame at _start, if known
        self._is_client_side = is_client_side
        self._max_frame_size = max_frame_size
        self._check_fragment_order = check_fragment_order
        self._in_fragmented_message = False
        # validate_utf8: the decoder of the text message in progress (None between text messages).
        self._utf8: codecs.IncrementalDecoder | None = _Utf8Decoder() if validate_utf8 else None
        self._in_text = False  # a text message is in progress (validate_utf8 only)
        self._done = False  # CLOSE received or protocol violation: discard everything
        self._frame = WSFrame()
        self._discarded = 0
        self._deflate: DeflateState | None = None  # permessage-deflate agreed
        self._inflater = None  # the peer's decompressor, while we hold one
        self._compressed = False  # the data message in progress is compressed
        self._inflate_budget = 0  # inflated bytes the message may still produce

    def set_deflate(self, state: DeflateState) -> None:
        """permessage-deflate was agreed: apply its RSV1 rules and inflate compressed messages."""
        self._deflate = state

    # -- buffer management ---------------------------------------------------

    @property
    def buffer_size(self) -> int:
        """Current capacity of the receive buffer in bytes."""
        return len(self._buf)

    @property
    def discarded(self) -> int:
        """Bytes thrown away after parsing ended (CLOSE received, violation, disconnect)."""
        return self._discarded

    @property
    def buffered(self) -> int:
        """Number of received bytes not yet consumed by a delivered frame."""
        return self._end - self._start

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Writable space for the next read (at most MAX_READ_SIZE bytes)."""
        if self._start == self._end:
            self._start = self._end = 0
        free = len(self._buf) - self._end
        if free < MIN_FREE_SPACE or free < self._needed - (self._end - self._start):
            self._make_room()
        end = self._end
        return self._mv[end : min(len(self._buf), end + MAX_READ_SIZE)]

    def shrink_if_idle(self) -> bool:
        """Return to the initial buffer size if nothing is buffered; True if the buffer is small now."""
        if self._start != self._end:
            return len(self._buf) <= self._initial_size
        self._start = self._end = 0
        if len(self._buf) > self._initial_size:
            self._replace_buffer(self._initial_size)
        return True

    def _make_room(self) -> None:
        live = self._end - self._start
        wanted = live + MIN_FREE_SPACE
        if self._needed > wanted:
            # Grow with the data actually received, not with the announced length:
            # a peer must send the bytes before we spend memory on them.
            wanted = min(self._needed, live + MAX_READ_SIZE)
        if wanted > len(self._buf):
            self._replace_buffer(max(2 * len(self._buf), wanted, self._initial_size))
        elif self._start > 0:
            # Compact in place; go through bytes() since the regions may overlap.
            self._buf[0:live] = bytes(self._mv[self._start : self._end])
            self._start = 0
            self._end = live
        # else: the buffer already fits what is needed

    def _replace_buffer(self, size: int) -> None:
        # A new bytearray instead of resizing: views handed out earlier (the
        # asyncio read in progress, a user's memoryview) keep the old one alive.
        live = self._end - self._start
        new = bytearray(size)
        if live:
            new[0:live] = self._mv[self._start : self._end]
        self._buf = new
        self._mv = memoryview(new)
        self._start = 0
        self._end = live

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were written into the last buffer returned by get_buffer."""
        if nbytes < 0 or nbytes > len(self._buf) - self._end:
            raise ValueError(f"buffer_updated: invalid byte count {nbytes}")
        self._end += nbytes

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes to the buffer (handshake leftovers, tests)."""
        data = memoryview(data)
        while len(data):
            buf = self.get_buffer(len(data))
            n = min(len(buf), len(data))
            buf[:n] = data[:n]
            self.buffer_updated(n)
            data = data[n:]

    # -- parsing ---------------------------------------------------------------

    def get_next_frame(self) -> WSFrame | None:
        """The next complete frame, or None if more bytes are needed (or parsing has ended).

        Raises :class:`ProtocolViolation`; after that (or after a CLOSE frame)
        the parser discards all further input.
        """
        if self._done:
            self._discarded += self._end - self._start
            self._start = self._end
            return None
        start = self._start
        avail = self._end - start
        if avail < 2:
            return None
        buf = self._buf
        b0 = buf[start]
        b1 = buf[start + 1]
        opcode = b0 & 0x0F
        fin = b0 & 0x80
        length = b1 & 0x7F

        if not VALID_OPCODE[opcode]:
            self._fail(WSCloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if opcode >= FIRST_CONTROL_OPCODE:
            if not fin:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD_SIZE:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "control frame payload longer than 125 bytes")
        if b0 & 0x40 and self._deflate is not None:
            if opcode >= FIRST_CONTROL_OPCODE:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "RSV1 set on a control frame (permessage-deflate)")
            if opcode == OP_CONTINUATION:
                self._fail(
                    WSCloseCode.PROTOCOL_ERROR, "RSV1 set on a continuation frame (permessage-deflate)"
                )
        masked = b1 & 0x80
        if masked:
            if self._is_client_side:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "masked frame from the server")
        elif not self._is_client_side:
            self._fail(WSCloseCode.PROTOCOL_ERROR, "unmasked frame from the client")
        if self._check_fragment_order and opcode < FIRST_CONTROL_OPCODE:
            if opcode == OP_CONTINUATION:
                if not self._in_fragmented_message:
                    self._fail(WSCloseCode.PROTOCOL_ERROR, "continuation frame without a fragmented message")
            elif self._in_fragmented_message:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "new data frame inside a fragmented message")

        header = 2
        if length == 126:
            if avail < 4:
                return None
            length = (buf[start + 2] << 8) | buf[start + 3]
            if length < 126:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "non-minimal 16-bit payload length")
            header = 4
        elif length == 127:
            if avail < 10:
                return None
            length = _from_bytes(buf[start + 2 : start + 10], "big")
            if length >> 63:
                self._fail(
                    WSCloseCode.PROTOCOL_ERROR, "64-bit payload length with the most significant bit set"
                )
            if length < 65536:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "non-minimal 64-bit payload length")
            header = 10
        if length > self._max_frame_size and opcode < FIRST_CONTROL_OPCODE:
            self._fail(
                WSCloseCode.MESSAGE_TOO_BIG,
                f"frame payload of {length} bytes violates max allowed size "
                f"(max_frame_size={self._max_frame_size})",
            )
        if masked:
            header += 4
        total = header + length
        if avail < total:
            self._needed = total
            return None
        self._needed = 0
        payload_start = start + header
        payload_end = start + total
        if masked and length:
            key = bytes(buf[payload_start - 4 : payload_start])
            _mask_in_place(buf, payload_start, payload_end, key)
        self._start = payload_end

        frame = self._frame
        mv = self._mv
        if opcode == OP_CLOSE:
            self._check_close_payload(payload_start, payload_end)
            self._done = True
            frame.last_in_buffer = True
            frame.tail_size = 0
        else:
            if opcode < FIRST_CONTROL_OPCODE:
                if opcode != OP_CONTINUATION:
                    self._in_fragmented_message = not fin
                elif fin:
                    self._in_fragmented_message = False
                if self._deflate is not None:
                    if opcode != OP_CONTINUATION:
                        if self._compressed:  # the inflater is in the middle of a message
                            msg = "new data frame inside a compressed fragmented message"
                            self._fail(WSCloseCode.PROTOCOL_ERROR, msg)
                        self._compressed = (b0 & 0x40) != 0
                        self._inflate_budget = self._deflate.max_message_size
                    if self._compressed:
                        mv = memoryview(self._inflate(payload_start, payload_end, fin))
                        payload_start = 0
                        payload_end = len(mv)
                        if fin:
                            self._compressed = False
                if self._utf8 is not None:
                    self._check_utf8(opcode, fin, mv, payload_start, payload_end)
            tail = self._end - self._start
            frame.tail_size = tail
            frame.last_in_buffer = tail < 2 or not self._complete_frame_at(self._start)
        frame.msg_type = MSG_TYPE_BY_OPCODE[opcode]  # type: ignore[assignment]
        frame.fin = fin != 0
        # Under permessage-deflate RSV1 belongs to the extension: the payload is inflated.
        frame.rsv1 = (b0 & 0x40) != 0 and self._deflate is None
        frame.rsv2 = (b0 & 0x20) != 0
        frame.rsv3 = (b0 & 0x10) != 0
        frame._mv = mv
        frame._start = payload_start
        frame._end = payload_end
        return frame

    def _inflate(self, start: int, end: int, fin: int) -> bytes:
        """The inflated bytes of one frame of a compressed message (RFC 7692 7.2.2)."""
        deflate = self._deflate
        assert deflate is not None
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = deflate.new_decompressor()
        budget = self._inflate_budget
        # max_length = budget + 1: zlib stops as soon as the message is too big (no bomb is allocated).
        try:
            data: bytes = inflater.decompress(self._mv[start:end], budget + 1)
            if fin and len(data) <= budget:
                rest = inflater.decompress(DEFLATE_TAIL, budget + 1 - len(data))
                if rest:
                    data += rest
        except zlib.error as exc:
            self._inflater = None
            self._fail(WSCloseCode.PROTOCOL_ERROR, f"invalid compressed data ({exc})")
        if len(data) > budget:
            self._inflater = None
            self._fail(
                WSCloseCode.MESSAGE_TOO_BIG,
                f"inflated message violates max allowed size (max_message_size={deflate.max_message_size})",
            )
        self._inflate_budget = budget - len(data)
        # Kept for the next message even without context takeover (a fresh deflate stream never
        # refers to the old window); only a final deflate block ends this decompressor's stream.
        if fin and inflater.eof:
            self._inflater = None
        return data

    def _complete_frame_at(self, pos: int) -> bool:
        """True if a whole frame (any frame, valid or not) is buffered at ``pos``."""
        buf = self._buf
        avail = self._end - pos
        b1 = buf[pos + 1]
        length = b1 & 0x7F
        header = 6 if b1 & 0x80 else 2
        if length == 126:
            if avail < 4:
                return False
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            header += 2
        elif length == 127:
            if avail < 10:
                return False
            length = _from_bytes(buf[pos + 2 : pos + 10], "big")
            header += 8
        return avail >= header + length

    def _check_utf8(self, opcode: int, fin: int, mv: memoryview, start: int, end: int) -> None:
        """validate_utf8: check a text message frame by frame, carrying split characters over."""
        decoder = self._utf8
        assert decoder is not None
        if opcode == OP_TEXT:
            decoder.reset()
            self._in_text = True
        elif opcode != OP_CONTINUATION or not self._in_text:
            self._in_text = False  # binary data, or a stray continuation (not ours to judge here)
            return
        try:
            decoder.decode(mv[start:end], bool(fin))
            # CPython's decoder judges an incomplete surrogate (ED A0..BF) only once it is
            # complete; fail at the first impossible byte, as the compiled twin does.
            pending = decoder.getstate()[0]
            if len(pending) > 1 and pending[0] == 0xED and pending[1] > 0x9F:
                raise UnicodeDecodeError("utf-8", pending, 0, 2, "surrogate")
        except UnicodeDecodeError:
            self._in_text = False
            self._fail(WSCloseCode.INVALID_TEXT, "invalid UTF-8 in a text message")
        if fin:
            self._in_text = False

    def _check_close_payload(self, start: int, end: int) -> None:
        size = end - start
        if size == 0:
            return
        if size == 1:
            self._fail(WSCloseCode.PROTOCOL_ERROR, "CLOSE frame payload of 1 byte")
        code = (self._buf[start] << 8) | self._buf[start + 1]
        if not is_valid_wire_close_code(code):
            self._fail(WSCloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
        if size > 2:
            try:
                _utf8_decode(self._mv[start + 2 : end], "strict", True)
            except UnicodeDecodeError:
                self._fail(WSCloseCode.INVALID_TEXT, "CLOSE reason is not valid UTF-8")

    def stop(self) -> None:
        """Discard all buffered and future input (the connection is ending)."""
        self._done = True
        self._inflater = None
        self._discarded += self._end - self._start
        self._start = self._end

    def _fail(self, code: WSCloseCode, msg: str) -> NoReturn:
        self._done = True
        self._start = self._end
        raise ProtocolViolation(code, msg)


def frame_header(
    opcode: int,
    fin: bool,
    rsv1: bool,
    length: int,
    mask_key: bytes | None,
    rsv2: bool = False,
    rsv3: bool = False,
) -> bytes:
    """The header of a frame with a ``length``-byte payload (including the mask key, if any)."""
    b0 = opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0)
    if mask_key is None:
        if length < 126:
            return _pack_2(b0, length)
        if length < 65536:
            return _pack_4(b0, 126, length)
        return _pack_10(b0, 127, length)
    if len(mask_key) != 4:
        raise ValueError("mask_key must be 4 bytes")
    if length < 126:
        return _pack_2(b0, 0x80 | length) + mask_key
    if length < 65536:
        return _pack_4(b0, 0xFE, length) + mask_key
    return _pack_10(b0, 0xFF, length) + mask_key


def build_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    fin: bool,
    rsv1: bool,
    mask_key: bytes | None,
    rsv2: bool = False,
    rsv3: bool = False,
) -> bytes:
    """Encode one frame; ``mask_key`` (4 bytes) masks it (client side), None leaves it unmasked."""
    frame = encode_frame(opcode, payload, fin, rsv1, mask_key, rsv2, rsv3)
    return frame if type(frame) is bytes else bytes(frame)


def encode_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview,
    fin: bool,
    rsv1: bool,
    mask_key: bytes | None,
    rsv2: bool = False,
    rsv3: bool = False,
) -> bytes | bytearray:
    """:func:`build_frame` for the transport: a large masked frame stays a bytearray (no extra copy)."""
    header = frame_header(opcode, fin, rsv1, len(payload), mask_key, rsv2, rsv3)
    if mask_key is not None:  # frame_header() validated the key
        return _masked_frame(header, payload, mask_key)
    return header + payload if type(payload) is bytes else b"".join((header, payload))


def random_mask_key() -> bytes:
    """A fresh 4-byte masking key."""
    return _randbits(32).to_bytes(4, "little")
