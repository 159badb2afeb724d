# cython: language_level=3, cdivision=True, embedsignature=True, binding=True
"""WSListener and WSTransport (compiled twin of ``picows/_pure/transport.py``)."""

import asyncio
import os
import time

from cpython.buffer cimport PyBUF_SIMPLE, PyObject_GetBuffer, PyBuffer_Release
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE

from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

from .frames cimport FrameParser, WSFrame, mask_copy, mask_inplace, write_header

from .._errors import WSError
from .._types import PICOWS_DEBUG_LL, WSAutoPingStrategy, WSCloseCode, WSMsgType

__all__ = ["WSListener", "WSTransport"]

cdef extern from "<sys/socket.h>" nogil:
    ssize_t c_send "send"(int fd, const void* buf, size_t n, int flags)
    int MSG_NOSIGNAL
    int MSG_DONTWAIT

#: Seconds to wait for the peer to close after picows closed a connection because of an error.
LINGER_TIMEOUT = 1.0
#: ... or until it has sent nothing for this long.
LINGER_QUIET_INTERVAL = 0.05
DEF WRITE_BUFFER_MIN = 1024
DEF WRITE_BUFFER_KEEP = 65536

cdef object _WSMsgType = WSMsgType
cdef object _NO_INFO = WSCloseCode.NO_INFO
cdef object _GOING_AWAY = WSCloseCode.GOING_AWAY
cdef object _INTERNAL_ERROR = WSCloseCode.INTERNAL_ERROR
cdef object _PONG = WSMsgType.PONG
cdef object _PING_WHEN_IDLE = WSAutoPingStrategy.PING_WHEN_IDLE
cdef object _shield = asyncio.shield
cdef object _perf_counter = time.perf_counter


cdef inline int _opcode_of(object msg_type) except -1:
    cdef long op
    if type(msg_type) is _WSMsgType or (isinstance(msg_type, int) and not isinstance(msg_type, bool)):
        op = msg_type
        if op <= 2 and op >= 0 or 8 <= op <= 10:
            return <int>op
    raise ValueError(f"msg_type must be a WSMsgType, got {msg_type!r}")


cdef inline bint _valid_wire_close_code(long code) noexcept:
    return (1000 <= code <= 1003) or (1007 <= code <= 1014) or (3000 <= code <= 4999)


cdef int _get_payload(object message, Py_buffer* view, str arg) except -1:
    """Fill ``view`` with the message bytes; returns 1 if it must be released with PyBuffer_Release."""
    if type(message) is bytes:
        view.buf = PyBytes_AS_STRING(message)
        view.len = PyBytes_GET_SIZE(message)
        return 0
    if type(message) is bytearray:
        view.buf = PyByteArray_AS_STRING(message)
        view.len = PyByteArray_GET_SIZE(message)
        return 0
    if message is None:
        view.buf = NULL
        view.len = 0
        return 0
    if isinstance(message, str):
        raise TypeError(f"{arg} must be a bytes-like object or None, not str (encode text first)")
    try:
        PyObject_GetBuffer(message, view, PyBUF_SIMPLE)
    except BufferError:
        raise TypeError(f"{arg} must be a contiguous buffer") from None
    except TypeError:
        raise TypeError(f"{arg} must be a bytes-like object or None, not {type(message).__name__}") from None
    return 1


cdef class WSListener:
    """Base class for the user's handler of one WebSocket connection.

    Subclass it and override the callbacks you need. All callbacks are plain
    (non-async) methods called on the event loop thread, always with the same
    :class:`WSTransport` for one connection.
    """

    cpdef on_ws_connected(self, WSTransport transport):
        """The opening handshake has completed; sending is allowed from now on.

        If it raises, picows sends CLOSE(INTERNAL_ERROR) and disconnects; on the
        client :meth:`WSTransport.wait_disconnected` re-raises the exception.
        """

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        """A data or control frame was received.

        ``frame`` is valid only during this call. Incoming CLOSE frames are
        delivered here too; picows does not answer them itself (see the
        graceful-shutdown guide: echo CLOSE, then ``transport.disconnect()``).
        PING frames are answered automatically and not delivered while auto-pong
        is enabled.
        """

    cpdef on_ws_disconnected(self, WSTransport transport):
        """The connection is gone. Called once, and only if :meth:`on_ws_connected` was called."""

    cpdef send_user_specific_ping(self, WSTransport transport):
        """Send a ping for auto-ping and :meth:`WSTransport.measure_roundtrip_time`.

        The default sends a PING frame. Override it to use an application-level
        ping message instead, together with :meth:`is_user_specific_pong`.
        """
        transport.send_ping()

    cpdef is_user_specific_pong(self, WSFrame frame):
        """Tell whether ``frame`` answers the outstanding ping.

        Called only while a pong is awaited. Returning True consumes the frame
        (it is not passed to :meth:`on_ws_frame`). The default recognises PONG frames.
        """
        return frame.opcode == 0xA

    cpdef pause_writing(self):
        """The transport's write buffer went over its high watermark.

        A backpressure hint: sends still work, but the peer is not keeping up.
        """

    cpdef resume_writing(self):
        """The transport's write buffer drained below its low watermark."""


cdef class WSTransport:
    """Sends frames on one WebSocket connection and controls its lifetime.

    Created by picows and handed to the listener's callbacks; never construct one.
    All ``send`` methods never block: data the socket cannot take right away is
    buffered by the underlying asyncio transport. Once a CLOSE frame has been
    sent, every send method is a silent no-op.

    ``is_client_side`` is True for connections opened by :func:`ws_connect`
    (False on the server side); ``is_secure`` is True when the connection runs
    over TLS.
    """

    def __cinit__(self):
        self._wbuf = NULL
        self._wcap = 0
        self._fd = -1

    def __dealloc__(self):
        if self._wbuf != NULL:
            free(self._wbuf)
            self._wbuf = NULL

    def __init__(self, bint is_client_side, underlying_transport, logger, loop, options, FrameParser parser):
        self.underlying_transport = underlying_transport
        self.is_client_side = is_client_side
        self.is_secure = underlying_transport.get_extra_info("sslcontext") is not None
        self.is_close_frame_sent = False
        self.request = None
        self.response = None
        self._loop = loop
        self._logger = logger
        self._log_debug = logger.isEnabledFor(PICOWS_DEBUG_LL)
        self._write = underlying_transport.write
        self._get_write_buffer_size = underlying_transport.get_write_buffer_size
        self._is_closing = underlying_transport.is_closing
        sock = underlying_transport.get_extra_info("socket")
        if sock is not None and not self.is_secure:
            # Plain TCP: when asyncio has nothing queued we may write to the socket ourselves.
            self._fd = sock.fileno()
        # The handshake bytes may still be queued in the asyncio transport.
        self._write_pending = True
        self._check_closing = not type(underlying_transport).__module__.startswith("asyncio.")
        self._lost = False
        self._error = None
        self._disconnected_future = loop.create_future()
        self._listener = None
        self._parser = parser
        self._disconnect_on_exception = options.disconnect_on_exception
        self._auto_ping = options.enable_auto_ping
        self._auto_ping_idle_timeout = options.auto_ping_idle_timeout
        self._auto_ping_reply_timeout = options.auto_ping_reply_timeout
        self._auto_ping_strategy = options.auto_ping_strategy
        self._ping_handle = None
        self._reply_handle = None
        self._pong_waiter = None
        self._last_recv_time = 0.0
        self._linger_handle = None
        self._linger_deadline = 0.0
        self._linger_seen = 0
        self._rng_state = int.from_bytes(os.urandom(8), "little") | 1

    # -- sending ---------------------------------------------------------------

    cdef uint32_t _next_mask_key(self) noexcept:
        # xorshift64*: mask keys must be unpredictable to intermediaries, not cryptographic.
        cdef uint64_t x = self._rng_state
        x ^= x >> 12
        x ^= x << 25
        x ^= x >> 27
        self._rng_state = x
        return <uint32_t>((x * <uint64_t>0x2545F4914F6CDD1D) >> 32)

    cdef char* _reserve(self, Py_ssize_t size) except NULL:
        cdef Py_ssize_t cap
        if size > self._wcap:
            cap = WRITE_BUFFER_MIN
            while cap < size:
                cap *= 2
            if self._wbuf != NULL:
                free(self._wbuf)
            self._wbuf = <char*>malloc(cap)
            if self._wbuf == NULL:
                self._wcap = 0
                raise MemoryError()
            self._wcap = cap
        return self._wbuf

    cdef _write_raw(self, const char* data, Py_ssize_t size):
        cdef ssize_t sent = 0
        if self._fd >= 0:
            if self._write_pending and self._get_write_buffer_size() == 0:
                self._write_pending = False
            # asyncio's own transports close the socket only after connection_lost
            # (which clears _fd); others (uvloop) may close it earlier.
            if not self._write_pending and (not self._check_closing or not self._is_closing()):
                # Non-blocking send on the loop thread: no point releasing the GIL.
                sent = c_send(self._fd, data, <size_t>size, MSG_NOSIGNAL | MSG_DONTWAIT)
                if sent == size:
                    return
                if sent < 0:
                    # EAGAIN & co: asyncio takes it all. Real errors: asyncio's own write
                    # hits them again and reports them through connection_lost.
                    sent = 0
        # Whatever asyncio holds must go out before anything we send directly.
        self._write_pending = True
        self._write(PyBytes_FromStringAndSize(data + sent, size - sent))

    cdef _send_frame(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1):
        cdef char* buf = self._reserve(size + 14)
        cdef uint32_t key = 0
        cdef size_t hsize
        if self.is_client_side:
            key = self._next_mask_key()
            hsize = write_header(buf, opcode, fin, rsv1, <uint64_t>size, True, key)
            mask_copy(buf + hsize, payload, <size_t>size, key)
        else:
            hsize = write_header(buf, opcode, fin, rsv1, <uint64_t>size, False, 0)
            if size:
                memcpy(buf + hsize, payload, size)
        if self._log_debug:
            self._logger.log(PICOWS_DEBUG_LL, "send %s fin=%s rsv1=%s payload_sz=%d",
                             WSMsgType(opcode).name, fin, rsv1, size)
        try:
            self._write_raw(buf, <Py_ssize_t>hsize + size)
        finally:
            if self._wcap > WRITE_BUFFER_KEEP:
                free(self._wbuf)
                self._wbuf = NULL
                self._wcap = 0

    cpdef send(self, msg_type, message, bint fin=True, bint rsv1=False):
        """Send one frame.

        :param msg_type: frame type; a CLOSE sent this way also counts as the closing frame.
        :param message: payload: bytes, bytearray, memoryview or any contiguous
            buffer, or None for an empty payload. ``str`` is rejected with TypeError.
        :param fin: last frame of the message (False for all but the last fragment).
        :param rsv1: the RSV1 bit (for user-implemented extensions).
        """
        cdef Py_buffer view
        cdef int release
        if self.is_close_frame_sent:
            return
        cdef int opcode = _opcode_of(msg_type)
        release = _get_payload(message, &view, "message")
        try:
            if opcode >= 8:
                if view.len > 125:
                    raise ValueError(f"control frame payload must be <= 125 bytes, got {view.len}")
                if not fin:
                    raise ValueError("control frames cannot be fragmented (fin must be True)")
                if opcode == 8:
                    self.is_close_frame_sent = True
            if self._lost:
                return
            self._send_frame(opcode, <const char*>view.buf, view.len, fin, rsv1)
        finally:
            if release:
                PyBuffer_Release(&view)

    cdef send_reuse_external_buffer(self, msg_type, char* msg_ptr, size_t msg_size, bint fin=True, bint rsv1=False):
        """Send ``msg_size`` bytes at ``msg_ptr`` as one frame, writing the header in place.

        **Cython only.** Needs 14 writable bytes before ``msg_ptr``; on the
        client the payload is masked in place.
        """
        cdef int opcode = _opcode_of(msg_type)
        cdef uint32_t key = 0
        cdef char hdr[14]
        cdef size_t hsize
        if self.is_close_frame_sent:
            return
        if opcode >= 8:
            if msg_size > 125:
                raise ValueError(f"control frame payload must be <= 125 bytes, got {msg_size}")
            if not fin:
                raise ValueError("control frames cannot be fragmented (fin must be True)")
            if opcode == 8:
                self.is_close_frame_sent = True
        if self._lost:
            return
        if self.is_client_side:
            key = self._next_mask_key()
            mask_inplace(msg_ptr, msg_size, key)
        hsize = write_header(hdr, opcode, fin, rsv1, msg_size, self.is_client_side, key)
        memcpy(msg_ptr - hsize, hdr, hsize)
        if self._log_debug:
            self._logger.log(PICOWS_DEBUG_LL, "send %s fin=%s rsv1=%s payload_sz=%d",
                             WSMsgType(opcode).name, fin, rsv1, msg_size)
        self._write_raw(msg_ptr - hsize, <Py_ssize_t>(hsize + msg_size))

    cpdef send_reuse_external_bytearray(self, msg_type, bytearray buffer, Py_ssize_t msg_offset,
                                        bint fin=True, bint rsv1=False):
        """Send ``buffer[msg_offset:]`` as one frame, writing the frame header in place.

        The header is written into the bytes just before ``msg_offset``, which
        must therefore be at least 14 (the largest header); on the client the
        payload is masked in place, so ``buffer`` is modified. Reuse one
        bytearray for many sends to avoid building a new payload object per frame.
        """
        if self.is_close_frame_sent:
            return
        if buffer is None:
            raise TypeError("buffer must be a bytearray, got NoneType")
        cdef Py_ssize_t size = PyByteArray_GET_SIZE(buffer)
        _opcode_of(msg_type)
        if msg_offset < 14 or msg_offset > size:
            raise ValueError(f"msg_offset must be in [14, len(buffer)], got {msg_offset}")
        self.send_reuse_external_buffer(msg_type, PyByteArray_AS_STRING(buffer) + msg_offset,
                                        <size_t>(size - msg_offset), fin, rsv1)

    cdef _send_control(self, int opcode, message):
        cdef Py_buffer view
        cdef int release = _get_payload(message, &view, "message")
        try:
            if view.len > 125:
                raise ValueError(f"message must be at most 125 bytes for a control frame, got {view.len}")
            if self.is_close_frame_sent or self._lost:
                return
            self._send_frame(opcode, <const char*>view.buf, view.len, True, False)
        finally:
            if release:
                PyBuffer_Release(&view)

    cpdef send_ping(self, message=None):
        """Send a PING frame (payload at most 125 bytes)."""
        self._send_control(0x9, message)

    cpdef send_pong(self, message=None):
        """Send a PONG frame (payload at most 125 bytes)."""
        self._send_control(0xA, message)

    cpdef send_close(self, close_code=WSCloseCode.NO_INFO, close_message=None):
        """Send a CLOSE frame; it does not disconnect.

        :param close_code: status code; ``WSCloseCode.NO_INFO`` sends an empty
            payload. Codes that may not appear on the wire (1004-1006, 1015-2999,
            >= 5000) raise ValueError.
        :param close_message: optional reason (bytes, or str encoded as UTF-8),
            at most 123 bytes; needs a close code.

        A no-op once a CLOSE was sent or when the underlying transport is closing.
        """
        cdef Py_buffer view
        cdef int release
        cdef long code
        cdef char payload[125]
        if isinstance(close_code, bool) or not isinstance(close_code, int):
            raise TypeError(f"close_code must be a WSCloseCode or int, got {type(close_code).__name__}")
        if isinstance(close_message, str):
            close_message = close_message.encode("utf-8")
        release = _get_payload(close_message, &view, "close_message")
        try:
            code = close_code
            if code == 0:
                if view.len:
                    raise ValueError("close_message needs a close_code other than NO_INFO")
            else:
                if not _valid_wire_close_code(code):
                    raise ValueError(f"close_code {code} may not be sent in a CLOSE frame")
                if view.len > 123:
                    raise ValueError(f"close_message must be at most 123 bytes, got {view.len}")
            if self.is_close_frame_sent or self._lost or self._is_closing():
                return
            self.is_close_frame_sent = True
            if code == 0:
                self._send_frame(0x8, payload, 0, True, False)
            else:
                payload[0] = <char>(code >> 8)
                payload[1] = <char>(code & 0xFF)
                if view.len:
                    memcpy(payload + 2, view.buf, view.len)
                self._send_frame(0x8, payload, 2 + view.len, True, False)
        finally:
            if release:
                PyBuffer_Release(&view)

    # -- connection lifetime ---------------------------------------------------

    cpdef disconnect(self, bint graceful=True):
        """Close the connection; it does not send CLOSE by itself. Idempotent.

        :param graceful: True flushes queued data before closing (``close()``);
            False drops it (``abort()``).
        """
        self._parser.stop_c()
        # From here on only asyncio may touch the socket.
        self._fd = -1
        if self._lost:
            return
        if graceful:
            self.underlying_transport.close()
        else:
            self.underlying_transport.abort()

    async def wait_disconnected(self):
        """Wait until the socket is closed and ``on_ws_disconnected`` has returned.

        Shielded: cancelling the waiter does not affect the connection. On the
        client it re-raises the first exception raised by a listener callback,
        or a :class:`WSError` (with ``close_code``) describing the protocol
        violation that ended the connection. On the server it returns normally.
        """
        await _shield(self._disconnected_future)
        if self.is_client_side and self._error is not None:
            raise self._error

    # -- ping / pong -------------------------------------------------------------

    async def measure_roundtrip_time(self, rounds):
        """Measure the round-trip time with ``rounds`` sequential ping/pong exchanges.

        Uses the listener's :meth:`WSListener.send_user_specific_ping` and
        :meth:`WSListener.is_user_specific_pong` hooks. If an auto-ping is
        outstanding, its pong is awaited first. Raises ConnectionResetError if
        the connection is lost meanwhile.

        :return: round-trip times in seconds, one per round.
        """
        if isinstance(rounds, bool) or not isinstance(rounds, int):
            raise TypeError(f"rounds must be an int, got {type(rounds).__name__}")
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        results = []
        for _ in range(rounds):
            while self._pong_waiter is not None:
                await _shield(self._pong_waiter)
            if self._lost:
                raise ConnectionResetError("the WebSocket connection is closed")
            waiter = self._loop.create_future()
            self._pong_waiter = waiter
            start = _perf_counter()
            try:
                self._listener.send_user_specific_ping(self)
            except Exception as exc:
                self._pong_waiter = None
                self._callback_failed(exc, "send_user_specific_ping", True)
                raise
            try:
                await waiter
            finally:
                if self._pong_waiter is waiter:
                    self._pong_waiter = None
            results.append(_perf_counter() - start)
        return results

    cpdef notify_user_specific_pong_received(self):
        """Tell the ping machinery that the awaited pong arrived.

        For pongs recognised inside ``on_ws_frame`` rather than by
        :meth:`WSListener.is_user_specific_pong`. Harmless when no pong is awaited.
        """
        waiter = self._pong_waiter
        if waiter is None:
            return
        self._pong_waiter = None
        if self._reply_handle is not None:
            self._reply_handle.cancel()
            self._reply_handle = None
        if not waiter.done():
            waiter.set_result(None)
        if self._auto_ping and self._ping_handle is None and not self._lost:
            self._ping_handle = self._loop.call_later(self._auto_ping_idle_timeout, self._on_ping_timer)

    cdef _start_auto_ping(self):
        if self._auto_ping and not self._lost:
            self._last_recv_time = self._loop.time()
            self._ping_handle = self._loop.call_later(self._auto_ping_idle_timeout, self._on_ping_timer)

    def _on_ping_timer(self):
        cdef double delay, idle_for
        self._ping_handle = None
        if self._lost or self.is_close_frame_sent:
            return
        delay = self._auto_ping_idle_timeout
        if self._auto_ping_strategy == _PING_WHEN_IDLE:
            idle_for = self._loop.time() - self._last_recv_time
            if idle_for < delay:
                self._ping_handle = self._loop.call_later(delay - idle_for, self._on_ping_timer)
                return
        if self._pong_waiter is not None:
            # A round-trip measurement is in flight; it serves as the keep-alive.
            self._ping_handle = self._loop.call_later(delay, self._on_ping_timer)
            return
        self._pong_waiter = self._loop.create_future()
        if self._log_debug:
            self._logger.log(PICOWS_DEBUG_LL, "auto-ping: sending ping")
        try:
            self._listener.send_user_specific_ping(self)
        except Exception as exc:
            self._callback_failed(exc, "send_user_specific_ping", True)
            return
        self._reply_handle = self._loop.call_later(self._auto_ping_reply_timeout, self._on_reply_timeout)

    def _on_reply_timeout(self):
        self._reply_handle = None
        if self._lost:
            return
        self._logger.info(
            "no pong within auto_ping_reply_timeout=%s s, closing with GOING_AWAY", self._auto_ping_reply_timeout
        )
        self.send_close(_GOING_AWAY, b"no pong")
        self.disconnect(False)

    # -- internal helpers used by the protocol --------------------------------------

    cdef _set_error(self, exc):
        if self._error is None:
            self._error = exc

    cdef _callback_failed(self, exc, str callback, bint disconnect):
        if not disconnect:
            self._logger.error(
                "%s raised; connection kept open (disconnect_on_exception=False)", callback, exc_info=exc
            )
            return
        self._logger.error("%s raised; closing with INTERNAL_ERROR", callback, exc_info=exc)
        self._set_error(exc)
        self.send_close(_INTERNAL_ERROR)
        self._close_after_error()

    cdef _protocol_violation(self, close_code, str msg):
        self._logger.info("protocol violation: %s; closing with %s", msg, close_code.name)
        self._set_error(WSError(f"protocol violation: {msg}", close_code=close_code))
        self.send_close(close_code, msg.encode("utf-8")[:123])
        self._close_after_error()

    cdef _close_after_error(self):
        # Closing a socket with unread input makes the kernel send RST, and the
        # peer may then lose our CLOSE frame. So: stop parsing, send FIN after
        # the CLOSE, drain input until the peer closes, and close for good
        # after a short linger time.
        self._parser.stop_c()
        if self._lost:
            return
        underlying = self.underlying_transport
        if underlying.is_closing() or not underlying.can_write_eof():
            self.disconnect()
            return
        self._fd = -1
        underlying.write_eof()
        if self._linger_handle is None:
            self._linger_deadline = self._loop.time() + LINGER_TIMEOUT
            self._linger_seen = self._parser._discarded
            self._linger_handle = self._loop.call_later(LINGER_QUIET_INTERVAL, self._on_linger_timer)

    def _on_linger_timer(self):
        # Close once the peer has stopped sending (nothing left to trigger RST) or time is up.
        self._linger_handle = None
        cdef Py_ssize_t discarded = self._parser._discarded
        if discarded == self._linger_seen or self._loop.time() >= self._linger_deadline:
            self.disconnect()
        else:
            self._linger_seen = discarded
            self._linger_handle = self._loop.call_later(LINGER_QUIET_INTERVAL, self._on_linger_timer)

    cdef _connection_lost(self):
        self._lost = True
        self._fd = -1
        self._parser.stop_c()
        if self._ping_handle is not None:
            self._ping_handle.cancel()
        if self._reply_handle is not None:
            self._reply_handle.cancel()
        if self._linger_handle is not None:
            self._linger_handle.cancel()
        self._ping_handle = self._reply_handle = self._linger_handle = None
        waiter = self._pong_waiter
        self._pong_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionResetError("the WebSocket connection was lost while waiting for a pong"))
            # Mark retrieved: nobody may be awaiting an auto-ping's waiter.
            waiter.exception()
        if self._wbuf != NULL:
            free(self._wbuf)
            self._wbuf = NULL
            self._wcap = 0

    cdef _mark_disconnected(self):
        if not self._disconnected_future.done():
            self._disconnected_future.set_result(None)
