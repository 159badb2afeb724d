"""The per-message path of a connection: frames in, messages out, one message sent.

This one source is used twice. On the pure backend it is imported as
``picows.websockets.asyncio._messages``; for the compiled backend the same
file is compiled by Cython as ``_messages_c`` (a symlink to this file, with
``_messages_c.pxd`` beside it declaring the classes and their C types), the
way aiohttp builds its WebSocket reader. Keep it valid plain Python: it must
never import Cython.

Design: the connection object *is* the core's listener. A complete message
is decoded once (text) or copied once (binary) and appended to a deque; a
waiting ``recv`` is woken through the :class:`_Wakeup` it awaits. Fragmented
messages go through :class:`_Fragments` (incremental UTF-8 decoder) so that
``recv_streaming`` can yield fragments as they arrive. Flow control pauses
reading from the socket when the queue reaches its high-water mark.
"""

from __future__ import annotations

import asyncio.tasks
import codecs
from asyncio import CancelledError
from collections import deque
from types import BuiltinFunctionType

import picows as _picows

from ..exceptions import ConcurrencyError, ConnectionClosedOK, PayloadTooBig, ProtocolError, TooManyFragments

# Bound at run time rather than imported: in the compiled build the name
# ``WSListener`` is the core's cdef class cimported by the .pxd (an import
# would be an assignment to it); plain Python reads the module global.
globals()["WSListener"] = _picows.WSListener

_CONT = _picows.WSMsgType.CONTINUATION
_TEXT = _picows.WSMsgType.TEXT
_BINARY = _picows.WSMsgType.BINARY
_CLOSE = _picows.WSMsgType.CLOSE
_PONG = _picows.WSMsgType.PONG
_utf8_decoder = codecs.getincrementaldecoder("utf-8")

# _take_message's "no message yet" (None is not a message, but a sentinel is clearer).
_NOTHING = object()
_RECV_BUSY = "cannot call recv while another coroutine is already running recv or recv_streaming"

# Never appended to: the message queue of connections that have not received anything yet.
_NO_MESSAGES = deque()

# Connection states (the values of protocol.State).
CONNECTING = 0
OPEN = 1
CLOSING = 2
CLOSED = 3

INVALID_DATA = 1007
MESSAGE_TOO_BIG = 1009
PROTOCOL_ERROR = 1002
RESERVED_BITS = "reserved bits must be 0"


def _running_task_lookup():
    """The cheapest ``loop -> running task or None``: asked on every message a recv waits for.

    ``asyncio.current_task`` is a Python function before 3.12 (a frame per
    call); the dict it reads is the one the C Task updates, so read it directly.
    """
    current_task = asyncio.tasks.current_task
    running = getattr(asyncio.tasks, "_current_tasks", None)
    if not isinstance(current_task, BuiltinFunctionType) and isinstance(running, dict):
        return running.get
    return current_task


_running_task = _running_task_lookup()

# _Wakeup states.
_PENDING = 0
_DONE = 1
_CANCELLED = 2


class _NoLoop:
    """The loop of ``_RESOLVED``: a done Future without callbacks only asks its loop for the debug flag."""

    def get_debug(self) -> bool:
        return False


# What the waiting Task's wake-up callback is handed when a message arrived: an
# asyncio.Future already done with None. The callback only reads the result of
# what it is handed, and asyncio's C Task reads an exact Future's result
# directly, where any other object's ``result()`` is a call by name (about 1.3k
# instructions per message). Shared: a done Future is never changed again.
_RESOLVED = asyncio.Future(loop=_NoLoop())
_RESOLVED.set_result(None)


class _Wakeup:
    """What a waiting ``recv`` awaits: a one-shot future that asyncio's Task accepts.

    Why not an ``asyncio.Future``: creating one per message (``loop.create_future``
    asks the loop for its debug flag) and waking its Task (``set_result``
    schedules the Task's step with ``call_soon``: one more loop iteration and
    ``epoll_wait`` per message) cost more than the rest of a small message's
    round trip. This object implements what a Task uses of a future
    (``_asyncio_future_blocking``, ``_loop``, ``add_done_callback``,
    ``result``, ``cancel``), and :meth:`wake` runs the waiting Task's step
    at once when no task is running -- as in a protocol callback, where
    messages arrive -- instead of one loop iteration later. Inside a task it
    falls back to ``call_soon``, as a Future would.
    """

    def __init__(self, loop) -> None:
        self._loop = loop
        self._asyncio_future_blocking = False
        self._state = _PENDING
        self._callback = None
        self._context = None
        self._cancel_message = None

    # The await protocol: yield this object to the Task once, then finish.
    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        if self._state == _PENDING:
            self._asyncio_future_blocking = True
            return self
        raise StopIteration

    # What asyncio.Task uses of the object it waits for (besides the attributes
    # _asyncio_future_blocking and _loop: no get_loop method, whose call would
    # cost more than the attribute asyncio falls back to).
    def add_done_callback(self, callback, *, context=None) -> None:
        if self._state != _PENDING:
            self._loop.call_soon(callback, self._outcome(), context=context)
        elif self._callback is not None:
            raise RuntimeError("a recv wake-up has one waiter")
        else:
            self._callback = callback
            self._context = context

    def result(self):
        if self._state == _CANCELLED:
            raise CancelledError() if self._cancel_message is None else CancelledError(self._cancel_message)

    def done(self) -> bool:
        return self._state != _PENDING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def cancel(self, msg=None) -> bool:
        if self._state != _PENDING:
            return False
        self._state = _CANCELLED
        self._cancel_message = msg
        self.wake(False)
        return True

    def _rearm(self) -> bool:
        """Pending again, if woken for a message and past (its Task is on); else False.

        A connection keeps its last one and re-arms it for the next wait: one
        allocation less per message. Never a cancelled one: the Task still
        reads its ``result()`` (the CancelledError) later.
        """
        if self._state != _DONE or self._callback is not None:
            return False
        self._state = _PENDING
        self._asyncio_future_blocking = False
        return True

    def _outcome(self):
        """What the Task's wake-up callback is handed: ``_RESOLVED``, or this object when cancelled."""
        return _RESOLVED if self._state == _DONE else self

    # Our side.
    def wake(self, now: bool) -> None:
        """Done (if not already): run the waiting Task's step.

        ``now`` (a message arrived): at once, unless a task is running; else,
        or when a task runs, in a later loop iteration, as a Future would.
        """
        if self._state == _PENDING:
            self._state = _DONE
        elif now:
            return  # cancelled (its wake-up is scheduled) or woken already
        callback = self._callback
        if callback is None:
            return  # not awaited yet: add_done_callback schedules it
        context = self._context
        self._callback = None
        self._context = None
        outcome = self._outcome()
        if now and _running_task(self._loop) is None:
            try:
                if context is None:
                    callback(outcome)
                else:
                    context.run(callback, outcome)
                return
            except RuntimeError:
                # Refused before the step ran: its context is the one running
                # (entered twice), or a Task asyncio does not see is running.
                pass
        self._loop.call_soon(callback, outcome, context=context)


class _Fragments:
    """A fragmented message being received: its parts so far and whether it is complete."""

    def __init__(self, is_text: bool) -> None:
        self.is_text = is_text
        self.parts: list = []
        self.size = 0
        self.complete = False
        self.streamed = False  # a recv_streaming call owns it: never queued as a whole
        self.decoder = _utf8_decoder() if is_text else None

    def add(self, payload: bytes, fin: bool) -> None:
        self.size += len(payload)
        if self.decoder is not None:
            self.parts.append(self.decoder.decode(payload, fin))
        else:
            self.parts.append(payload)
        self.complete = fin

    def join(self):
        if self.is_text:
            return "".join(self.parts)
        return b"".join(self.parts)


class _MessageIterator:
    """What ``async for message in connection`` iterates: the next message per step.

    A class rather than an async generator around ``recv``: one compiled
    coroutine per message instead of a generator step wrapping a ``recv``
    coroutine. Once it ended or raised, it stays ended, as an async generator.
    """

    def __init__(self, connection) -> None:
        self.connection = connection
        self.finished = False

    def __aiter__(self):
        return self

    def __anext__(self):
        return self.connection._next_message(self)

    async def aclose(self) -> None:
        """Stop iterating (as an async generator's ``aclose``)."""
        self.finished = True


class MessageListener(WSListener):  # noqa: F821 - bound through globals() above
    """Frames to messages and back; the base class of ``Connection``."""

    def __init__(self) -> None:
        self._transport = None
        self._loop = None
        self._state = CONNECTING
        # A shared empty deque until the first message: an idle connection owns no queue.
        self._messages = _NO_MESSAGES
        self._partial = None
        self._waiter = None
        self._spare_waiter = None  # the last one, re-armed for the next wait
        self._recv_active = False
        self._streaming = False
        self._max_message = -1
        self._max_fragments = -1
        self._high = 0
        self._low = 0
        self._reading_paused = False
        self._write_paused = False
        self._drain_waiter = None
        self._fragmenting = False
        self._discard = False
        # Custom extensions negotiated (websockets' Extension objects), else None: see Connection.
        self._extensions = None
        self._append = None
        self._popleft = None

    # -- configuration (called once by the connection) --------------------------------

    def _configure_messages(
        self, loop, max_message: object, high: object, low: object, max_fragments: object = None
    ) -> None:
        self._loop = loop
        self._max_message = -1 if max_message is None else max_message
        # At least 1: a message's first frame is always taken, as websockets.
        self._max_fragments = -1 if max_fragments is None else max(max_fragments, 1)
        self._high = 0 if high is None else high
        self._low = 0 if low is None else low

    # -- receiving ------------------------------------------------------------------

    def on_ws_frame(self, transport, frame) -> None:
        if self._discard:
            return  # we failed the connection: nothing more is delivered
        if frame.rsv1 or frame.rsv2 or frame.rsv3 or self._extensions is not None:
            # Reserved bits without an extension that owns them, or custom extensions to decode.
            if self._on_extension_frame(frame):
                return
        msg_type = frame.msg_type
        if msg_type is _TEXT or msg_type is _BINARY:
            if self._partial is not None:
                self._fail_protocol("expected a continuation frame")
                return
            if frame.fin:
                # The core's max_frame_size (set to max_size) bounds single frames.
                if msg_type is _TEXT:
                    try:
                        message = frame.get_payload_as_utf8_text()
                    except UnicodeDecodeError as exc:
                        self._fail(INVALID_DATA, f"{exc.reason} at position {exc.start}", exc)
                        return
                else:
                    message = frame.get_payload_as_bytes()
                if self._append is None:
                    self._new_queue()
                self._append(message)
                self._message_ready()
            else:
                self._partial = _Fragments(msg_type is _TEXT)
                self._add_fragment(frame)
                if self._partial is not None and not self._partial.streamed:
                    if self._append is None:
                        self._new_queue()
                    self._append(self._partial)
                    self._message_ready()
        elif msg_type is _CONT:
            if self._partial is None:
                self._fail_protocol("unexpected continuation frame")
                return
            self._add_fragment(frame)
        elif msg_type is _CLOSE:
            self._on_close_frame(frame.get_close_code(), frame.get_close_message())
        elif msg_type is _PONG:
            self._on_pong(frame.get_payload_as_bytes())

    def _add_fragment(self, frame) -> None:
        partial = self._partial
        size = frame.payload_size
        # Checked before the payload is copied: an oversize fragment is never materialised.
        if self._max_message >= 0 and partial.size + size > self._max_message:
            self._too_big(size, partial.size)
            return
        self._add_payload(frame.get_payload_as_bytes(), frame.fin)

    def _add_payload(self, payload, fin) -> None:
        """One fragment's payload (within max_size) added to the partial message."""
        partial = self._partial
        if 0 <= self._max_fragments <= len(partial.parts) and not partial.streamed:
            # As websockets: recv reassembles at most max_fragments frames (recv_streaming any number).
            self._fail(MESSAGE_TOO_BIG, "too many fragments", TooManyFragments(self._max_fragments))
            return
        try:
            partial.add(payload, fin)
        except UnicodeDecodeError as exc:
            position = partial.size - len(payload) + exc.start
            self._fail(INVALID_DATA, f"{exc.reason} at position {position}", exc)
            return
        if partial.complete:
            self._partial = None
        # A waiting recv_streaming wants every fragment; recv only complete messages.
        if self._waiter is not None and (partial.complete or self._streaming):
            self._wake(True)

    def _receive_payload(self, msg_type, payload, fin) -> None:
        """A data frame decoded by custom extensions: the bytes-level twin of on_ws_frame's data branches.

        Rare (only with custom extensions), so it is plain code: the message
        rules are on_ws_frame's, with the payload already in hand.
        """
        if msg_type is _CONT:
            if self._partial is None:
                self._fail_protocol("unexpected continuation frame")
                return
            current = self._partial.size
            if self._max_message >= 0 and current + len(payload) > self._max_message:
                self._too_big(len(payload), current)
                return
            self._add_payload(payload, fin)
            return
        if self._partial is not None:
            self._fail_protocol("expected a continuation frame")
            return
        if self._max_message >= 0 and len(payload) > self._max_message:
            self._too_big(len(payload), 0)
            return
        if fin:
            if msg_type is _TEXT:
                try:
                    payload = payload.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self._fail(INVALID_DATA, f"{exc.reason} at position {exc.start}", exc)
                    return
            if self._append is None:
                self._new_queue()
            self._append(payload)
            self._message_ready()
            return
        self._partial = _Fragments(msg_type is _TEXT)
        self._add_payload(payload, fin)
        if self._partial is not None and not self._partial.streamed:
            if self._append is None:
                self._new_queue()
            self._append(self._partial)
            self._message_ready()

    def _on_extension_frame(self, frame):
        """A frame with reserved bits set (no custom extension): fail as websockets (1002). True: handled.

        ``Connection`` overrides it to run negotiated custom extensions.
        """
        self._fail_protocol(RESERVED_BITS)
        return True

    def _fail_protocol(self, reason: str) -> None:
        """Fail with 1002 and ``reason``; ConnectionClosedError's cause is a ProtocolError, as websockets."""
        self._fail(PROTOCOL_ERROR, reason, ProtocolError(reason))

    def _new_queue(self) -> None:
        self._messages = deque()
        # Bound once: a method looked up on every message costs more than the call.
        self._append = self._messages.append
        self._popleft = self._messages.popleft

    def _message_ready(self) -> None:
        if self._waiter is not None:
            self._wake(True)
        if self._high > 0 and not self._reading_paused and len(self._messages) >= self._high:
            self._reading_paused = True
            self._transport.underlying_transport.pause_reading()

    def _message_taken(self) -> None:
        if self._reading_paused and len(self._messages) <= self._low:
            self._reading_paused = False
            if self._state != CLOSED:
                self._transport.underlying_transport.resume_reading()

    def _too_big(self, size: int, current: int) -> None:
        # As websockets: the limit left for this frame, then the bytes read before it added back.
        exc = PayloadTooBig(size, self._max_message - current, current if current else None)
        self._fail(MESSAGE_TOO_BIG, str(exc), exc)

    def _wake_receiver(self) -> None:
        """Called by the connection when it closes: a waiting recv raises ConnectionClosed.

        In a later loop iteration: the connection finishes its own bookkeeping first.
        """
        self._wake(False)

    def _wake(self, now: bool) -> None:
        """Wake the waiting recv: a message arrived (``now``), or the connection closed."""
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None  # one wake-up per waiter (a cancelled one ignores it)
            waiter.wake(now)

    async def recv(self, decode=None):
        """Receive the next message: ``str`` for text, ``bytes`` for binary.

        :param decode: True returns text and binary messages as ``str``
            (binary is decoded as UTF-8); False returns both as ``bytes``;
            None (default) keeps the frame type.
        :raises ConnectionClosed: when the connection is closed (OK or Error).
        :raises ConcurrencyError: when another coroutine is already receiving.
        """
        if self._recv_active:
            raise ConcurrencyError(_RECV_BUSY)
        while True:
            message = self._take_message(decode)
            if message is not _NOTHING:
                return message
            try:
                await self._start_waiting()  # awaited here: one coroutine per recv, not two
            finally:
                self._stop_waiting()

    def _take_message(self, decode):
        """The next complete message, taken off the queue; _NOTHING when there is none yet.

        :raises ConnectionClosed: when there is none and the connection is closed.
        """
        messages = self._messages  # re-read: the queue is created by the first message
        if messages:
            message = messages[0]
            if type(message) is not _Fragments:
                self._popleft()  # messages is non-empty: the queue exists
                if self._reading_paused:
                    self._message_taken()
                return message if decode is None else self._convert(message, decode)
            if message.complete:
                self._popleft()
                if self._reading_paused:
                    self._message_taken()
                message = message.join()
                return message if decode is None else self._convert(message, decode)
        if self._state == CLOSED:
            raise self._closed_error()
        return _NOTHING

    def __aiter__(self):
        """Yield messages until the connection closes (normally: the loop ends).

        :raises ConnectionClosedError: after a protocol error or a network failure.
        """
        if type(self).recv is _RECV:
            return _MessageIterator(self)
        return self._iterate_recv()  # a subclass overrides recv: iterate through it

    async def _iterate_recv(self):
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def _next_message(self, iterator):
        """One step of ``async for``: ``await self.recv()``, or the end on a normal close.

        recv's body (not a call to it): one coroutine per message, not two.
        """
        if iterator.finished:
            raise StopAsyncIteration
        try:
            if self._recv_active:
                raise ConcurrencyError(_RECV_BUSY)
            while True:
                message = self._take_message(None)
                if message is not _NOTHING:
                    return message
                try:
                    await self._start_waiting()
                finally:
                    self._stop_waiting()
        except ConnectionClosedOK:
            iterator.finished = True
            raise StopAsyncIteration from None
        except BaseException:
            iterator.finished = True  # as an async generator: an error ends the iteration
            raise

    async def _wait_message(self) -> None:
        try:
            await self._start_waiting()
        finally:
            self._stop_waiting()

    def _start_waiting(self):
        """Mark the receiver waiting; return what it awaits (not a coroutine: recv stays one)."""
        self._recv_active = True
        waiter = self._spare_waiter
        if waiter is None or not waiter._rearm():
            waiter = _Wakeup(self._loop)
            self._spare_waiter = waiter
        self._waiter = waiter
        return waiter

    def _stop_waiting(self) -> None:
        self._waiter = None
        self._recv_active = False

    def _convert(self, message, decode: bool):
        """recv(decode=...) for a message of the other type (rare: not on the fast path)."""
        if decode:
            if isinstance(message, bytes):
                try:
                    return message.decode("utf-8")
                except UnicodeDecodeError as exc:
                    # As websockets: invalid UTF-8 fails the connection (1007).
                    reason = f"{exc.reason} at position {exc.start}"
                    self._fail(INVALID_DATA, reason, exc, by_application=True)
                    raise self._closed_error() from exc
            return message
        if isinstance(message, str):
            return message.encode("utf-8")
        return message

    # -- sending --------------------------------------------------------------------

    async def send(self, message, text=None):
        """Send a message: ``str`` as text, bytes-like as binary, iterables as fragments.

        :param text: True sends bytes-like data in a text frame (it must be
            UTF-8), False sends a ``str`` in a binary frame.
        :raises ConnectionClosed: when the connection is closed.
        :raises TypeError: for an unsupported message type.
        """
        if self._state != OPEN or self._fragmenting:
            await self._before_send()
        if self._extensions is not None:
            await self._send_through_extensions(message, text)
            return
        if isinstance(message, str):
            self._transport.send(_BINARY if text is False else _TEXT, message.encode("utf-8"))
        elif isinstance(message, (bytes, bytearray, memoryview)):
            self._transport.send(_TEXT if text else _BINARY, message)
        else:
            await self._send_fragments(message, text)
            return
        if self._write_paused:
            await self._drain()

    async def _drain(self) -> None:
        if self._drain_waiter is None:
            self._drain_waiter = self._loop.create_future()
        await self._drain_waiter

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _release_drain(self) -> None:
        """Called when the connection is lost: senders waiting for the buffer to drain go on."""
        self.resume_writing()


_RECV = MessageListener.recv  # __aiter__ iterates directly only when recv is this one
