"""The list headers of an upgrade request as websockets reads them, and refuses them.

``Sec-WebSocket-Protocol`` is a comma-separated list of tokens and
``Sec-WebSocket-Extensions`` one of extensions with ``;``-separated
parameters (RFC 7230 section 7, RFC 6455 section 9.1): empty list elements
are skipped, at least one element is required, and a value that breaks the
grammar fails the handshake with websockets'
:exc:`~picows.websockets.exceptions.InvalidHeaderFormat` ("expected token at
3 in a b"), which a server answers with 400.

Per connection only (handshake time).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from ..exceptions import InvalidHeaderFormat

__all__ = ["check_extensions", "subprotocols"]

_T = TypeVar("_T")

_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_SPACE = re.compile(r"[ \t]*")
# quoted-string (RFC 7230 3.2.6): qdtext (without obs-text, as websockets) or a quoted-pair.
_QUOTED = re.compile(r'"((?:[\t !#-\[\]-~]|\\[\t -~\x80-\xff])*)"')
_QUOTED_PAIR = re.compile(r"\\(.)")


class _Reader:
    """A cursor over one header value; every failure names the position, as websockets."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.pos = 0

    def fail(self, what: str, pos: int | None = None) -> InvalidHeaderFormat:
        return InvalidHeaderFormat(self.name, what, self.text, self.pos if pos is None else pos)

    def at_end(self) -> bool:
        return self.pos == len(self.text)

    def skip(self, char: str) -> bool:
        """Step over ``char`` and the spaces after it, if it is next."""
        if self.text[self.pos : self.pos + 1] != char:
            return False
        self.pos += 1
        self.spaces()
        return True

    def spaces(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]  # always matches

    def token(self) -> str:
        match = _TOKEN.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected token")
        self.pos = match.end()
        return match.group()

    def parameter_value(self) -> str:
        """A token, or a quoted string whose content is a token (RFC 6455 9.1)."""
        if self.text[self.pos : self.pos + 1] != '"':
            return self.token()
        start = self.pos
        match = _QUOTED.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected quoted string")
        self.pos = match.end()
        value = _QUOTED_PAIR.sub(r"\1", match.group(1))
        if _TOKEN.fullmatch(value) is None:
            raise self.fail("invalid quoted header content", start)
        return value

    def elements(self, element: Callable[[_Reader], _T]) -> list[_T]:
        """``1#element``: empty elements (extra commas) are skipped."""
        while self.skip(","):
            pass
        found = [element(self)]
        while True:
            self.spaces()
            if self.at_end():
                return found
            if not self.skip(","):
                raise self.fail("expected comma")
            while self.skip(","):
                pass
            if self.at_end():
                return found
            found.append(element(self))


def _extension(reader: _Reader) -> str:
    name = reader.token()
    reader.spaces()
    while reader.skip(";"):
        reader.token()
        reader.spaces()
        if reader.skip("="):
            reader.parameter_value()
            reader.spaces()
    return name


def subprotocols(values: Iterable[str]) -> list[str]:
    """The subprotocols offered in every ``Sec-WebSocket-Protocol`` value, in order.

    :raises InvalidHeaderFormat: a value is not a list of tokens.
    """
    offered: list[str] = []
    for value in values:
        offered += _Reader("Sec-WebSocket-Protocol", value).elements(_Reader.token)
    return offered


def check_extensions(values: Iterable[str]) -> None:
    """Whether every ``Sec-WebSocket-Extensions`` value follows the grammar.

    :raises InvalidHeaderFormat: one does not.
    """
    for value in values:
        _Reader("Sec-WebSocket-Extensions", value).elements(_extension)
