"""``picows.picows``: the module path of the published picows package's compiled core.

Code written for the published picows imports from here
(``from picows.picows import WSListener, WSCloseHandshake, ...``) and Cython
code cimports from here (``picows/picows.pxd``). Everything is re-exported
from :mod:`picows`, with the backend picows selected.
"""

from . import (
    PICOWS_DEBUG_LL,
    WSAutoPingStrategy,
    WSCloseCode,
    WSCloseHandshake,
    WSCloseInfo,
    WSError,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)

__all__ = [
    "PICOWS_DEBUG_LL",
    "WSAutoPingStrategy",
    "WSCloseCode",
    "WSCloseHandshake",
    "WSCloseInfo",
    "WSError",
    "WSFrame",
    "WSListener",
    "WSMsgType",
    "WSTransport",
    "WSUpgradeRequest",
    "WSUpgradeResponse",
    "WSUpgradeResponseWithListener",
]
