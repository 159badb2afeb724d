# cython: language_level=3
"""User Cython code written for the published picows: ``from picows.picows cimport ...``.

Compiled by tests/test_cimport.py. A cdef listener that answers every TEXT or
BINARY frame with the payload reversed, calling the compiled transport at C level.
"""

from picows.picows cimport WSFrame, WSListener, WSTransport


cdef class ReverseEcho(WSListener):
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        cdef bytes payload = frame.get_payload_as_bytes()
        if frame.msg_type in (1, 2):
            transport.send(frame.msg_type, payload[::-1])
