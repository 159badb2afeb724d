"""HeadScanner: where an HTTP head ends in bytes as they arrive, with HeadLimits enforced on the way."""

from __future__ import annotations

import random

import pytest

from picows._http import DEFAULT_HEAD_LIMITS, HeadLimits, HeadScanner, HeadTooLarge

HEAD = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"


def scan(data: bytes, limits: HeadLimits, cuts: list[int]) -> int | HeadTooLarge:
    """Feed ``data`` to a scanner in pieces ending at ``cuts`` (then whole); its result or error."""
    scanner = HeadScanner(limits)
    try:
        for cut in [*cuts, len(data)]:
            end = scanner.find_end(data[:cut])
            if end >= 0:
                return end
    except HeadTooLarge as exc:
        return exc
    return -1


def outcome(result: int | HeadTooLarge) -> object:
    return (result.kind, result.limit) if isinstance(result, HeadTooLarge) else result


def random_cuts(rng: random.Random, size: int) -> list[int]:
    return sorted(rng.sample(range(1, size), min(size - 1, rng.randint(0, 12)))) if size > 1 else []


@pytest.mark.parametrize(
    "data",
    [HEAD, HEAD + b"frames", b"\r\n\r\n", b"\r\n\r\r\n\r\n", b"A\r\nB: c\r\n\r\n\r\n", b"GET / HTTP/1.1\r\nX: a\nb\r\n\r\n"],
)
def test_the_end_is_the_first_crlf_crlf(data: bytes) -> None:
    assert HeadScanner(DEFAULT_HEAD_LIMITS).find_end(data) == data.find(b"\r\n\r\n")


def test_any_cutting_gives_the_same_result_as_one_read() -> None:
    rng = random.Random(1234)
    limits = HeadLimits(max_head=300, max_headers=6, max_line=40)
    pieces = [b"GET / HTTP/1.1\r\n", b"H: v\r\n", b"Long: " + b"x" * 40 + b"\r\n", b"\r\n", b"\r", b"\n", b"a"]
    for _ in range(3000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
        whole = outcome(scan(data, limits, []))
        assert outcome(scan(data, limits, random_cuts(rng, len(data)))) == whole, data
        assert outcome(scan(data, limits, list(range(1, len(data))))) == whole, data


def test_a_head_sent_a_byte_at_a_time_is_scanned_once() -> None:
    """Each call looks at the new bytes only (no rescans of the lines already complete)."""
    scanner = HeadScanner(DEFAULT_HEAD_LIMITS)
    data = b"GET / HTTP/1.1\r\n" + b"X-F: v\r\n" * 100
    buf = bytearray()
    for byte in data:
        buf.append(byte)
        assert scanner.find_end(buf) == -1
    assert scanner._line_start == len(data)
    assert scanner.find_end(buf + b"\r\n") == len(data) - 2


@pytest.mark.parametrize(
    ("data", "kind", "size"),
    [
        (b"GET /" + b"a" * 30 + b"\r\n\r\n", "start-line", 37),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 30 + b"\r\n\r\n", "header-line", 35),
        (b"GET /" + b"a" * 40, "start-line", 45),  # not complete yet: what is buffered
        (b"GET / HTTP/1.1\r\n" + b"X: v\r\n" * 4, "headers", 4),
    ],
)
def test_each_limit_names_what_passed_it(data: bytes, kind: str, size: int) -> None:
    limits = HeadLimits(max_head=1000, max_headers=3, max_line=32)
    with pytest.raises(HeadTooLarge) as info:
        HeadScanner(limits).find_end(data)
    assert (info.value.kind, info.value.size) == (kind, size)
    assert info.value.limit == (3 if kind == "headers" else 32)


def test_limits_are_inclusive() -> None:
    limits = HeadLimits(max_head=1000, max_headers=3, max_line=32)
    line = b"X: " + b"a" * 27 + b"\r\n"
    assert len(line) == 32
    data = b"GET / HTTP/1.1\r\n" + line * 3 + b"\r\n"
    assert HeadScanner(limits).find_end(data) == len(data) - 4


def test_whole_head_limit_allows_exactly_max_head_bytes_however_it_arrives() -> None:
    limits = HeadLimits(max_head=64)
    head = b"GET / HTTP/1.1\r\nX: " + b"a" * (64 - 19)
    assert len(head) == 64
    data = head + b"\r\n\r\n"
    for cut in range(1, len(data)):
        assert scan(data, limits, [cut]) == 64, cut
    with pytest.raises(HeadTooLarge) as info:
        HeadScanner(limits).find_end(head + b"a")  # 65 bytes and no end yet: surely over
    assert info.value.kind == "head"
    with pytest.raises(HeadTooLarge):
        HeadScanner(limits).find_end(head + b"a\r\n\r\n")


def test_messages() -> None:
    assert str(HeadTooLarge("headers", 129, 128)) == "more than 128 headers"
    assert str(HeadTooLarge("head", 20000, 16384)) == "head exceeds 16384 bytes"
    assert str(HeadTooLarge("header-line", 9000, 8192)) == "header line exceeds 8192 bytes"
    assert isinstance(HeadTooLarge("head", 1, 0), ValueError)
