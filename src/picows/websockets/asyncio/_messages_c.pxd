# cython: language_level=3
"""C declarations of _messages_c (the compiled build of _messages.py; see its docstring)."""

cimport cython

from picows._cython.frames cimport WSFrame
from picows._cython.transport cimport WSListener, WSTransport


# Message types, compared by identity on every frame.
cdef object _CONT, _TEXT, _BINARY, _CLOSE, _PONG, _NO_MESSAGES, _NOTHING, _RECV, _running_task, _RESOLVED
# _Wakeup states.
cdef int _PENDING, _DONE, _CANCELLED


cdef class MessageListener


cdef class _Wakeup:
    cdef public object _loop
    cdef public bint _asyncio_future_blocking
    cdef int _state
    cdef object _callback
    cdef object _context
    cdef object _cancel_message

    cpdef bint _rearm(self)
    cdef _outcome(self)
    cpdef wake(self, bint now)


cdef class _Fragments:
    cdef public bint is_text
    cdef public list parts
    cdef public Py_ssize_t size
    cdef public bint complete
    cdef public bint streamed
    cdef public object decoder


cdef class _MessageIterator:
    cdef public MessageListener connection
    cdef public bint finished


cdef class MessageListener(WSListener):
    cdef public WSTransport _transport
    cdef public object _loop
    cdef public int _state
    cdef public object _messages
    cdef public _Fragments _partial
    cdef public _Wakeup _waiter
    cdef _Wakeup _spare_waiter
    cdef public bint _recv_active
    cdef public bint _streaming
    cdef public long long _max_message
    cdef public Py_ssize_t _max_fragments
    cdef public Py_ssize_t _high
    cdef public Py_ssize_t _low
    cdef public bint _reading_paused
    cdef public bint _write_paused
    cdef public object _drain_waiter
    cdef public bint _fragmenting
    cdef public bint _discard
    cdef public object _extensions
    cdef object _append
    cdef object _popleft

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame)
    cdef _add_fragment(self, WSFrame frame)
    cdef _add_payload(self, payload, bint fin)
    cdef _new_queue(self)
    cdef _message_ready(self)

    @cython.locals(waiter=_Wakeup)
    cdef _wake(self, bint now)

    cdef _take_message(self, decode)

    @cython.locals(waiter=_Wakeup)
    cdef _Wakeup _start_waiting(self)

    cdef _stop_waiting(self)
    cpdef _message_taken(self)
