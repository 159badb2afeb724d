"""The event loops async tests run on, and the rule that decides which.

The rule (applied by ``conftest.py``; see tests/README.md):

* an ``async def`` test under ``tests/unit/`` runs once, on asyncio's own loop:
  nothing there opens a socket, so the loop cannot change the outcome;
* an ``async def`` test anywhere else runs once per loop (asyncio and uvloop):
  sockets, transports, TLS, flow control and timers behave differently on
  each, and picows' compiled read path even depends on which loop it runs on;
* ``@pytest.mark.single_loop`` moves a test of another group to asyncio only,
  for argument validation that fails before any I/O;
* ``@pytest.mark.all_loops`` moves a unit test to every loop.

Sync tests run no loop and are never parametrised. Does not import picows.
"""

from __future__ import annotations

import asyncio
import platform
from pathlib import Path

import pytest

try:
    import uvloop
except ImportError:  # PyPy: uvloop cannot be installed there
    uvloop = None

__all__ = ["ALL_LOOPS", "DEFAULT_LOOP", "SINGLE_LOOP_DIRS", "runs_on_every_loop", "new_loop", "uvloop"]

DEFAULT_LOOP = "asyncio"
#: Test groups (first directory below tests/) whose async tests run on one loop by default.
SINGLE_LOOP_DIRS = frozenset({"unit"})

ALL_LOOPS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop",
        id="uvloop",
        marks=pytest.mark.skipif(
            uvloop is None, reason=f"uvloop is not installable on {platform.python_implementation()}"
        ),
    ),
]


def runs_on_every_loop(item: pytest.Function | pytest.FunctionDefinition, tests_dir: Path) -> bool:
    """True if ``item`` (an async test) runs on every loop, False if on asyncio only."""
    single = item.get_closest_marker("single_loop") is not None
    every = item.get_closest_marker("all_loops") is not None
    if single and every:
        raise pytest.UsageError(f"{item.nodeid}: marked both single_loop and all_loops")
    if single or every:
        return every
    try:
        group = Path(item.path).resolve().relative_to(tests_dir).parts[0]
    except ValueError:  # not below tests/
        return True
    return group not in SINGLE_LOOP_DIRS


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A fresh event loop of ``kind`` ("asyncio" or "uvloop")."""
    if kind == "uvloop":
        assert uvloop is not None
        return uvloop.new_event_loop()  # type: ignore[no-any-return]
    assert kind == "asyncio", kind
    return asyncio.new_event_loop()
