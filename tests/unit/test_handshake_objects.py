"""Handshake objects, errors, enums and the public namespace (no network)."""

from __future__ import annotations

import enum
import http

import pytest
from multidict import CIMultiDict

import picows
from picows import (
    WSAutoPingStrategy,
    WSCloseCode,
    WSError,
    WSInvalidURL,
    WSListener,
    WSMsgType,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
)

SPEC_NAMES = {
    "ws_connect",
    "ws_create_server",
    "WSError",
    "WSInvalidURL",
    "WSFrame",
    "WSUpgradeRequest",
    "WSUpgradeResponse",
    "WSUpgradeResponseWithListener",
    "WSListener",
    "WSTransport",
    "WSMsgType",
    "WSCloseCode",
    "WSAutoPingStrategy",
    "PICOWS_DEBUG_LL",
}
# The additions of the picows 2.x line (../shared/COMPAT.md).
COMPAT_2X_NAMES = {
    "WSHandshakeError",
    "WSInvalidMessageError",
    "WSInvalidStatusError",
    "WSInvalidHeaderError",
    "WSInvalidUpgradeError",
    "WSProtocolError",
    "WSCloseInfo",
    "WSCloseHandshake",
    "WSParsedURL",
}
# permessage-deflate and the broadcast that frames once (issue 14).
DEFLATE_NAMES = {"PerMessageDeflate", "DeflateAgreement", "broadcast", "BroadcastResult"}


# ---------------------------------------------------------------- public names


def test_all_spec_names_importable() -> None:
    for name in SPEC_NAMES | COMPAT_2X_NAMES:
        assert hasattr(picows, name), name


# Besides the SPEC list, DESIGN.md allows only the version and backend introspection.
INTROSPECTION = {"__version__", "BACKEND", "BACKEND_FALLBACK_REASON"}


def test_dunder_all_is_the_spec_names() -> None:
    assert SPEC_NAMES | COMPAT_2X_NAMES <= set(picows.__all__)
    assert SPEC_NAMES | COMPAT_2X_NAMES | DEFLATE_NAMES <= set(picows.__all__)
    assert set(picows.__all__) - SPEC_NAMES - COMPAT_2X_NAMES - DEFLATE_NAMES <= INTROSPECTION
    assert len(picows.__all__) == len(set(picows.__all__))


def test_star_import_gives_spec_names() -> None:
    namespace: dict = {}
    exec("from picows import *", namespace)
    names = {k for k in namespace if k != "__builtins__"}
    assert SPEC_NAMES | COMPAT_2X_NAMES | DEFLATE_NAMES <= names
    assert names - SPEC_NAMES - COMPAT_2X_NAMES - DEFLATE_NAMES <= INTROSPECTION


def test_no_unexpected_public_attributes() -> None:
    import types

    extra = {n for n in dir(picows) if not n.startswith("_")} - SPEC_NAMES - COMPAT_2X_NAMES - DEFLATE_NAMES
    # Submodules imported by something (picows.picows, picows.websockets) are attributes too.
    extra = {n for n in extra if not isinstance(getattr(picows, n), types.ModuleType)}
    assert extra <= INTROSPECTION, extra


def test_backend_and_version() -> None:
    assert picows.BACKEND in ("pure", "cython")
    assert isinstance(picows.__version__, str) and picows.__version__


def test_coroutines() -> None:
    import inspect

    assert inspect.iscoroutinefunction(picows.ws_connect)
    assert inspect.iscoroutinefunction(picows.ws_create_server)


def test_ws_connect_signature_defaults() -> None:
    import inspect

    params = inspect.signature(picows.ws_connect).parameters
    expected = {
        "ssl_context": None,
        "disconnect_on_exception": True,
        "websocket_handshake_timeout": 5,
        "logger_name": "client",
        "enable_auto_ping": False,
        "auto_ping_idle_timeout": 10,
        "auto_ping_reply_timeout": 10,
        "auto_ping_strategy": WSAutoPingStrategy.PING_WHEN_IDLE,
        "enable_auto_pong": True,
        "max_frame_size": 10 * 1024 * 1024,
        "extra_headers": None,
        "max_redirects": 5,
        "proxy": None,
    }
    for name, default in expected.items():
        assert name in params, name
        assert params[name].kind == inspect.Parameter.KEYWORD_ONLY, name
        assert params[name].default == default, (name, params[name].default)
    assert any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_ws_create_server_signature_defaults() -> None:
    import inspect

    params = inspect.signature(picows.ws_create_server).parameters
    assert params["host"].default is None
    assert params["port"].default is None
    expected = {
        "disconnect_on_exception": True,
        "websocket_handshake_timeout": 5,
        "logger_name": "server",
        "enable_auto_ping": False,
        "auto_ping_idle_timeout": 20,
        "auto_ping_reply_timeout": 20,
        "auto_ping_strategy": WSAutoPingStrategy.PING_WHEN_IDLE,
        "enable_auto_pong": True,
        "max_frame_size": 10 * 1024 * 1024,
    }
    for name, default in expected.items():
        assert name in params, name
        assert params[name].kind == inspect.Parameter.KEYWORD_ONLY, name
        assert params[name].default == default, (name, params[name].default)
    assert any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_debug_level() -> None:
    assert picows.PICOWS_DEBUG_LL == 9
    import logging

    assert picows.PICOWS_DEBUG_LL < logging.DEBUG


# ---------------------------------------------------------------- enums


def test_msg_type_values() -> None:
    assert {m.name: int(m) for m in WSMsgType} == {
        "CONTINUATION": 0x0,
        "TEXT": 0x1,
        "BINARY": 0x2,
        "CLOSE": 0x8,
        "PING": 0x9,
        "PONG": 0xA,
    }


def test_close_code_values() -> None:
    assert {m.name: int(m) for m in WSCloseCode} == {
        "NO_INFO": 0,
        "OK": 1000,
        "GOING_AWAY": 1001,
        "PROTOCOL_ERROR": 1002,
        "UNSUPPORTED_DATA": 1003,
        "ABNORMAL_CLOSURE": 1006,
        "INVALID_TEXT": 1007,
        "POLICY_VIOLATION": 1008,
        "MESSAGE_TOO_BIG": 1009,
        "MANDATORY_EXTENSION": 1010,
        "INTERNAL_ERROR": 1011,
        "SERVICE_RESTART": 1012,
        "TRY_AGAIN_LATER": 1013,
        "BAD_GATEWAY": 1014,
    }


def test_auto_ping_strategy_values() -> None:
    assert {m.name: int(m) for m in WSAutoPingStrategy} == {"PING_WHEN_IDLE": 1, "PING_PERIODICALLY": 2}


@pytest.mark.parametrize("enum_cls", [WSMsgType, WSCloseCode, WSAutoPingStrategy])
def test_enums_compare_as_int(enum_cls: type) -> None:
    assert issubclass(enum_cls, enum.Enum)
    for member in enum_cls:
        value = int(member)
        assert member == value
        assert value == member
        assert hash(member) == hash(value)
        assert enum_cls(value) is member
        assert isinstance(member, int)
        assert member < value + 1
        assert {value: "x"}[member] == "x"


def test_enum_lookup_by_name_and_value() -> None:
    assert WSMsgType(8) is WSMsgType.CLOSE
    assert WSMsgType["PING"] is WSMsgType.PING
    assert WSCloseCode(1011) is WSCloseCode.INTERNAL_ERROR
    with pytest.raises(ValueError):
        WSMsgType(3)


# ---------------------------------------------------------------- WSError / WSInvalidURL


def test_ws_error_is_runtime_error() -> None:
    assert issubclass(WSError, RuntimeError)
    assert issubclass(WSInvalidURL, WSError)


def test_ws_error_attributes_default_none() -> None:
    exc = WSError("boom")
    assert str(exc) == "boom" or "boom" in str(exc)
    assert exc.raw_header is None
    assert exc.raw_body is None
    assert exc.response is None
    assert exc.close_code is None


def test_ws_error_can_be_raised_and_caught_as_runtime_error() -> None:
    with pytest.raises(RuntimeError):
        raise WSError("x")


def test_ws_invalid_url_attributes() -> None:
    exc = WSInvalidURL("http://x/", "scheme must be ws or wss")
    assert exc.url == "http://x/"
    assert exc.msg == "scheme must be ws or wss"
    assert isinstance(exc, WSError)
    assert isinstance(exc, RuntimeError)
    assert exc.response is None
    assert "http://x/" in str(exc)


# ---------------------------------------------------------------- WSUpgradeResponse factories


def test_create_101_response() -> None:
    resp = WSUpgradeResponse.create_101_response()
    assert resp.status == http.HTTPStatus.SWITCHING_PROTOCOLS
    assert isinstance(resp.status, http.HTTPStatus)
    assert resp.version == b"HTTP/1.1"
    assert isinstance(resp.headers, CIMultiDict)
    assert resp.headers["upgrade"].lower() == "websocket"
    assert "upgrade" in resp.headers["connection"].lower()
    assert not resp.body


@pytest.mark.parametrize(
    "extra",
    [{"Sec-WebSocket-Protocol": "chat", "X-A": "1"}, [("Sec-WebSocket-Protocol", "chat"), ("X-A", "1")]],
    ids=["mapping", "pairs"],
)
def test_create_101_response_extra_headers(extra: object) -> None:
    resp = WSUpgradeResponse.create_101_response(extra_headers=extra)  # type: ignore[arg-type]
    assert resp.headers["sec-websocket-protocol"] == "chat"
    assert resp.headers["X-A"] == "1"
    assert resp.status == 101


@pytest.mark.parametrize("extra", [{"X": 1}, [(b"X", "v")], {"X": None}])
def test_create_101_response_non_str_headers(extra: object) -> None:
    with pytest.raises(TypeError):
        WSUpgradeResponse.create_101_response(extra_headers=extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 426, 429, 500, 503, http.HTTPStatus.BAD_GATEWAY])
def test_create_error_response_status(status: int) -> None:
    resp = WSUpgradeResponse.create_error_response(status)
    assert resp.status == status
    assert isinstance(resp.status, http.HTTPStatus)
    assert resp.version == b"HTTP/1.1"
    assert not resp.body


@pytest.mark.parametrize("status", [100, 101, 200, 204, 301, 302, 399])
def test_create_error_response_rejects_non_error_status(status: int) -> None:
    with pytest.raises(ValueError):
        WSUpgradeResponse.create_error_response(status)


def test_create_error_response_with_body() -> None:
    resp = WSUpgradeResponse.create_error_response(403, b"forbidden here")
    assert resp.body == b"forbidden here"
    assert resp.headers["Content-Type"].lower().startswith("text/plain")
    assert resp.headers["Content-Length"] == str(len(b"forbidden here"))


def test_create_error_response_with_extra_headers() -> None:
    resp = WSUpgradeResponse.create_error_response(
        http.HTTPStatus.UPGRADE_REQUIRED, b"x", extra_headers={"Sec-WebSocket-Version": "13", "Retry-After": "5"}
    )
    assert resp.status == 426
    assert resp.headers["sec-websocket-version"] == "13"
    assert resp.headers["Retry-After"] == "5"
    assert resp.headers["Content-Length"] == "1"


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308, http.HTTPStatus.FOUND])
def test_create_redirect_response(status: int) -> None:
    resp = WSUpgradeResponse.create_redirect_response(status, "ws://example.com/new")
    assert resp.status == status
    assert isinstance(resp.status, http.HTTPStatus)
    assert resp.headers["Location"] == "ws://example.com/new"
    assert not resp.body


def test_create_redirect_response_extra_headers() -> None:
    resp = WSUpgradeResponse.create_redirect_response(302, "/x", extra_headers=[("X-R", "1")])
    assert resp.headers["location"] == "/x"
    assert resp.headers["x-r"] == "1"


@pytest.mark.parametrize("status", [101, 200, 400, 404, 500])
def test_create_redirect_response_rejects_non_3xx(status: int) -> None:
    with pytest.raises(ValueError):
        WSUpgradeResponse.create_redirect_response(status, "/x")


def test_create_ok_response_defaults() -> None:
    resp = WSUpgradeResponse.create_ok_response()
    assert resp.status is http.HTTPStatus.OK
    assert resp.version == b"HTTP/1.1"
    assert resp.body is None
    assert list(resp.headers.items()) == [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", "0"),
        ("Connection", "close"),
    ]


@pytest.mark.parametrize("body", [b"ok", bytearray(b"ok"), memoryview(b"ok")], ids=["bytes", "bytearray", "memoryview"])
def test_create_ok_response_with_body(body: object) -> None:
    resp = WSUpgradeResponse.create_ok_response(body)  # type: ignore[arg-type]
    assert resp.body == b"ok" and type(resp.body) is bytes
    assert resp.headers["Content-Length"] == "2"
    assert resp.to_bytes() == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nok"
    )


def test_create_ok_response_extra_headers() -> None:
    resp = WSUpgradeResponse.create_ok_response(
        b'{"ok": true}', extra_headers=[("content-type", "application/json"), ("Cache-Control", "no-store")]
    )
    assert resp.headers.getall("Content-Type") == ["application/json"]  # given: replaces the default
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Content-Length"] == "12"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"body": "ok"}, TypeError, "body must be bytes or None, got str"),
        ({"extra_headers": {"X": 1}}, TypeError, "extra_headers: header names and values must be str, got (str, int)"),
    ],
    ids=["str-body", "non-str-header"],
)
def test_create_ok_response_refuses(kwargs: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        WSUpgradeResponse.create_ok_response(**kwargs)
    assert str(info.value) == message


def test_upgrade_request_remote_address() -> None:
    request = WSUpgradeRequest(b"GET", b"/", b"HTTP/1.1", CIMultiDict())
    assert request.remote_address is None
    request = WSUpgradeRequest(b"GET", b"/", b"HTTP/1.1", CIMultiDict(), ("::1", 443, 0, 0))
    assert request.remote_address == ("::1", 443, 0, 0)


# ---------------------------------------------------------------- WSUpgradeResponseWithListener


def test_response_with_listener_101() -> None:
    listener = WSListener()
    resp = WSUpgradeResponse.create_101_response()
    rwl = WSUpgradeResponseWithListener(resp, listener)
    assert rwl.response is resp
    assert rwl.listener is listener


def test_response_with_listener_101_needs_listener() -> None:
    with pytest.raises(ValueError):
        WSUpgradeResponseWithListener(WSUpgradeResponse.create_101_response(), None)


@pytest.mark.parametrize("status", [400, 404, 500])
def test_response_with_listener_error_must_have_none(status: int) -> None:
    resp = WSUpgradeResponse.create_error_response(status)
    with pytest.raises(ValueError):
        WSUpgradeResponseWithListener(resp, WSListener())
    rwl = WSUpgradeResponseWithListener(resp, None)
    assert rwl.listener is None
    assert rwl.response is resp


@pytest.mark.parametrize("status", [200, 204, 302])
def test_response_with_listener_non_error_statuses(status: int) -> None:
    resp = WSUpgradeResponse.create_ok_response() if status == 200 else WSUpgradeResponse(
        b"HTTP/1.1", http.HTTPStatus(status), CIMultiDict()
    )
    rwl = WSUpgradeResponseWithListener(resp, None)
    assert rwl.response is resp and rwl.listener is None
    with pytest.raises(ValueError, match=f"^a {status} response must have listener=None$"):
        WSUpgradeResponseWithListener(resp, WSListener())


def test_response_with_listener_redirect_with_none() -> None:
    resp = WSUpgradeResponse.create_redirect_response(307, "/elsewhere")
    rwl = WSUpgradeResponseWithListener(resp, None)
    assert rwl.listener is None


def test_listener_subclass_default_hooks() -> None:
    class MyListener(WSListener):
        pass

    listener = MyListener()
    # Plain methods that exist with the documented names.
    for name in (
        "on_ws_connected",
        "on_ws_frame",
        "on_ws_disconnected",
        "send_user_specific_ping",
        "is_user_specific_pong",
        "pause_writing",
        "resume_writing",
    ):
        assert callable(getattr(listener, name)), name


def test_upgrade_request_class_is_public() -> None:
    assert isinstance(WSUpgradeRequest, type)


# (id, the call, exception type, exact message)
BAD_RESPONSES = [
    ("101-reserved-header", lambda: WSUpgradeResponse.create_101_response({"Sec-WebSocket-Accept": "x"}), ValueError,
     "extra_headers: 'Sec-WebSocket-Accept' is set by picows and cannot be overridden"),
    ("error-body-str", lambda: WSUpgradeResponse.create_error_response(400, "text"), TypeError,
     "body must be bytes or None, got str"),
    ("error-status-str", lambda: WSUpgradeResponse.create_error_response("400"), TypeError,
     "status must be an http.HTTPStatus or int, got str"),
    ("error-status-bool", lambda: WSUpgradeResponse.create_error_response(True), TypeError,
     "status must be an http.HTTPStatus or int, got bool"),
    ("error-status-unknown", lambda: WSUpgradeResponse.create_error_response(499), ValueError,
     "status: 499 is not a known HTTP status"),
    ("redirect-location-bytes", lambda: WSUpgradeResponse.create_redirect_response(302, b"/x"), TypeError,
     "location must be a str, got bytes"),
    ("redirect-location-crlf", lambda: WSUpgradeResponse.create_redirect_response(302, "/x\r\nSet-Cookie: a=b"),
     ValueError, "location must not contain CR or LF"),
    ("with-listener-not-a-response", lambda: WSUpgradeResponseWithListener("HTTP/1.1 101", None), TypeError,
     "response must be a WSUpgradeResponse, got str"),
]  # fmt: skip


@pytest.mark.parametrize("call, error, message", [c[1:] for c in BAD_RESPONSES], ids=[c[0] for c in BAD_RESPONSES])
def test_response_factories_refuse(call: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        call()  # type: ignore[operator]
    assert str(info.value) == message


def test_reprs() -> None:
    request = WSUpgradeRequest(b"GET", b"/x", b"HTTP/1.1", CIMultiDict())
    assert repr(request) == "WSUpgradeRequest(method=b'GET', path=b'/x', version=b'HTTP/1.1')"
    response = WSUpgradeResponse.create_101_response()
    assert repr(response) == "WSUpgradeResponse(version=b'HTTP/1.1', status=<HTTPStatus.SWITCHING_PROTOCOLS: 101>)"


def test_to_bytes_of_a_response_with_a_plain_int_status() -> None:
    for status, line in [(403, b"HTTP/1.1 403 Forbidden\r\n"), (499, b"HTTP/1.1 499 \r\n")]:
        resp = WSUpgradeResponse(b"HTTP/1.1", status, CIMultiDict(), None)  # type: ignore[arg-type]
        assert resp.to_bytes() == line + b"\r\n"
