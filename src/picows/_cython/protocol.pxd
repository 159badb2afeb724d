# cython: language_level=3
from .frames cimport FrameParser
from .transport cimport WSListener, WSTransport


cdef class ProtocolCore:
    cdef:
        # Shared with the per-connection half (picows._connection.Connection).
        public object _loop
        public int _state
        readonly FrameParser _parser
        readonly WSTransport transport
        readonly WSListener listener
        public bint _expect_pong       # a pong is awaited: offer frames to is_user_specific_pong
        public double _last_recv_time  # for auto-ping's idle check
        # Per-read state.
        bint _auto_pong
        bint _track_recv_time
        object _loop_time
        object _shrink_timer
        object _py_on_ws_frame
        object _underlying
        int _fd
        readonly bint _fast_read  # reading with our own recv() (see asyncio_read.pxi)

    cdef _received(self, Py_ssize_t nbytes)
    cdef _process_frames(self)
