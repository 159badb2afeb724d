"""The suite's oracle, ``support.frames``, against the examples of RFC 6455 section 5.7.

Every frame test trusts this encoder/decoder; it must be right on its own,
independently of picows.
"""

from __future__ import annotations

import pytest

from support.frames import apply_mask, close_payload, decode_frame, encode_frame

MASK = bytes([0x37, 0xFA, 0x21, 0x3D])

# RFC 6455 section 5.7: (what, frame bytes)
RFC_EXAMPLES = [
    ("unmasked-text-hello", encode_frame(0x1, b"Hello"), bytes([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])),
    ("masked-text-hello", encode_frame(0x1, b"Hello", mask=MASK),
     bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])),
    ("fragment-1", encode_frame(0x1, b"Hel", fin=False), bytes([0x01, 0x03, 0x48, 0x65, 0x6C])),
    ("fragment-2", encode_frame(0x0, b"lo"), bytes([0x80, 0x02, 0x6C, 0x6F])),
    ("unmasked-ping", encode_frame(0x9, b"Hello"), bytes([0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])),
    ("masked-pong", encode_frame(0xA, b"Hello", mask=MASK),
     bytes([0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])),
    ("256-bytes-binary-head", encode_frame(0x2, bytes(256))[:4], bytes([0x82, 0x7E, 0x01, 0x00])),
    ("64-kib-binary-head", encode_frame(0x2, bytes(65536))[:10], bytes([0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])),
]  # fmt: skip


@pytest.mark.parametrize("ours, rfc", [c[1:] for c in RFC_EXAMPLES], ids=[c[0] for c in RFC_EXAMPLES])
def test_rfc_examples(ours: bytes, rfc: bytes) -> None:
    assert ours == rfc


@pytest.mark.parametrize(
    "n, form, head_size",
    [(0, None, 2), (125, None, 2), (126, None, 4), (65535, None, 4), (65536, None, 10),
     (5, "16", 4), (5, "64", 10), (70000, "16", 10), (5, "7", 2)],
)  # fmt: skip
def test_length_forms(n: int, form: str | None, head_size: int) -> None:
    data = encode_frame(0x2, bytes(n), length_form=form)
    assert len(data) == head_size + n
    decoded, rest = decode_frame(data)  # type: ignore[misc]
    assert (decoded.payload, decoded.wire_size, rest) == (bytes(n), head_size + n, b"")


def test_header_bits_and_hostile_lengths_round_trip() -> None:
    data = encode_frame(0xB, b"xyz", fin=False, rsv1=True, rsv2=True, rsv3=True, mask=MASK)
    f, rest = decode_frame(data + b"tail")  # type: ignore[misc]
    assert (f.opcode, f.fin, f.rsv1, f.rsv2, f.rsv3, f.masked, f.mask, f.payload) == (
        0xB, False, True, True, True, True, MASK, b"xyz",
    )  # fmt: skip
    assert rest == b"tail"
    lying = encode_frame(0x1, b"ab", length_override=5)
    assert lying == bytes([0x81, 0x05]) + b"ab"
    assert decode_frame(lying) is None  # incomplete: three more payload bytes announced
    with pytest.raises(ValueError):
        encode_frame(0x1, b"", length_form="32")


def test_masking_is_an_involution_at_every_length_and_offset() -> None:
    for n in range(0, 20):
        data = bytes(range(n))
        assert apply_mask(apply_mask(data, MASK), MASK) == data
        assert apply_mask(data, MASK) == bytes(b ^ MASK[i % 4] for i, b in enumerate(data))


def test_close_payload_and_decoded_close_code() -> None:
    f, _ = decode_frame(encode_frame(0x8, close_payload(1001, b"bye")))  # type: ignore[misc]
    assert (f.close_code, f.close_message) == (1001, b"bye")
    empty, _ = decode_frame(encode_frame(0x8))  # type: ignore[misc]
    assert empty.close_code is None
