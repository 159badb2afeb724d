"""What picows requires of a listener object, checked once per connection (shared by both backends)."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["CALLBACKS", "check_listener", "returned_awaitable"]

#: The callbacks picows calls on a WSListener.
CALLBACKS = (
    "on_ws_connected",
    "on_ws_frame",
    "on_ws_disconnected",
    "send_user_specific_ping",
    "is_user_specific_pong",
    "pause_writing",
    "resume_writing",
)

_ASYNC_HINT = (
    "picows calls listener callbacks synchronously, on the event loop, and never awaits them. "
    "Make it a plain method (start asyncio tasks from it for async work) or use the "
    "websockets-compatible async API in picows.websockets"
)

# Listener classes already checked (classes are few and long-lived).
_checked: dict[type, str | None] = {}


def check_listener(listener: Any) -> None:
    """Raise TypeError if one of the listener's callbacks is a coroutine function."""
    cls = type(listener)
    problem = _checked.get(cls, "")
    if problem == "":
        problem = _checked[cls] = _find_async_callback(cls)
    if problem is not None:
        raise TypeError(problem)


def _find_async_callback(cls: type) -> str | None:
    for name in CALLBACKS:
        method = getattr(cls, name, None)
        if inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method):
            return f"{cls.__name__}.{name} is an async function: {_ASYNC_HINT}"
    return None


def returned_awaitable(callback: str, result: Any) -> TypeError:
    """The error for a callback that returned an awaitable (which picows would never await)."""
    close = getattr(result, "close", None)
    if inspect.iscoroutine(result) and close is not None:
        close()  # no "coroutine was never awaited" warning on top of our error
    return TypeError(f"{callback} returned {type(result).__name__}, an awaitable: {_ASYNC_HINT}")
