"""picows: a latency-first asyncio WebSocket (RFC 6455) client and server.

The data path is callback based: subclass :class:`WSListener`, receive
:class:`WSFrame` objects in ``on_ws_frame`` and send with :class:`WSTransport`.
Connect with :func:`ws_connect`, serve with :func:`ws_create_server`.

``picows.BACKEND`` tells which implementation of the hot path is in use:
``"cython"`` (compiled) or ``"pure"`` (pure Python; PyPy, no compiler, or
``PICOWS_PURE=1``).
"""

import typing as _typing

from ._backend import BACKEND, BACKEND_FALLBACK_REASON
from ._backend import impl as _impl
from ._broadcast import BroadcastResult, broadcast
from ._client import ws_connect
from ._deflate import DeflateAgreement, PerMessageDeflate
from ._errors import (
    WSError,
    WSHandshakeError,
    WSInvalidHeaderError,
    WSInvalidMessageError,
    WSInvalidStatusError,
    WSInvalidUpgradeError,
    WSInvalidURL,
    WSProtocolError,
)
from ._handshake import WSUpgradeRequest, WSUpgradeResponse, WSUpgradeResponseWithListener
from ._server import ws_create_server
from ._types import PICOWS_DEBUG_LL, WSAutoPingStrategy, WSCloseCode, WSCloseHandshake, WSCloseInfo, WSMsgType
from ._url import WSParsedURL

if _typing.TYPE_CHECKING:
    # Both backends have the same surface; type checkers see the pure-Python one.
    from ._pure.frames import WSFrame
    from ._pure.transport import WSListener, WSTransport
else:
    WSFrame = _impl.WSFrame
    WSListener = _impl.WSListener
    WSTransport = _impl.WSTransport

__version__ = "0.1.0"

__all__ = [
    "BACKEND",
    "BACKEND_FALLBACK_REASON",
    "BroadcastResult",
    "DeflateAgreement",
    "PICOWS_DEBUG_LL",
    "PerMessageDeflate",
    "WSAutoPingStrategy",
    "WSCloseCode",
    "WSCloseHandshake",
    "WSCloseInfo",
    "WSError",
    "WSFrame",
    "WSHandshakeError",
    "WSInvalidHeaderError",
    "WSInvalidMessageError",
    "WSInvalidStatusError",
    "WSInvalidURL",
    "WSInvalidUpgradeError",
    "WSListener",
    "WSMsgType",
    "WSParsedURL",
    "WSProtocolError",
    "WSTransport",
    "WSUpgradeRequest",
    "WSUpgradeResponse",
    "WSUpgradeResponseWithListener",
    "__version__",
    "broadcast",
    "ws_connect",
    "ws_create_server",
]
