# cython: language_level=3
"""A user-written Cython listener: proves picows' .pxd files are usable from user code.

Compiled by tests/system/test_cimport.py against the installed picows, through
the public cimport path (``from picows cimport ...``). It subclasses
the compiled WSListener as a cdef class, overrides ``on_ws_frame`` at C level,
reads the payload through ``frame.payload_ptr``/``frame.payload_size`` and
echoes it with the C-only ``WSTransport.send_reuse_external_buffer`` (which
writes the frame header into the 14 bytes before the payload pointer).
"""

from libc.stdlib cimport free, realloc
from libc.string cimport memcpy

from picows cimport WSFrame, WSListener, WSTransport

from picows import WSCloseCode, WSMsgType

cdef enum:
    HEADER_ROOM = 14  # the largest frame header: 2 + 8 (length) + 4 (mask key)


cdef class EchoListener(WSListener):
    cdef size_t _frames
    cdef size_t _bytes
    cdef char* _buf
    cdef size_t _cap

    def __cinit__(self):
        self._frames = 0
        self._bytes = 0
        self._buf = NULL
        self._cap = 0

    def __dealloc__(self):
        free(self._buf)

    @property
    def frames(self):
        """Number of frames seen by the C-level on_ws_frame."""
        return self._frames

    @property
    def payload_bytes(self):
        """Total payload bytes seen."""
        return self._bytes

    cdef char* _room(self, size_t size) except NULL:
        cdef char* new_buf
        if self._cap < size + HEADER_ROOM:
            new_buf = <char*>realloc(self._buf, size + HEADER_ROOM)
            if new_buf == NULL:
                raise MemoryError()
            self._buf = new_buf
            self._cap = size + HEADER_ROOM
        return self._buf + HEADER_ROOM

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef char* payload
        self._frames += 1
        self._bytes += frame.payload_size
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
            return
        if frame.msg_type == WSMsgType.PONG:
            return
        # The payload lives in picows' receive buffer: copy it behind 14 bytes of header room.
        payload = self._room(frame.payload_size)
        if frame.payload_size:
            memcpy(payload, frame.payload_ptr, frame.payload_size)
        transport.send_reuse_external_buffer(frame.msg_type, payload, frame.payload_size, frame.fin, frame.rsv1)
