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


# Header values a request or response cannot carry (CR/LF would end the header and inject another).
BAD_VALUES = ["a\r\nInjected: 1", "line\nbreak", "nul\x00", "del\x7f", "euro \u20ac", "bell\x07"]
GOOD_VALUES = ["plain", "", "tab\there", "caf\u00e9", "obs-text \xff", "~!*()"]
# Recent websockets checks values too (the PyPy job's older websockets does not: then ours alone is checked).
UPSTREAM_CHECKS_VALUES = hasattr(upstream.Headers, "set_insecure")


@pytest.mark.parametrize("value", BAD_VALUES)
def test_invalid_header_values_are_refused(value: str) -> None:
    for build in (
        lambda: ours.Headers().__setitem__("X", value),
        lambda: ours.Headers({"X": value}),
        lambda: ours.Headers([("X", value)]),
        lambda: ours.Headers(X=value),
        lambda: ours.Headers().update({"X": value}),
        lambda: ours.Headers().setdefault("X", value),
    ):
        with pytest.raises(ours.InvalidHeaderValue) as info:
            build()
        assert str(info.value) == f"invalid X header: {value}"
        assert info.value.name == "X" and info.value.value == value
    if UPSTREAM_CHECKS_VALUES:
        assert outcome(lambda: ours.Headers(X=value)) == outcome(lambda: upstream.Headers(X=value))


@pytest.mark.parametrize("value", GOOD_VALUES)
def test_valid_header_values_are_kept(value: str) -> None:
    headers = ours.Headers(X=value)
    headers["Y"] = 5  # type: ignore[assignment] - str(value) is what is checked, as websockets
    assert list(headers.raw_items()) == [("X", value), ("Y", 5)]
    if UPSTREAM_CHECKS_VALUES:
        theirs = upstream.Headers(X=value)
        theirs["Y"] = 5  # type: ignore[assignment]
        assert list(theirs.raw_items()) == list(headers.raw_items())


def test_set_insecure_and_copy_keep_unchecked_values() -> None:
    headers = ours.Headers()
    headers.set_insecure("X", "a\nb")
    copy = headers.copy()
    assert copy["X"] == "a\nb" and copy == headers
    assert ours.is_valid_header_value("ok\t") and not ours.is_valid_header_value("no\r")


def test_invalid_header_value_is_websockets_class_when_installed() -> None:
    import websockets.exceptions

    from picows.websockets.exceptions import WEBSOCKETS_SUBCLASSED

    with pytest.raises(websockets.exceptions.InvalidHeaderValue if WEBSOCKETS_SUBCLASSED else ours.InvalidHeaderValue):
        ours.Headers(X="\n")


def test_request_and_response_serialize_like_websockets() -> None:
    import websockets.http11 as upstream_http11

    from picows.websockets import http11

    pairs = [("Host", "example.com"), ("X-Many", "1"), ("x-many", "2")]
    ours_request = http11.Request("/chat?room=1", ours.Headers(pairs))
    theirs_request = upstream_http11.Request("/chat?room=1", upstream.Headers(pairs))
    assert ours_request.serialize() == theirs_request.serialize()
    assert ours_request.serialize().startswith(b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n")
    ours_response = http11.Response(404, "Not Found", ours.Headers(pairs), b"body")
    theirs_response = upstream_http11.Response(404, "Not Found", upstream.Headers(pairs), b"body")
    assert ours_response.serialize() == theirs_response.serialize()
    assert ours_response.serialize().endswith(b"\r\n\r\nbody")
    # A reason phrase round-trips as ISO-8859-1, as websockets 17 (older ones encoded it as UTF-8).
    assert http11.Response(200, "\xe9", ours.Headers()).serialize() == b"HTTP/1.1 200 \xe9\r\n\r\n"
    with pytest.raises(UnicodeEncodeError):
        http11.Request("/caf\u00e9", ours.Headers()).serialize()
