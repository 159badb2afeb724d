# cython: language_level=3, cdivision=True, embedsignature=True, binding=True
"""The per-read half of the asyncio protocol (compiled twin of ``picows/_pure/protocol.py``).

``WSProtocol`` = this module's :class:`ProtocolCore` (receive buffer, frame
parser, dispatch of every frame) + the shared :class:`picows._connection.Connection`
(handshake, lifecycle, keep-alive, error policy). See that module for the
interface between the two halves.
"""

import asyncio

from libc.stdint cimport uint8_t

from .frames cimport FrameParser, WSFrame, first_byte
from .transport cimport WSListener, WSTransport

from .. import _connection, _limits, _types
from .._errors import ProtocolViolation
from .transport import WSListener as _WSListener

__all__ = ["WSProtocol"]

cdef object _ProtocolViolation = ProtocolViolation
cdef object _PICOWS_DEBUG_LL = _types.PICOWS_DEBUG_LL
cdef int OP_PING = _types.WSMsgType.PING
cdef int OP_PONG = _types.WSMsgType.PONG
cdef int OP_CLOSE = _types.WSMsgType.CLOSE
cdef uint8_t PONG_FIRST_BYTE = first_byte(OP_PONG, True, False, False, False)
cdef Py_ssize_t KEEP_BUFFER_SIZE = _limits.KEEP_BUFFER_SIZE
cdef double SHRINK_DELAY = _limits.SHRINK_DELAY
# Connection states, defined by the shared half.
cdef int HANDSHAKE = _connection.HANDSHAKE
cdef int OPEN = _connection.OPEN

# The asyncio read-path patch (reading the stdlib loop's plain TCP sockets with
# our own recv()) lives in its own file, compiled into this module.
include "asyncio_read.pxi"


cdef class ProtocolCore:
    """Per-read code of one connection: get_buffer/buffer_updated and frame dispatch."""

    def __cinit__(self, *args, **kwargs):
        self._state = HANDSHAKE
        self._fd = -1

    def _init_read_path(self, bint is_client_side, options):
        self._loop_time = self._loop.time
        self._parser = FrameParser(is_client_side, options.max_frame_size, options.check_fragment_order,
                                   options.validate_utf8, options.read_buffer_init_size)
        self._auto_pong = options.enable_auto_pong
        self._track_recv_time = options.enable_auto_ping

    def _attach(self, underlying, logger, bint is_secure):
        self._underlying = underlying
        self.transport = WSTransport(self._parser._is_client_side, is_secure, underlying, logger, self)
        return self.transport

    def _set_listener(self, listener):
        # (``listener`` stays an untyped object here: for a typed WSListener Cython
        # would resolve ``listener.on_ws_frame`` to the base class's C method.)
        self.listener = listener
        # A Python subclass overriding on_ws_frame: call its bound method directly
        # instead of letting cpdef dispatch look the override up for every frame.
        # (Cython subclasses keep the C-level vtable call.)
        if isinstance(getattr(type(listener), "on_ws_frame", None), _FunctionType):
            self._py_on_ws_frame = listener.on_ws_frame
        else:
            self._py_on_ws_frame = None
        self._fast_read = install_fast_read(self)

    # -- asyncio buffered-protocol API ----------------------------------------------

    def get_buffer(self, Py_ssize_t sizehint):
        if self._state == OPEN:
            return self._parser.get_buffer_c()
        return self._hs_view

    def buffer_updated(self, Py_ssize_t nbytes):
        if self._state == OPEN:
            if nbytes < 0 or nbytes > self._parser._cap - self._parser._end:
                raise ValueError(f"buffer_updated: invalid byte count {nbytes}")
            self._received(nbytes)
        elif self._state == HANDSHAKE:
            self._handshake_data(bytes(self._hs_view[:nbytes]))

    cdef _received(self, Py_ssize_t nbytes):
        self._parser._end += nbytes
        if self._track_recv_time:
            self._last_recv_time = self._loop_time()
        self._process_frames()
        if self._parser._cap > KEEP_BUFFER_SIZE and self._shrink_timer is None:
            self._shrink_timer = self._loop.call_later(SHRINK_DELAY, self._shrink_buffer)

    def _feed(self, data):
        """Bytes that arrived with the handshake: the first frames."""
        self._parser.feed(data)
        self._process_frames()

    def _shrink_buffer(self):
        # Deferred so a connection streaming large frames keeps its buffer.
        self._shrink_timer = None
        if self._state == OPEN and not self._parser.shrink_if_idle():
            self._shrink_timer = self._loop.call_later(SHRINK_DELAY, self._shrink_buffer)

    def _stop_io(self):
        """The connection is ending: discard all further input, stop writing past asyncio."""
        self._parser.stop_c()
        if self.transport is not None:
            self.transport._stop_direct_writes()

    def _lost(self):
        if self._shrink_timer is not None:
            self._shrink_timer.cancel()
            self._shrink_timer = None
        self._parser.stop_c()
        self.transport._mark_lost()

    def _fast_read_ready(self):
        fast_read_ready(self)

    # -- data path --------------------------------------------------------------------

    cdef _process_frames(self):
        cdef WSTransport transport = self.transport
        cdef WSListener listener = self.listener
        cdef object py_on_ws_frame = self._py_on_ws_frame
        cdef FrameParser parser = self._parser
        cdef WSFrame frame
        cdef bint log_debug = transport._log_debug
        while True:
            try:
                frame = parser.next_frame()
            except _ProtocolViolation as exc:
                self._protocol_violation(exc.close_code, exc.msg)
                return
            if frame is None:
                return
            if log_debug:
                transport._logger.log(_PICOWS_DEBUG_LL, "received %s", frame)
            if frame.opcode == OP_CLOSE:
                self._close_received(frame)
            if self._expect_pong:
                try:
                    is_pong = listener.is_user_specific_pong(frame)
                except Exception as exc:
                    self._callback_failed(exc, "is_user_specific_pong")
                    return
                if is_pong:
                    self._keepalive.pong_received()
                    continue
            if frame.opcode == OP_PING and self._auto_pong:
                if not transport.is_close_frame_sent and not transport.is_disconnected:
                    transport._send_frame(PONG_FIRST_BYTE, frame.payload_ptr, frame.payload_size)
                continue
            try:
                if py_on_ws_frame is not None:
                    result = py_on_ws_frame(transport, frame)
                else:
                    result = listener.on_ws_frame(transport, frame)
            except Exception as exc:
                self._callback_failed(exc, "on_ws_frame", frame.msg_type)
            else:
                if result is not None:
                    self._callback_returned(result, "on_ws_frame")
            if frame.opcode == OP_CLOSE:
                self._close_frame_delivered()


class WSProtocol(ProtocolCore, _connection.Connection, asyncio.BufferedProtocol):
    """asyncio protocol of one client or server WebSocket connection."""

    __slots__ = _connection.CONNECTION_SLOTS
    _listener_class = _WSListener
