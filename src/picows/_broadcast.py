"""broadcast(): one message to many connections, framed once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from . import _backend
from ._rules import FIRST_CONTROL_OPCODE, OP_CLOSE, OP_CONTINUATION
from ._types import WSMsgType

if TYPE_CHECKING:
    from ._pure.transport import Payload, WSTransport

__all__ = ["BroadcastResult", "broadcast"]


class BroadcastResult(NamedTuple):
    """What :func:`broadcast` did."""

    #: Connections the message was written to.
    sent: int
    #: Open connections that did not get it: writing paused (over the high
    #: watermark, with ``skip_slow``) or in the middle of a fragmented message.
    skipped: list[WSTransport]


def _payload(message: Any) -> bytes:
    if isinstance(message, str):
        return message.encode("utf-8")
    if message is None:
        return b""
    try:
        return bytes(memoryview(message))
    except TypeError:
        raise TypeError(
            f"message must be a bytes-like object, str or None, not {type(message).__name__}"
        ) from None


def broadcast(
    transports: Iterable[WSTransport],
    msg_type: WSMsgType,
    message: Payload,
    *,
    compress: bool | None = None,
    skip_slow: bool = True,
) -> BroadcastResult:
    """Send one whole message to many connections, building its frame once.

    A server's frames are not masked, so every server-side connection gets the
    very same bytes: the frame is built once and written to each connection's
    socket. Client-side connections (their frames are masked with a key of
    their own) each get a ``send``.

    With permessage-deflate, a message that ``compress`` (as for
    :meth:`WSTransport.send`; None: each connection's threshold) says to
    compress is compressed once for all connections that use no context
    takeover on our side (``server_no_context_takeover`` on a server) and
    have the same compression settings; connections with context takeover
    compress it with their own compressor. Connections without the extension
    get the plain frame.

    Policy:

    * connections that are closing or gone (CLOSE sent, disconnected) are
      left out silently;
    * a connection in the middle of a fragmented message (its last data
      frame had ``fin=False``) is skipped: a new message there would break
      the one in progress;
    * with ``skip_slow=True`` (default) a connection whose write buffer is
      over its high watermark (``pause_writing`` was called and
      ``resume_writing`` not yet) is skipped rather than buffering more for a
      peer that is not reading; ``skip_slow=False`` writes to it anyway.

    Skipped connections are listed in the result, so the caller can resend or
    drop them.

    :param transports: the connections (any iterable of :class:`WSTransport`).
    :param msg_type: TEXT, BINARY, PING or PONG (CLOSE and CONTINUATION: ValueError).
    :param message: bytes-like, ``str`` (UTF-8) or None.
    :param compress: None, True or False, as for :meth:`WSTransport.send`.
    :param skip_slow: skip connections whose writing is paused.
    :returns: :class:`BroadcastResult` ``(sent, skipped)``.
    """
    try:
        opcode = WSMsgType(msg_type)
    except ValueError:
        raise ValueError(f"msg_type must be a WSMsgType, got {msg_type!r}") from None
    if opcode == OP_CLOSE or opcode == OP_CONTINUATION:
        raise ValueError(f"broadcast() sends whole messages and pings, not {opcode.name}")
    payload = _payload(message)
    is_data = opcode < FIRST_CONTROL_OPCODE
    if not is_data and len(payload) > 125:
        raise ValueError(f"control frame payload must be <= 125 bytes, got {len(payload)}")
    impl = _backend.impl
    build_frame = impl.build_frame
    compressed_frames: dict[Any, bytes | None] = {}

    def compressed_frame(state: Any) -> bytes | None:
        """The frame shared by connections with ``state``'s settings; None: it must use its own compressor."""
        key = state.shared_key
        if key is None:
            return None
        frame = compressed_frames.get(key)
        if frame is None:
            deflated = state.compress_message(payload)
            frame = compressed_frames[key] = build_frame(opcode, deflated, True, True, None)
        return frame

    skipped: list[WSTransport] = []
    sent = impl.broadcast_loop(
        transports,
        opcode,
        payload,
        build_frame(opcode, payload, True, False, None),
        compress,
        skip_slow,
        compressed_frame,
        skipped,
    )
    return BroadcastResult(sent, skipped)
