# Type stubs for the compiled module: its Python-visible surface is, by
# contract (tests/test_parity.py), the same as the pure-Python twin's.
from picows._pure.frames import FrameParser as FrameParser
from picows._pure.frames import WSFrame as WSFrame
from picows._pure.frames import build_frame as build_frame
from picows._pure.frames import frame_header as frame_header
from picows._pure.frames import mask_payload as mask_payload

__all__ = ["FrameParser", "WSFrame", "build_frame", "frame_header", "mask_payload"]
