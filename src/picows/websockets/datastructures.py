"""HTTP headers with websockets' semantics: assigning a header adds a value."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Union

from .exceptions import InvalidHeaderValue

__all__ = ["Headers", "HeadersLike", "MultipleValuesError"]

#: True for a string that may be sent as a header value: RFC 9110's field-value
#: characters (HTAB, SP, visible ASCII, obs-text bytes 0x80-0xFF). Anything else
#: (CR and LF above all: they would end the header and start another) is refused.
is_valid_header_value = re.compile("[\t\x20-\x7e\x80-\xff]*").fullmatch


class MultipleValuesError(LookupError):
    """Raised by ``headers[name]`` when the header appears more than once."""

    def __str__(self) -> str:
        # Same as KeyError: show the repr of a single argument.
        if len(self.args) == 1:
            return repr(self.args[0])
        return super().__str__()


class Headers(MutableMapping[str, str]):
    """An ordered, case-insensitive multi-mapping of HTTP headers.

    ``headers[name] = value`` *adds* a value (HTTP allows repeating a header);
    ``headers[name]`` returns the single value, raises :exc:`KeyError` when
    absent and :exc:`MultipleValuesError` when repeated; :meth:`get_all`
    returns every value. ``del headers[name]`` removes all of them.
    """

    # Only the ordered pairs are stored: a connection keeps its request's and
    # response's headers for its whole life, and a head has a few dozen headers
    # at most, so lookups scan the pairs instead of keeping an index of them.
    __slots__ = ("_items",)

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        self._items: list[tuple[str, str]] = []
        self.update(*args, **kwargs)

    @classmethod
    def _from_wire(cls, pairs: Iterable[tuple[str, str]]) -> Headers:
        """Headers received from the peer: kept as they came (the HTTP parser checked them)."""
        headers = cls()
        headers._items = list(pairs)
        return headers

    def __str__(self) -> str:
        return "".join(f"{name}: {value}\r\n" for name, value in self._items) + "\r\n"

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self._items!r})"

    def copy(self) -> Headers:
        """A shallow copy."""
        return self.__class__._from_wire(self._items)

    def serialize(self) -> bytes:
        """The headers as an HTTP header block (ending with the blank line), in ISO-8859-1 as websockets."""
        return str(self).encode("iso-8859-1")

    def _by_name(self) -> dict[str, list[str]]:
        """Every value by lower-cased name, names in order of first appearance."""
        by_name: dict[str, list[str]] = {}
        for name, value in self._items:
            by_name.setdefault(name.lower(), []).append(value)
        return by_name

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        lowered = key.lower()
        return any(name.lower() == lowered for name, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name())

    def __len__(self) -> int:
        return len({name.lower() for name, _ in self._items})

    def __getitem__(self, key: str) -> str:
        values = self.get_all(key)
        if len(values) == 1:
            return values[0]
        if not values:
            raise KeyError(key.lower())
        raise MultipleValuesError(key)

    def __setitem__(self, key: str, value: str) -> None:
        """Add a value for ``key``.

        :raises InvalidHeaderValue: when ``str(value)`` contains characters a
            header value cannot carry (control characters such as CR and LF,
            or code points above U+00FF), as websockets.
        """
        if not is_valid_header_value(str(value)):
            raise InvalidHeaderValue(key, value)
        self._items.append((key, value))

    def set_insecure(self, key: str, value: str) -> None:
        """Add a value for ``key`` without checking it (it is sent as given)."""
        self._items.append((key, value))

    def __delitem__(self, key: str) -> None:
        lowered = key.lower()
        kept = [item for item in self._items if item[0].lower() != lowered]
        if len(kept) == len(self._items):
            raise KeyError(lowered)
        self._items = kept

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._by_name() == other._by_name()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def clear(self) -> None:
        """Remove every header."""
        self._items = []

    def update(self, *args: HeadersLike, **kwargs: str) -> None:  # type: ignore[override]
        """Add headers from mappings, iterables of pairs or keyword arguments."""
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 argument, got {len(args)}")
        for source in args:
            for name, value in _pairs(source):
                self[name] = value
        for name, value in kwargs.items():
            self[name] = value

    def get_all(self, key: str) -> list[str]:
        """Every value of ``key`` (an empty list when absent)."""
        lowered = key.lower()
        return [value for name, value in self._items if name.lower() == lowered]

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """Every ``(name, value)`` pair, in order, with the names' original case."""
        return iter(self._items)


HeadersLike = Union[Headers, Mapping[str, str], Iterable[tuple[str, str]]]


def _pairs(source: Any) -> Iterable[tuple[str, str]]:
    if isinstance(source, Headers):
        return source.raw_items()
    if hasattr(source, "raw_items"):  # websockets' own Headers
        return source.raw_items()  # type: ignore[no-any-return]
    if isinstance(source, Mapping):
        if hasattr(source, "getall"):  # multidict keeps repeated headers in items()
            return list(source.items())
        return source.items()
    return source  # type: ignore[no-any-return]
