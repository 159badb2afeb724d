"""Validated connection options shared by ws_connect and ws_create_server."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Mapping
from typing import Any, Callable, Union

from ._deflate import PerMessageDeflate, resolve_option
from ._http import DEFAULT_HEAD_LIMITS, HeadLimits, HeadTooLarge
from ._limits import MAX_FRAME_SIZE_LIMIT
from ._types import WSAutoPingStrategy

__all__ = [
    "CLIENT_INTERNAL_OPTIONS",
    "SERVER_INTERNAL_OPTIONS",
    "AnyLogger",
    "ConnectionOptions",
    "LoggerLike",
    "check_loop_kwargs",
    "factory_takes_handshake",
    "pop_internal_options",
]

#: A logger picows logs to.
AnyLogger = Union[logging.Logger, "logging.LoggerAdapter[Any]"]
#: What ``logger_name`` accepts.
LoggerLike = Union[str, AnyLogger, None]

#: Keyword arguments of ws_connect / ws_create_server that only picows' own layers pass
#: (picows.websockets), each the ConnectionOptions field of its name without the underscore.
#: They stay out of the public signatures, so 1.15/2.x code and the documented API do not change.
CLIENT_INTERNAL_OPTIONS = ("_send_user_agent", "_socks_remote_dns", "_extension_offer", "_head_limits")
SERVER_INTERNAL_OPTIONS = (
    "_lenient_request_line",
    "_deflate_after_extensions",
    "_head_limits",
    "_refuse_large_head",
)

#: Smallest initial receive buffer (``read_buffer_init_size`` below it is raised to it).
MIN_READ_BUFFER_INIT_SIZE = 2048


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _check_positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


def resolve_logger(logger_name: LoggerLike, default: str) -> AnyLogger:
    """The logger for ``logger_name``: ``picows.<str>``; a Logger/LoggerAdapter as is; None: the default."""
    if isinstance(logger_name, (logging.Logger, logging.LoggerAdapter)):
        return logger_name
    if logger_name is None:
        logger_name = default
    if not isinstance(logger_name, str) or not logger_name:
        raise TypeError("logger_name must be a non-empty str, a logging.Logger/LoggerAdapter or None")
    return logging.getLogger(f"picows.{logger_name}")


class ConnectionOptions:
    """Options that every connection of one ws_connect/ws_create_server call shares."""

    #: The parameters of ws_connect / ws_create_server that are connection options.
    PARAMETERS = (
        "disconnect_on_exception",
        "websocket_handshake_timeout",
        "enable_auto_ping",
        "auto_ping_idle_timeout",
        "auto_ping_reply_timeout",
        "auto_ping_strategy",
        "enable_auto_pong",
        "max_frame_size",
        "check_fragment_order",
        "validate_utf8",
        "auto_close",
        "close_timeout",
        "read_buffer_init_size",
        "permessage_deflate",
    )

    __slots__ = (
        *PARAMETERS,
        "logger",
        "factory_takes_handshake",
        "send_user_agent",
        "socks_remote_dns",
        "lenient_request_line",
        "extension_offer",
        "deflate_after_extensions",
        "head_limits",
        "refuse_large_head",
    )

    def __init__(
        self,
        *,
        disconnect_on_exception: bool,
        websocket_handshake_timeout: float | None,
        logger: AnyLogger,
        enable_auto_ping: bool,
        auto_ping_idle_timeout: float,
        auto_ping_reply_timeout: float,
        auto_ping_strategy: WSAutoPingStrategy,
        enable_auto_pong: bool,
        max_frame_size: int,
        check_fragment_order: bool = False,
        validate_utf8: bool = False,
        auto_close: bool = False,
        close_timeout: float | None = None,
        read_buffer_init_size: int | None = None,
        permessage_deflate: Any = None,
        factory_takes_handshake: bool = False,
        send_user_agent: bool = True,
        socks_remote_dns: bool | None = None,
        lenient_request_line: bool = False,
        extension_offer: str | None = None,
        deflate_after_extensions: bool = False,
        head_limits: HeadLimits | None = None,
        refuse_large_head: Callable[[HeadTooLarge], Any] | None = None,
    ) -> None:
        self.disconnect_on_exception = _check_bool("disconnect_on_exception", disconnect_on_exception)
        self.websocket_handshake_timeout = (
            None
            if websocket_handshake_timeout is None
            else _check_positive("websocket_handshake_timeout", websocket_handshake_timeout)
        )
        self.logger = logger
        self.enable_auto_ping = _check_bool("enable_auto_ping", enable_auto_ping)
        self.auto_ping_idle_timeout = _check_positive("auto_ping_idle_timeout", auto_ping_idle_timeout)
        self.auto_ping_reply_timeout = _check_positive("auto_ping_reply_timeout", auto_ping_reply_timeout)
        if self.auto_ping_reply_timeout > self.auto_ping_idle_timeout:
            raise ValueError(
                f"auto_ping_reply_timeout ({auto_ping_reply_timeout}) may not exceed "
                f"auto_ping_idle_timeout ({auto_ping_idle_timeout})"
            )
        try:
            self.auto_ping_strategy = WSAutoPingStrategy(auto_ping_strategy)
        except ValueError:
            raise ValueError(
                f"auto_ping_strategy must be a WSAutoPingStrategy, got {auto_ping_strategy!r}"
            ) from None
        self.enable_auto_pong = _check_bool("enable_auto_pong", enable_auto_pong)
        self.max_frame_size = _check_int("max_frame_size", max_frame_size)
        if not 0 <= max_frame_size <= MAX_FRAME_SIZE_LIMIT:
            raise ValueError(f"max_frame_size must be in [0, 2**62], got {max_frame_size}")
        self.check_fragment_order = _check_bool("check_fragment_order", check_fragment_order)
        self.validate_utf8 = _check_bool("validate_utf8", validate_utf8)
        self.auto_close = _check_bool("auto_close", auto_close)
        self.close_timeout = (
            None if close_timeout is None else _check_positive("close_timeout", close_timeout)
        )
        if read_buffer_init_size is None:
            from ._limits import INITIAL_BUFFER_SIZE

            read_buffer_init_size = INITIAL_BUFFER_SIZE
        self.read_buffer_init_size = max(
            _check_int("read_buffer_init_size", read_buffer_init_size), MIN_READ_BUFFER_INIT_SIZE
        )
        self.permessage_deflate: PerMessageDeflate | None = resolve_option(permessage_deflate)
        self.factory_takes_handshake = factory_takes_handshake
        # Internal (see CLIENT_INTERNAL_OPTIONS): False leaves picows' default User-Agent out of the
        # request; a User-Agent in extra_headers is still sent.
        self.send_user_agent = _check_bool("_send_user_agent", send_user_agent)
        # Internal (see CLIENT_INTERNAL_OPTIONS): whether a SOCKS proxy resolves the target's name
        # (None: the proxy scheme's default, picows._proxy.SOCKS_REMOTE_DNS).
        self.socks_remote_dns = (
            None if socks_remote_dns is None else _check_bool("_socks_remote_dns", socks_remote_dns)
        )
        # Internal (see SERVER_INTERNAL_OPTIONS): route requests with any visible-ASCII method and
        # HTTP/1.0 ones to the factory too (its answer is sent; it cannot upgrade them), not 400 them.
        self.lenient_request_line = _check_bool("_lenient_request_line", lenient_request_line)
        # Internal (see CLIENT_INTERNAL_OPTIONS): other extensions the client offers in
        # Sec-WebSocket-Extensions, before permessage-deflate's offer; the layer that offers
        # them checks the server's answer to them (the core checks permessage-deflate's).
        if extension_offer is not None and (not isinstance(extension_offer, str) or not extension_offer):
            raise TypeError("_extension_offer must be a non-empty str or None")
        self.extension_offer = extension_offer
        # Internal (see SERVER_INTERNAL_OPTIONS): a 101 whose Sec-WebSocket-Extensions names other
        # extensions still gets the core's permessage-deflate answer, after them.
        self.deflate_after_extensions = _check_bool("_deflate_after_extensions", deflate_after_extensions)
        # Internal (both roles): bounds on the peer's HTTP head instead of picows' own
        # (DEFAULT_HEAD_LIMITS: a 16 KiB head of at most 128 headers, lines of any length).
        if head_limits is None:
            head_limits = DEFAULT_HEAD_LIMITS
        elif not isinstance(head_limits, HeadLimits):
            raise TypeError("_head_limits must be a picows._http.HeadLimits or None")
        self.head_limits = head_limits
        # Internal (server): the answer (a WSUpgradeResponse) to a request head beyond head_limits;
        # None: picows' own (400, or no answer but a disconnect for a head over its size limit).
        if refuse_large_head is not None and not callable(refuse_large_head):
            raise TypeError("_refuse_large_head must be callable or None")
        self.refuse_large_head = refuse_large_head

    @classmethod
    def from_arguments(
        cls,
        arguments: Mapping[str, Any],
        logger_default: str,
        listener_factory: Callable[..., Any] | None = None,
        internal: Mapping[str, Any] | None = None,
    ) -> ConnectionOptions:
        """Validate the connection options among the arguments of ws_connect / ws_create_server.

        ``arguments`` is the entry point's ``locals()``: the options are its
        parameters of the same names, so the two entry points list them only in
        their signatures. ``zero_copy_unsafe_ssl_write`` (a picows 1.15 option)
        is accepted and ignored: picows never hands asyncio's SSL transport a
        buffer it reuses. ``internal`` is what :func:`pop_internal_options`
        took out of the entry point's ``**kwargs``.
        """
        _check_bool("zero_copy_unsafe_ssl_write", arguments.get("zero_copy_unsafe_ssl_write", False))
        return cls(
            **{name: arguments[name] for name in cls.PARAMETERS if name in arguments},
            logger=resolve_logger(arguments.get("logger_name"), logger_default),
            factory_takes_handshake=(
                listener_factory is not None and factory_takes_handshake(listener_factory)
            ),
            **{name[1:]: value for name, value in (internal or {}).items()},
        )


def pop_internal_options(kwargs: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Take the keywords ``names`` out of an entry point's ``**kwargs`` (the loop never sees them)."""
    return {name: kwargs.pop(name) for name in names if name in kwargs}


def factory_takes_handshake(factory: Callable[..., Any]) -> bool:
    """True if a client listener factory accepts ``(request, response)``; False if it takes nothing.

    picows 2.x lets the client's factory see the upgrade request and response;
    a factory that takes no arguments (the 1.15 form, e.g. a WSListener
    subclass) keeps working.
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins, some extension types
        return False
    try:
        signature.bind(None, None)
    except TypeError:
        return False
    try:
        signature.bind()
    except TypeError:
        return True
    # Both work (e.g. ``def f(*args)``, a class accepting anything): the 1.15 form.
    return False


# Names users bring from other libraries, with what to use instead.
_HINTS = {
    "subprotocols": "pass extra_headers={'Sec-WebSocket-Protocol': ...} (or use picows.websockets.connect)",
    "timeout": "use websocket_handshake_timeout=",
    "open_timeout": "use websocket_handshake_timeout=",
    "additional_headers": "use extra_headers=",
    "headers": "use extra_headers=",
    "extra_header": "use extra_headers=",
    "compression": "use permessage_deflate=True (or a picows.PerMessageDeflate)",
    "compress": "use permessage_deflate=True (or a picows.PerMessageDeflate)",
    "ping_interval": "use enable_auto_ping=True with auto_ping_idle_timeout=",
    "ping_timeout": "use auto_ping_reply_timeout=",
    "heartbeat": "use enable_auto_ping=True with auto_ping_idle_timeout=",
    "max_size": "use max_frame_size=",
    "max_msg_size": "use max_frame_size=",
    "origin": "use extra_headers={'Origin': ...}",
    "user_agent_header": "use extra_headers={'User-Agent': ...}",
    "ssl": "use ssl_context=",
    "logger": "use logger_name= (a str or a logging.Logger)",
    "close_timeout_s": "use close_timeout=",
}


def check_loop_kwargs(entry: str, kwargs: Mapping[str, Any], loop_method: Callable[..., Any]) -> None:
    """Reject keyword arguments that ``loop_method`` (asyncio's signature) does not take, before any I/O."""
    allowed = inspect.signature(loop_method).parameters
    for name in kwargs:
        param = allowed.get(name)
        if param is None or param.kind not in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
            hint = _HINTS.get(name)
            raise TypeError(
                f"{entry}() got an unexpected keyword argument {name!r}"
                + (f": {hint}" if hint else f" (not a picows option nor one of {loop_method.__qualname__}())")
            )


#: The signatures extra keyword arguments are checked against (those of the stdlib loop).
CREATE_CONNECTION = asyncio.AbstractEventLoop.create_connection
CREATE_SERVER = asyncio.AbstractEventLoop.create_server
