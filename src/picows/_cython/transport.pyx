# cython: language_level=3, cdivision=True, embedsignature=True, binding=True
"""WSListener and WSTransport (compiled twin of ``picows/_pure/transport.py``)."""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from .frames cimport WSFrame, check_control, first_byte, mask_copy, mask_inplace, opcode_of, write_header
from .includes cimport system
from .includes.python cimport PyBUF_READ, PyMemoryView_FromMemory, PyThread_get_thread_ident, PyUnicode_AsUTF8AndSize

import os
import zlib

from .. import _limits, _rules, _transport_api
from .._netlayer import is_aiofastnet_transport
from .._transport_api import wrong_thread
from .._types import PICOWS_DEBUG_LL, WSMsgType

__all__ = ["WSListener", "WSTransport"]

# Rules and policy from the shared modules, cached in C variables at import.
cdef int FIRST_CONTROL_OPCODE = _rules.FIRST_CONTROL_OPCODE
cdef int OP_CLOSE = _rules.OP_CLOSE
cdef int OP_PING = _rules.OP_PING
cdef int OP_PONG = _rules.OP_PONG
cdef int OP_CONTINUATION = _rules.OP_CONTINUATION
cdef int Z_SYNC_FLUSH = zlib.Z_SYNC_FLUSH
cdef int Z_FULL_FLUSH = zlib.Z_FULL_FLUSH
cdef Py_ssize_t MAX_CONTROL_PAYLOAD_SIZE = _rules.MAX_CONTROL_PAYLOAD_SIZE
cdef Py_ssize_t WRITE_BUFFER_MIN = _limits.WRITE_BUFFER_MIN
cdef Py_ssize_t WRITE_BUFFER_KEEP = _limits.WRITE_BUFFER_KEEP
cdef Py_ssize_t GATHER_WRITE_MIN = _limits.GATHER_WRITE_MIN


cdef int _get_payload(object message, Py_buffer* view) except -1:
    """Fill ``view`` with the message bytes; returns 1 if it must be released with PyBuffer_Release.

    A ``str`` is sent UTF-8 encoded: its UTF-8 form is cached in the string object
    (``message`` must stay referenced until the send is done, as it does in the callers).
    """
    if type(message) is bytes:
        view.buf = PyBytes_AS_STRING(message)
        view.len = PyBytes_GET_SIZE(message)
        return 0
    if type(message) is bytearray:
        view.buf = PyByteArray_AS_STRING(message)
        view.len = PyByteArray_GET_SIZE(message)
        return 0
    if isinstance(message, str):
        view.buf = <void*>PyUnicode_AsUTF8AndSize(message, &view.len)
        return 0
    if message is None:
        view.buf = NULL
        view.len = 0
        return 0
    try:
        PyObject_GetBuffer(message, view, PyBUF_SIMPLE)
    except BufferError:
        raise TypeError("message must be a contiguous buffer") from None
    except TypeError:
        raise TypeError(f"message must be a bytes-like object, str or None, not {type(message).__name__}") from None
    return 1


cdef int _check_external_control(int opcode, Py_ssize_t size, bint fin) except -1:
    if opcode == OP_CLOSE:
        raise ValueError("a CLOSE frame cannot be sent with send_reuse_external_*: use send_close()")
    return check_control(size, fin)


cdef class WSListener:
    """Base class for the user's handler of one WebSocket connection.

    Subclass it and override the callbacks you need. All callbacks are plain
    (non-async) methods called on the event loop thread, always with the same
    :class:`WSTransport` for one connection.

    The constructor accepts and ignores any arguments (as the compiled class
    does), so a subclass without its own ``__init__`` can itself be the
    factory given to :func:`ws_create_server` (it is called with the request).
    """

    cpdef on_ws_connected(self, WSTransport transport):
        """The opening handshake has completed; sending is allowed from now on.

        If it raises, picows sends CLOSE(INTERNAL_ERROR) and disconnects; on the
        client :meth:`WSTransport.wait_disconnected` re-raises the exception.
        """

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        """A data or control frame was received.

        ``frame`` is valid only during this call. Incoming CLOSE frames are
        delivered here too; picows answers them itself only with
        ``auto_close=True`` (else see the graceful-shutdown guide: echo CLOSE,
        then ``transport.disconnect()``). PING frames are answered automatically
        and not delivered while auto-pong is enabled.
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
        return frame.opcode == OP_PONG

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
    (False on the server side); ``is_secure`` is True for a ``wss://``
    connection (on the client: the URL's scheme, even through an ``https://``
    proxy that a ``ws://`` connection also reaches over TLS). ``permessage_deflate``
    is the :class:`DeflateAgreement` when the permessage-deflate extension was
    negotiated, else None.
    """

    def __cinit__(self, *args, **kwargs):
        self._wbuf = NULL
        self._wcap = 0
        self._fd = -1

    def __dealloc__(self):
        if self._wbuf != NULL:
            free(self._wbuf)
            self._wbuf = NULL

    def __init__(self, bint is_client_side, bint is_secure, underlying_transport, logger, protocol):
        self.underlying_transport = underlying_transport
        self.is_client_side = is_client_side
        self.is_secure = is_secure
        self.is_close_frame_sent = False
        self.is_disconnected = False
        self.request = None
        self.response = None
        self._protocol = protocol
        self._logger = logger
        self._log_debug = logger.isEnabledFor(PICOWS_DEBUG_LL)
        self._write = underlying_transport.write
        # Transports are thread-affine: every method checks it runs on the loop's thread.
        self._thread_id = PyThread_get_thread_ident()
        self._get_write_buffer_size = underlying_transport.get_write_buffer_size
        self._is_closing = underlying_transport.is_closing
        sock = underlying_transport.get_extra_info("socket")
        if sock is not None and underlying_transport.get_extra_info("sslcontext") is None:
            # Plain TCP (not even TLS to a proxy): when asyncio has nothing queued we may
            # write to the socket ourselves.
            self._fd = sock.fileno()
        # The handshake bytes may still be queued in the asyncio transport.
        self._write_pending = True
        self._check_closing = not type(underlying_transport).__module__.startswith("asyncio.")
        # aiofastnet copies what it cannot send (or encrypt) at once: hand it a view of our
        # buffer, through its unchecked write, instead of a new bytes object per frame.
        self._write_view = is_aiofastnet_transport(underlying_transport)
        self._writelines = None
        if self._write_view:
            self._write = underlying_transport.write_nocheck
            self._writelines = underlying_transport.writelines_nocheck
        self._rng_state = int.from_bytes(os.urandom(8), "little") | 1
        self.permessage_deflate = None
        self._deflate = None
        self._compressor = None
        self._msg_compressor = None
        self._mid_message = False
        self._write_paused = False

    def set_deflate(self, state):
        """permessage-deflate was agreed (called by picows before ``on_ws_connected``)."""
        self._deflate = state
        self.permessage_deflate = state.agreement

    # -- sending (per frame) ---------------------------------------------------

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

    cdef _release_write_buffer(self):
        if self._wbuf != NULL:
            free(self._wbuf)
            self._wbuf = NULL
            self._wcap = 0

    cdef bint _may_send_directly(self) except -1:
        """Whether a frame may go to the socket with our own send() (plain TCP, nothing queued in asyncio)."""
        if self._fd < 0:
            return False
        if self._write_pending and self._get_write_buffer_size() == 0:
            self._write_pending = False
        # asyncio's own transports close the socket only after connection_lost
        # (which clears _fd); others (uvloop) may close it earlier.
        return not self._write_pending and (not self._check_closing or not self._is_closing())

    cdef _write_raw(self, const char* data, Py_ssize_t size):
        cdef ssize_t sent = 0
        if self._may_send_directly():
            # Non-blocking send on the loop thread: no point releasing the GIL.
            sent = system.send(self._fd, data, <size_t>size, system.MSG_NOSIGNAL | system.MSG_DONTWAIT)
            if sent == size:
                return
            if sent < 0:
                # EAGAIN & co: asyncio takes it all. Real errors: asyncio's own write
                # hits them again and reports them through connection_lost.
                sent = 0
        # Whatever asyncio holds must go out before anything we send directly.
        self._write_pending = True
        if self._write_view:
            self._write(PyMemoryView_FromMemory(<char*>data + sent, size - sent, PyBUF_READ))
        else:
            self._write(PyBytes_FromStringAndSize(data + sent, size - sent))

    cdef bint _write_gathered(self, const char* header, Py_ssize_t hsize, const char* payload,
                              Py_ssize_t size) except -1:
        """Write header and payload of a frame without first joining them; False if this transport cannot.

        Saves copying a large payload into the write buffer: one sendmsg() of both
        on plain TCP, or aiofastnet's writelines (it encrypts both, then flushes
        once; what it cannot take at once it copies).
        """
        cdef system.iovec iov[2]
        cdef system.msghdr msg
        cdef ssize_t sent
        if self._may_send_directly():
            iov[0].iov_base = <void*>header
            iov[0].iov_len = <size_t>hsize
            iov[1].iov_base = <void*>payload
            iov[1].iov_len = <size_t>size
            memset(&msg, 0, sizeof(msg))
            msg.msg_iov = iov
            msg.msg_iovlen = 2
            sent = system.sendmsg(self._fd, &msg, system.MSG_NOSIGNAL | system.MSG_DONTWAIT)
            if sent == hsize + size:
                return True
            if sent < 0:
                sent = 0  # as in _write_raw: asyncio takes it all (and reports real errors)
            if sent < hsize:
                self._write_raw(header + sent, hsize - sent)
                sent = 0
            else:
                sent -= hsize
            self._write_raw(payload + sent, size - sent)
            return True
        if self._writelines is not None:
            self._writelines([PyMemoryView_FromMemory(<char*>header, hsize, PyBUF_READ),
                              PyMemoryView_FromMemory(<char*>payload, size, PyBUF_READ)])
            return True
        return False

    cdef _send_frame(self, uint8_t b0, const char* payload, Py_ssize_t size):
        """Build the frame with first byte ``b0`` in the write buffer (masking on the client) and write it."""
        cdef char header[14]
        cdef char* buf
        cdef uint32_t key = 0
        cdef size_t hsize
        if size >= GATHER_WRITE_MIN and not self.is_client_side:
            # Large unmasked payloads are sent from where they are.
            hsize = write_header(header, b0, <uint64_t>size, False, 0)
            if self._log_debug:
                self._log_send(b0, size)
            if self._write_gathered(header, <Py_ssize_t>hsize, payload, size):
                return
            buf = self._reserve(size + 14)
            memcpy(buf, header, hsize)
            memcpy(buf + hsize, payload, size)
        else:
            buf = self._reserve(size + 14)
            if self.is_client_side:
                key = self._next_mask_key()
                hsize = write_header(buf, b0, <uint64_t>size, True, key)
                mask_copy(buf + hsize, payload, <size_t>size, key)
            else:
                hsize = write_header(buf, b0, <uint64_t>size, False, 0)
                if size:
                    memcpy(buf + hsize, payload, size)
            if self._log_debug:
                self._log_send(b0, size)
        try:
            self._write_raw(buf, <Py_ssize_t>hsize + size)
        finally:
            if self._wcap > WRITE_BUFFER_KEEP:
                self._release_write_buffer()

    cdef _log_send(self, uint8_t b0, Py_ssize_t size):
        self._logger.log(PICOWS_DEBUG_LL, "send %s fin=%s rsv1=%s payload_sz=%d",
                         WSMsgType(b0 & 0x0F).name, (b0 & 0x80) != 0, (b0 & 0x40) != 0, size)

    cdef int _check_thread(self, str method) except -1:
        if PyThread_get_thread_ident() != self._thread_id:
            wrong_thread(method)
        return 0

    cpdef send(self, msg_type, message, bint fin=True, bint rsv1=False, bint rsv2=False, bint rsv3=False,
               compress=None):
        """Send one frame.

        :param msg_type: frame type; a CLOSE sent this way also counts as the closing frame.
        :param message: payload: bytes, bytearray, memoryview or any contiguous
            buffer, a ``str`` (sent UTF-8 encoded), or None for an empty payload.
        :param fin: last frame of the message (False for all but the last fragment).
        :param rsv1: the RSV1 bit (for extensions such as permessage-deflate).
        :param rsv2: the RSV2 bit (for user-implemented extensions).
        :param rsv3: the RSV3 bit (for user-implemented extensions).
        :param compress: with permessage-deflate agreed, whether to compress this
            message: None (the connection's policy: messages whose first frame
            has at least ``compress_threshold`` bytes), True or False. Decided on
            the first frame of a message; its CONTINUATION frames follow that
            choice. The RSV1 bit belongs to the extension then: ``rsv1=True``
            counts as ``compress=True``. Ignored without permessage-deflate.
        """
        cdef Py_buffer view
        cdef int release
        cdef object deflated
        self._check_thread("send")
        if self.is_close_frame_sent:
            return
        cdef int opcode = opcode_of(msg_type)
        release = _get_payload(message, &view)
        try:
            if opcode >= FIRST_CONTROL_OPCODE:
                check_control(view.len, fin)
                if opcode == OP_CLOSE:
                    self.is_close_frame_sent = True
            else:
                self._mid_message = not fin
            if self.is_disconnected:
                return
            if self._deflate is not None and opcode < FIRST_CONTROL_OPCODE:
                # RSV1 belongs to the extension: set on the first frame of a message we compressed.
                deflated = self._deflate_frame(opcode, <const char*>view.buf, view.len, fin, rsv1, compress)
                if deflated is not None:
                    self._send_frame(first_byte(opcode, fin, opcode != OP_CONTINUATION, rsv2, rsv3),
                                     PyBytes_AS_STRING(deflated), PyBytes_GET_SIZE(deflated))
                    return
                rsv1 = False
            self._send_frame(first_byte(opcode, fin, rsv1, rsv2, rsv3), <const char*>view.buf, view.len)
            if opcode == OP_CLOSE:
                self._protocol._close_sent(PyBytes_FromStringAndSize(<const char*>view.buf, view.len))
        finally:
            if release:
                PyBuffer_Release(&view)

    cdef object _deflate_frame(self, int opcode, const char* payload, Py_ssize_t size, bint fin, bint rsv1,
                               compress):
        """The compressed payload of a data frame under permessage-deflate, or None to send it as is."""
        cdef bytes data
        state = self._deflate
        if opcode == OP_CONTINUATION:
            compressor = self._msg_compressor
            if compressor is None:  # the message is sent uncompressed
                return None
        else:
            self._msg_compressor = None
            if compress is None:
                compress = rsv1 or size >= state.compress_threshold
            if not compress or not state.can_compress:
                return None
            if fin and not state.keep_compressor:
                return state.compress_message(PyMemoryView_FromMemory(<char*>payload, size, PyBUF_READ))
            # One compressor per connection, created lazily (never one per message).
            compressor = self._compressor
            if compressor is None:
                compressor = self._compressor = state.new_compressor()
        try:
            data = compressor.compress(PyMemoryView_FromMemory(<char*>payload, size, PyBUF_READ))
            # Without context takeover a message ends with a full flush: the next one cannot refer to it.
            data += compressor.flush(Z_FULL_FLUSH if fin and not state.keep_compressor else Z_SYNC_FLUSH)
        except BaseException:
            # Nothing was sent: the peer is still at the last flush point, a fresh compressor stays in step.
            self._compressor = self._msg_compressor = None
            raise
        if fin:
            self._msg_compressor = None
            return data[:PyBytes_GET_SIZE(data) - 4]
        self._msg_compressor = compressor
        return data

    cdef send_reuse_external_buffer(self, msg_type, char* msg_ptr, Py_ssize_t msg_size, bint fin=True,
                                    bint rsv1=False, bint rsv2=False, bint rsv3=False):
        """Send ``msg_size`` bytes at ``msg_ptr`` as one frame, writing the header in place.

        **Cython only.** Needs 14 writable bytes before ``msg_ptr``; on the
        client the payload is masked in place. No CLOSE frames (ValueError).
        """
        cdef int opcode = opcode_of(msg_type)
        cdef uint32_t key = 0
        cdef char hdr[14]
        cdef size_t hsize
        cdef uint8_t b0
        self._check_thread("send_reuse_external_buffer")
        if self.is_close_frame_sent:
            return
        if msg_size < 0:
            raise ValueError(f"msg_size must be >= 0, got {msg_size}")
        if opcode >= FIRST_CONTROL_OPCODE:
            _check_external_control(opcode, msg_size, fin)
        else:
            self._mid_message = not fin
        if self.is_disconnected:
            return
        if self.is_client_side:
            key = self._next_mask_key()
            mask_inplace(msg_ptr, <size_t>msg_size, key)
        b0 = first_byte(opcode, fin, rsv1, rsv2, rsv3)
        hsize = write_header(hdr, b0, <uint64_t>msg_size, self.is_client_side, key)
        memcpy(msg_ptr - hsize, hdr, hsize)
        if self._log_debug:
            self._log_send(b0, msg_size)
        self._write_raw(msg_ptr - hsize, <Py_ssize_t>hsize + msg_size)

    cpdef send_reuse_external_bytearray(self, msg_type, buffer, msg_offset,
                                        bint fin=True, bint rsv1=False, bint rsv2=False, bint rsv3=False):
        """Send ``buffer[msg_offset:]`` as one frame, writing the frame header in place.

        The header is written into the bytes just before ``msg_offset``, which
        must therefore be at least 14 (the largest header); on the client the
        payload is masked in place, so ``buffer`` is modified. Reuse one
        bytearray for many sends to avoid building a new payload object per frame.
        CLOSE frames cannot be sent this way (ValueError): use :meth:`send_close`.
        """
        cdef Py_ssize_t size, offset
        self._check_thread("send_reuse_external_bytearray")
        if self.is_close_frame_sent:
            return
        opcode_of(msg_type)
        if type(buffer) is not bytearray:
            raise TypeError(f"buffer must be a bytearray, got {type(buffer).__name__}")
        if isinstance(msg_offset, bool) or not isinstance(msg_offset, int):
            raise TypeError(f"msg_offset must be an int, got {type(msg_offset).__name__}")
        size = PyByteArray_GET_SIZE(buffer)
        if msg_offset < 14 or msg_offset > size:
            raise ValueError(f"msg_offset must be in [14, len(buffer)], got {msg_offset}")
        offset = msg_offset
        self.send_reuse_external_buffer(msg_type, PyByteArray_AS_STRING(buffer) + offset,
                                        size - offset, fin, rsv1, rsv2, rsv3)

    cdef _send_control(self, int opcode, message):
        cdef Py_buffer view
        cdef int release = _get_payload(message, &view)
        try:
            if view.len > MAX_CONTROL_PAYLOAD_SIZE:
                raise ValueError(f"message must be at most 125 bytes for a control frame, got {view.len}")
            if self.is_close_frame_sent or self.is_disconnected:
                return
            self._send_frame(first_byte(opcode, True, False, False, False), <const char*>view.buf, view.len)
        finally:
            if release:
                PyBuffer_Release(&view)

    cpdef send_ping(self, message=None):
        """Send a PING frame (payload at most 125 bytes)."""
        self._check_thread("send_ping")
        self._send_control(OP_PING, message)

    cpdef send_pong(self, message=None):
        """Send a PONG frame (payload at most 125 bytes)."""
        self._check_thread("send_pong")
        self._send_control(OP_PONG, message)

    # -- per connection: written once in picows._transport_api ---------------------

    close_handshake = _transport_api.close_handshake
    send_close = _transport_api.send_close
    disconnect = _transport_api.disconnect
    wait_disconnected = _transport_api.wait_disconnected
    measure_roundtrip_time = _transport_api.measure_roundtrip_time
    notify_user_specific_pong_received = _transport_api.notify_user_specific_pong_received

    # -- called by the protocol --------------------------------------------------------

    cdef _stop_direct_writes(self):
        # From here on only asyncio may touch the socket.
        self._fd = -1

    cdef _mark_lost(self):
        self.is_disconnected = True
        self._fd = -1
        self._release_write_buffer()
        self._compressor = self._msg_compressor = None  # release zlib memory


def broadcast_loop(transports, int opcode, bytes payload, bytes plain_frame, compress, bint skip_slow,
                   compressed_frame, list skipped):
    """Write one message to each transport (the per-connection half of ``picows.broadcast``).

    ``plain_frame`` is the unmasked frame of the message; ``compressed_frame(state)``
    the one of a permessage-deflate setting shared without context takeover
    (None: the connection compresses with its own context). Returns how many
    got it; open connections passed over go to ``skipped``.
    """
    cdef WSTransport transport
    cdef bint is_data = opcode < FIRST_CONTROL_OPCODE
    cdef Py_ssize_t sent = 0
    cdef const char* plain = PyBytes_AS_STRING(plain_frame)
    cdef Py_ssize_t plain_size = PyBytes_GET_SIZE(plain_frame)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(payload)
    cdef unsigned long thread_id = PyThread_get_thread_ident()
    for obj in transports:
        if not isinstance(obj, WSTransport):
            raise TypeError(f"transports must hold WSTransport objects, got {type(obj).__name__}")
        transport = <WSTransport>obj
        if transport.is_close_frame_sent or transport.is_disconnected:
            continue
        if (is_data and transport._mid_message) or (skip_slow and transport._write_paused):
            skipped.append(transport)
            continue
        if transport._thread_id != thread_id:
            wrong_thread("broadcast")
        if transport.is_client_side:
            transport.send(opcode, payload, compress=compress)  # masked with its own key
            sent += 1
            continue
        state = transport._deflate
        if is_data and state is not None:
            wanted = (size >= state.compress_threshold) if compress is None else compress
            if wanted and state.can_compress:
                frame = compressed_frame(state)
                if frame is None:
                    transport.send(opcode, payload, compress=True)
                else:
                    transport._write_raw(PyBytes_AS_STRING(frame), PyBytes_GET_SIZE(frame))
                sent += 1
                continue
        if transport._log_debug:
            transport._log_send(<uint8_t>(opcode | 0x80), size)
        transport._write_raw(plain, plain_size)
        sent += 1
    return sent
