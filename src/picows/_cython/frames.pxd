# cython: language_level=3
"""C-level declarations of picows' frame classes (cimport-able by user Cython code)."""

from libc.stdint cimport uint8_t, uint32_t, uint64_t


cdef class WSFrame:
    cdef:
        # Cython-only: the payload inside the connection's receive buffer.
        char* payload_ptr
        readonly Py_ssize_t payload_size
        readonly object msg_type
        readonly bint fin
        readonly bint rsv1
        readonly bint rsv2
        readonly bint rsv3
        readonly bint last_in_buffer
        readonly Py_ssize_t tail_size
        # internal: opcode as a C int, and the owner of payload_ptr
        int opcode
        object _view          # the receive buffer (bytearray) that payload_ptr points into

    cpdef bytes get_payload_as_bytes(self)
    cpdef object get_payload_as_memoryview(self)
    cpdef str get_payload_as_utf8_text(self)
    cpdef str get_payload_as_ascii_text(self)
    cpdef object get_close_code(self)
    cpdef object get_close_message(self)
    cpdef object get_close_reason(self)


cdef class FrameParser:
    cdef:
        bytearray _buf
        char* _ptr
        Py_ssize_t _cap
        Py_ssize_t _start
        Py_ssize_t _end
        Py_ssize_t _needed
        bint _is_client_side
        bint _check_fragment_order
        bint _in_fragmented_message
        bint _validate_utf8
        bint _in_text              # a text message is in progress (validate_utf8 only)
        uint32_t _utf8_state       # picows_utf8_validate's state between frames
        Py_ssize_t _initial_size
        bint _done
        object _read_view     # cached raw view of the last region handed to the event loop
        char* _read_view_ptr
        Py_ssize_t _read_view_len
        Py_ssize_t _discarded
        uint64_t _max_frame_size
        WSFrame _frame
        # permessage-deflate (None/False/0 unless agreed)
        object _deflate            # picows._deflate.DeflateState
        object _inflater           # the peer's zlib decompressor, while we hold one
        bint _compressed           # the data message in progress is compressed
        Py_ssize_t _inflate_budget  # inflated bytes the message may still produce

    cdef WSFrame next_frame(self)
    cdef Py_ssize_t prepare_read(self) except -1
    cdef object get_buffer_c(self)
    cdef void stop_c(self)
    cdef _make_room(self)
    cdef _replace_buffer(self, Py_ssize_t size)
    cdef bint _complete_frame_at(self, Py_ssize_t pos)
    cdef _check_utf8(self, int opcode, bint fin, const char* data, Py_ssize_t size)
    cdef bytes _inflate(self, Py_ssize_t start, Py_ssize_t end, bint fin)
    cdef _check_close_payload(self, Py_ssize_t start, Py_ssize_t end)
    cdef _fail(self, object code, str msg)


cdef int opcode_of(object msg_type) except -1
cdef int check_control(Py_ssize_t size, bint fin) except -1
cdef void mask_inplace(char* data, size_t size, uint32_t key) noexcept nogil
cdef void mask_copy(char* dst, const char* src, size_t size, uint32_t key) noexcept nogil
cdef size_t write_header(char* dst, uint8_t b0, uint64_t length, bint masked, uint32_t mask_key) noexcept nogil


cdef inline uint8_t first_byte(int opcode, bint fin, bint rsv1, bint rsv2, bint rsv3) noexcept nogil:
    """The first byte of a frame header: FIN, RSV1-3, opcode."""
    return <uint8_t>(opcode | (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0)
                     | (0x10 if rsv3 else 0))
