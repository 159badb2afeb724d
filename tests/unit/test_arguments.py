"""Argument validation of ``ws_connect`` and ``ws_create_server``, as a table; no I/O happens.

Each bad argument must be refused with its exact message before anything is
connected or bound: the URL points at a port where nothing listens, so a
call that got past validation would fail differently (connection refused).
These are async tests in ``unit/``: they run on asyncio only (tests/README.md).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

import picows
from support import TIMEOUT
from support.listeners import CollectingListener
from support.net import free_port

# (id, keyword arguments, exception type, exact message; a trailing "..." means "starts with")
OPTIONS = [
    ("disconnect_on_exception-str", {"disconnect_on_exception": "yes"}, TypeError, "disconnect_on_exception must be a bool, got str"),
    ("handshake-timeout-zero", {"websocket_handshake_timeout": 0}, ValueError, "websocket_handshake_timeout must be > 0, got 0"),
    ("handshake-timeout-negative", {"websocket_handshake_timeout": -1.5}, ValueError, "websocket_handshake_timeout must be > 0, got -1.5"),
    ("handshake-timeout-str", {"websocket_handshake_timeout": "5"}, TypeError, "websocket_handshake_timeout must be a number, got str"),
    ("handshake-timeout-bool", {"websocket_handshake_timeout": True}, TypeError, "websocket_handshake_timeout must be a number, got bool"),
    ("logger_name-empty", {"logger_name": ""}, TypeError, "logger_name must be a non-empty str, a logging.Logger/LoggerAdapter or None"),
    ("logger_name-int", {"logger_name": 5}, TypeError, "logger_name must be a non-empty str, a logging.Logger/LoggerAdapter or None"),
    ("enable_auto_ping-int", {"enable_auto_ping": 1}, TypeError, "enable_auto_ping must be a bool, got int"),
    ("idle-timeout-negative", {"auto_ping_idle_timeout": -1}, ValueError, "auto_ping_idle_timeout must be > 0, got -1"),
    ("reply-timeout-none", {"auto_ping_reply_timeout": None}, TypeError, "auto_ping_reply_timeout must be a number, got NoneType"),
    ("reply-exceeds-idle", {"auto_ping_idle_timeout": 1, "auto_ping_reply_timeout": 2.5}, ValueError,
     "auto_ping_reply_timeout (2.5) may not exceed auto_ping_idle_timeout (1)"),
    ("strategy-unknown", {"auto_ping_strategy": 99}, ValueError, "auto_ping_strategy must be a WSAutoPingStrategy, got 99"),
    ("enable_auto_pong-str", {"enable_auto_pong": "no"}, TypeError, "enable_auto_pong must be a bool, got str"),
    ("max_frame_size-float", {"max_frame_size": 1.5}, TypeError, "max_frame_size must be an int, got float"),
    ("max_frame_size-bool", {"max_frame_size": False}, TypeError, "max_frame_size must be an int, got bool"),
    ("max_frame_size-negative", {"max_frame_size": -1}, ValueError, "max_frame_size must be in [0, 2**62], got -1"),
    ("max_frame_size-huge", {"max_frame_size": 2**62 + 1}, ValueError, f"max_frame_size must be in [0, 2**62], got {2**62 + 1}"),
    ("check_fragment_order-none", {"check_fragment_order": None}, TypeError, "check_fragment_order must be a bool, got NoneType"),
    ("validate_utf8-int", {"validate_utf8": 1}, TypeError, "validate_utf8 must be a bool, got int"),
    ("auto_close-str", {"auto_close": "yes"}, TypeError, "auto_close must be a bool, got str"),
    ("close_timeout-zero", {"close_timeout": 0}, ValueError, "close_timeout must be > 0, got 0"),
    ("close_timeout-str", {"close_timeout": "10"}, TypeError, "close_timeout must be a number, got str"),
    ("read_buffer_init_size-float", {"read_buffer_init_size": 4096.0}, TypeError, "read_buffer_init_size must be an int, got float"),
    ("zero_copy_unsafe_ssl_write-int", {"zero_copy_unsafe_ssl_write": 1}, TypeError, "zero_copy_unsafe_ssl_write must be a bool, got int"),
    # Names users bring from other libraries: a TypeError from picows, with what to use instead.
    ("unknown-kwarg", {"no_such_option": 1}, TypeError, "...got an unexpected keyword argument 'no_such_option' (not a picows option nor one of AbstractEventLoop.create_..."),
    ("timeout-kwarg", {"timeout": 5}, TypeError, "...got an unexpected keyword argument 'timeout': use websocket_handshake_timeout="),
    ("compression-kwarg", {"compression": None}, TypeError, "...got an unexpected keyword argument 'compression': use permessage_deflate=True (or a picows.PerMessageDeflate)"),
    ("max_size-kwarg", {"max_size": 2**20}, TypeError, "...got an unexpected keyword argument 'max_size': use max_frame_size="),
    ("ping_interval-kwarg", {"ping_interval": 20}, TypeError, "...got an unexpected keyword argument 'ping_interval': use enable_auto_ping=True with auto_ping_idle_timeout="),
]  # fmt: skip

CLIENT_ONLY = [
    ("max_redirects-bool", {"max_redirects": True}, TypeError, "max_redirects must be an int, got bool"),
    ("max_redirects-str", {"max_redirects": "3"}, TypeError, "max_redirects must be an int, got str"),
    ("max_redirects-negative", {"max_redirects": -1}, ValueError, "max_redirects must be >= 0, got -1"),
    ("ssl_context-str", {"ssl_context": "tls"}, TypeError, "ssl_context must be an ssl.SSLContext or None, got str"),
    ("ssl-kwarg", {"ssl": True}, TypeError, "ws_connect() does not accept 'ssl': use ssl_context"),
    ("sock-kwarg", {"sock": object()}, TypeError, "ws_connect() does not accept 'sock': use socket_factory"),
    ("subprotocols-kwarg", {"subprotocols": ["chat"]}, TypeError,
     "ws_connect() got an unexpected keyword argument 'subprotocols': pass extra_headers={'Sec-WebSocket-Protocol': ...} (or use picows.websockets.connect)"),
    ("additional_headers-kwarg", {"additional_headers": {"A": "b"}}, TypeError,
     "ws_connect() got an unexpected keyword argument 'additional_headers': use extra_headers="),
    ("open_timeout-kwarg", {"open_timeout": 3}, TypeError,
     "ws_connect() got an unexpected keyword argument 'open_timeout': use websocket_handshake_timeout="),
    ("socket_factory-not-callable", {"socket_factory": 3}, TypeError, "socket_factory must be callable or None"),
    ("proxy_ssl_context-without-proxy", {"proxy_ssl_context": ssl.create_default_context()}, ValueError,
     "proxy_ssl_context is only used with an https:// proxy"),
    ("proxy_ssl_context-http-proxy", {"proxy": "http://127.0.0.1:3128", "proxy_ssl_context": ssl.create_default_context()},
     ValueError, "proxy_ssl_context is only used with an https:// proxy"),
    ("proxy_ssl_context-str", {"proxy": "https://127.0.0.1:3128", "proxy_ssl_context": "tls"}, TypeError,
     "proxy_ssl_context must be an ssl.SSLContext or None, got str"),
    ("all_errors-kwarg", {"all_errors": True}, TypeError, "ws_connect() does not accept 'all_errors': picows raises the connection error itself"),
    ("extra_headers-int", {"extra_headers": 42}, TypeError, "extra_headers must be a mapping or an iterable of (str, str) pairs"),
    ("proxy-int", {"proxy": 8080}, TypeError, "proxy must be a str URL or None, got int"),
    ("proxy-ftp", {"proxy": "ftp://127.0.0.1:21"}, ValueError, "proxy: unsupported scheme 'ftp' (use http://, https://, socks4://, socks4a://, socks5:// or socks5h://)"),
    ("proxy-bad-port", {"proxy": "http://127.0.0.1:port"}, ValueError, "proxy: ..."),
    ("proxy-no-port", {"proxy": "socks5://127.0.0.1"}, ValueError, "proxy URL must have a host and a port: 'socks5://127.0.0.1'"),
    ("proxy-no-host", {"proxy": "http://:3128"}, ValueError, "proxy URL must have a host and a port: 'http://:3128'"),
]  # fmt: skip


def check_message(exc: BaseException, message: str) -> None:
    """A leading "..." means "ends with" (the entry point's name varies), a trailing one "starts with"."""
    if message.startswith("...") and message.endswith("..."):
        assert message[3:-3] in str(exc), str(exc)
    elif message.startswith("..."):
        assert str(exc).endswith(message[3:]), str(exc)
    elif message.endswith("..."):
        assert str(exc).startswith(message[:-3]), str(exc)
    else:
        assert str(exc) == message


@pytest.mark.parametrize("kwargs, error, message", [c[1:] for c in OPTIONS + CLIENT_ONLY], ids=[c[0] for c in OPTIONS + CLIENT_ONLY])
async def test_ws_connect_refuses(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    url = f"ws://127.0.0.1:{free_port()}/"
    with pytest.raises(error) as info:
        await asyncio.wait_for(picows.ws_connect(CollectingListener, url, **kwargs), TIMEOUT)
    check_message(info.value, message)


@pytest.mark.parametrize("kwargs, error, message", [c[1:] for c in OPTIONS], ids=[c[0] for c in OPTIONS])
async def test_ws_create_server_refuses(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        await asyncio.wait_for(picows.ws_create_server(lambda request: None, "127.0.0.1", 0, **kwargs), TIMEOUT)
    check_message(info.value, message)


@pytest.mark.parametrize("factory", [None, "listener", CollectingListener()])
async def test_listener_factory_must_be_callable(factory: Any) -> None:
    with pytest.raises(TypeError, match="^ws_listener_factory must be callable$"):
        await picows.ws_connect(factory, f"ws://127.0.0.1:{free_port()}/")
    with pytest.raises(TypeError, match="^ws_listener_factory must be callable$"):
        await picows.ws_create_server(factory, "127.0.0.1", 0)
