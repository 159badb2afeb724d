"""WSListener and WSTransport (pure Python twin of ``picows/_cython/transport.pyx``)."""

from __future__ import annotations

import zlib
from threading import get_ident as _get_ident
from typing import TYPE_CHECKING, Any, Union

from .. import _transport_api
from .._rules import (
    FIRST_CONTROL_OPCODE,
    MAX_CONTROL_PAYLOAD_SIZE,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
)
from .._transport_api import wrong_thread as _wrong_thread
from .._types import PICOWS_DEBUG_LL, WSMsgType
from .frames import (
    WSFrame,
    check_control,
    check_external_control,
    encode_frame,
    frame_header,
    mask_in_place,
    opcode_of,
    random_mask_key,
)

if TYPE_CHECKING:
    import asyncio

    from .._deflate import DeflateAgreement, DeflateState
    from .._handshake import WSUpgradeRequest, WSUpgradeResponse
    from .._options import AnyLogger

__all__ = ["WSListener", "WSTransport"]

# broadcast_loop (the per-connection part of picows.broadcast) is at the end of this module.

Payload = Union[bytes, bytearray, memoryview, str, None]


def _payload_of(message: Any) -> bytes | bytearray | memoryview:
    t = type(message)
    if t is bytes or t is bytearray:
        return message  # type: ignore[no-any-return]
    if t is str:
        return message.encode("utf-8")  # type: ignore[no-any-return]
    if message is None:
        return b""
    if isinstance(message, str):
        return message.encode("utf-8")
    try:
        view = message if t is memoryview else memoryview(message)
    except TypeError:
        raise TypeError(f"message must be a bytes-like object, str or None, not {t.__name__}") from None
    if view.ndim != 1 or view.itemsize != 1 or not view.c_contiguous:
        try:
            view = view.cast("B")
        except TypeError:
            raise TypeError("message must be a contiguous buffer") from None
    return view


class WSListener:
    """Base class for the user's handler of one WebSocket connection.

    Subclass it and override the callbacks you need. All callbacks are plain
    (non-async) methods called on the event loop thread, always with the same
    :class:`WSTransport` for one connection.

    The constructor accepts and ignores any arguments (as the compiled class
    does), so a subclass without its own ``__init__`` can itself be the
    factory given to :func:`ws_create_server` (it is called with the request).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_ws_connected(self, transport: WSTransport) -> None:
        """The opening handshake has completed; sending is allowed from now on.

        If it raises, picows sends CLOSE(INTERNAL_ERROR) and disconnects; on the
        client :meth:`WSTransport.wait_disconnected` re-raises the exception.
        """

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """A data or control frame was received.

        ``frame`` is valid only during this call. Incoming CLOSE frames are
        delivered here too; picows answers them itself only with
        ``auto_close=True`` (else see the graceful-shutdown guide: echo CLOSE,
        then ``transport.disconnect()``). PING frames are answered automatically
        and not delivered while auto-pong is enabled.
        """

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """The connection is gone. Called once, and only if :meth:`on_ws_connected` was called."""

    def send_user_specific_ping(self, transport: WSTransport) -> None:
        """Send a ping for auto-ping and :meth:`WSTransport.measure_roundtrip_time`.

        The default sends a PING frame. Override it to use an application-level
        ping message instead, together with :meth:`is_user_specific_pong`.
        """
        transport.send_ping()

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        """Tell whether ``frame`` answers the outstanding ping.

        Called only while a pong is awaited. Returning True consumes the frame
        (it is not passed to :meth:`on_ws_frame`). The default recognises PONG frames.
        """
        return frame.msg_type == WSMsgType.PONG

    def pause_writing(self) -> None:
        """The transport's write buffer went over its high watermark.

        A backpressure hint: sends still work, but the peer is not keeping up.
        """

    def resume_writing(self) -> None:
        """The transport's write buffer drained below its low watermark."""


class WSTransport:
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

    __slots__ = (
        "underlying_transport",
        "is_client_side",
        "is_secure",
        "is_close_frame_sent",
        "is_disconnected",
        "request",
        "response",
        "_protocol",
        "_logger",
        "_log_debug",
        "_write",
        "_thread_id",
        "permessage_deflate",
        "_deflate",
        "_compressor",
        "_msg_compressor",
        "_mid_message",
        "_write_paused",
    )

    underlying_transport: asyncio.Transport
    is_client_side: bool
    is_secure: bool
    is_close_frame_sent: bool
    is_disconnected: bool
    permessage_deflate: DeflateAgreement | None
    # Set before the listener sees the transport (on_ws_connected); None only internally before that.
    request: WSUpgradeRequest
    response: WSUpgradeResponse

    def __init__(
        self,
        is_client_side: bool,
        is_secure: bool,
        underlying_transport: asyncio.Transport,
        logger: AnyLogger,
        protocol: Any,
    ) -> None:
        self.underlying_transport = underlying_transport
        self.is_client_side = is_client_side
        self.is_secure = is_secure
        self.is_close_frame_sent = False
        self.is_disconnected = False
        self.request = None  # type: ignore[assignment]
        self.response = None  # type: ignore[assignment]
        self._protocol = protocol
        self._logger = logger
        self._log_debug = logger.isEnabledFor(PICOWS_DEBUG_LL)
        self._write = underlying_transport.write
        # Transports are thread-affine: every method checks it runs on the loop's thread.
        self._thread_id = _get_ident()
        self.permessage_deflate = None
        self._deflate: DeflateState | None = None
        self._compressor: Any = None  # ours (created by the first message that needs one)
        self._msg_compressor: Any = None  # of the compressed message being sent in fragments
        self._mid_message = False  # a data message was begun with fin=False and not finished
        self._write_paused = False  # the underlying transport is over its high watermark

    def set_deflate(self, state: DeflateState) -> None:
        """permessage-deflate was agreed (called by picows before ``on_ws_connected``)."""
        self._deflate = state
        self.permessage_deflate = state.agreement

    # -- sending (per frame) ---------------------------------------------------

    def send(
        self,
        msg_type: WSMsgType,
        message: Payload,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
        compress: bool | None = None,
    ) -> None:
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
        if self._thread_id != _get_ident():
            _wrong_thread("send")
        if self.is_close_frame_sent:
            return
        opcode = opcode_of(msg_type)
        payload = _payload_of(message)
        if opcode >= FIRST_CONTROL_OPCODE:
            check_control(len(payload), fin)
            if opcode == OP_CLOSE:
                self.is_close_frame_sent = True
        else:
            self._mid_message = not fin
        if self.is_disconnected:
            return
        if self._deflate is not None and opcode < FIRST_CONTROL_OPCODE:
            payload, rsv1 = self._deflate_frame(opcode, payload, fin, rsv1, compress)
        if self._log_debug:
            self._log_send(opcode, fin, rsv1, len(payload))
        self._write(
            encode_frame(
                opcode, payload, fin, rsv1, random_mask_key() if self.is_client_side else None, rsv2, rsv3
            )
        )
        if opcode == OP_CLOSE:
            self._protocol._close_sent(bytes(payload))

    def _deflate_frame(
        self,
        opcode: int,
        payload: bytes | bytearray | memoryview,
        fin: bool,
        rsv1: bool,
        compress: bool | None,
    ) -> tuple[bytes | bytearray | memoryview, bool]:
        """The payload to send and its RSV1 bit for a data frame under permessage-deflate.

        RSV1 belongs to the extension then: it is set on the first frame of a
        message we compressed, and ``rsv1=True`` from the caller (e.g. an echo
        of a received frame's flags) counts as ``compress=True``.
        """
        state = self._deflate
        assert state is not None
        if opcode == OP_CONTINUATION:
            compressor = self._msg_compressor
            if compressor is None:  # the message is sent uncompressed
                return payload, False
        else:
            self._msg_compressor = None
            if compress is None:
                compress = rsv1 or len(payload) >= state.compress_threshold
            if not compress or not state.can_compress:
                return payload, False
            if fin and not state.keep_compressor:
                return state.compress_message(payload), True
            # One compressor per connection, created lazily (never one per message: on PyPy
            # zlib's memory is freed only when the GC gets to the object).
            compressor = self._compressor
            if compressor is None:
                compressor = self._compressor = state.new_compressor()
        # Without context takeover a message ends with a full flush: the next one cannot refer to it.
        flush = zlib.Z_FULL_FLUSH if fin and not state.keep_compressor else zlib.Z_SYNC_FLUSH
        try:
            data = compressor.compress(payload) + compressor.flush(flush)
        except BaseException:
            # Nothing was sent: the peer is still at the last flush point, a fresh compressor stays in step.
            self._compressor = self._msg_compressor = None
            raise
        first = opcode != OP_CONTINUATION
        if fin:
            self._msg_compressor = None
            return data[:-4], first
        self._msg_compressor = compressor
        return data, first

    def send_reuse_external_bytearray(
        self,
        msg_type: WSMsgType,
        buffer: bytearray,
        msg_offset: int,
        fin: bool = True,
        rsv1: bool = False,
        rsv2: bool = False,
        rsv3: bool = False,
    ) -> None:
        """Send ``buffer[msg_offset:]`` as one frame, writing the frame header in place.

        The header is written into the bytes just before ``msg_offset``, which
        must therefore be at least 14 (the largest header); on the client the
        payload is masked in place, so ``buffer`` is modified. Reuse one
        bytearray for many sends to avoid building a new payload object per frame.
        CLOSE frames cannot be sent this way (ValueError): use :meth:`send_close`.
        """
        if self._thread_id != _get_ident():
            _wrong_thread("send_reuse_external_bytearray")
        if self.is_close_frame_sent:
            return
        opcode = opcode_of(msg_type)
        if type(buffer) is not bytearray:
            raise TypeError(f"buffer must be a bytearray, got {type(buffer).__name__}")
        if isinstance(msg_offset, bool) or not isinstance(msg_offset, int):
            raise TypeError(f"msg_offset must be an int, got {type(msg_offset).__name__}")
        if msg_offset < 14 or msg_offset > len(buffer):
            raise ValueError(f"msg_offset must be in [14, len(buffer)], got {msg_offset}")
        n = len(buffer) - msg_offset
        if opcode >= FIRST_CONTROL_OPCODE:
            check_external_control(opcode, n, fin)
        else:
            self._mid_message = not fin
        if self.is_disconnected:
            return
        key = random_mask_key() if self.is_client_side else None
        header = frame_header(opcode, fin, rsv1, n, key, rsv2, rsv3)
        if key is not None:
            mask_in_place(buffer, msg_offset, len(buffer), key)
        mv = memoryview(buffer)
        start = msg_offset - len(header)
        mv[start:msg_offset] = header
        if self._log_debug:
            self._log_send(opcode, fin, rsv1, n)
        # asyncio (3.12+) and uvloop may keep a reference to unsent data, and
        # the caller reuses this buffer: hand them a snapshot.
        self._write(bytes(mv[start:]))

    def send_ping(self, message: Payload = None) -> None:
        """Send a PING frame (payload at most 125 bytes)."""
        if self._thread_id != _get_ident():
            _wrong_thread("send_ping")
        self._send_control(OP_PING, _payload_of(message))

    def send_pong(self, message: Payload = None) -> None:
        """Send a PONG frame (payload at most 125 bytes)."""
        if self._thread_id != _get_ident():
            _wrong_thread("send_pong")
        self._send_control(OP_PONG, _payload_of(message))

    def _send_control(self, opcode: int, payload: bytes | bytearray | memoryview) -> None:
        if len(payload) > MAX_CONTROL_PAYLOAD_SIZE:
            raise ValueError(f"message must be at most 125 bytes for a control frame, got {len(payload)}")
        if self.is_close_frame_sent or self.is_disconnected:
            return
        if self._log_debug:
            self._log_send(opcode, True, False, len(payload))
        key = random_mask_key() if self.is_client_side else None
        self._write(encode_frame(opcode, payload, True, False, key))

    def _log_send(self, opcode: int, fin: bool, rsv1: bool, size: int) -> None:
        self._logger.log(
            PICOWS_DEBUG_LL, "send %s fin=%s rsv1=%s payload_sz=%d", WSMsgType(opcode).name, fin, rsv1, size
        )

    # -- per connection: written once in picows._transport_api ---------------------

    close_handshake = _transport_api.close_handshake
    send_close = _transport_api.send_close
    disconnect = _transport_api.disconnect
    wait_disconnected = _transport_api.wait_disconnected
    measure_roundtrip_time = _transport_api.measure_roundtrip_time
    notify_user_specific_pong_received = _transport_api.notify_user_specific_pong_received



def broadcast_loop(
    transports: Any,
    opcode: WSMsgType,
    payload: bytes,
    plain_frame: bytes,
    compress: bool | None,
    skip_slow: bool,
    compressed_frame: Any,
    skipped: list[WSTransport],
) -> int:
    """Write one message to each transport (the per-connection half of ``picows.broadcast``).

    ``plain_frame`` is the unmasked frame of the message; ``compressed_frame(state)``
    the one of a permessage-deflate setting shared without context takeover
    (None: the connection compresses with its own context). Returns how many
    got it; open connections passed over go to ``skipped``.
    """
    is_data = opcode < FIRST_CONTROL_OPCODE
    sent = 0
    for transport in transports:
        if type(transport) is not WSTransport and not isinstance(transport, WSTransport):
            raise TypeError(f"transports must hold WSTransport objects, got {type(transport).__name__}")
        if transport.is_close_frame_sent or transport.is_disconnected:
            continue
        if (is_data and transport._mid_message) or (skip_slow and transport._write_paused):
            skipped.append(transport)
            continue
        if transport._thread_id != _get_ident():
            _wrong_thread("broadcast")
        if transport.is_client_side:
            transport.send(opcode, payload, compress=compress)  # masked with its own key
            sent += 1
            continue
        state = transport._deflate
        if is_data and state is not None:
            wanted = (len(payload) >= state.compress_threshold) if compress is None else compress
            if wanted and state.can_compress:
                frame = compressed_frame(state)
                if frame is None:
                    transport.send(opcode, payload, compress=True)
                else:
                    transport._write(frame)
                sent += 1
                continue
        if transport._log_debug:
            transport._log_send(opcode, True, False, len(payload))
        transport._write(plain_frame)
        sent += 1
    return sent
