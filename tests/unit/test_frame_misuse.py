"""Misuse of the hot-path objects is refused with the same message on both backends (no sockets)."""

from __future__ import annotations

import pytest

from support.backends import backend_module
from support.frames import encode_frame


def parsed_frame(frames: object, data: bytes) -> object:
    parser = frames.FrameParser(False, 1000)  # type: ignore[attr-defined]
    buf = parser.get_buffer(len(data))
    buf[: len(data)] = data
    parser.buffer_updated(len(data))
    frame = parser.get_next_frame()
    assert frame is not None
    return frame


@pytest.mark.parametrize("accessor", ["get_close_code", "get_close_message"])
def test_close_accessors_on_a_data_frame(backend: str, accessor: str) -> None:
    frames = backend_module(backend, "frames")
    frame = parsed_frame(frames, encode_frame(0x1, b"text", masked=True))
    with pytest.raises(ValueError) as info:
        getattr(frame, accessor)()
    assert str(info.value) == f"{accessor}() is only valid for CLOSE frames, not TEXT"


@pytest.mark.parametrize("max_frame_size", [-1, 2**62 + 1])
def test_parser_max_frame_size_bounds(backend: str, max_frame_size: int) -> None:
    frames = backend_module(backend, "frames")
    with pytest.raises((ValueError, OverflowError)) as info:
        frames.FrameParser(True, max_frame_size)
    if isinstance(info.value, ValueError):
        assert str(info.value) == "max_frame_size must be in [0, 2**62]"


@pytest.mark.parametrize("nbytes", [-1, 10**6])
def test_buffer_updated_beyond_the_buffer(backend: str, nbytes: int) -> None:
    frames = backend_module(backend, "frames")
    parser = frames.FrameParser(True, 1000)
    parser.get_buffer(16)
    with pytest.raises(ValueError) as info:
        parser.buffer_updated(nbytes)
    assert str(info.value) == f"buffer_updated: invalid byte count {nbytes}"


def test_frame_header_mask_key_length(backend: str) -> None:
    frames = backend_module(backend, "frames")
    with pytest.raises(ValueError) as info:
        frames.frame_header(0x1, True, False, 5, b"abc")
    assert str(info.value) == "mask_key must be 4 bytes"
