"""Compiled (Cython) implementation of the picows hot path.

Importing this package raises ImportError when the extension modules were
not built (PyPy, no compiler, ``PICOWS_NO_EXTENSIONS=1``); ``picows._backend``
then falls back to :mod:`picows._pure`.
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
