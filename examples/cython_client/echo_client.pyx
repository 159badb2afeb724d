# cython: language_level=3
"""A picows client listener written in Cython.

It cimports picows' compiled classes, so its callbacks are C-level calls:

* ``frame.payload_ptr`` / ``frame.payload_size`` read the received payload in
  place, with no Python object per frame;
* ``transport.send_reuse_external_buffer`` sends from our own buffer, writing
  the frame header into the 14 bytes reserved in front of the payload (and,
  on the client side, masking the payload in place).

It sends ``count`` BINARY messages of ``size`` bytes, one at a time, to an
echo server and checks every echo byte for byte.
"""

from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy

from picows cimport WSFrame, WSListener, WSTransport

from picows import WSCloseCode, WSMsgType

cdef enum:
    HEADER_ROOM = 14  # the largest frame header: 2 + 8 (length) + 4 (mask key)


cdef class EchoClient(WSListener):
    cdef char* _buffer     # HEADER_ROOM bytes, then the payload (masked in place by each send)
    cdef char* _payload    # the pristine payload, to refill _buffer and to check echoes
    cdef size_t _size
    cdef size_t _count
    cdef readonly size_t received   # echoes received and checked
    cdef readonly size_t mismatches

    def __cinit__(self, size_t size, size_t count):
        cdef size_t i
        self._buffer = <char*>malloc(HEADER_ROOM + size)
        self._payload = <char*>malloc(size + 1)
        if self._buffer == NULL or self._payload == NULL:
            raise MemoryError()
        self._size = size
        self._count = count
        self.received = 0
        self.mismatches = 0
        for i in range(size):
            (<unsigned char*>self._payload)[i] = i % 251

    def __dealloc__(self):
        free(self._buffer)
        free(self._payload)

    cdef _send_next(self, WSTransport transport):
        if self.received >= self._count:
            transport.send_close(WSCloseCode.OK)
            return
        memcpy(self._buffer + HEADER_ROOM, self._payload, self._size)
        transport.send_reuse_external_buffer(WSMsgType.BINARY, self._buffer + HEADER_ROOM, self._size)

    cpdef on_ws_connected(self, WSTransport transport):
        self._send_next(transport)

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        if frame.msg_type == WSMsgType.BINARY:
            if frame.payload_size != self._size or memcmp(frame.payload_ptr, self._payload, self._size) != 0:
                self.mismatches += 1
            self.received += 1
            self._send_next(transport)
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()
