"""Headers and MultipleValuesError side by side with websockets.datastructures: the same operations, the same results."""

from __future__ import annotations

from typing import Any, Callable

import multidict
import pytest
import websockets.datastructures as upstream

from picows.websockets import datastructures as ours

LIBRARIES = {"ours": ours, "websockets": upstream}


def outcome(action: Callable[[], Any]) -> Any:
    """The value of ``action()``, or its exception's class name and str()."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - compared between the libraries
        return (type(exc).__name__, str(exc))


SCENARIOS: dict[str, Callable[[Any], Any]] = {
    "str-and-serialize": lambda lib: (str(lib.Headers(A="1", b="2")), lib.Headers([("X", "y")]).serialize()),
    "repr": lambda lib: repr(lib.Headers([("Host", "example"), ("X", "1")])),
    "copy-is-independent": lambda lib: (lambda h: (h.copy().__setitem__("b", "2"), list(h.raw_items()))[1])(
        lib.Headers(a="1")),
    "copy-equal": lambda lib: (lambda h: h.copy() == h)(lib.Headers([("a", "1"), ("A", "2")])),
    "eq-other-type": lambda lib: (lib.Headers(a="1") == {"a": "1"}, lib.Headers(a="1") != "a: 1"),
    "eq-case-and-order": lambda lib: lib.Headers([("A", "1"), ("b", "2")]) == lib.Headers([("b", "2"), ("a", "1")]),
    "clear": lambda lib: (lambda h: (h.clear(), len(h), list(h.raw_items())))(lib.Headers(a="1", b="2")),
    "update-two-args": lambda lib: outcome(lambda: lib.Headers().update({"a": "1"}, {"b": "2"}))[0],
    "update-kwargs": lambda lib: (lambda h: (h.update({"a": "1"}, b="2"), list(h.raw_items())))(lib.Headers()),
    "multiple-values-error": lambda lib: outcome(lambda: lib.Headers([("a", "1"), ("a", "2")])["A"]),
    "missing-key": lambda lib: outcome(lambda: lib.Headers()["Missing"]),
    "missing-delete": lambda lib: outcome(lambda: lib.Headers().__delitem__("Missing")),
    "contains-non-str": lambda lib: (42 in lib.Headers(a="1"), "A" in lib.Headers(a="1")),
    "unhashable": lambda lib: outcome(lambda: hash(lib.Headers())),
    "error-str-two-args": lambda lib: str(lib.MultipleValuesError("a", "b")),
    "error-str-one-arg": lambda lib: str(lib.MultipleValuesError("Set-Cookie")),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_headers_like_websockets(scenario: str) -> None:
    results = {name: SCENARIOS[scenario](lib) for name, lib in LIBRARIES.items()}
    assert results["ours"] == results["websockets"]


def test_repeated_headers_of_a_multidict_are_kept() -> None:
    """aiohttp-style multidicts keep every value (websockets' Headers keeps the first one only)."""
    headers = ours.Headers(multidict.CIMultiDict([("X", "1"), ("x", "2")]))
    assert headers.get_all("X") == ["1", "2"]
    assert list(headers.raw_items()) == [("X", "1"), ("x", "2")]
