"""The HTTP/1.1 syntax of the opening handshake (RFC 7230 section 3), for both roles.

Sans-I/O and strict: a head is split into its start line and headers, and
anything an HTTP/1.1 parser could read in two ways (request smuggling) or that
no conforming peer sends is refused with a short reason, in requests and
responses alike:

* header names are tokens, with no whitespace before the colon;
* no obsolete line folding (a line starting with a space or tab);
* no control characters (other than tab) and no DEL in values: a lone CR or
  LF inside a line, NUL, ...;
* at most :data:`MAX_HEADERS` header lines.

:class:`HeadScanner` finds where a head ends in bytes as they arrive and
enforces :class:`HeadLimits` on the way (the whole head's size always; the
length of each line and the number of headers when asked), so that an
oversized head is refused before it is buffered whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple, Union

from multidict import CIMultiDict

from ._limits import MAX_HANDSHAKE_BODY_SIZE, MAX_HANDSHAKE_HEAD_SIZE

__all__ = [
    "DEFAULT_HEAD_LIMITS",
    "MAX_HEADERS",
    "TOKEN_CHARS",
    "ExtraHeaders",
    "HeadError",
    "HeadLimits",
    "HeadScanner",
    "HeadTooLarge",
    "decode",
    "decode_chunked",
    "encode",
    "format_head",
    "header_tokens",
    "normalize_headers",
    "parse_head",
]

#: Most header lines accepted in one request or response head.
MAX_HEADERS = 128

#: RFC 7230 ``tchar``: the characters of a token (a header name, a method, ...).
TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
# Bytes never allowed in a header value: controls except HTAB, and DEL (obs-text, >= 0x80, is allowed).
_BAD_VALUE_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

#: ``extra_headers`` arguments: a mapping or an iterable of ``(str, str)`` pairs.
ExtraHeaders = Union[Mapping[str, str], Iterable[tuple[str, str]], None]


class HeadError(ValueError):
    """A malformed HTTP head; the message is a short reason, fit for a 400 body."""


class HeadTooLarge(HeadError):
    """A head beyond one of its :class:`HeadLimits`.

    ``kind`` says which: ``"start-line"`` (the request or status line),
    ``"header-line"``, ``"headers"`` (too many of them) or ``"head"`` (the
    whole head); ``size`` is what was read (bytes, or header lines for
    ``"headers"``) and ``limit`` the limit it passed.
    """

    def __init__(self, kind: str, size: int, limit: int) -> None:
        self.kind = kind
        self.size = size
        self.limit = limit
        if kind == "headers":
            message = f"more than {limit} headers"
        elif kind == "head":
            message = f"head exceeds {limit} bytes"
        else:
            message = f"{kind.replace('-', ' ')} exceeds {limit} bytes"
        super().__init__(message)


class HeadLimits(NamedTuple):
    """Bounds on one HTTP head (and on the body of a refused upgrade's response)."""

    #: Bytes of the whole head, without the blank line that ends it.
    max_head: int
    #: Header lines.
    max_headers: int = MAX_HEADERS
    #: Bytes of one line with its CRLF (the start line included); None: only ``max_head`` bounds them.
    max_line: int | None = None
    #: Bytes a client keeps of the body of a response other than 101 (its error page).
    max_body: int = MAX_HANDSHAKE_BODY_SIZE


#: picows' own bounds on a peer's head (the 1.15 rules): 16 KiB, 128 headers, lines of any length.
DEFAULT_HEAD_LIMITS = HeadLimits(MAX_HANDSHAKE_HEAD_SIZE)


class HeadScanner:
    """Where a head ends in a buffer that grows, with its limits enforced line by line.

    Each byte is looked at once however the head is cut into reads (a head
    sent a byte at a time costs no rescans).
    """

    __slots__ = ("_limits", "_line_start", "_lines")

    def __init__(self, limits: HeadLimits) -> None:
        self._limits = limits
        self._line_start = 0  # where the first line not yet complete starts
        self._lines = 0  # complete lines so far, the start line included

    def find_end(self, buf: bytes | bytearray) -> int:
        """The offset of the ``CRLF CRLF`` that ends the head in ``buf``, or -1 while incomplete.

        ``buf`` must hold the same bytes as at the previous call, plus more.
        Raises :class:`HeadTooLarge` as soon as a limit is passed.
        """
        limits = self._limits
        max_line = limits.max_line
        start = self._line_start
        while True:
            eol = buf.find(b"\r\n", start)
            if eol < 0:
                pending = len(buf) - start  # a line still arriving
                if max_line is not None and pending > max_line:
                    raise HeadTooLarge(self._line_kind(), pending, max_line)
                # The head ends at len(buf) at the earliest, before a CRLF CRLF begun at its end.
                earliest = len(buf) - _partial_terminator(buf)
                if earliest > limits.max_head:
                    raise HeadTooLarge("head", len(buf), limits.max_head)
                self._line_start = start
                return -1
            if eol == start and self._lines:
                end = start - 2  # the blank line: the head ends before its CRLF
                if end > limits.max_head:
                    raise HeadTooLarge("head", end, limits.max_head)
                return end
            length = eol + 2 - start
            if max_line is not None and length > max_line:
                raise HeadTooLarge(self._line_kind(), length, max_line)
            self._lines += 1
            if self._lines - 1 > limits.max_headers:
                raise HeadTooLarge("headers", self._lines - 1, limits.max_headers)
            start = eol + 2

    def _line_kind(self) -> str:
        return "header-line" if self._lines else "start-line"


def _partial_terminator(buf: bytes | bytearray) -> int:
    """How many bytes at the end of ``buf`` may begin a CRLF CRLF."""
    for size in (3, 2, 1):
        if buf.endswith(b"\r\n\r\n"[:size]):
            return size
    return 0


def decode(value: bytes) -> str:
    """Header bytes as str; bytes that are not UTF-8 survive as surrogates (and are encoded back)."""
    return value.decode("utf-8", "surrogateescape")


def encode(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _shown(line: bytes) -> str:
    """A line quoted in a reason: cut short, so a reason stays one short line."""
    return repr(line[:60])


def parse_head(raw: bytes, max_headers: int = MAX_HEADERS) -> tuple[bytes, CIMultiDict[str]]:
    """Split a head (without its blank line) into the start line and the headers.

    Raises :class:`HeadError` for every rule in the module docstring.
    """
    lines = raw.split(b"\r\n")
    if len(lines) - 1 > max_headers:
        raise HeadTooLarge("headers", len(lines) - 1, max_headers)
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):
            raise HeadError(f"obsolete line folding is not allowed: {_shown(line)}")
        name, sep, value = line.partition(b":")
        if not sep:
            raise HeadError(f"header line without a colon: {_shown(line)}")
        if name[-1:] in (b" ", b"\t"):
            raise HeadError(f"whitespace before the colon: {_shown(line)}")
        if _TOKEN.fullmatch(name) is None:
            raise HeadError(f"invalid header name: {_shown(line)}")
        value = value.strip(b" \t")
        if _BAD_VALUE_BYTE.search(value) is not None:
            raise HeadError(f"control character in the value of header {decode(name)!r}")
        headers.add(decode(name), decode(value))
    return lines[0], headers


_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


def decode_chunked(data: bytes | bytearray) -> tuple[int, bytes] | None:
    """A complete ``Transfer-Encoding: chunked`` body at the start of ``data`` (RFC 7230 4.1).

    Returns ``(end, body)``: where the encoding ends in ``data`` and the
    decoded body; None while it is incomplete. Raises :class:`HeadError` when
    it is malformed. Chunk extensions and trailers are skipped.
    """
    body = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        size_field = bytes(data[pos:eol]).split(b";", 1)[0].strip(b" \t")
        if _CHUNK_SIZE.fullmatch(size_field) is None:
            raise HeadError("malformed chunk size")
        size = int(size_field, 16)
        pos = eol + 2
        if size == 0:
            break
        if len(data) < pos + size + 2:
            return None
        if data[pos + size : pos + size + 2] != b"\r\n":
            raise HeadError("chunk not followed by CRLF")
        body += data[pos : pos + size]
        pos += size + 2
    while True:  # trailer fields, up to an empty line
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        if eol == pos:
            return eol + 2, bytes(body)
        pos = eol + 2


def format_head(start_line: str, headers: Iterable[tuple[str, str]]) -> bytearray:
    """A head ready to send: the start line, the headers and the blank line."""
    out = bytearray(encode(start_line))
    out += b"\r\n"
    for name, value in headers:
        out += encode(name)
        out += b": "
        out += encode(value)
        out += b"\r\n"
    out += b"\r\n"
    return out


def header_tokens(headers: CIMultiDict[str], name: str) -> list[str]:
    """The comma-separated tokens of every ``name`` header, lower-cased, empty ones dropped."""
    tokens: list[str] = []
    for value in headers.getall(name, ()):
        tokens.extend(t.strip(" \t").lower() for t in value.split(","))
    return [t for t in tokens if t]


def normalize_headers(extra_headers: ExtraHeaders, arg_name: str = "extra_headers") -> list[tuple[str, str]]:
    """Validate a mapping or iterable of ``(str, str)`` pairs; return a list of pairs."""
    if extra_headers is None:
        return []
    if isinstance(extra_headers, (str, bytes)):
        raise TypeError(f"{arg_name} must be a mapping or an iterable of (str, str) pairs")
    items: Iterable[Any] = extra_headers.items() if isinstance(extra_headers, Mapping) else extra_headers
    result = []
    try:
        for item in items:
            name, value = item
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(
                    f"{arg_name}: header names and values must be str, got "
                    f"({type(name).__name__}, {type(value).__name__})"
                )
            if not name or any(c not in TOKEN_CHARS for c in encode(name)):
                raise ValueError(f"{arg_name}: invalid header name {name!r}")
            if "\r" in value or "\n" in value or "\0" in value:
                raise ValueError(f"{arg_name}: header {name!r} has a value with CR, LF or NUL")
            result.append((name, value))
    except (TypeError, ValueError) as exc:
        if str(exc).startswith(arg_name):
            raise
        raise TypeError(f"{arg_name} must be a mapping or an iterable of (str, str) pairs") from exc
    return result

