# Reading the stdlib event loop's plain TCP sockets with our own recv() (compiled backend only).
#
# Included into protocol.pyx (compiled as one unit with ProtocolCore, so the
# read is a C call). Why: asyncio's buffered read path for
# _SelectorSocketTransport (_read_ready__get_buffer) is Python code —
# get_buffer(), a memoryview, sock.recv_into(), buffer_updated() — about 2k
# instructions per read. Once a connection is open we read into the parser's
# buffer with recv() in C instead and keep asyncio's transport for everything
# else (writes, pause/resume, close, errors).
#
# Assumptions about asyncio's private API, each checked before the patch is
# installed (anything else keeps asyncio's own path, so a future asyncio that
# changes them is merely slower):
#   * the loop is a BaseSelectorEventLoop and the transport exactly a
#     _SelectorSocketTransport (not a subclass, not TLS, not uvloop);
#   * the transport reads through self._read_ready_cb, currently set to its
#     _read_ready__get_buffer (resume_reading() re-registers _read_ready, which
#     calls _read_ready_cb, so replacing the callback keeps pause/resume working);
#   * _read_ready__on_eof(), _fatal_error(exc, msg), _conn_lost, _sock_fd and
#     is_reading() exist with asyncio 3.9-3.13 semantics;
#   * loop._add_reader(fd, callback) replaces the reader registered for fd.
# The outcomes of a read are asyncio's own: EAGAIN/EINTR -> wait for the next
# event, another errno -> _fatal_error (ConnectionResetError etc.), 0 bytes ->
# _read_ready__on_eof(), an exception in the protocol -> _fatal_error.

from types import FunctionType as _FunctionType
from asyncio import selector_events as _selector_events

from .includes cimport system

cdef object _SelectorSocketTransport = getattr(_selector_events, "_SelectorSocketTransport", None)
cdef object _BaseSelectorEventLoop = getattr(_selector_events, "BaseSelectorEventLoop", None)
cdef tuple _FAST_READ_TRANSPORT_ATTRS = (
    "_read_ready_cb", "_read_ready__get_buffer", "_read_ready__on_eof", "_fatal_error", "_conn_lost", "_sock_fd",
    "is_reading",
)


cdef bint install_fast_read(ProtocolCore protocol) except -1:
    """Install the C read on the protocol's transport if every assumption holds; True if installed."""
    transport = protocol._underlying
    loop = protocol._loop
    if (_SelectorSocketTransport is None or type(transport) is not _SelectorSocketTransport
            or _BaseSelectorEventLoop is None or not isinstance(loop, _BaseSelectorEventLoop)):
        return False
    for attr in _FAST_READ_TRANSPORT_ATTRS:
        if not hasattr(transport, attr):
            return False
    if transport._read_ready_cb != transport._read_ready__get_buffer:
        return False
    protocol._fd = transport._sock_fd
    callback = protocol._fast_read_ready
    transport._read_ready_cb = callback
    if transport.is_reading():
        loop._add_reader(protocol._fd, callback)  # replaces the transport's reader for this fd
    return True


cdef fast_read_ready(ProtocolCore protocol):
    """asyncio's ``_SelectorSocketTransport._read_ready__get_buffer``, same outcomes, in C."""
    cdef object transport = protocol._underlying
    cdef FrameParser parser = protocol._parser
    cdef Py_ssize_t size, nbytes
    cdef int err
    if transport._conn_lost:
        return
    if protocol._state != OPEN:  # not reached in practice: installed once open
        transport._read_ready__get_buffer()
        return
    try:
        size = parser.prepare_read()
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        transport._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
        return
    nbytes = system.recv(protocol._fd, parser._ptr + parser._end, <size_t>size, 0)
    if nbytes < 0:
        err = system.errno
        if err == system.EAGAIN or err == system.EWOULDBLOCK or err == system.EINTR:
            return
        # OSError(errno, ...) becomes ConnectionResetError etc., as from socket.recv_into.
        transport._fatal_error(OSError(err, system.strerror(err).decode()), "Fatal read error on socket transport")
        return
    if nbytes == 0:
        transport._read_ready__on_eof()
        return
    try:
        protocol._received(nbytes)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        transport._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
