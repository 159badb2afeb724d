"""The pure backend's two masking strategies (wide-integer XOR for CPython, byte loop for PyPy).

Only one of them is selected at import time, so both are exercised here
directly, on every interpreter, against an independent reference.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from picows._pure import frames as pure_frames

IMPLS = {
    "wide_int": (pure_frames._mask_wide_int, pure_frames._mask_in_place_wide_int),
    "byte_loop": (pure_frames._mask_byte_loop, pure_frames._mask_in_place_byte_loop),
}
EDGE_SIZES = [1, 2, 3, 4, 5, 7, 8, 125, 126, 127, 255, 256, 257, 4095, 4096, 4097, 65535, 65536, 100_003]


def reference(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("impl", sorted(IMPLS))
@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=600),
    key=st.binary(min_size=4, max_size=4),
    before=st.integers(0, 9),
    after=st.integers(0, 9),
)
def test_strategies_match_reference(impl: str, data: bytes, key: bytes, before: int, after: int) -> None:
    copying, in_place = IMPLS[impl]
    expected = reference(data, key)
    assert copying(data, key) == expected
    assert copying(memoryview(bytes(before) + data)[before:], key) == expected
    buf = bytearray(b"\xaa" * before + data + b"\x55" * after)
    in_place(buf, before, before + len(data), key)
    assert buf == b"\xaa" * before + expected + b"\x55" * after  # nothing outside the range touched


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("size", EDGE_SIZES)
def test_strategies_edge_sizes(impl: str, size: int) -> None:
    copying, in_place = IMPLS[impl]
    data, key = os.urandom(size), os.urandom(4)
    expected = reference(data, key)
    result = copying(data, key)
    assert type(result) is bytes and result == expected
    buf = bytearray(data)
    in_place(buf, 0, size, key)
    assert buf == expected


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


def test_keystream_cache_stays_within_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pure_frames, "_KEYSTREAM_CACHE", {})
    monkeypatch.setattr(pure_frames, "_keystream_cache_size", 0)
    monkeypatch.setattr(pure_frames, "_KEYSTREAM_CACHE_BUDGET", 16_000)
    monkeypatch.setattr(pure_frames, "_KEYSTREAM_CACHE_MAX_WORDS", 500)
    for words in range(1, 400):
        parts = pure_frames._keystream_parts(words)
        assert parts is not None
        rep = sum(1 << (32 * i) for i in range(words))
        assert parts[0] == rep
        assert parts[1] == tuple(rep * (top << 30) for top in range(4))
        assert 16 * sum(pure_frames._KEYSTREAM_CACHE) == pure_frames._keystream_cache_size <= 16_000
    assert pure_frames._keystream_parts(501) is None  # too large: not cached, masked without it
    assert 501 not in pure_frames._KEYSTREAM_CACHE
    data, key = os.urandom(2003), os.urandom(4)
    assert pure_frames._mask_wide_int(data, key) == reference(data, key)
