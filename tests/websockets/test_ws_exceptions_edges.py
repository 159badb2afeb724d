"""Every exception class: constructor, attributes and str() as websockets 17's, with and without websockets.

The classes without websockets are this module's own copy of ``picows.websockets.exceptions``, loaded
in-process from the installed file with ``websockets`` hidden from the import system (the subprocess
test in test_ws_surface.py checks the real situation; this one compares every message).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from types import ModuleType, SimpleNamespace
from typing import Any, Callable

import pytest
import websockets.datastructures
import websockets.exceptions as upstream
import websockets.frames
import websockets.http11

import picows.websockets.exceptions as ours
from picows.websockets import datastructures, frames, http11


def library(kind: str) -> SimpleNamespace:
    """The Close, Response and Headers classes of one library."""
    if kind == "websockets":
        return SimpleNamespace(
            Close=websockets.frames.Close, Response=websockets.http11.Response,
            Headers=websockets.datastructures.Headers,
        )
    return SimpleNamespace(Close=frames.Close, Response=http11.Response, Headers=datastructures.Headers)


def response(lib: SimpleNamespace, status: int) -> Any:
    return lib.Response(status, "Reason", lib.Headers(), b"")


#: id -> (class name, positional arguments built from one library's classes)
CASES: dict[str, tuple[str, Callable[[SimpleNamespace], tuple[Any, ...]]]] = {
    "closed-none": ("ConnectionClosed", lambda lib: (None, None)),
    "closed-rcvd-only": ("ConnectionClosedError", lambda lib: (lib.Close(1011, "boom"), None)),
    "closed-sent-only": ("ConnectionClosedError", lambda lib: (None, lib.Close(1002, ""))),
    "closed-rcvd-then-sent": ("ConnectionClosedOK", lambda lib: (lib.Close(1000, "a"), lib.Close(1000, "b"), True)),
    "closed-sent-then-rcvd": ("ConnectionClosedOK", lambda lib: (lib.Close(1001, ""), lib.Close(1000, ""), False)),
    "closed-no-status": ("ConnectionClosedOK", lambda lib: (lib.Close(1005, ""), lib.Close(1005, ""), True)),
    "invalid-uri": ("InvalidURI", lambda lib: ("ftp://x", "scheme isn't ws or wss")),
    "invalid-proxy": ("InvalidProxy", lambda lib: ("gopher://p", "scheme gopher isn't supported")),
    "invalid-proxy-status": ("InvalidProxyStatus", lambda lib: (response(lib, 407),)),
    "invalid-status": ("InvalidStatus", lambda lib: (response(lib, 503),)),
    "invalid-method": ("InvalidMethod", lambda lib: ("POST",)),
    "invalid-protocol": ("InvalidProtocol", lambda lib: ("HTTP/1.0",)),
    "header-missing": ("InvalidHeader", lambda lib: ("Upgrade",)),
    "header-empty": ("InvalidHeader", lambda lib: ("Upgrade", "")),
    "header-invalid": ("InvalidHeader", lambda lib: ("Upgrade", "h2c")),
    "header-format": ("InvalidHeaderFormat", lambda lib: ("Sec-WebSocket-Extensions", "expected token", "a;;b", 2)),
    "header-value": ("InvalidHeaderValue", lambda lib: ("Sec-WebSocket-Version", "12")),
    "upgrade": ("InvalidUpgrade", lambda lib: ("Connection", "keep-alive")),
    "origin-missing": ("InvalidOrigin", lambda lib: (None,)),
    "origin-bad": ("InvalidOrigin", lambda lib: ("https://evil",)),
    "duplicate-parameter": ("DuplicateParameter", lambda lib: ("server_max_window_bits",)),
    "parameter-name": ("InvalidParameterName", lambda lib: ("x-unknown",)),
    "parameter-value-missing": ("InvalidParameterValue", lambda lib: ("client_max_window_bits", None)),
    "parameter-value-empty": ("InvalidParameterValue", lambda lib: ("client_max_window_bits", "")),
    "parameter-value-bad": ("InvalidParameterValue", lambda lib: ("client_max_window_bits", "42")),
    "too-big-message": ("PayloadTooBig", lambda lib: ("over the limit",)),
    "too-big-unknown-size": ("PayloadTooBig", lambda lib: (None, 1024)),
    "too-big-size": ("PayloadTooBig", lambda lib: (2048, 1024)),
    "too-big-after": ("PayloadTooBig", lambda lib: (512, 1024, 600)),
    "too-many-fragments": ("TooManyFragments", lambda lib: (16,)),
    "negotiation": ("NegotiationError", lambda lib: ("unsupported subprotocol: chat",)),
    "message": ("InvalidMessage", lambda lib: ("did not receive a valid HTTP response",)),
    "security": ("SecurityError", lambda lib: ("more than 10 redirects",)),
    "request-line": ("RequestLineTooLong", lambda lib: ("request line too long",)),
    "status-line": ("StatusLineTooLong", lambda lib: ("status line too long",)),
    "header-line": ("HeaderLineTooLong", lambda lib: ("line too long",)),
    "too-many-headers": ("TooManyHeaders", lambda lib: ("too many HTTP headers",)),
    "proxy-message": ("InvalidProxyMessage", lambda lib: ("did not receive a valid HTTP response from proxy",)),
    "protocol": ("ProtocolError", lambda lib: ("invalid opcode",)),
    "state": ("InvalidState", lambda lib: ("connection is closed",)),
    "concurrency": ("ConcurrencyError", lambda lib: ("cannot call recv twice",)),
}

#: Attributes websockets documents on its exceptions (compared where the class has them).
ATTRIBUTES = ("rcvd", "sent", "rcvd_then_sent", "uri", "msg", "proxy", "method", "protocol", "name", "value",
              "size", "max_size", "current_size")


def _comparable(value: Any) -> Any:
    """Close frames and responses of either library as plain tuples."""
    if hasattr(value, "code") and hasattr(value, "reason"):
        return (value.code, value.reason)
    return value


@pytest.fixture(scope="module")
def standalone() -> ModuleType:
    """picows.websockets.exceptions as it is when websockets cannot be imported."""
    hidden = {name: module for name, module in sys.modules.items()
              if name == "websockets" or name.startswith("websockets.")}
    path = ours.__file__
    assert path is not None
    spec = importlib.util.spec_from_file_location("picows.websockets._standalone_exceptions", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # "import websockets..." raises ImportError
        spec.loader.exec_module(module)
    finally:
        sys.modules.update(hidden)
    return module


@pytest.mark.parametrize("case", sorted(CASES))
def test_str_and_attributes_match_websockets(case: str, standalone: ModuleType) -> None:
    name, make_args = CASES[case]
    if not hasattr(upstream, name):  # websockets < 16 (PyPy's 3.9) has no such class: ours with and without
        assert str(getattr(ours, name)(*make_args(library("ours")))) == str(
            getattr(standalone, name)(*make_args(library("ours"))))
        return
    with warnings.catch_warnings(record=True) as their_warnings:
        warnings.simplefilter("always")
        theirs = getattr(upstream, name)(*make_args(library("websockets")))
    for module in (ours, standalone):
        with warnings.catch_warnings(record=True) as our_warnings:
            warnings.simplefilter("always")
            exc = getattr(module, name)(*make_args(library("ours")))
        # Deprecated forms (PayloadTooBig(message)) warn as in websockets.
        assert [str(w.message) for w in our_warnings] == [str(w.message) for w in their_warnings]
        assert str(exc) == str(theirs)
        for attribute in ATTRIBUTES:
            if hasattr(theirs, attribute):
                assert _comparable(getattr(exc, attribute)) == _comparable(getattr(theirs, attribute)), attribute
        for response_attribute in ("response",):
            if hasattr(theirs, response_attribute):
                assert getattr(exc, response_attribute).status_code == theirs.response.status_code


def test_standalone_classes_keep_the_hierarchy(standalone: ModuleType) -> None:
    assert not standalone.WEBSOCKETS_SUBCLASSED and ours.WEBSOCKETS_SUBCLASSED
    for name in upstream.__all__:
        ours_class, alone = getattr(ours, name), getattr(standalone, name)
        assert not issubclass(alone, getattr(upstream, name)), name
        # The same chain of our own classes, only without websockets' bases.
        own_chain = [c.__name__ for c in ours_class.__mro__ if c.__module__ == ours.__name__]
        alone_chain = [c.__name__ for c in alone.__mro__ if c.__module__ == standalone.__name__]
        assert own_chain == alone_chain, name
    assert issubclass(standalone.InvalidState, AssertionError)
    assert issubclass(standalone.ConcurrencyError, RuntimeError)


@pytest.mark.parametrize("rcvd", [None, (4000, "custom")])
def test_deprecated_code_and_reason_warn_like_websockets(rcvd: tuple[int, str] | None) -> None:
    mine = ours.ConnectionClosedError(None if rcvd is None else frames.Close(*rcvd), None)
    theirs = upstream.ConnectionClosedError(None if rcvd is None else websockets.frames.Close(*rcvd), None)
    for exc in (mine, theirs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = (exc.code, exc.reason)
        assert [w.category for w in caught] == [DeprecationWarning, DeprecationWarning]
        assert "ConnectionClosed.code is deprecated" in str(caught[0].message)
        assert "ConnectionClosed.reason is deprecated" in str(caught[1].message)
        assert values == ((1006, "") if rcvd is None else rcvd)


def test_payload_too_big_set_current_size_like_websockets() -> None:
    mine, theirs = ours.PayloadTooBig(100, 1000), upstream.PayloadTooBig(100, 1000)
    for exc in (mine, theirs):
        exc.set_current_size(None)  # nothing read yet: no change
        assert str(exc) == "frame with 100 bytes exceeds limit of 1000 bytes"
    mine, theirs = ours.PayloadTooBig(100, 1000), upstream.PayloadTooBig(100, 1000)
    for exc in (mine, theirs):
        exc.set_current_size(950)
    assert str(mine) == str(theirs) == "frame with 100 bytes after reading 950 bytes exceeds limit of 1950 bytes"
    assert (mine.size, mine.max_size, mine.current_size) == (theirs.size, theirs.max_size, 950)


def test_caught_by_websockets_except_clauses() -> None:
    """Each class is caught by the websockets class of the same name and by its websockets bases."""
    for name in upstream.__all__:
        cls = getattr(ours, name)
        for base in getattr(upstream, name).__mro__:
            if isinstance(base, type) and base.__module__ == upstream.__name__:
                assert issubclass(cls, base), (name, base)
