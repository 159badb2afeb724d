# cython: language_level=3
from .frames cimport FrameParser, WSFrame
from .transport cimport WSListener, WSTransport


cdef class WSProtocolBase:
    cdef:
        object _loop
        bint _is_client_side
        object _options
        object _listener_factory
        object _client_upgrade
        object _server_upgrade
        int _state
        FrameParser _parser
        bytearray _hs_buf
        object _hs_view
        object _handshake_timer
        object _shrink_timer
        Py_ssize_t _keep_cap
        bint _track_recv_time
        bint _auto_pong
        bint _disconnect_on_exception
        object _underlying
        object _py_on_ws_frame
        object _loop_time
        int _fd
        readonly bint _fast_read  # reading with our own recv() (see _install_fast_read)
        readonly WSTransport transport
        readonly WSListener listener
        readonly object handshake_complete

    cdef _client_handshake_data(self, bytes data)
    cdef _server_handshake_data(self, bytes data)
    cdef _open(self, listener, bytes leftover)
    cdef _process_frames(self)
    cdef _received(self, Py_ssize_t nbytes)
    cdef _install_fast_read(self)
    cdef _forward_flow_control(self, bint pause)
