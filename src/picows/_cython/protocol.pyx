# cython: language_level=3, cdivision=True, embedsignature=True, binding=True
"""The asyncio protocol object (compiled twin of ``picows/_pure/protocol.py``)."""

import asyncio
import socket
from asyncio import selector_events as _selector_events
from types import FunctionType as _FunctionType

from libc.string cimport strerror

from .frames cimport FrameParser, WSFrame
from .transport cimport WSListener, WSTransport

from .._errors import ProtocolViolation, WSError
from .._handshake import ServerUpgrade
from .._logging import connection_logger
from .._types import PICOWS_DEBUG_LL
from .frames import KEEP_BUFFER_SIZE, SHRINK_DELAY

__all__ = ["WSProtocol"]

DEF HANDSHAKE = 0
DEF OPEN = 1
DEF CLOSED = 2
DEF HANDSHAKE_READ_SIZE = 4096

cdef object _ProtocolViolation = ProtocolViolation

cdef extern from "<sys/socket.h>" nogil:
    ssize_t recv(int fd, void* buf, size_t n, int flags)

cdef extern from "<errno.h>" nogil:
    int errno
    int EAGAIN
    int EWOULDBLOCK
    int EINTR

# The stdlib loop's plain TCP transport. Its buffered read path
# (_read_ready__get_buffer) is Python code: get_buffer(), a memoryview,
# sock.recv_into() and buffer_updated() cost ~2k instructions per read. Once a
# connection is open we read with recv() in C instead (see _fast_read_ready),
# keeping the transport for everything else. Exact type and the private
# attributes we rely on are checked; anything else keeps asyncio's path.
cdef object _SelectorSocketTransport = getattr(_selector_events, "_SelectorSocketTransport", None)
cdef object _BaseSelectorEventLoop = getattr(_selector_events, "BaseSelectorEventLoop", None)
cdef tuple _FAST_READ_TRANSPORT_ATTRS = (
    "_read_ready_cb", "_read_ready__get_buffer", "_read_ready__on_eof", "_fatal_error", "_conn_lost", "_sock_fd",
    "is_reading",
)


def set_socket_options(transport):
    """TCP_NODELAY (and TCP_QUICKACK where available): latency over batching."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        quickack = getattr(socket, "TCP_QUICKACK", None)
        if quickack is not None:
            sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
    except OSError:
        pass


cdef class WSProtocolBase:
    """C implementation of the protocol; see :class:`WSProtocol`."""

    def __init__(self, bint is_client_side, options, listener_factory, client_upgrade=None):
        self._loop = asyncio.get_running_loop()
        self._loop_time = self._loop.time
        self._is_client_side = is_client_side
        self._options = options
        self._listener_factory = listener_factory
        self._client_upgrade = client_upgrade
        self._server_upgrade = None
        self._state = HANDSHAKE
        self._parser = FrameParser(is_client_side, options.max_frame_size, options.check_fragment_order)
        self._hs_buf = bytearray(HANDSHAKE_READ_SIZE)
        self._hs_view = memoryview(self._hs_buf)
        self._handshake_timer = None
        self._shrink_timer = None
        self._keep_cap = KEEP_BUFFER_SIZE
        self._track_recv_time = options.enable_auto_ping
        self._auto_pong = options.enable_auto_pong
        self._disconnect_on_exception = options.disconnect_on_exception
        self._underlying = None
        self._fd = -1
        self._fast_read = False
        self._py_on_ws_frame = None
        self.transport = None
        self.listener = None
        self.handshake_complete = self._loop.create_future()

    # -- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport):
        set_socket_options(transport)
        self._underlying = transport
        logger = connection_logger(self._options.logger_name)
        self.transport = WSTransport(self._is_client_side, transport, logger, self._loop, self._options, self._parser)
        if self._is_client_side:
            self.transport.request = self._client_upgrade.request
            transport.write(self._client_upgrade.request_bytes)
            if self.transport._log_debug:
                logger.log(PICOWS_DEBUG_LL, "sent upgrade request:\n%s", self._client_upgrade.request_bytes)
        else:
            self._server_upgrade = ServerUpgrade(self._listener_factory, logger)
            self._handshake_timer = self._loop.call_later(
                self._options.websocket_handshake_timeout, self._on_handshake_timeout
            )

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
            data = bytes(self._hs_view[:nbytes])
            if self._is_client_side:
                self._client_handshake_data(data)
            else:
                self._server_handshake_data(data)

    cdef _received(self, Py_ssize_t nbytes):
        self._parser._end += nbytes
        if self._track_recv_time:
            self.transport._last_recv_time = self._loop_time()
        self._process_frames()
        if self._shrink_timer is None and self._parser._cap > self._keep_cap:
            self._shrink_timer = self._loop.call_later(SHRINK_DELAY, self._shrink_buffer)

    def _fast_read_ready(self):
        """asyncio's ``_SelectorSocketTransport._read_ready__get_buffer``, same outcomes, in C."""
        cdef object transport = self._underlying
        cdef Py_ssize_t size, nbytes
        cdef int err
        if transport._conn_lost:
            return
        if self._state != OPEN:  # not reached in practice: installed once open
            transport._read_ready__get_buffer()
            return
        try:
            size = self._parser.prepare_read()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return
        nbytes = recv(self._fd, self._parser._ptr + self._parser._end, <size_t>size, 0)
        if nbytes < 0:
            err = errno
            if err == EAGAIN or err == EWOULDBLOCK or err == EINTR:
                return
            # OSError(errno, ...) becomes ConnectionResetError etc., as from socket.recv_into.
            transport._fatal_error(OSError(err, strerror(err).decode()), "Fatal read error on socket transport")
            return
        if nbytes == 0:
            transport._read_ready__on_eof()
            return
        try:
            self._received(nbytes)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")

    cdef _install_fast_read(self):
        transport = self._underlying
        if (_SelectorSocketTransport is None or type(transport) is not _SelectorSocketTransport
                or _BaseSelectorEventLoop is None or not isinstance(self._loop, _BaseSelectorEventLoop)):
            return
        for attr in _FAST_READ_TRANSPORT_ATTRS:
            if not hasattr(transport, attr):
                return
        if transport._read_ready_cb != transport._read_ready__get_buffer:
            return
        self._fd = transport._sock_fd
        callback = self._fast_read_ready
        # resume_reading() re-registers transport._read_ready, which calls _read_ready_cb.
        transport._read_ready_cb = callback
        if transport.is_reading():
            self._loop._add_reader(self._fd, callback)  # replaces the transport's reader for this fd
        self._fast_read = True

    def _shrink_buffer(self):
        # Deferred so a connection streaming large frames keeps its buffer.
        self._shrink_timer = None
        if self._state == OPEN and not self._parser.shrink_if_idle():
            self._shrink_timer = self._loop.call_later(SHRINK_DELAY, self._shrink_buffer)

    def eof_received(self):
        return False  # close our side too

    def connection_lost(self, exc):
        cdef int state = self._state
        cdef WSTransport transport = self.transport
        self._state = CLOSED
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        if self._shrink_timer is not None:
            self._shrink_timer.cancel()
            self._shrink_timer = None
        if transport is None:
            return
        transport._connection_lost()
        if state == HANDSHAKE and self._is_client_side and not self.handshake_complete.done():
            if isinstance(exc, OSError):
                error = exc
            else:
                error = self._client_upgrade.connection_lost_error()
            self.handshake_complete.set_exception(error)
        if self.listener is not None:
            try:
                self.listener.on_ws_disconnected(transport)
            except Exception as e:
                transport._logger.error("on_ws_disconnected raised", exc_info=e)
                transport._set_error(e)
        transport._mark_disconnected()
        if transport._log_debug:
            transport._logger.log(PICOWS_DEBUG_LL, "disconnected (%r)", exc)

    def pause_writing(self):
        self._forward_flow_control(True)

    def resume_writing(self):
        self._forward_flow_control(False)

    cdef _forward_flow_control(self, bint pause):
        if self.listener is None or self.transport is None:
            return
        try:
            if pause:
                self.listener.pause_writing()
            else:
                self.listener.resume_writing()
        except Exception as exc:
            self.transport._callback_failed(exc, "pause_writing" if pause else "resume_writing",
                                            self._disconnect_on_exception)

    # -- opening handshake --------------------------------------------------------

    cdef _client_handshake_data(self, bytes data):
        try:
            result = self._client_upgrade.feed(data)
        except WSError as exc:
            self._state = CLOSED
            if not self.handshake_complete.done():
                self.handshake_complete.set_exception(exc)
            self._underlying.close()
            return
        if result is None:
            return
        response, leftover = result
        self.transport.response = response
        try:
            listener = self._listener_factory()
            if not isinstance(listener, WSListener):
                raise TypeError(
                    f"ws_listener_factory must return a WSListener, got {type(listener).__name__}"
                )
        except BaseException as exc:
            self._state = CLOSED
            if not self.handshake_complete.done():
                self.handshake_complete.set_exception(exc)
            self._underlying.abort()
            return
        if not self.handshake_complete.done():
            self.handshake_complete.set_result(None)
        self._open(listener, leftover)

    cdef _server_handshake_data(self, bytes data):
        cdef WSTransport transport = self.transport
        try:
            result = self._server_upgrade.feed(data)
        except WSError as exc:
            transport._logger.info("dropping connection: %s", exc)
            self._state = CLOSED
            self._underlying.abort()
            return
        if result is None:
            return
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        transport.request = result.request
        transport.response = result.response
        self._underlying.write(result.response_bytes)
        if result.listener is None:
            self._state = CLOSED
            self._underlying.close()
            return
        self._open(result.listener, result.leftover)

    def _on_handshake_timeout(self):
        self._handshake_timer = None
        if self._state == HANDSHAKE and self._underlying is not None:
            self.transport._logger.info(
                "no upgrade request within websocket_handshake_timeout=%s s, disconnecting",
                self._options.websocket_handshake_timeout,
            )
            self._state = CLOSED
            self._underlying.abort()

    cdef _open(self, listener, bytes leftover):
        cdef WSTransport transport = self.transport
        self._state = OPEN
        self.listener = listener
        transport._listener = listener
        # A Python subclass overriding on_ws_frame: call its bound method directly
        # instead of letting cpdef dispatch look the override up for every frame.
        # (Cython subclasses keep the C-level vtable call.)
        if isinstance(getattr(type(listener), "on_ws_frame", None), _FunctionType):
            self._py_on_ws_frame = listener.on_ws_frame
        else:
            self._py_on_ws_frame = None
        self._hs_buf = None
        self._hs_view = None
        self._install_fast_read()
        if transport._log_debug:
            transport._logger.log(PICOWS_DEBUG_LL, "WebSocket connection established")
        try:
            self.listener.on_ws_connected(transport)
        except Exception as exc:
            transport._callback_failed(exc, "on_ws_connected", True)
            return
        transport._start_auto_ping()
        if leftover and self._state == OPEN:
            self._parser.feed(leftover)
            self._process_frames()

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
                transport._protocol_violation(exc.close_code, exc.msg)
                return
            if frame is None:
                return
            if log_debug:
                transport._logger.log(PICOWS_DEBUG_LL, "received %s", frame)
            if transport._pong_waiter is not None:
                try:
                    is_pong = listener.is_user_specific_pong(frame)
                except Exception as exc:
                    transport._callback_failed(exc, "is_user_specific_pong", True)
                    return
                if is_pong:
                    transport.notify_user_specific_pong_received()
                    continue
            if frame.opcode == 0x9 and self._auto_pong:
                if not transport.is_close_frame_sent and not transport._lost:
                    transport._send_frame(0xA, frame.payload_ptr, <Py_ssize_t>frame.payload_size, True, False)
                continue
            try:
                if py_on_ws_frame is not None:
                    py_on_ws_frame(transport, frame)
                else:
                    listener.on_ws_frame(transport, frame)
            except Exception as exc:
                transport._callback_failed(exc, "on_ws_frame", self._disconnect_on_exception)


class WSProtocol(WSProtocolBase, asyncio.BufferedProtocol):
    """asyncio protocol for one client or server WebSocket connection.

    A Python subclass so that asyncio's ``isinstance(protocol, BufferedProtocol)``
    check selects the buffered-read path.
    """

    __slots__ = ()
