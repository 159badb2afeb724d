"""Pure-Python implementation of the picows hot path.

Used on PyPy, where no compiler is available, or with ``PICOWS_PURE=1``.
Its modules have compiled twins of the same names in ``picows._cython``.
"""

from .frames import FrameParser, WSFrame, build_frame, mask_payload
from .protocol import WSProtocol
from .transport import WSListener, WSTransport, broadcast_loop

__all__ = [
    "FrameParser",
    "WSFrame",
    "WSListener",
    "WSProtocol",
    "WSTransport",
    "broadcast_loop",
    "build_frame",
    "mask_payload",
]
