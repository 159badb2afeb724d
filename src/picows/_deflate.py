"""permessage-deflate (RFC 7692): the options, the agreement, and the per-connection state.

Written once for both backends. What runs per frame (feeding zlib, the RSV1
rules of the parser, choosing per send whether to compress) is in each
backend's ``frames`` / ``transport``; they call zlib's objects themselves and
come here only to create a compressor or a decompressor (once per connection
with context takeover, once per message without) and for whole-message
compression without context takeover, where one compressor serves every
connection of the process (see :func:`compress_message`).

Memory. zlib's deflate state takes about ``2**(wbits + 2) + 2**(mem_level + 9)``
bytes (256 KiB at 15/8, 32 KiB at 12/5) and an inflate state about
``2**wbits + 7 KiB``. Both are created lazily, on the first compressed
message in their direction, and at most one of each per connection (never
one per message: on PyPy zlib's memory is freed only when the GC collects
the object, so per-message objects pile up). Without context takeover on
our side, whole messages go through the shared compressor and the
connection holds none; the decompressor is kept across messages even when
the peer resets its context, since a fresh deflate stream never refers to
the old window.
"""

from __future__ import annotations

import zlib
from typing import Any, Union

from ._limits import MAX_FRAME_SIZE_LIMIT

__all__ = [
    "DEFLATE_TAIL",
    "DeflateAgreement",
    "DeflateState",
    "PerMessageDeflate",
    "PerMessageDeflateOption",
    "compress_message",
    "resolve_option",
]

#: The empty stored block that ends every flushed deflate stream: removed from the
#: end of a compressed message by the sender, appended again by the receiver.
DEFLATE_TAIL = b"\x00\x00\xff\xff"

#: Smallest window zlib's deflate can produce (it turns 8 into 9, which a peer
#: that asked for 8 could not inflate).
MIN_ZLIB_WBITS = 9
MAX_WBITS = 15
#: A server's default window, for its compressor and, when the client lets it choose, the client's:
#: 8 times less memory per connection than 15 bits for a few percent of ratio on typical messages.
SERVER_DEFAULT_WBITS = 12


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _check_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


class PerMessageDeflate:
    """Options of the permessage-deflate extension (RFC 7692) for ws_connect / ws_create_server.

    Pass ``permessage_deflate=PerMessageDeflate(...)`` (or ``True`` for the
    defaults). The four RFC parameters mean, by role:

    * on the client they make up the offer: ``server_no_context_takeover`` and
      ``client_no_context_takeover`` are offered when True,
      ``server_max_window_bits`` (9-15) asks the server for a smaller window
      (None: not offered), ``client_max_window_bits`` is offered bare when
      None or True (the server may then pick our window; what browsers
      offer), with a value when an int (9-15), not at all when False. A
      window of 8 bits is never offered: zlib cannot produce it;
    * on the server they are our preferences when accepting an offer:
      ``server_no_context_takeover=True`` and ``client_no_context_takeover=True``
      are always put in the answer, ``server_max_window_bits`` caps our
      window (None: 12 bits), ``client_max_window_bits`` caps the client's
      window when the client offered that parameter (None: 12 bits; True or
      False: no cap). Parameters the client offered are answered as RFC 7692
      says (reflected, or lowered to our cap); an offer asking for an 8-bit
      server window is declined (the next offer in the header is considered),
      and so is, with ``require_client_max_window_bits=True``, an offer
      without ``client_max_window_bits`` (a client that cannot limit its
      window: no compression rather than a 15-bit window to inflate).

    The server's defaults (12-bit windows, ``mem_level=5``) are those of the
    websockets library: about 40 KiB of zlib state per connection that has
    exchanged compressed messages both ways, instead of about 300 KiB at 15
    bits and memLevel 8.

    The rest tunes our side:

    :param compress_level: zlib level 0-9 (default 1: the fastest; higher
        levels cost much CPU for a few percent).
    :param mem_level: zlib memLevel 1-9 (default 5; memory of the compressor, see the guide).
    :param compress_threshold: ``send(..., compress=None)`` compresses a message
        whose (first) frame has at least this many bytes; smaller ones go uncompressed.
    :param max_message_size: largest inflated size of one received compressed
        message; a bigger one closes the connection with MESSAGE_TOO_BIG before
        it is inflated further. None: the connection's ``max_frame_size``.
    :param require_client_max_window_bits: server only: decline offers without
        ``client_max_window_bits`` (see above).
    """

    __slots__ = (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "compress_level",
        "mem_level",
        "compress_threshold",
        "max_message_size",
        "require_client_max_window_bits",
    )

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | bool | None = None,
        compress_level: int = 1,
        mem_level: int = 5,
        compress_threshold: int = 128,
        max_message_size: int | None = None,
        require_client_max_window_bits: bool = False,
    ) -> None:
        self.server_no_context_takeover = _check_bool(
            "server_no_context_takeover", server_no_context_takeover
        )
        self.client_no_context_takeover = _check_bool(
            "client_no_context_takeover", client_no_context_takeover
        )
        if server_max_window_bits is not None:
            _check_int("server_max_window_bits", server_max_window_bits, MIN_ZLIB_WBITS, MAX_WBITS)
        self.server_max_window_bits = server_max_window_bits
        if not isinstance(client_max_window_bits, bool) and client_max_window_bits is not None:
            _check_int("client_max_window_bits", client_max_window_bits, MIN_ZLIB_WBITS, MAX_WBITS)
        self.client_max_window_bits: int | bool | None = client_max_window_bits
        self.compress_level = _check_int("compress_level", compress_level, 0, 9)
        self.mem_level = _check_int("mem_level", mem_level, 1, 9)
        self.compress_threshold = _check_int(
            "compress_threshold", compress_threshold, 0, MAX_FRAME_SIZE_LIMIT
        )
        if max_message_size is not None:
            _check_int("max_message_size", max_message_size, 0, MAX_FRAME_SIZE_LIMIT)
        self.max_message_size = max_message_size
        self.require_client_max_window_bits = _check_bool(
            "require_client_max_window_bits", require_client_max_window_bits
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"PerMessageDeflate({fields})"


#: What ``permessage_deflate=`` accepts.
PerMessageDeflateOption = Union[PerMessageDeflate, bool, None]


def resolve_option(value: Any) -> PerMessageDeflate | None:
    """``permessage_deflate=`` as options, or None when the extension is off."""
    if value is None or value is False:
        return None
    if value is True:
        return PerMessageDeflate()
    if isinstance(value, PerMessageDeflate):
        return value
    raise TypeError(
        f"permessage_deflate must be None, a bool or a PerMessageDeflate, got {type(value).__name__}"
    )


class DeflateAgreement:
    """The permessage-deflate parameters both ends agreed on (``WSTransport.permessage_deflate``).

    ``server_max_window_bits`` and ``client_max_window_bits`` are the windows
    in force (15 when the answer did not limit them), the two flags whether
    that side resets its compressor after every message. ``header`` is the
    ``Sec-WebSocket-Extensions`` value of the server's answer.
    """

    __slots__ = (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
        "header",
    )

    def __init__(
        self,
        server_no_context_takeover: bool,
        client_no_context_takeover: bool,
        server_max_window_bits: int,
        client_max_window_bits: int,
        header: str,
    ) -> None:
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.header = header

    def __repr__(self) -> str:
        return f"DeflateAgreement({self.header!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeflateAgreement):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


# One compressor per (window, level, memLevel) for whole messages without context
# takeover, shared by every connection of the process: a Z_FULL_FLUSH after each
# message resets it, so no message refers to another (and no connection holds a
# 32-256 KiB deflate state for it). Only whole messages use it: a fragmented one
# gets its own compressor, because other messages may be interleaved between its frames.
_shared_compressors: dict[tuple[int, int, int], Any] = {}


def compress_message(payload: Any, wbits: int, level: int, mem_level: int) -> bytes:
    """One whole message compressed without context takeover (the tail already removed)."""
    key = (wbits, level, mem_level)
    compressor = _shared_compressors.get(key)
    if compressor is None:
        compressor = _shared_compressors[key] = zlib.compressobj(level, zlib.DEFLATED, -wbits, mem_level)
    try:
        data = compressor.compress(payload) + compressor.flush(zlib.Z_FULL_FLUSH)
    except BaseException:
        # Its state is unknown now: never reuse it.
        del _shared_compressors[key]
        raise
    return data[:-4]


class DeflateState:
    """One connection's side of an agreement: windows, takeover flags, limits.

    The backends keep the live zlib objects themselves (in C attributes on the
    compiled one) and ask this object for new ones.
    """

    __slots__ = (
        "agreement",
        "compress_wbits",
        "inflate_wbits",
        "keep_compressor",
        "can_compress",
        "compress_level",
        "mem_level",
        "compress_threshold",
        "max_message_size",
        "require_client_max_window_bits",
    )

    def __init__(
        self,
        agreement: DeflateAgreement,
        is_client_side: bool,
        options: PerMessageDeflate,
        max_frame_size: int,
    ) -> None:
        self.agreement = agreement
        if is_client_side:
            own_bits, peer_bits = agreement.client_max_window_bits, agreement.server_max_window_bits
            own_reset = agreement.client_no_context_takeover
        else:
            own_bits, peer_bits = agreement.server_max_window_bits, agreement.client_max_window_bits
            own_reset = agreement.server_no_context_takeover
        #: Window of our compressor; below 9 zlib cannot honour it, and we never compress.
        self.can_compress = own_bits >= MIN_ZLIB_WBITS
        self.compress_wbits = max(own_bits, MIN_ZLIB_WBITS)
        # A larger inflate window decodes a smaller deflate window's output.
        self.inflate_wbits = max(peer_bits, MIN_ZLIB_WBITS)
        self.keep_compressor = not own_reset
        self.compress_level = options.compress_level
        self.mem_level = options.mem_level
        self.compress_threshold = options.compress_threshold
        limit = options.max_message_size
        self.max_message_size = max_frame_size if limit is None else limit

    def new_compressor(self) -> Any:
        """The connection's compressor for our direction (created on its first compressed message)."""
        return zlib.compressobj(self.compress_level, zlib.DEFLATED, -self.compress_wbits, self.mem_level)

    def new_decompressor(self) -> Any:
        """A decompressor for the peer's direction."""
        return zlib.decompressobj(-self.inflate_wbits)

    def compress_message(self, payload: Any) -> bytes:
        """A whole message, without context takeover, through the process-wide compressor."""
        return compress_message(payload, self.compress_wbits, self.compress_level, self.mem_level)

    @property
    def shared_key(self) -> tuple[int, int, int] | None:
        """Equal keys give identical bytes for the same message (broadcast); None: an own context."""
        if self.keep_compressor or not self.can_compress:
            return None
        return (self.compress_wbits, self.compress_level, self.mem_level)
