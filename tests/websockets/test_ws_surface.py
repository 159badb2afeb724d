"""picows.websockets exposes websockets 17's names, module layout and exception classes."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import websockets
import websockets.datastructures
import websockets.exceptions as upstream
import websockets.frames
import websockets.protocol

import picows
import picows.websockets as pws
from picows.websockets import exceptions as ours
from picows.websockets.asyncio import _core
from picows.websockets.datastructures import Headers, MultipleValuesError
from picows.websockets.frames import Close, CloseCode
from picows.websockets.protocol import State
from support.ws_api import run_without_websockets

MODULE_NAMES = {
    "picows.websockets.asyncio.client": ["ClientConnection", "connect", "unix_connect", "process_exception"],
    "picows.websockets.asyncio.server": [
        "Server", "ServerConnection", "basic_auth", "broadcast", "serve", "unix_serve",
    ],
    "picows.websockets.asyncio.router": ["Router", "route", "unix_route"],
    "picows.websockets.asyncio.connection": ["Connection", "process_exception"],
    "picows.websockets.exceptions": upstream.__all__,
    "picows.websockets.datastructures": ["Headers", "HeadersLike", "MultipleValuesError"],
    "picows.websockets.frames": ["CloseCode", "Close", "Opcode"],
    "picows.websockets.protocol": ["State"],
    "picows.websockets.http11": ["Request", "Response"],
    "picows.websockets.typing": ["Data", "LoggerLike", "Origin", "Subprotocol", "StatusLike"],
    # The published picows 2.x module layout.
    "picows.websockets.compat": ["State", "Request", "Response", "CloseCode"],
    "picows.websockets": [
        "connect", "serve", "ClientConnection", "ServerConnection", "ServerHandshakeConnection",
        "WebSocketClientProtocol", "Server", "basic_auth", "broadcast", "route", "process_exception",
        "ConnectionClosed", "ConnectionClosedOK", "InvalidStatus", "State", "CloseCode", "Request", "Response",
    ],
}


@pytest.mark.parametrize("module_name", sorted(MODULE_NAMES))
def test_module_exports(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in MODULE_NAMES[module_name] if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("name", upstream.__all__)
def test_exception_subclasses_websockets(name: str) -> None:
    assert ours.WEBSOCKETS_SUBCLASSED
    assert issubclass(getattr(ours, name), getattr(upstream, name))


def test_connection_closed_caught_by_websockets_except_clause() -> None:
    exc = ours.ConnectionClosedOK(Close(1000, ""), Close(1000, "bye"), True)
    with pytest.raises(websockets.exceptions.ConnectionClosed):
        raise exc
    assert str(exc) == str(upstream.ConnectionClosedOK(
        websockets.frames.Close(1000, ""), websockets.frames.Close(1000, "bye"), True))


@pytest.mark.parametrize(
    ("make_ours", "make_theirs"),
    [
        (lambda: ours.ConnectionClosedError(None, None), lambda: upstream.ConnectionClosedError(None, None)),
        (lambda: ours.ConnectionClosedError(Close(1011, "x"), None),
         lambda: upstream.ConnectionClosedError(websockets.frames.Close(1011, "x"), None)),
        (lambda: ours.ConnectionClosedError(None, Close(4000, "")),
         lambda: upstream.ConnectionClosedError(None, websockets.frames.Close(4000, ""))),
        (lambda: ours.InvalidURI("http://x", "scheme isn't ws or wss"),
         lambda: upstream.InvalidURI("http://x", "scheme isn't ws or wss")),
        (lambda: ours.InvalidHeader("Upgrade"), lambda: upstream.InvalidHeader("Upgrade")),
        (lambda: ours.InvalidHeader("Upgrade", ""), lambda: upstream.InvalidHeader("Upgrade", "")),
        (lambda: ours.InvalidOrigin("http://evil"), lambda: upstream.InvalidOrigin("http://evil")),
        (lambda: ours.PayloadTooBig(10, 5), lambda: upstream.PayloadTooBig(10, 5)),
        (lambda: ours.PayloadTooBig(10, 5, 3), lambda: upstream.PayloadTooBig(10, 5, 3)),
        (lambda: ours.InvalidParameterValue("x", None), lambda: upstream.InvalidParameterValue("x", None)),
    ],
)
def test_messages_match_websockets(make_ours: object, make_theirs: object) -> None:
    assert str(make_ours()) == str(make_theirs())  # type: ignore[operator]


def test_invalid_status_message() -> None:
    from picows.websockets.http11 import Response

    exc = ours.InvalidStatus(Response(404, "Not Found", Headers()))
    assert str(exc) == "server rejected WebSocket connection: HTTP 404"
    assert isinstance(exc, upstream.InvalidStatus)


def test_exceptions_stand_alone_without_websockets(tmp_path: object) -> None:
    """With websockets not importable, the classes keep their names, hierarchy and messages."""
    code = """
        from picows.websockets import exceptions as e
        from picows.websockets.frames import Close
        assert not e.WEBSOCKETS_SUBCLASSED
        assert "websockets" not in sys.modules
        x = e.ConnectionClosedOK(Close(1000, ""), Close(1000, ""), False)
        assert isinstance(x, e.ConnectionClosed) and isinstance(x, e.WebSocketException)
        assert str(x) == "sent 1000 (OK); then received 1000 (OK)", str(x)
        assert issubclass(e.InvalidState, AssertionError) and issubclass(e.ConcurrencyError, RuntimeError)
        assert [c.__name__ for c in e.InvalidUpgrade.__mro__[:4]] == [
            "InvalidUpgrade", "InvalidHeader", "InvalidHandshake", "WebSocketException"]
        import picows.websockets.asyncio.client  # the whole API imports without websockets
        print("ok")
        """
    assert run_without_websockets(code).strip() == "ok"


def test_headers_append_semantics() -> None:
    headers = Headers()
    headers["Set-Cookie"] = "a=1"
    headers["set-cookie"] = "b=2"
    headers["Host"] = "example"
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert headers["host"] == "example"
    with pytest.raises(MultipleValuesError):
        headers["Set-Cookie"]
    with pytest.raises(KeyError):
        headers["Missing"]
    assert "HOST" in headers and len(headers) == 2 and 42 not in headers
    assert list(headers) == ["set-cookie", "host"]  # lower-cased names, in order of first appearance
    assert dict(Headers([("A", "1"), ("b", "2")])) == {"a": "1", "b": "2"}
    assert str(headers) == "Set-Cookie: a=1\r\nset-cookie: b=2\r\nHost: example\r\n\r\n"
    del headers["set-cookie"]
    assert list(headers.raw_items()) == [("Host", "example")]
    with pytest.raises(KeyError):
        del headers["set-cookie"]
    assert headers == Headers({"host": "example"})
    assert Headers(websockets.datastructures.Headers([("X", "1"), ("X", "2")])).get_all("x") == ["1", "2"]


def test_state_and_close_code_match_websockets() -> None:
    assert {m.name: int(m) for m in State} == {m.name: int(m) for m in websockets.protocol.State}
    assert {m.name: int(m) for m in CloseCode} == {m.name: int(m) for m in websockets.frames.CloseCode}
    assert State.OPEN == 1 and isinstance(State.OPEN, int)
    for code, reason in [(1000, ""), (1001, "bye"), (3000, "x"), (4999, ""), (1011, "err"), (2999, "")]:
        assert str(Close(code, reason)) == str(websockets.frames.Close(code, reason))


def test_names_of_the_published_module() -> None:
    """Code written for the published picows.websockets: picows.WSCloseCode's names, Response.status, ...."""
    for member in picows.WSCloseCode:
        if member.name != "NO_INFO":  # 0, the core's "no code": not a close code here (1005 is)
            assert CloseCode[member.name] == member.value, member.name
    assert CloseCode.OK is CloseCode.NORMAL_CLOSURE and CloseCode(1000).name == "NORMAL_CLOSURE"
    from picows.websockets.asyncio.server import ServerConnection, ServerHandshakeConnection
    from picows.websockets.http11 import Response

    assert ServerHandshakeConnection is ServerConnection is pws.ServerHandshakeConnection
    assert Response(404, "Not Found", Headers()).status == 404


def test_backend_selects_message_module() -> None:
    """The compiled backend runs the compiled per-message path; the pure one the .py source."""
    module = _core.messages_module
    if picows.BACKEND == "cython":
        assert module.__name__ == "picows.websockets.asyncio._messages_c"
        assert not module.__file__.endswith(".py")
    else:
        assert module.__name__ == "picows.websockets.asyncio._messages"
        assert module.__file__.endswith(".py")
        assert "picows.websockets.asyncio._messages_c" not in sys.modules


def test_pure_env_gives_pure_module() -> None:
    code = (
        "import sys, picows; from picows.websockets.asyncio import _core; "
        "print(picows.BACKEND, _core.messages_module.__name__, 'Cython' in sys.modules or 'cython' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PICOWS_PURE": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["pure", "picows.websockets.asyncio._messages", "False"]


def test_default_gives_compiled_module_when_built() -> None:
    if picows.BACKEND != "cython":
        pytest.skip("this run tests the pure backend (PICOWS_PURE=1); the cython run checks the compiled module")
    env = {k: v for k, v in os.environ.items() if k != "PICOWS_PURE"}
    code = "from picows.websockets.asyncio import _core; print(_core.messages_module.__file__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(".so") or result.stdout.strip().endswith(".pyd")


def test_compression_defaults_and_bad_values_like_websockets() -> None:
    import inspect

    import websockets.asyncio.client as upstream_client
    import websockets.asyncio.server as upstream_server

    from picows.websockets.asyncio.client import connect
    from picows.websockets.asyncio.server import serve

    for our_api, their_api in ((connect, upstream_client.connect), (serve, upstream_server.serve)):
        default = inspect.signature(our_api).parameters["compression"].default
        assert default == inspect.signature(their_api).parameters["compression"].default == "deflate"
    with pytest.raises(ValueError, match="unsupported compression: gzip"):
        connect("ws://127.0.0.1:1/", compression="gzip")
    with pytest.raises(ValueError, match="unsupported compression: gzip"):
        serve(lambda ws: None, "127.0.0.1", 0, compression="gzip")


def test_all_names_exist() -> None:
    assert [name for name in pws.__all__ if not hasattr(pws, name)] == []


def test_setup_py_compiles_the_message_path_from_the_pure_source() -> None:
    """setup.py builds _messages_c from _messages_c.py, a symlink to the pure _messages.py."""
    root = Path(__file__).resolve().parent.parent.parent
    source = root / "src" / "picows" / "websockets" / "asyncio" / "_messages_c.py"
    assert source.is_symlink() and os.readlink(source) == "_messages.py"
    assert (source.parent / "_messages_c.pxd").is_file()
    setup_text = (root / "setup.py").read_text()
    assert '"picows.websockets.asyncio._messages_c"' in setup_text and '"_messages_c.py"' in setup_text
