"""The pure backend's masking strategies (strided translate and wide-int XOR on CPython, byte loop on PyPy).

Only some of them are selected on a given interpreter, so all are exercised
here directly, on every interpreter, against an independent reference.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.backends import pure_module

pure_frames = pure_module("frames")

IN_PLACE = {
    "translate": pure_frames._mask_in_place_translate,
    "byte_loop": pure_frames._mask_in_place_byte_loop,
}
EDGE_SIZES = [1, 2, 3, 4, 5, 7, 8, 125, 126, 127, 255, 256, 257, 1023, 1024, 1025, 4097, 65536, 100_003]


def reference(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def test_xor_tables() -> None:
    assert len(pure_frames._XOR_TABLES) == 256
    for k in (0, 1, 0x5A, 0xFF):
        assert pure_frames._XOR_TABLES[k] == bytes(b ^ k for b in range(256))


@pytest.mark.parametrize("impl", sorted(IN_PLACE))
@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=600),
    key=st.binary(min_size=4, max_size=4),
    before=st.integers(0, 9),
    after=st.integers(0, 9),
)
def test_in_place_strategies_touch_exactly_the_range(
    impl: str, data: bytes, key: bytes, before: int, after: int
) -> None:
    buf = bytearray(b"\xaa" * before + data + b"\x55" * after)
    exported = memoryview(buf)  # like the parser's buffer: must not need a resize
    IN_PLACE[impl](buf, before, before + len(data), key)
    assert buf == b"\xaa" * before + reference(data, key) + b"\x55" * after
    exported.release()


@pytest.mark.parametrize("impl", sorted(IN_PLACE))
@pytest.mark.parametrize("size", EDGE_SIZES)
def test_in_place_strategies_edge_sizes(impl: str, size: int) -> None:
    data, key = os.urandom(size), os.urandom(4)
    buf = bytearray(data)
    IN_PLACE[impl](buf, 0, size, key)
    assert buf == reference(data, key)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=1200), key=st.binary(min_size=4, max_size=4))
def test_wide_int_strategy(data: bytes, key: bytes) -> None:
    assert pure_frames._mask_wide_int(data, key) == reference(data, key)
    assert pure_frames._mask_wide_int(memoryview(b"xy" + data)[2:], key) == reference(data, key)


@pytest.mark.parametrize("size", [0, *EDGE_SIZES])
@pytest.mark.parametrize("byte_loop", [False, True])
def test_masked_frame_both_paths(monkeypatch: pytest.MonkeyPatch, size: int, byte_loop: bool) -> None:
    """Header + masked payload, whichever strategy the size and interpreter select."""
    monkeypatch.setattr(pure_frames, "_USE_BYTE_LOOP", byte_loop)
    monkeypatch.setattr(
        pure_frames,
        "_mask_in_place",
        pure_frames._mask_in_place_byte_loop if byte_loop else pure_frames._mask_in_place_translate,
    )
    data, key, header = os.urandom(size), os.urandom(4), b"\x82\x7e\x01\x02abcd"
    for payload in (data, bytearray(data), memoryview(data)):
        assert pure_frames._masked_frame(header, payload, key) == header + reference(data, key)
    assert data == bytes(payload)  # the caller's payload is never modified
    result = pure_frames.mask_payload(data, key)
    assert type(result) is bytes and result == reference(data, key)


def test_public_functions_validate_and_handle_empty() -> None:
    assert pure_frames.mask_payload(b"", b"abcd") == b""
    buf = bytearray(b"xyz")
    pure_frames.mask_in_place(buf, 1, 1, b"abcd")
    assert buf == b"xyz"
    for bad in (b"abc", b"abcde"):
        with pytest.raises(ValueError, match="4 bytes"):
            pure_frames.mask_payload(b"data", bad)
        with pytest.raises(ValueError, match="4 bytes"):
            pure_frames.mask_in_place(bytearray(b"data"), 0, 4, bad)
