# cython: language_level=3
"""C-level declarations of WSListener and WSTransport (cimport-able by user Cython code)."""

from libc.stdint cimport uint8_t, uint32_t, uint64_t

from .frames cimport WSFrame


cdef class WSTransport


cdef class WSListener:
    cpdef on_ws_connected(self, WSTransport transport)
    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)
    cpdef on_ws_disconnected(self, WSTransport transport)
    cpdef send_user_specific_ping(self, WSTransport transport)
    cpdef is_user_specific_pong(self, WSFrame frame)
    cpdef pause_writing(self)
    cpdef resume_writing(self)


cdef class WSTransport:
    cdef:
        readonly object underlying_transport
        readonly bint is_client_side
        readonly bint is_secure
        readonly bint is_close_frame_sent
        readonly bint is_disconnected
        public object request
        public object response

        # The connection's protocol object: per-connection state (picows._connection).
        readonly object _protocol
        object _logger
        readonly bint _log_debug
        object _write
        object _get_write_buffer_size
        object _is_closing
        int _fd
        bint _write_pending
        bint _check_closing
        bint _write_view  # the transport copies what it keeps (aiofastnet): write a view of _wbuf
        object _writelines  # aiofastnet's unchecked writelines (one flush for header and payload), or None
        readonly unsigned long _thread_id  # the event loop thread (transports are thread-affine)
        char* _wbuf
        Py_ssize_t _wcap
        uint64_t _rng_state
        # permessage-deflate (None unless agreed) and broadcast bookkeeping
        readonly object permessage_deflate  # the DeflateAgreement
        readonly object _deflate            # picows._deflate.DeflateState (read by broadcast())
        object _compressor                  # ours (created by the first message that needs one)
        object _msg_compressor              # of the compressed message being sent in fragments
        public bint _mid_message            # a data message was begun with fin=False and not finished
        public bint _write_paused           # the underlying transport is over its high watermark

    cpdef send(self, msg_type, message, bint fin=*, bint rsv1=*, bint rsv2=*, bint rsv3=*, compress=*)
    cdef send_reuse_external_buffer(self, msg_type, char* msg_ptr, Py_ssize_t msg_size, bint fin=*, bint rsv1=*,
                                    bint rsv2=*, bint rsv3=*)
    cpdef send_reuse_external_bytearray(self, msg_type, buffer, msg_offset,
                                        bint fin=*, bint rsv1=*, bint rsv2=*, bint rsv3=*)
    cpdef send_ping(self, message=*)
    cpdef send_pong(self, message=*)

    cdef _send_frame(self, uint8_t b0, const char* payload, Py_ssize_t size)
    cdef object _deflate_frame(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1, compress)
    cdef _send_control(self, int opcode, message)
    cdef _write_raw(self, const char* data, Py_ssize_t size)
    cdef bint _may_send_directly(self) except -1
    cdef bint _write_gathered(self, const char* header, Py_ssize_t hsize, const char* payload,
                              Py_ssize_t size) except -1
    cdef _log_send(self, uint8_t b0, Py_ssize_t size)
    cdef int _check_thread(self, str method) except -1
    cdef char* _reserve(self, Py_ssize_t size) except NULL
    cdef _release_write_buffer(self)
    cdef uint32_t _next_mask_key(self) noexcept
    cdef _stop_direct_writes(self)
    cdef _mark_lost(self)
