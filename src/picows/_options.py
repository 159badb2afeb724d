"""Validated connection options shared by ws_connect and ws_create_server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._limits import MAX_FRAME_SIZE_LIMIT
from ._types import WSAutoPingStrategy

__all__ = ["ConnectionOptions"]


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def _check_positive(name: str, value: Any, allow_none: bool = False) -> float:
    if value is None and allow_none:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return float(value)


class ConnectionOptions:
    """Options that every connection of one ws_connect/ws_create_server call shares."""

    __slots__ = (
        "disconnect_on_exception",
        "websocket_handshake_timeout",
        "logger_name",
        "enable_auto_ping",
        "auto_ping_idle_timeout",
        "auto_ping_reply_timeout",
        "auto_ping_strategy",
        "enable_auto_pong",
        "max_frame_size",
        "check_fragment_order",
    )

    def __init__(
        self,
        *,
        disconnect_on_exception: bool,
        websocket_handshake_timeout: float,
        logger_name: str,
        enable_auto_ping: bool,
        auto_ping_idle_timeout: float,
        auto_ping_reply_timeout: float,
        auto_ping_strategy: WSAutoPingStrategy,
        enable_auto_pong: bool,
        max_frame_size: int,
        check_fragment_order: bool,
    ) -> None:
        self.disconnect_on_exception = _check_bool("disconnect_on_exception", disconnect_on_exception)
        self.websocket_handshake_timeout = _check_positive(
            "websocket_handshake_timeout", websocket_handshake_timeout
        )
        if not isinstance(logger_name, str) or not logger_name:
            raise TypeError("logger_name must be a non-empty str")
        self.logger_name = logger_name
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
        if isinstance(max_frame_size, bool) or not isinstance(max_frame_size, int):
            raise TypeError(f"max_frame_size must be an int, got {type(max_frame_size).__name__}")
        if not 0 <= max_frame_size <= MAX_FRAME_SIZE_LIMIT:
            raise ValueError(f"max_frame_size must be in [0, 2**62], got {max_frame_size}")
        self.max_frame_size = max_frame_size
        self.check_fragment_order = _check_bool("check_fragment_order", check_fragment_order)

    @classmethod
    def from_arguments(cls, arguments: Mapping[str, Any]) -> ConnectionOptions:
        """Validate the connection options among the arguments of ws_connect / ws_create_server.

        ``arguments`` is the entry point's ``locals()``: the options are its
        parameters of the same names, so the two entry points list them only in
        their signatures.
        """
        return cls(**{name: arguments[name] for name in cls.__slots__})
