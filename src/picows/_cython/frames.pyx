# cython: language_level=3, cdivision=True, embedsignature=True, binding=True
"""Frames: the received-frame view, the incremental parser, the builder and masking.

Compiled twin of ``picows/_pure/frames.py``: same classes, same behaviour, same
order of checks (the differential tests feed both the same bytes).
"""

cimport cython
import zlib
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_FillInfo, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.memoryview cimport PyMemoryView_FromObject
from cpython.unicode cimport PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, memmove

from .includes.mask cimport picows_mask
from .includes.utf8 cimport picows_utf8_validate
from .includes.python cimport PyBUF_READ, PyBUF_WRITE, PyMemoryView_FromMemory

from .. import _limits, _rules
from .._deflate import DEFLATE_TAIL
from .._errors import ProtocolViolation
from .._types import WSCloseCode, WSMsgType

__all__ = ["FrameParser", "WSFrame", "build_frame", "frame_header", "mask_payload"]

# Policy and rules come from the shared modules (picows._limits, picows._rules),
# cached here in C variables at import.
cdef Py_ssize_t INITIAL_BUFFER_SIZE = _limits.INITIAL_BUFFER_SIZE
cdef Py_ssize_t MIN_FREE_SPACE = _limits.MIN_FREE_SPACE
cdef Py_ssize_t MAX_READ_SIZE = _limits.MAX_READ_SIZE
cdef int FIRST_CONTROL_OPCODE = _rules.FIRST_CONTROL_OPCODE
cdef int OP_CONTINUATION = _rules.OP_CONTINUATION
cdef int OP_CLOSE = _rules.OP_CLOSE
cdef int OP_TEXT = _rules.OP_TEXT
cdef uint64_t MAX_CONTROL_PAYLOAD_SIZE = _rules.MAX_CONTROL_PAYLOAD_SIZE
cdef bint VALID_OPCODE[16]
for _op in range(16):
    VALID_OPCODE[_op] = _rules.VALID_OPCODE[_op]
cdef object _is_valid_wire_close_code = _rules.is_valid_wire_close_code

cdef object _WSMsgType = WSMsgType
cdef object _PROTOCOL_ERROR = WSCloseCode.PROTOCOL_ERROR
cdef object _MESSAGE_TOO_BIG = WSCloseCode.MESSAGE_TOO_BIG
cdef object _INVALID_TEXT = WSCloseCode.INVALID_TEXT
cdef object _NO_INFO = WSCloseCode.NO_INFO
cdef tuple _MSG_TYPES = _rules.MSG_TYPE_BY_OPCODE
cdef dict _CLOSE_CODES = _rules.CLOSE_CODE_BY_VALUE
cdef bytes _DEFLATE_TAIL = DEFLATE_TAIL
cdef object _zlib_error = zlib.error
# The buffer of a parser that has not read yet: shared, never written (capacity 0).
cdef bytearray _NO_BUFFER = bytearray()


cdef int opcode_of(object msg_type) except -1:
    """The opcode of a ``msg_type`` argument (a WSMsgType or an int naming a valid opcode)."""
    cdef long op
    if type(msg_type) is _WSMsgType or (isinstance(msg_type, int) and not isinstance(msg_type, bool)):
        op = msg_type
        if 0 <= op < 16 and VALID_OPCODE[op]:
            return <int>op
    raise ValueError(f"msg_type must be a WSMsgType, got {msg_type!r}")


cdef int check_control(Py_ssize_t size, bint fin) except -1:
    """Reject a control frame we are asked to send that RFC 6455 5.5 forbids."""
    if <uint64_t>size > MAX_CONTROL_PAYLOAD_SIZE:
        raise ValueError(f"control frame payload must be <= 125 bytes, got {size}")
    if not fin:
        raise ValueError("control frames cannot be fragmented (fin must be True)")
    return 0


cdef void mask_inplace(char* data, size_t size, uint32_t key) noexcept nogil:
    """XOR ``data`` with the 4 key bytes (``key`` holds them in memory order), a vector at a time."""
    picows_mask(data, data, size, key)


cdef void mask_copy(char* dst, const char* src, size_t size, uint32_t key) noexcept nogil:
    """Copy ``src`` to ``dst`` and mask it on the way (client sends)."""
    picows_mask(dst, src, size, key)


cdef size_t write_header(char* dst, uint8_t b0, uint64_t length, bint masked, uint32_t mask_key) noexcept nogil:
    """Write a frame header at ``dst`` (at most 14 bytes) with first byte ``b0``; returns its size."""
    cdef uint8_t* p = <uint8_t*>dst
    cdef uint8_t mbit = 0x80 if masked else 0
    cdef size_t n
    cdef int i
    p[0] = b0
    if length < 126:
        p[1] = <uint8_t>(mbit | length)
        n = 2
    elif length < 65536:
        p[1] = mbit | 126
        p[2] = <uint8_t>(length >> 8)
        p[3] = <uint8_t>length
        n = 4
    else:
        p[1] = mbit | 127
        for i in range(8):
            p[2 + i] = <uint8_t>(length >> (56 - 8 * i))
        n = 10
    if masked:
        memcpy(dst + n, &mask_key, 4)
        n += 4
    return n


@cython.final
@cython.freelist(4)
cdef class _PayloadView:
    """Exports one payload as a read-only buffer and keeps its receive buffer alive."""

    cdef object owner
    cdef char* ptr
    cdef Py_ssize_t size

    def __getbuffer__(self, Py_buffer* buffer, int flags):
        PyBuffer_FillInfo(buffer, self, self.ptr, self.size, 1, flags)

    def __releasebuffer__(self, Py_buffer* buffer):
        pass


cdef class WSFrame:
    """A received frame, valid only during :meth:`WSListener.on_ws_frame`.

    The payload is not copied: the frame points into the connection's receive
    buffer, which is reused once the callback returns. Copy what you need to
    keep (``get_payload_as_bytes``). Never construct a WSFrame yourself.
    """

    def __cinit__(self):
        self.msg_type = _MSG_TYPES[0]
        self.fin = True
        self.payload_ptr = NULL
        self.payload_size = 0
        self._view = None

    cpdef bytes get_payload_as_bytes(self):
        """A copy of the payload as :class:`bytes`."""
        return PyBytes_FromStringAndSize(self.payload_ptr, <Py_ssize_t>self.payload_size)

    cpdef object get_payload_as_memoryview(self):
        """A read-only, zero-copy view of the payload; invalid once ``on_ws_frame`` returns."""
        cdef _PayloadView pv = _PayloadView.__new__(_PayloadView)
        pv.owner = self._view
        pv.ptr = self.payload_ptr
        pv.size = <Py_ssize_t>self.payload_size
        return PyMemoryView_FromObject(pv)

    cpdef str get_payload_as_utf8_text(self):
        """The payload decoded as UTF-8; raises :class:`UnicodeDecodeError` if it is not valid UTF-8."""
        return PyUnicode_DecodeUTF8(self.payload_ptr, <Py_ssize_t>self.payload_size, NULL)

    cpdef str get_payload_as_ascii_text(self):
        """The payload decoded as ASCII; raises :class:`UnicodeDecodeError` for non-ASCII bytes."""
        return PyUnicode_DecodeASCII(self.payload_ptr, <Py_ssize_t>self.payload_size, NULL)

    cpdef object get_close_code(self):
        """The status code of a CLOSE frame.

        ``WSCloseCode.NO_INFO`` when the payload carries no code. Codes that are
        not :class:`WSCloseCode` members (3000-4999) are returned as ``int``.
        Raises ValueError for frames other than CLOSE.
        """
        if self.opcode != OP_CLOSE:
            raise ValueError(f"get_close_code() is only valid for CLOSE frames, not {self.msg_type.name}")
        if self.payload_size < 2:
            return _NO_INFO
        cdef int code = ((<uint8_t>self.payload_ptr[0]) << 8) | (<uint8_t>self.payload_ptr[1])
        return _CLOSE_CODES.get(code, code)

    cpdef object get_close_message(self):
        """The bytes after the status code of a CLOSE frame, or None when there are none."""
        if self.opcode != OP_CLOSE:
            raise ValueError(f"get_close_message() is only valid for CLOSE frames, not {self.msg_type.name}")
        if self.payload_size <= 2:
            return None
        return PyBytes_FromStringAndSize(self.payload_ptr + 2, <Py_ssize_t>self.payload_size - 2)

    cpdef object get_close_reason(self):
        """The reason of a CLOSE frame as text (UTF-8, validated on receipt), or None when there is none."""
        if self.opcode != OP_CLOSE:
            raise ValueError(f"get_close_reason() is only valid for CLOSE frames, not {self.msg_type.name}")
        if self.payload_size <= 2:
            return None
        return PyUnicode_DecodeUTF8(self.payload_ptr + 2, self.payload_size - 2, NULL)

    def __str__(self):
        return (
            f"WSFrame({self.msg_type.name}, fin={bool(self.fin)}, rsv1={bool(self.rsv1)}, "
            f"rsv2={bool(self.rsv2)}, rsv3={bool(self.rsv3)}, "
            f"last_in_buffer={bool(self.last_in_buffer)}, payload_sz={self.payload_size}, "
            f"tail_sz={self.tail_size})"
        )

    def __repr__(self):
        return self.__str__()


cdef class FrameParser:
    """Incremental frame parser that owns the connection's receive buffer.

    Same contract and order of checks as the pure-Python ``FrameParser``.
    """

    def __init__(self, bint is_client_side, max_frame_size, bint check_fragment_order=False,
                 bint validate_utf8=False, initial_size=None):
        if not 0 <= max_frame_size <= 2**62:
            raise ValueError("max_frame_size must be in [0, 2**62]")
        self._initial_size = INITIAL_BUFFER_SIZE if initial_size is None else initial_size
        self._validate_utf8 = validate_utf8
        self._in_text = False
        self._utf8_state = 0
        self._is_client_side = is_client_side
        self._max_frame_size = max_frame_size
        self._check_fragment_order = check_fragment_order
        self._in_fragmented_message = False
        self._done = False
        self._start = 0
        self._end = 0
        self._needed = 0
        self._frame = WSFrame()
        self._discarded = 0
        self._read_view = None
        self._read_view_ptr = NULL
        self._read_view_len = 0
        # Allocated by the first read: an idle connection (the handshake is read
        # through another buffer) holds no receive buffer.
        self._buf = _NO_BUFFER
        self._ptr = PyByteArray_AS_STRING(_NO_BUFFER)
        self._cap = 0
        self._deflate = None
        self._inflater = None
        self._compressed = False
        self._inflate_budget = 0

    def set_deflate(self, state):
        """permessage-deflate was agreed: apply its RSV1 rules and inflate compressed messages."""
        self._deflate = state

    @property
    def buffer_size(self):
        """Current capacity of the receive buffer in bytes."""
        return self._cap

    @property
    def discarded(self):
        """Bytes thrown away after parsing ended (CLOSE received, violation, disconnect)."""
        return self._discarded

    @property
    def buffered(self):
        """Number of received bytes not yet consumed by a delivered frame."""
        return self._end - self._start

    def get_buffer(self, Py_ssize_t sizehint=-1):
        """Writable space for the next read (at most MAX_READ_SIZE bytes)."""
        return self.get_buffer_c()

    cdef Py_ssize_t prepare_read(self) except -1:
        """Make room for the next read; return how many bytes may be read at ``_ptr + _end``."""
        cdef Py_ssize_t free
        if self._start == self._end:
            self._start = self._end = 0
        free = self._cap - self._end
        if free < MIN_FREE_SPACE or free < self._needed - (self._end - self._start):
            self._make_room()
            free = self._cap - self._end
        return free if free < MAX_READ_SIZE else MAX_READ_SIZE

    cdef object get_buffer_c(self):
        cdef Py_ssize_t stop = self._end + self.prepare_read()
        # A raw view is safe: the event loop uses it only during one read, and
        # the buffer is replaced only here, in feed() or in shrink_if_idle().
        # The same region is asked for read after read: reuse its view.
        if (self._read_view is None or self._read_view_ptr != self._ptr + self._end
                or self._read_view_len != stop - self._end):
            self._read_view_ptr = self._ptr + self._end
            self._read_view_len = stop - self._end
            self._read_view = PyMemoryView_FromMemory(self._read_view_ptr, self._read_view_len, PyBUF_WRITE)
        return self._read_view

    def shrink_if_idle(self):
        """Return to the initial buffer size if nothing is buffered; True if the buffer is small now."""
        if self._start != self._end:
            return self._cap <= self._initial_size
        self._start = self._end = 0
        if self._cap > self._initial_size:
            self._replace_buffer(self._initial_size)
        return True

    cdef _make_room(self):
        cdef Py_ssize_t live = self._end - self._start
        cdef Py_ssize_t wanted = live + MIN_FREE_SPACE
        if self._needed > wanted:
            # Grow with the data actually received, not with the announced length:
            # a peer must send the bytes before we spend memory on them.
            wanted = min(self._needed, live + MAX_READ_SIZE)
        if wanted > self._cap:
            self._replace_buffer(max(2 * self._cap, wanted, self._initial_size))
        elif self._start > 0:
            memmove(self._ptr, self._ptr + self._start, live)
            self._start = 0
            self._end = live

    cdef _replace_buffer(self, Py_ssize_t size):
        # A new bytearray instead of resizing: views handed out earlier (the
        # asyncio read in progress, a user's memoryview) keep the old one alive.
        cdef Py_ssize_t live = self._end - self._start
        # Uninitialised: every byte is written by a read before it is parsed.
        cdef bytearray new = PyByteArray_FromStringAndSize(NULL, size)
        cdef char* new_ptr = PyByteArray_AS_STRING(new)
        if live > 0:
            memcpy(new_ptr, self._ptr + self._start, live)
        self._buf = new
        self._ptr = new_ptr
        self._read_view = None  # it pointed into the old buffer
        self._cap = size
        self._start = 0
        self._end = live

    def buffer_updated(self, Py_ssize_t nbytes):
        """``nbytes`` were written into the last buffer returned by get_buffer."""
        if nbytes < 0 or nbytes > self._cap - self._end:
            raise ValueError(f"buffer_updated: invalid byte count {nbytes}")
        self._end += nbytes

    def feed(self, data):
        """Append bytes to the buffer (handshake leftovers, tests)."""
        cdef Py_buffer view
        cdef Py_ssize_t pos = 0, n
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            while pos < view.len:
                self.get_buffer_c()
                n = min(self._cap - self._end, view.len - pos)
                if n > MAX_READ_SIZE:
                    n = MAX_READ_SIZE
                memcpy(self._ptr + self._end, <char*>view.buf + pos, n)
                self._end += n
                pos += n
        finally:
            PyBuffer_Release(&view)

    def stop(self):
        """Discard all buffered and future input (the connection is ending)."""
        self.stop_c()

    cdef void stop_c(self):
        self._done = True
        self._inflater = None
        self._discarded += self._end - self._start
        self._start = self._end

    def get_next_frame(self):
        """The next complete frame, or None if more bytes are needed (or parsing has ended).

        Raises ``ProtocolViolation``; after that (or after a CLOSE frame) the
        parser discards all further input.
        """
        return self.next_frame()

    cdef WSFrame next_frame(self):
        cdef Py_ssize_t start, avail, header, total, payload_start, payload_end, tail
        cdef uint8_t* buf
        cdef uint8_t b0, b1
        cdef int opcode
        cdef bint fin, masked
        cdef uint64_t length
        cdef uint32_t key
        cdef WSFrame frame
        cdef int i
        if self._done:
            self._discarded += self._end - self._start
            self._start = self._end
            return None
        start = self._start
        avail = self._end - start
        if avail < 2:
            return None
        buf = <uint8_t*>self._ptr + start
        b0 = buf[0]
        b1 = buf[1]
        opcode = b0 & 0x0F
        fin = (b0 & 0x80) != 0
        length = b1 & 0x7F

        if not VALID_OPCODE[opcode]:
            self._fail(_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
        if opcode >= FIRST_CONTROL_OPCODE:
            if not fin:
                self._fail(_PROTOCOL_ERROR, "fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD_SIZE:
                self._fail(_PROTOCOL_ERROR, "control frame payload longer than 125 bytes")
        if b0 & 0x40 and self._deflate is not None:
            if opcode >= FIRST_CONTROL_OPCODE:
                self._fail(_PROTOCOL_ERROR, "RSV1 set on a control frame (permessage-deflate)")
            if opcode == OP_CONTINUATION:
                self._fail(_PROTOCOL_ERROR, "RSV1 set on a continuation frame (permessage-deflate)")
        masked = (b1 & 0x80) != 0
        if masked:
            if self._is_client_side:
                self._fail(_PROTOCOL_ERROR, "masked frame from the server")
        elif not self._is_client_side:
            self._fail(_PROTOCOL_ERROR, "unmasked frame from the client")
        if self._check_fragment_order and opcode < FIRST_CONTROL_OPCODE:
            if opcode == OP_CONTINUATION:
                if not self._in_fragmented_message:
                    self._fail(_PROTOCOL_ERROR, "continuation frame without a fragmented message")
            elif self._in_fragmented_message:
                self._fail(_PROTOCOL_ERROR, "new data frame inside a fragmented message")

        header = 2
        if length == 126:
            if avail < 4:
                return None
            length = (<uint64_t>buf[2] << 8) | buf[3]
            if length < 126:
                self._fail(_PROTOCOL_ERROR, "non-minimal 16-bit payload length")
            header = 4
        elif length == 127:
            if avail < 10:
                return None
            length = 0
            for i in range(8):
                length = (length << 8) | buf[2 + i]
            if length >> 63:
                self._fail(_PROTOCOL_ERROR, "64-bit payload length with the most significant bit set")
            if length < 65536:
                self._fail(_PROTOCOL_ERROR, "non-minimal 64-bit payload length")
            header = 10
        if length > self._max_frame_size and opcode < FIRST_CONTROL_OPCODE:
            self._fail(
                _MESSAGE_TOO_BIG,
                f"frame payload of {length} bytes violates max allowed size (max_frame_size={self._max_frame_size})",
            )
        if masked:
            header += 4
        # length <= max_frame_size fits in Py_ssize_t here (checked above, max_frame_size is a Python int
        # that the caller keeps reasonable); guard anyway against overflow of header + length.
        if length > <uint64_t>(0x7FFFFFFFFFFFFFFF - 16):
            self._fail(_MESSAGE_TOO_BIG, f"frame payload of {length} bytes is too large")
        total = header + <Py_ssize_t>length
        if avail < total:
            self._needed = total
            return None
        self._needed = 0
        payload_start = start + header
        payload_end = start + total
        if masked and length:
            memcpy(&key, self._ptr + payload_start - 4, 4)
            mask_inplace(self._ptr + payload_start, <size_t>length, key)
        self._start = payload_end

        frame = self._frame
        frame.payload_ptr = self._ptr + payload_start
        frame.payload_size = <Py_ssize_t>length
        frame._view = self._buf
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
                            self._fail(_PROTOCOL_ERROR, "new data frame inside a compressed fragmented message")
                        self._compressed = (b0 & 0x40) != 0
                        self._inflate_budget = self._deflate.max_message_size
                    if self._compressed:
                        inflated = self._inflate(payload_start, payload_end, fin)
                        frame._view = inflated
                        frame.payload_ptr = PyBytes_AS_STRING(inflated)
                        frame.payload_size = PyBytes_GET_SIZE(inflated)
                        if fin:
                            self._compressed = False
                if self._validate_utf8:
                    self._check_utf8(opcode, fin, frame.payload_ptr, frame.payload_size)
            tail = self._end - payload_end
            frame.tail_size = tail
            frame.last_in_buffer = tail < 2 or not self._complete_frame_at(payload_end)
        frame.msg_type = _MSG_TYPES[opcode]
        frame.opcode = opcode
        frame.fin = fin
        # Under permessage-deflate RSV1 belongs to the extension: the payload is inflated.
        frame.rsv1 = (b0 & 0x40) != 0 and self._deflate is None
        frame.rsv2 = (b0 & 0x20) != 0
        frame.rsv3 = (b0 & 0x10) != 0
        return frame

    cdef bytes _inflate(self, Py_ssize_t start, Py_ssize_t end, bint fin):
        """The inflated bytes of one frame of a compressed message (RFC 7692 7.2.2)."""
        cdef bytes data, rest
        cdef Py_ssize_t budget = self._inflate_budget
        deflate = self._deflate
        inflater = self._inflater
        if inflater is None:
            inflater = self._inflater = deflate.new_decompressor()
        # max_length = budget + 1: zlib stops as soon as the message is too big (no bomb is allocated).
        try:
            data = inflater.decompress(
                PyMemoryView_FromMemory(self._ptr + start, end - start, PyBUF_READ), budget + 1)
            if fin and PyBytes_GET_SIZE(data) <= budget:
                rest = inflater.decompress(_DEFLATE_TAIL, budget + 1 - PyBytes_GET_SIZE(data))
                if PyBytes_GET_SIZE(rest):
                    data += rest
        except _zlib_error as exc:
            self._inflater = None
            self._fail(_PROTOCOL_ERROR, f"invalid compressed data ({exc})")
        if PyBytes_GET_SIZE(data) > budget:
            self._inflater = None
            self._fail(_MESSAGE_TOO_BIG,
                       f"inflated message violates max allowed size (max_message_size={deflate.max_message_size})")
        self._inflate_budget = budget - PyBytes_GET_SIZE(data)
        # Kept for the next message even without context takeover (a fresh deflate stream never
        # refers to the old window); only a final deflate block ends this decompressor's stream.
        if fin and inflater.eof:
            self._inflater = None
        return data

    cdef bint _complete_frame_at(self, Py_ssize_t pos):
        """True if a whole frame (any frame, valid or not) is buffered at ``pos``."""
        cdef uint8_t* buf = <uint8_t*>self._ptr + pos
        cdef Py_ssize_t avail = self._end - pos
        cdef uint8_t b1 = buf[1]
        cdef uint64_t length = b1 & 0x7F
        cdef Py_ssize_t header = 6 if (b1 & 0x80) else 2
        cdef int i
        if length == 126:
            if avail < 4:
                return False
            length = (<uint64_t>buf[2] << 8) | buf[3]
            header += 2
        elif length == 127:
            if avail < 10:
                return False
            length = 0
            for i in range(8):
                length = (length << 8) | buf[2 + i]
            header += 8
        return <uint64_t>(avail - header) >= length if avail >= header else False

    cdef _check_utf8(self, int opcode, bint fin, const char* data, Py_ssize_t size):
        """validate_utf8: check a text message frame by frame, carrying split characters over."""
        if opcode == OP_TEXT:
            self._utf8_state = 0
            self._in_text = True
        elif opcode != OP_CONTINUATION or not self._in_text:
            self._in_text = False  # binary data, or a stray continuation (not ours to judge here)
            return
        if not picows_utf8_validate(data, <size_t>size, &self._utf8_state) or (
                fin and self._utf8_state != 0):
            self._in_text = False
            self._fail(_INVALID_TEXT, "invalid UTF-8 in a text message")
        if fin:
            self._in_text = False

    cdef _check_close_payload(self, Py_ssize_t start, Py_ssize_t end):
        cdef Py_ssize_t size = end - start
        cdef unsigned int code
        if size == 0:
            return
        if size == 1:
            self._fail(_PROTOCOL_ERROR, "CLOSE frame payload of 1 byte")
        code = ((<uint8_t>self._ptr[start]) << 8) | (<uint8_t>self._ptr[start + 1])
        if not _is_valid_wire_close_code(code):
            self._fail(_PROTOCOL_ERROR, f"invalid close code {code}")
        if size > 2:
            try:
                PyUnicode_DecodeUTF8(self._ptr + start + 2, size - 2, NULL)
            except UnicodeDecodeError:
                self._fail(_INVALID_TEXT, "CLOSE reason is not valid UTF-8")

    cdef _fail(self, object code, str msg):
        self._done = True
        self._start = self._end
        raise ProtocolViolation(code, msg)


cdef inline uint32_t _key_of(bytes mask_key) except? 0:
    cdef uint32_t key
    if len(mask_key) != 4:
        raise ValueError("mask_key must be 4 bytes")
    memcpy(&key, PyBytes_AS_STRING(mask_key), 4)
    return key


def mask_payload(data, bytes key):
    """XOR ``data`` with the 4-byte ``key`` repeated (RFC 6455 5.3); returns new bytes."""
    cdef Py_buffer view
    cdef uint32_t k = _key_of(key)
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        out = PyBytes_FromStringAndSize(NULL, view.len)
        mask_copy(PyBytes_AS_STRING(out), <char*>view.buf, <size_t>view.len, k)
        return out
    finally:
        PyBuffer_Release(&view)


def frame_header(int opcode, bint fin, bint rsv1, uint64_t length, mask_key, bint rsv2=False, bint rsv3=False):
    """The header of a frame with a ``length``-byte payload (including the mask key, if any)."""
    cdef char hdr[14]
    cdef uint32_t key = 0
    if mask_key is not None:
        key = _key_of(mask_key)
    cdef size_t n = write_header(hdr, first_byte(opcode, fin, rsv1, rsv2, rsv3), length, mask_key is not None, key)
    return PyBytes_FromStringAndSize(hdr, <Py_ssize_t>n)


def build_frame(int opcode, payload, bint fin, bint rsv1, mask_key, bint rsv2=False, bint rsv3=False):
    """Encode one frame; ``mask_key`` (4 bytes) masks it (client side), None leaves it unmasked."""
    cdef Py_buffer view
    cdef uint32_t key = 0
    cdef size_t hsize
    cdef char hdr[14]
    cdef char* out_ptr
    cdef bint masked = mask_key is not None
    if masked:
        key = _key_of(mask_key)
    PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
    try:
        hsize = write_header(hdr, first_byte(opcode, fin, rsv1, rsv2, rsv3), <uint64_t>view.len, masked, key)
        out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>hsize + view.len)
        out_ptr = PyBytes_AS_STRING(out)
        memcpy(out_ptr, hdr, hsize)
        if masked:
            mask_copy(out_ptr + hsize, <char*>view.buf, <size_t>view.len, key)
        else:
            memcpy(out_ptr + hsize, view.buf, view.len)
        return out
    finally:
        PyBuffer_Release(&view)
