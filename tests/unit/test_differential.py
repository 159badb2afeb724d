"""Differential tests: the pure and the compiled frame parser/builder must agree byte for byte.

Hypothesis generates byte streams, both well-formed traffic (every opcode,
every length encoding, masking per role, fragmented messages with control
frames in between, CLOSE frames) and hostile input (random bytes, rsv2/rsv3,
unknown opcodes, oversized or fragmented control frames, bad close codes and
reasons, wrong mask bit for the role, absurd 64-bit lengths, frames over
``max_frame_size``, truncated streams). Each stream is cut at random offsets
and fed to a pure and a compiled ``FrameParser`` configured alike; after
every chunk both are drained and every observable (frames, their accessors,
errors, buffer state) must be identical. Well-formed streams are also checked
against an independent reference (what was generated), and so is the frame
builder (``build_frame``/``frame_header``/``mask_payload``).

``PICOWS_FUZZ_EXAMPLES`` sets the number of examples per property (default 300).
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from picows import WSCloseCode
from support.backends import cython_module, pure_module
from support.frames import apply_mask, encode_frame
from support.internals import DEFAULT_MAX_FRAME_SIZE, ConnectionOptions, ProtocolViolation, limits

EXAMPLES = int(os.environ.get("PICOWS_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # no wall-clock limits: the machine is shared
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
SMALL_MAX = 1000
MAX_FRAME_SIZES = [0, 125, SMALL_MAX, DEFAULT_MAX_FRAME_SIZE]

OPCODES = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA]
DATA_OPCODES = [0x1, 0x2]
VALID_CLOSE_CODES = [*range(1000, 1004), *range(1007, 1015), 3000, 3999, 4000, 4999]
INVALID_CLOSE_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]
LENGTHS = [0, 1, 2, 125, 126, 127, 65535, 65536, 70000]

pure_frames = pure_module("frames")
INITIAL_BUFFER_SIZE = limits.INITIAL_BUFFER_SIZE
MIN_FREE_SPACE = limits.MIN_FREE_SPACE


@pytest.fixture(scope="module")
def cy() -> ModuleType:
    return cython_module("frames")


# -- frames on the wire (encoded by the independent codec in support.frames) ----------------------


@dataclass
class Spec:
    """One frame on the wire; ``length`` overrides the real payload length, ``encoding`` forces a length form."""

    opcode: int
    payload: bytes = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    mask: bytes | None = None
    length: int | None = None
    encoding: str = "min"  # "min", "16" or "64"

    def encode(self) -> bytes:
        return encode_frame(
            self.opcode, self.payload, fin=self.fin, rsv1=self.rsv1, rsv2=self.rsv2, rsv3=self.rsv3,
            mask=self.mask, length_override=self.length, length_form=None if self.encoding == "min" else self.encoding,
        )  # fmt: skip


def pattern(n: int, seed: int) -> bytes:
    """Deterministic ``n``-byte payload (cheap for large sizes)."""
    block = bytes((seed + i * 7) & 0xFF for i in range(256))
    return (block * (n // 256 + 1))[:n]


# -- strategies ------------------------------------------------------------------------------------

small_payloads = st.binary(max_size=160)
control_payloads = st.binary(max_size=125)
big_payloads = st.builds(pattern, st.sampled_from(LENGTHS), st.integers(0, 255))
data_payloads = st.one_of(small_payloads, big_payloads)
mask_keys = st.binary(min_size=4, max_size=4)
encodings = st.sampled_from(["min", "min", "min", "16", "64"])
close_reasons = st.text(max_size=30).map(lambda s: s.encode("utf-8"))  # <= 120 bytes


@st.composite
def valid_traffic(draw: st.DrawFn, is_client_side: bool) -> list[Spec]:
    """Well-formed frames as the peer of a parser on ``is_client_side`` would send them."""
    masked = not is_client_side  # clients mask, servers do not

    def mask() -> bytes | None:
        return draw(mask_keys) if masked else None

    def control() -> Spec:
        return Spec(draw(st.sampled_from([0x9, 0xA])), draw(control_payloads), mask=mask())

    specs: list[Spec] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["single", "fragmented", "control"]))
        if kind == "control":
            specs.append(control())
        elif kind == "single":
            specs.append(
                Spec(draw(st.sampled_from(DATA_OPCODES)), draw(data_payloads), rsv1=draw(st.booleans()),
                     rsv2=draw(st.booleans()), rsv3=draw(st.booleans()), mask=mask())
            )
        else:
            count = draw(st.integers(2, 4))
            for i in range(count):
                specs.append(
                    Spec(draw(st.sampled_from(DATA_OPCODES)) if i == 0 else 0x0, draw(data_payloads),
                         fin=i == count - 1, rsv1=draw(st.booleans()), rsv3=draw(st.booleans()), mask=mask())
                )
                if i < count - 1 and draw(st.booleans()):
                    specs.append(control())
    if draw(st.booleans()):
        if draw(st.booleans()):
            payload = b""
        else:
            code = draw(st.one_of(st.sampled_from(VALID_CLOSE_CODES), st.integers(3000, 4999)))
            payload = struct.pack("!H", code) + draw(close_reasons)
        specs.append(Spec(0x8, payload, mask=mask()))
    return specs


HOSTILE_LENGTHS = [
    0, 1, 125, 126, 127, 65535, 65536, SMALL_MAX, SMALL_MAX + 1, DEFAULT_MAX_FRAME_SIZE + 1,
    2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64 - 1,
]


@st.composite
def hostile_piece(draw: st.DrawFn, is_client_side: bool) -> bytes:
    kind = draw(st.sampled_from(["valid", "random_frame", "close", "bytes", "control"]))
    right_mask = draw(mask_keys) if not is_client_side else None
    if kind == "valid":
        return b"".join(s.encode() for s in draw(valid_traffic(is_client_side)))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "control":  # control frames broken in one way or another
        return Spec(
            draw(st.sampled_from([0x8, 0x9, 0xA])),
            draw(st.one_of(control_payloads, st.binary(min_size=126, max_size=200))),
            fin=draw(st.booleans()),
            mask=right_mask,
            encoding=draw(encodings),
        ).encode()
    if kind == "close":
        body = draw(
            st.one_of(
                st.binary(min_size=1, max_size=1),
                st.builds(lambda c, r: struct.pack("!H", c) + r,
                          st.one_of(st.sampled_from(INVALID_CLOSE_CODES + VALID_CLOSE_CODES),
                                    st.integers(0, 65535)),
                          st.one_of(close_reasons, st.binary(max_size=20),
                                    st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"ok\xf0\x9f\x98"]))),
            )
        )
        mask = right_mask if draw(st.booleans()) else draw(st.one_of(st.none(), mask_keys))
        return Spec(0x8, body, mask=mask).encode()
    # a frame with any header bits, any mask, maybe a lying length
    payload = draw(small_payloads)
    length = draw(st.one_of(st.none(), st.none(), st.sampled_from(HOSTILE_LENGTHS), st.integers(0, 2**64 - 1)))
    return Spec(
        draw(st.integers(0, 15)),
        payload,
        fin=draw(st.booleans()),
        rsv1=draw(st.booleans()),
        rsv2=draw(st.booleans()),
        rsv3=draw(st.booleans()),
        mask=draw(st.one_of(st.none(), mask_keys)),
        length=length,
        encoding=draw(encodings),
    ).encode()


configs = st.tuples(st.booleans(), st.booleans(), st.sampled_from(MAX_FRAME_SIZES), st.booleans())


def split_points(data: st.DataObject, n: int) -> list[int]:
    cuts = data.draw(st.lists(st.integers(0, n), max_size=24), label="cuts")
    return sorted(set(cuts) | {n})


# -- running a parser ----------------------------------------------------------------------------

Event = tuple[Any, ...]


def frame_event(frame: Any) -> Event:
    """Everything observable about one delivered frame (copied: the frame is reused)."""
    mt = frame.msg_type
    payload = frame.get_payload_as_bytes()
    view = frame.get_payload_as_memoryview()
    assert isinstance(view, memoryview) and view.readonly
    ev: list[Any] = [
        "frame", type(mt).__name__, int(mt), frame.fin, frame.rsv1, payload, bytes(view),
        frame.last_in_buffer, frame.tail_size, str(frame),
        type(frame.fin).__name__, type(frame.rsv1).__name__, type(frame.last_in_buffer).__name__,
        type(frame.tail_size).__name__,
    ]
    for accessor in ("get_payload_as_utf8_text", "get_payload_as_ascii_text", "get_close_code",
                     "get_close_message", "get_close_reason"):
        try:
            value = getattr(frame, accessor)()
        except Exception as exc:  # noqa: BLE001 - compared across backends
            ev.append((accessor, "raises", type(exc).__name__, str(exc)))
        else:
            ev.append((accessor, type(value).__name__, value if not isinstance(value, int) else int(value)))
    ev += [frame.rsv2, frame.rsv3, frame.payload_size, type(frame.rsv2).__name__, type(frame.payload_size).__name__]
    return tuple(ev)


def drain(parser: Any, fed: int, events: list[Event], bound: int) -> None:
    for _ in range(bound):
        try:
            frame = parser.get_next_frame()
        except ProtocolViolation as exc:
            events.append(("error", fed, type(exc.close_code).__name__, int(exc.close_code), exc.msg, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - an unexpected exception is recorded and fails the test
            events.append(("unexpected", fed, type(exc).__name__, str(exc)))
            return
        if frame is None:
            break
        events.append(frame_event(frame) + (fed,))
    else:
        raise AssertionError(f"get_next_frame() did not return None after {bound} calls")
    events.append(("state", fed, parser.buffered, parser.buffer_size))


def run_parser(
    frames: ModuleType, config: tuple[bool, bool, int], stream: bytes, cuts: list[int], mode: str
) -> list[Event]:
    """Feed ``stream`` cut at ``cuts`` into a fresh parser; drain after every chunk (or read, in "buffer" mode)."""
    is_client_side, check_order, max_frame_size = config[:3]
    validate_utf8 = config[3] if len(config) > 3 else False
    parser = frames.FrameParser(is_client_side, max_frame_size, check_order, validate_utf8)
    events: list[Event] = [("state", 0, parser.buffered, parser.buffer_size)]
    bound = len(stream) // 2 + 4
    pos = 0
    for cut in cuts:
        chunk = memoryview(stream)[pos:cut]
        if mode == "feed":
            parser.feed(chunk)
            pos = cut
            drain(parser, pos, events, bound)
        else:  # asyncio style: get_buffer / buffer_updated, processing after every read
            for _ in range(len(chunk) + 1):
                if not chunk:
                    break
                buf = parser.get_buffer(len(chunk))
                n = min(len(buf), len(chunk))
                assert n > 0, "get_buffer() returned no space"
                buf[:n] = chunk[:n]
                parser.buffer_updated(n)
                chunk = chunk[n:]
                pos += n
                drain(parser, pos, events, bound)
    # once everything is in, the parser must not change its mind
    drain(parser, pos, events, bound)
    return events


def assert_same(pure_events: list[Event], cy_events: list[Event]) -> None:
    if pure_events == cy_events:
        return
    for i, (a, b) in enumerate(zip(pure_events, cy_events)):
        if a != b:
            raise AssertionError(f"backends differ at event {i}:\n  pure:   {a!r}\n  cython: {b!r}")
    raise AssertionError(f"backends differ in the number of events: pure {len(pure_events)}, cython {len(cy_events)}")


def buffer_bound(stream_len: int, max_frame_size: int) -> int:
    """The most a parser may allocate: twice what the data or the largest acceptable frame needs."""
    return max(INITIAL_BUFFER_SIZE, 2 * (max(stream_len, max_frame_size + 14) + MIN_FREE_SPACE))


def check_common(config: tuple[bool, bool, int], events: list[Event], stream_len: int) -> None:
    unexpected = [e for e in events if e[0] == "unexpected"]
    assert not unexpected, f"non-ProtocolViolation exceptions: {unexpected}"
    errors = [e for e in events if e[0] == "error"]
    assert len(errors) <= 1, errors
    if errors:  # nothing after a violation but empty states
        after = events[events.index(errors[0]) + 1:]
        assert all(e[0] == "state" and e[2] == 0 for e in after), after
    bound = buffer_bound(stream_len, config[2])
    for e in events:
        if e[0] == "state":
            assert e[3] <= bound, f"buffer of {e[3]} bytes for {stream_len} bytes of input (config {config})"


def differential(cy: ModuleType, config: tuple[bool, bool, int], stream: bytes, cuts: list[int],
                 mode: str) -> list[Event]:
    pure_events = run_parser(pure_frames, config, stream, cuts, mode)
    cy_events = run_parser(cy, config, stream, cuts, mode)
    assert_same(pure_events, cy_events)
    check_common(config, pure_events, len(stream))
    _describe(pure_events)
    return pure_events


def _describe(events: list[Event]) -> None:
    """Coverage labels for ``--hypothesis-show-statistics``."""
    if not currently_in_test_context():
        return
    errors = [e[4].split(" ")[0:3] for e in events if e[0] == "error"]
    event("error: " + (" ".join(errors[0]) if errors else "none"))
    frames = [e for e in events if e[0] == "frame"]
    event(f"frames: {min(len(frames), 5)}{'+' if len(frames) >= 5 else ''}")
    biggest = max((len(e[5]) for e in frames), default=0)
    event("largest payload: " + ("0" if biggest == 0 else "<126" if biggest < 126 else "<65536"
                                 if biggest < 65536 else ">=65536"))


# -- reference model for well-formed traffic -----------------------------------------------------------


def expected_events(specs: list[Spec], config: tuple[bool, bool, int], drain_points: list[int]) -> list[Event]:
    """What a correct parser reports for well-formed ``specs``: frames, then maybe MESSAGE_TOO_BIG."""
    _is_client_side, _check_order, max_frame_size = config[:3]
    ends = []
    pos = 0
    for spec in specs:
        pos += len(spec.encode())
        ends.append(pos)
    out: list[Event] = []
    for i, spec in enumerate(specs):
        if len(spec.payload) > max_frame_size:
            out.append(("error", int(WSCloseCode.MESSAGE_TOO_BIG)))
            break
        delivered_at = next((p for p in drain_points if p >= ends[i]), None)
        if delivered_at is None:
            break  # never complete (cannot happen: the last drain point is the stream end)
        if spec.opcode == 0x8:
            tail, last = 0, True
        else:
            tail = delivered_at - ends[i]
            last = not (i + 1 < len(specs) and ends[i + 1] <= delivered_at)
        code: Any = None
        message: Any = None
        if spec.opcode == 0x8:
            code = struct.unpack("!H", spec.payload[:2])[0] if len(spec.payload) >= 2 else 0
            message = spec.payload[2:] or None
        out.append(("frame", spec.opcode, spec.fin, spec.rsv1, spec.rsv2, spec.rsv3, spec.payload, last, tail, code,
                    message))
        if spec.opcode == 0x8:
            break
    return out


def observed_reference_view(events: list[Event]) -> list[Event]:
    out: list[Event] = []
    for e in events:
        if e[0] == "error":
            out.append(("error", e[3]))
        elif e[0] == "frame":
            _, _tname, opcode, fin, rsv1, payload, _view, last, tail = e[:9]
            rsv2, rsv3 = e[19:21]
            code = message = None
            if opcode == 0x8:
                code = e[16][2]
                message = e[17][2]
            out.append(("frame", opcode, fin, rsv1, rsv2, rsv3, payload, last, tail, code, message))
    return out


def drain_points_of(events: list[Event]) -> list[int]:
    return sorted({e[1] for e in events if e[0] == "state"})


# -- properties ---------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data(), config=configs, mode=st.sampled_from(["feed", "buffer"]))
def test_valid_traffic_identical_and_correct(cy: ModuleType, data: st.DataObject,
                                             config: tuple[bool, bool, int], mode: str) -> None:
    # 0/125 are for hostile input; data payloads are arbitrary bytes, so no UTF-8 validation here
    config = (config[0], config[1], max(config[2], SMALL_MAX), False)
    specs = data.draw(valid_traffic(config[0]), label="specs")
    stream = b"".join(s.encode() for s in specs)
    close_at = next((i for i, s in enumerate(specs) if s.opcode == 0x8), None)
    if close_at is not None and data.draw(st.booleans(), label="trailing garbage"):
        stream += data.draw(st.binary(min_size=1, max_size=40), label="garbage")  # must be ignored
    cuts = split_points(data, len(stream))
    events = differential(cy, config, stream, cuts, mode)
    assert observed_reference_view(events) == expected_events(specs, config, drain_points_of(events))


@FUZZ
@given(data=st.data(), config=configs, mode=st.sampled_from(["feed", "buffer"]))
def test_hostile_input_identical(cy: ModuleType, data: st.DataObject, config: tuple[bool, bool, int],
                                 mode: str) -> None:
    # Usually some good traffic first, so that errors also hit a parser in the middle of a stream.
    prefix = data.draw(st.one_of(st.just([]), valid_traffic(config[0])), label="valid prefix")
    prefix = [s for s in prefix if s.opcode != 0x8]
    pieces = data.draw(st.lists(hostile_piece(config[0]), min_size=1, max_size=4), label="pieces")
    stream = b"".join(s.encode() for s in prefix) + b"".join(pieces)
    if data.draw(st.booleans(), label="truncate"):
        stream = stream[: data.draw(st.integers(0, len(stream)), label="truncate at")]
    cuts = split_points(data, len(stream))
    differential(cy, config, stream, cuts, mode)


@FUZZ
@given(stream=st.binary(max_size=300), config=configs, data=st.data())
def test_random_bytes_identical(cy: ModuleType, stream: bytes, config: tuple[bool, bool, int],
                                data: st.DataObject) -> None:
    differential(cy, config, stream, split_points(data, len(stream)), "feed")


# -- targeted cases -----------------------------------------------------------------------------------------


def _both(cy: ModuleType, config: tuple[bool, bool, int], stream: bytes, cuts: list[int] | None = None,
          mode: str = "feed") -> list[Event]:
    return differential(cy, config, stream, cuts or [len(stream)], mode)


def _errors(events: list[Event]) -> list[tuple[int, str]]:
    return [(e[3], e[4]) for e in events if e[0] == "error"]


@pytest.mark.parametrize("is_client_side", [True, False])
@pytest.mark.parametrize(
    "length,code",
    [
        (2**62, WSCloseCode.MESSAGE_TOO_BIG),
        (2**63 - 1, WSCloseCode.MESSAGE_TOO_BIG),
        (2**32, WSCloseCode.MESSAGE_TOO_BIG),
        (DEFAULT_MAX_FRAME_SIZE + 1, WSCloseCode.MESSAGE_TOO_BIG),
        (2**63, WSCloseCode.PROTOCOL_ERROR),  # most significant bit set
        (2**64 - 1, WSCloseCode.PROTOCOL_ERROR),
    ],
)
def test_hostile_lengths_do_not_allocate(cy: ModuleType, is_client_side: bool, length: int,
                                         code: WSCloseCode) -> None:
    mask = None if is_client_side else b"\x11\x22\x33\x44"
    header = Spec(0x2, b"", mask=mask, length=length).encode()
    for frames in (pure_frames, cy):
        parser = frames.FrameParser(is_client_side, DEFAULT_MAX_FRAME_SIZE)
        parser.feed(header + b"x" * 100)
        with pytest.raises(ProtocolViolation) as info:
            parser.get_next_frame()
        assert info.value.close_code is code
        assert parser.get_next_frame() is None
        # More hostile bytes keep arriving: still no allocation.
        for _ in range(3):
            buf = parser.get_buffer(1 << 20)
            buf[: min(len(buf), 1000)] = b"\xff" * min(len(buf), 1000)
            parser.buffer_updated(min(len(buf), 1000))
            assert parser.get_next_frame() is None
        assert parser.buffer_size <= INITIAL_BUFFER_SIZE
        assert parser.buffered == 0
    _both(cy, (is_client_side, False, DEFAULT_MAX_FRAME_SIZE), header + b"x" * 100)


@pytest.mark.parametrize("is_client_side", [True, False])
def test_declared_length_allocates_only_what_arrives(cy: ModuleType, is_client_side: bool) -> None:
    """A header announcing 1 MiB makes room for one more read, not for the whole announced frame."""
    length = 1 << 20
    mask = None if is_client_side else b"\x01\x02\x03\x04"
    header = Spec(0x2, b"", mask=mask, length=length).encode()
    needed = len(header) + length
    for frames in (pure_frames, cy):
        parser = frames.FrameParser(is_client_side, DEFAULT_MAX_FRAME_SIZE)
        parser.feed(header)
        assert parser.get_next_frame() is None
        assert parser.buffer_size <= INITIAL_BUFFER_SIZE  # nothing allocated before more data comes
        buf = parser.get_buffer(65536)
        assert parser.buffer_size <= 2 * (len(header) + limits.MAX_READ_SIZE) < needed
        assert len(buf) <= limits.MAX_READ_SIZE


@pytest.mark.parametrize("max_frame_size", [0, 125, 126, 65535, 65536])
def test_length_at_and_over_max_frame_size(cy: ModuleType, max_frame_size: int) -> None:
    for n in {0, max_frame_size, max_frame_size + 1}:
        stream = Spec(0x2, pattern(n, 3)).encode()
        events = _both(cy, (True, False, max_frame_size), stream, [1, 2, 3, 9, 10, len(stream)])
        if n <= max_frame_size:
            assert not _errors(events)
            assert [e[5] for e in events if e[0] == "frame"] == [pattern(n, 3)]
        else:
            assert [c for c, _ in _errors(events)] == [WSCloseCode.MESSAGE_TOO_BIG]


VIOLATIONS = [
    # (stream for a client-side parser, expected close code)
    (b"\x82\x7e\x00\x05" + b"x" * 5, WSCloseCode.PROTOCOL_ERROR),  # 16-bit length for 5 bytes
    (b"\x82\x7e\x00\x7d" + b"x" * 125, WSCloseCode.PROTOCOL_ERROR),  # 16-bit length for 125 bytes
    (b"\x82\x7f" + (5).to_bytes(8, "big") + b"x" * 5, WSCloseCode.PROTOCOL_ERROR),  # 64-bit length for 5 bytes
    (b"\x82\x7f" + (65535).to_bytes(8, "big"), WSCloseCode.PROTOCOL_ERROR),  # 64-bit length for 65535 bytes
    (b"\x83\x00", WSCloseCode.PROTOCOL_ERROR),  # opcode 3
    (b"\x8b\x00", WSCloseCode.PROTOCOL_ERROR),  # opcode 0xB
    (b"\x09\x00", WSCloseCode.PROTOCOL_ERROR),  # fragmented PING
    (b"\x89\x7e\x00\x7e" + b"x" * 126, WSCloseCode.PROTOCOL_ERROR),  # PING of 126 bytes
    (b"\x88\x01\x03", WSCloseCode.PROTOCOL_ERROR),  # 1-byte CLOSE payload
    (b"\x88\x02\x03\xed", WSCloseCode.PROTOCOL_ERROR),  # close code 1005
    (b"\x88\x02\x00\x00", WSCloseCode.PROTOCOL_ERROR),  # close code 0
    (b"\x88\x02\x13\x88", WSCloseCode.PROTOCOL_ERROR),  # close code 5000
    (b"\x88\x04\x03\xe8\xc3\x28", WSCloseCode.INVALID_TEXT),  # invalid UTF-8 reason
    (b"\x88\x03\x03\xe8\xc3", WSCloseCode.INVALID_TEXT),  # truncated UTF-8 reason
    (b"\x82\x80\x00\x00\x00\x00", WSCloseCode.PROTOCOL_ERROR),  # masked frame from the server
    (b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", WSCloseCode.PROTOCOL_ERROR),  # 64-bit length MSB
]


@pytest.mark.parametrize("stream,code", VIOLATIONS, ids=[s.hex() for s, _ in VIOLATIONS])
def test_known_violations(cy: ModuleType, stream: bytes, code: WSCloseCode) -> None:
    good = b"\x81\x02hi"
    for cuts in ([len(good + stream)], list(range(1, len(good + stream) + 1))):
        events = _both(cy, (True, False, DEFAULT_MAX_FRAME_SIZE), good + stream + b"\x81\x00", cuts)
        frames = [e for e in events if e[0] == "frame"]
        assert [f[5] for f in frames] == [b"hi"]  # the good frame first, nothing after the error
        assert [c for c, _ in _errors(events)] == [code]


# Bytes that break UTF-8 in every way Unicode's table 3-7 names, and some that look close.
_UTF8_BREAKERS = [b"\xff", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf0\x80\x80\xaf",
                  b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\x80", b"\xbf", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98"]


def _utf8_prefix_ok(data: bytes, final: bool) -> bool:
    """True if ``data`` is valid UTF-8, or (not ``final``) can still become valid with more bytes."""
    candidates = [b""] if final else [b""] + [
        bytes([first]) + b"\x80" * extra for extra in range(3) for first in range(0x80, 0xC0)
    ]
    for tail in candidates:
        try:
            (data + tail).decode("utf-8")
        except UnicodeDecodeError:
            continue
        return True
    return False


@st.composite
def text_message(draw: st.DrawFn) -> list[bytes]:
    """One text message as fragments: UTF-8 of random text cut anywhere, maybe with broken bytes spliced in."""
    data = bytearray(draw(st.text(max_size=60)).encode("utf-8"))
    for _ in range(draw(st.integers(0, 2))):
        pos = draw(st.integers(0, len(data)))
        data[pos:pos] = draw(st.sampled_from(_UTF8_BREAKERS))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=5))))
    bounds = [0, *cuts, len(data)]
    return [bytes(data[a:b]) for a, b in zip(bounds, bounds[1:])]


@FUZZ
@given(message=text_message(), data=st.data())
def test_validate_utf8_identical_and_correct(cy: ModuleType, message: list[bytes], data: st.DataObject) -> None:
    """validate_utf8: both parsers fail the same frame, the first one Python's incremental decoder rejects."""
    specs = [Spec(0x1 if i == 0 else 0x0, part, fin=i == len(message) - 1) for i, part in enumerate(message)]
    specs.insert(data.draw(st.integers(1, len(specs)), label="ping at"), Spec(0x9, b"ping"))  # control frames pass
    stream = b"".join(s.encode() for s in specs) + Spec(0x2, b"\xff after").encode()
    events = _both(cy, (True, False, DEFAULT_MAX_FRAME_SIZE, True), stream, split_points(data, len(stream)))
    # The oracle: the first fragment after which the message so far cannot be (the start of) valid UTF-8.
    bad_part = next(
        (i for i in range(len(message))
         if not _utf8_prefix_ok(b"".join(message[: i + 1]), final=i == len(message) - 1)),
        None,
    )
    delivered = [e[5] for e in events if e[0] == "frame" and e[2] in (0x0, 0x1, 0x2)]
    if bad_part is None:
        assert not _errors(events)
        assert delivered == message + [b"\xff after"]  # binary frames are never checked
    else:
        assert delivered == message[:bad_part]
        assert _errors(events) == [(WSCloseCode.INVALID_TEXT, "invalid UTF-8 in a text message")]


def test_unmasked_frame_to_server_and_fragment_order(cy: ModuleType) -> None:
    events = _both(cy, (False, False, DEFAULT_MAX_FRAME_SIZE), b"\x81\x00")
    assert [c for c, _ in _errors(events)] == [WSCloseCode.PROTOCOL_ERROR]
    stray_continuation = b"\x80\x00"
    assert not _errors(_both(cy, (True, False, 100), stray_continuation))
    assert [c for c, _ in _errors(_both(cy, (True, True, 100), stray_continuation))] == [1002]
    nested = b"\x01\x01a\x89\x00\x01\x01b"  # TEXT fin=0, PING, TEXT again
    assert not _errors(_both(cy, (True, False, 100), nested))
    assert [c for c, _ in _errors(_both(cy, (True, True, 100), nested))] == [1002]


def test_error_is_not_reordered_before_complete_frames(cy: ModuleType) -> None:
    """Frames buffered before a bad one are delivered first; last_in_buffer looks past the bad header."""
    stream = b"\x81\x01a\x82\x01b\x83\x00"
    events = _both(cy, (True, False, 100), stream)
    kinds = [e[0] for e in events if e[0] in ("frame", "error")]
    assert kinds == ["frame", "frame", "error"]
    frames = [e for e in events if e[0] == "frame"]
    # The bad frame is complete in the buffer, so "b" is not the last one (validity is not looked at).
    assert [(f[5], f[7], f[8]) for f in frames] == [(b"a", False, 5), (b"b", False, 2)]


def test_bytes_after_close_are_discarded(cy: ModuleType) -> None:
    stream = b"\x88\x02\x03\xe8" + b"\xff\xff\xff garbage \x81\x00"
    events = _both(cy, (True, False, 100), stream, list(range(1, len(stream) + 1)))
    assert not _errors(events)
    frames = [e for e in events if e[0] == "frame"]
    assert len(frames) == 1 and frames[0][2] == 0x8 and frames[0][7:9] == (True, 0)
    assert events[-1][2] == 0  # nothing left buffered


# -- builder --------------------------------------------------------------------------------------------


@FUZZ
@given(
    opcode=st.sampled_from(OPCODES),
    payload=data_payloads,
    fin=st.booleans(),
    rsv1=st.booleans(),
    mask=st.one_of(st.none(), mask_keys, st.sampled_from([b"\x00\x00\x00\x00", b"\xff\xff\xff\xff"])),
    kind=st.sampled_from(["bytes", "bytearray", "memoryview"]),
)
def test_build_frame_identical_and_correct(cy: ModuleType, opcode: int, payload: bytes, fin: bool, rsv1: bool,
                                           mask: bytes | None, kind: str) -> None:
    arg: Any = {"bytes": bytes, "bytearray": bytearray, "memoryview": memoryview}[kind](payload)
    expected = Spec(opcode, payload, fin=fin, rsv1=rsv1, mask=mask).encode()
    assert pure_frames.build_frame(opcode, arg, fin, rsv1, mask) == expected
    assert cy.build_frame(opcode, arg, fin, rsv1, mask) == expected
    assert bytes(arg) == payload  # the caller's buffer is not modified
    header_len = len(expected) - len(payload)
    assert pure_frames.frame_header(opcode, fin, rsv1, len(payload), mask) == expected[:header_len]
    assert cy.frame_header(opcode, fin, rsv1, len(payload), mask) == expected[:header_len]
    # What one backend builds, the other parses (masked frames go to a server-side parser).
    rejected = (opcode >= 0x8 and len(payload) > 125) or (
        opcode == 0x8 and len(payload) >= 1 and (len(payload) == 1 or not _valid_close(payload))
    )
    for builder, parser_mod in ((pure_frames, cy), (cy, pure_frames)):
        parser = parser_mod.FrameParser(mask is None, DEFAULT_MAX_FRAME_SIZE)
        parser.feed(builder.build_frame(opcode, arg, True, rsv1, mask))
        if rejected:  # by design: control payload > 125, 1-byte CLOSE payload, bad code or UTF-8 reason
            with pytest.raises(ProtocolViolation):
                parser.get_next_frame()
            continue
        frame = parser.get_next_frame()
        assert frame is not None
        assert frame.get_payload_as_bytes() == payload
        assert (int(frame.msg_type), frame.rsv1) == (opcode, rsv1)


def _valid_close(payload: bytes) -> bool:
    code = struct.unpack("!H", payload[:2])[0]
    if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
        return False
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@FUZZ
@given(
    opcode=st.sampled_from(OPCODES),
    fin=st.booleans(),
    rsv1=st.booleans(),
    length=st.one_of(st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 2**32, 2**63 - 1, 2**64 - 1]),
                     st.integers(0, 2**64 - 1)),
    mask=st.one_of(st.none(), mask_keys),
)
def test_frame_header_identical_and_correct(cy: ModuleType, opcode: int, fin: bool, rsv1: bool, length: int,
                                            mask: bytes | None) -> None:
    expected = Spec(opcode, b"", fin=fin, rsv1=rsv1, mask=mask, length=length).encode()
    assert pure_frames.frame_header(opcode, fin, rsv1, length, mask) == expected
    assert cy.frame_header(opcode, fin, rsv1, length, mask) == expected


@FUZZ
@given(data=st.one_of(st.binary(max_size=300), big_payloads), key=mask_keys,
       kind=st.sampled_from(["bytes", "bytearray", "memoryview"]), offset=st.integers(0, 7))
def test_mask_payload_identical_and_correct(cy: ModuleType, data: bytes, key: bytes, kind: str,
                                            offset: int) -> None:
    # An offset into a larger buffer exercises unaligned starts in the word-at-a-time loop.
    backing = bytes(offset) + data
    arg: Any = {"bytes": bytes, "bytearray": bytearray, "memoryview": memoryview}[kind](backing)
    view = memoryview(arg)[offset:]
    expected = apply_mask(data, key)
    assert pure_frames.mask_payload(view, key) == expected
    assert cy.mask_payload(view, key) == expected
    assert cy.mask_payload(cy.mask_payload(view, key), key) == data
    assert type(pure_frames.mask_payload(view, key)) is bytes and type(cy.mask_payload(view, key)) is bytes


BAD_BUILDER_CALLS = [
    # (function, arguments, exception both backends must raise; None = any exception)
    ("mask_payload", (b"hello", b"abc"), ValueError),  # 3-byte key
    ("mask_payload", (b"hello", b"abcde"), ValueError),  # 5-byte key
    ("build_frame", (1, b"x", True, False, b"abc"), ValueError),
    ("frame_header", (1, True, False, 5, b"abc"), ValueError),
    ("build_frame", (1, "text", True, False, None), TypeError),
    ("build_frame", (1, None, True, False, None), TypeError),
    ("frame_header", (1, True, False, -1, None), None),
    ("frame_header", (1, True, False, 2**64, None), None),
]


@pytest.mark.parametrize("func,args,exc_type", BAD_BUILDER_CALLS,
                         ids=[f"{f}{a!r}"[:60] for f, a, _ in BAD_BUILDER_CALLS])
def test_builder_rejects_bad_arguments_alike(cy: ModuleType, func: str, args: tuple[Any, ...],
                                             exc_type: type | None) -> None:
    """Both backends fail instead of building a malformed frame (e.g. a 3-byte mask key in the header)."""
    outcomes = []
    for frames in (pure_frames, cy):
        try:
            result = getattr(frames, func)(*args)
        except Exception as exc:  # noqa: BLE001
            outcomes.append(exc)
        else:
            outcomes.append(("returned", result))
    assert all(isinstance(o, Exception) for o in outcomes), f"pure -> {outcomes[0]!r}, cython -> {outcomes[1]!r}"
    if exc_type is not None:
        assert all(isinstance(o, exc_type) for o in outcomes), f"pure -> {outcomes[0]!r}, cython -> {outcomes[1]!r}"


@pytest.mark.parametrize("max_frame_size", [-1, 2**62 + 1, 2**63 - 1, 2**64])
def test_out_of_range_max_frame_size_rejected_alike(cy: ModuleType, max_frame_size: int) -> None:
    """max_frame_size is capped at 2**62 so frame arithmetic never nears the 64-bit limits."""
    for frames in (pure_frames, cy):
        with pytest.raises((ValueError, OverflowError)):
            frames.FrameParser(True, max_frame_size)
    with pytest.raises(ValueError, match="max_frame_size"):
        ConnectionOptions(
            disconnect_on_exception=True, websocket_handshake_timeout=5, logger=logging.getLogger("x"),
            enable_auto_ping=False, auto_ping_idle_timeout=10, auto_ping_reply_timeout=10,
            auto_ping_strategy=1, enable_auto_pong=True, max_frame_size=max_frame_size,
            check_fragment_order=False,
        )


def test_largest_max_frame_size_agrees(cy: ModuleType) -> None:
    """A declared length just below the cap with max_frame_size at the cap: both backends alike."""
    header = Spec(0x2, b"", length=2**62 - 5).encode()
    _both(cy, (True, False, 2**62), header + b"x" * 10)
