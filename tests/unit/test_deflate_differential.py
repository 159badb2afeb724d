"""Differential tests of the permessage-deflate read path: both backends' parsers inflate alike.

Hypothesis builds streams of messages, compressed or not, fragmented at random
points of the compressed bytes, with control frames in between, with and
without context takeover, sometimes spoiled (RSV1 on a continuation or a
control frame, corrupt deflate data, a message over ``max_message_size``).
The stream is cut at random offsets and fed to a pure and a compiled
``FrameParser`` that agreed on the same :class:`DeflateState`; everything
observable must be identical, and for unspoiled streams the inflated messages
must be the originals.
"""

from __future__ import annotations

import os
import zlib
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from picows import DeflateAgreement, PerMessageDeflate
from support.backends import cython_module, pure_module
from support.frames import encode_frame
from support.internals import DeflateState, ProtocolViolation

EXAMPLES = int(os.environ.get("PICOWS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TEXT, BINARY, CONT, PING = 0x1, 0x2, 0x0, 0x9
pure_frames = pure_module("frames")


@pytest.fixture(scope="module")
def cy() -> ModuleType:
    return cython_module("frames")


def state(takeover: bool, max_message_size: int) -> Any:
    agreement = DeflateAgreement(not takeover, not takeover, 15, 15, "permessage-deflate")
    return DeflateState(agreement, False, PerMessageDeflate(max_message_size=max_message_size), 1 << 20)


words = st.sampled_from([b"price", b"qty", b'"BTC"', b" ", b"{", b"}", b"\xc3\xa9", b"0", b"42.5", b","])
payloads = st.lists(words, max_size=300).map(b"".join) | st.binary(max_size=200)


@st.composite
def traffic(draw: st.DrawFn, takeover: bool) -> tuple[list[bytes], list[bytes]]:
    """(wire frames from a client, the messages they carry)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    frames: list[bytes] = []
    messages: list[bytes] = []
    for _ in range(draw(st.integers(1, 4))):
        message = draw(payloads)
        compressed = draw(st.booleans())
        if compressed:
            if not takeover:
                compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
            data = (compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        else:
            data = message
        cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        opcode = draw(st.sampled_from([TEXT, BINARY]))
        for i, piece in enumerate(pieces):
            if i and draw(st.integers(0, 4)) == 0:
                frames.append(encode_frame(PING, b"ping", mask=b"\x01\x02\x03\x04"))
            frames.append(
                encode_frame(
                    opcode if i == 0 else CONT,
                    piece,
                    fin=i == len(pieces) - 1,
                    rsv1=compressed and i == 0,
                    mask=os.urandom(4),
                )
            )
        messages.append(message)
    return frames, messages


def spoil(draw: st.DrawFn, frames: list[bytes]) -> list[bytes]:
    kind = draw(st.sampled_from(["rsv1-continuation", "rsv1-control", "corrupt"]))
    mask = b"\x05\x06\x07\x08"
    if kind == "rsv1-continuation":
        bad = [encode_frame(TEXT, b"", fin=False, mask=mask), encode_frame(CONT, b"x", rsv1=True, mask=mask)]
    elif kind == "rsv1-control":
        bad = [encode_frame(PING, b"", rsv1=True, mask=mask)]
    else:
        bad = [encode_frame(BINARY, b"\xff\xff\xff\xff", rsv1=True, mask=mask)]
    at = draw(st.integers(0, len(frames)))
    return frames[:at] + bad + frames[at:]


def run(frames_module: ModuleType, deflate: Any, stream: bytes, cuts: list[int]) -> list[Any]:
    parser = frames_module.FrameParser(False, 1 << 20, False, True)
    parser.set_deflate(deflate)
    events: list[Any] = []
    pos = 0
    for cut in [*cuts, len(stream)]:
        parser.feed(stream[pos:cut])
        pos = cut
        while True:
            try:
                frame = parser.get_next_frame()
            except ProtocolViolation as exc:
                events.append(("error", int(exc.close_code), exc.msg))
                continue
            if frame is None:
                break
            events.append((int(frame.msg_type), frame.fin, frame.rsv1, frame.get_payload_as_bytes(),
                           bytes(frame.get_payload_as_memoryview()), frame.payload_size))
    return events


def messages_of(events: list[Any]) -> list[bytes]:
    out: list[bytes] = []
    current: bytes | None = None
    for e in events:
        if e[0] == "error" or e[0] == PING:
            continue
        current = e[3] if e[0] != CONT else (current or b"") + e[3]
        if e[1]:
            out.append(current)
            current = None
    return out


@FUZZ
@given(data=st.data(), takeover=st.booleans(), spoilt=st.booleans(), limit=st.sampled_from([1 << 20, 600]))
def test_inflating_is_identical_and_correct(
    cy: ModuleType, data: st.DataObject, takeover: bool, spoilt: bool, limit: int
) -> None:
    frames, messages = data.draw(traffic(takeover), label="traffic")
    if spoilt:
        frames = spoil(data.draw, frames)
    stream = b"".join(frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6), label="cuts"))
    pure_events = run(pure_frames, state(takeover, limit), stream, cuts)
    cy_events = run(cy, state(takeover, limit), stream, cuts)
    assert pure_events == cy_events
    errors = [e for e in pure_events if e[0] == "error"]
    assert len(errors) <= 1
    if errors:
        assert errors[0][1] in (1002, 1007, 1009)
        return
    assert not spoilt  # every spoiled stream fails
    # Every message arrives whole (validate_utf8 is on: a text message with invalid UTF-8 fails with 1007).
    assert messages_of(pure_events) == messages
    assert all(e[2] is False for e in pure_events)  # RSV1 is consumed by the extension


def test_bomb_fails_alike_at_the_same_frame(cy: ModuleType) -> None:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    chunks = [c.compress(bytes(1000)) + c.flush(zlib.Z_SYNC_FLUSH) for _ in range(5)]
    stream = b"".join(
        encode_frame(BINARY if i == 0 else CONT, chunk, fin=False, rsv1=i == 0, mask=b"abcd")
        for i, chunk in enumerate(chunks)
    )
    results = [run(module, state(True, 2500), stream, []) for module in (pure_frames, cy)]
    assert results[0] == results[1]
    assert [e[0] for e in results[0]] == [BINARY, CONT, "error"]
    assert results[0][-1][1] == 1009
