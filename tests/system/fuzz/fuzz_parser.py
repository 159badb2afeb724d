"""Coverage-guided fuzz target for the compiled frame parser (atheris / libFuzzer).

Each input is decoded into a parser configuration (role, ``max_frame_size``,
fragment-order check), a chunking, and a byte stream. The stream is fed in
those chunks through ``get_buffer``/``buffer_updated`` to the compiled
``picows._cython.frames.FrameParser`` and to its pure-Python twin; both must
produce identical frames (type, fin, rsv1, ``last_in_buffer``, ``tail_size``,
payload, close code/message) and the identical first error, and the receive
buffer must stay bounded by what arrived. Any difference, any unexpected
exception and (in an AddressSanitizer build) any memory error is a finding.

See ``README`` next to this file for building the instrumented extension
and running it. ``check_one`` needs no atheris, so the regular test suite
runs the seeds through it (tests/system/test_protocol_fuzz.py).
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from typing import Any

MAX_FRAME_SIZES = (0, 1, 125, 126, 65535, 65536, 10 * 1024 * 1024, 2**62)
INITIAL_BUFFER_SIZE = 4096
MAX_READ_SIZE = 256 * 1024

_modules: tuple[Any, Any, Any] | None = None


def _load(instrument: bool = False) -> tuple[Any, Any, Any]:
    """(compiled frames, pure frames, ProtocolViolation); the pure twin is coverage-instrumented under atheris."""
    global _modules
    if _modules is None:
        from picows._cython import frames as cy_frames  # built with -fsanitize=fuzzer-no-link for coverage
        from picows._errors import ProtocolViolation

        if instrument:
            import atheris

            with atheris.instrument_imports(include=["picows._pure"]):
                from picows._pure import frames as pure_frames
        else:
            from picows._pure import frames as pure_frames
        _modules = (cy_frames, pure_frames, ProtocolViolation)
    return _modules


class _Input:
    """Minimal consumer of fuzz input bytes (no atheris needed)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def rest(self) -> bytes:
        return self.data[self.pos :]


def decode(data: bytes) -> tuple[bool, int, bool, list[bytes]]:
    """Input layout: flags byte, cut count byte, 2 bytes per cut, then the stream."""
    inp = _Input(data)
    flags = inp.byte()
    is_client_side = bool(flags & 1)
    check_fragment_order = bool(flags & 2)
    max_frame_size = MAX_FRAME_SIZES[(flags >> 2) % len(MAX_FRAME_SIZES)]
    cuts = sorted((inp.byte() << 8 | inp.byte()) for _ in range(inp.byte() % 9))
    stream = inp.rest()
    bounds = [0] + [c for c in cuts if c <= len(stream)] + [len(stream)]
    chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
    return is_client_side, max_frame_size, check_fragment_order, chunks


def run_parser(frames_module: Any, violation: type, is_client_side: bool, max_frame_size: int,
               check_fragment_order: bool, chunks: list[bytes]) -> list[tuple[Any, ...]]:  # fmt: skip
    parser = frames_module.FrameParser(is_client_side, max_frame_size, check_fragment_order)
    events: list[tuple[Any, ...]] = []
    fed = 0
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            buf = parser.get_buffer(len(view))
            n = min(len(buf), len(view))
            assert n > 0, "get_buffer returned no space"
            buf[:n] = view[:n]
            parser.buffer_updated(n)
            view = view[n:]
            fed += n
        for _ in range(len(chunk) + 1):  # at most one frame per 2 bytes; bounded anyway
            try:
                frame = parser.get_next_frame()
            except violation as exc:
                events.append(("error", int(exc.close_code)))
                return events
            if frame is None:
                break
            item: tuple[Any, ...] = (int(frame.msg_type), frame.fin, frame.rsv1, frame.last_in_buffer,
                                     frame.tail_size, frame.get_payload_as_bytes())  # fmt: skip
            if frame.msg_type == 8:
                item += (int(frame.get_close_code()), frame.get_close_message())
            events.append(item)
        bound = 2 * (fed + MAX_READ_SIZE + 1024) + INITIAL_BUFFER_SIZE
        assert parser.buffer_size <= bound, f"buffer of {parser.buffer_size} bytes after {fed} bytes received"
    return events


def check_one(data: bytes) -> None:
    """The fuzz target: compiled and pure parsers must agree on ``data``."""
    cy_frames, pure_frames, violation = _load()
    config = decode(data)
    got = run_parser(cy_frames, violation, *config)
    expected = run_parser(pure_frames, violation, *config)
    if got != expected:
        raise AssertionError(f"compiled and pure parsers differ on {data!r}:\n{got!r}\n{expected!r}")


def _frame(opcode: int, payload: bytes, *, masked: bool, fin: bool = True, rsv: int = 0) -> bytes:
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    head = bytes([b0, (0x80 if masked else 0) | (n if n < 126 else 126 if n < 65536 else 127)])
    head += b"" if n < 126 else struct.pack("!H", n) if n < 65536 else struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = b"\x12\x34\x56\x78"
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def seeds() -> Iterator[bytes]:
    """A small starting corpus: every frame kind, both roles, a few chunkings."""
    for masked in (True, False):
        flags = 0 if masked else 1  # the server expects masked frames, the client unmasked ones
        frames = [
            _frame(1, b"hello", masked=masked),
            _frame(2, bytes(range(200)), masked=masked),
            _frame(1, b"frag", masked=masked, fin=False) + _frame(9, b"ping", masked=masked)
            + _frame(0, b"ment", masked=masked),
            _frame(10, b"", masked=masked),
            _frame(8, b"\x03\xe8bye", masked=masked),
            _frame(8, b"\x03\xe8\xff", masked=masked),
            _frame(2, b"x" * 70000, masked=masked)[:300],
            _frame(3, b"reserved", masked=masked),
            _frame(1, b"rsv", masked=masked, rsv=3),
        ]  # fmt: skip
        stream = b"".join(frames)
        yield bytes([flags, 0]) + stream
        yield bytes([flags | 2 | 4, 3, 0, 1, 0, 7, 0, 40]) + stream
        yield bytes([flags | 8, 1, 0, 2]) + _frame(2, b"y" * 300, masked=masked)


def main(argv: list[str]) -> None:
    import atheris

    _load(instrument=True)
    corpus = [a for a in argv[1:] if not a.startswith("-")]
    if corpus and os.path.isdir(corpus[0]) and not os.listdir(corpus[0]):
        for i, seed in enumerate(seeds()):
            with open(os.path.join(corpus[0], f"seed-{i}"), "wb") as f:
                f.write(seed)
    atheris.Setup(argv, check_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
