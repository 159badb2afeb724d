"""Test harness shared by the whole suite (see tests/README.md).

* ``tests/`` is on ``sys.path`` (pytest puts the directory of this rootdir
  conftest there, as there is no ``tests/__init__.py``), so the helpers are
  imported as ``support.<module>``; picows itself is always the installed
  package, never the checkout.
* Every ``async def`` test runs in a fresh event loop, bounded by
  ``PICOWS_TEST_TIMEOUT``; on one loop or on every loop by the rule in
  :mod:`support.loops` (directory default, ``single_loop`` / ``all_loops`` markers).
* An exception that escapes into the event loop's exception handler (e.g. a
  protocol callback that raised) fails the test: garbage from the network must
  never raise out of our callbacks.
* The pytest header names the backend under test, and ``PICOWS_TEST_BACKEND``
  (``cython`` or ``pure``) makes the run fail if a different backend loaded.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import platform
from pathlib import Path
from typing import Any

import pytest

import picows
from support import IS_PYPY
from support.internals import aiofastnet_available, force_net_layer
from support.loops import ALL_LOOPS, DEFAULT_LOOP, new_loop, runs_on_every_loop, uvloop

# Fixtures of these modules are available to every test: real TLS certificates,
# real proxy servers, and the ``backend`` / ``frames_pair`` fixtures.
pytest_plugins = ["support.tls", "support.proxies", "support.backends"]

TESTS_DIR = Path(__file__).resolve().parent
TEST_TIMEOUT = float(os.environ.get("PICOWS_TEST_TIMEOUT", "60")) * (2 if IS_PYPY else 1)


def pytest_report_header(config: pytest.Config) -> list[str]:
    reason = getattr(picows, "BACKEND_FALLBACK_REASON", None)
    lines = [
        f"picows {picows.__version__} backend: {picows.BACKEND} (from {os.path.dirname(picows.__file__)})",
        f"interpreter: {platform.python_implementation()} {platform.python_version()}",
        f"uvloop: {'available' if uvloop is not None else 'not available'}",
    ]
    if reason:
        lines.append(f"picows backend fallback reason: {reason}")
    return lines


def pytest_configure(config: pytest.Config) -> None:
    requested = os.environ.get("PICOWS_TEST_BACKEND", "").strip().lower()
    if requested and requested != picows.BACKEND:
        raise pytest.UsageError(
            f"PICOWS_TEST_BACKEND={requested!r} was requested but picows loaded "
            f"the {picows.BACKEND!r} backend "
            f"(reason: {getattr(picows, 'BACKEND_FALLBACK_REASON', None)})"
        )


# Every test that uses TLS certificates runs on both transport paths: the event loop's own
# TLS transport and aiofastnet's (skipped, saying why, where aiofastnet cannot be installed).
# "aiofastnet" makes use_aiofastnet=None mean True for the whole test, on either backend: the
# plain (ws://) connections of such a test run on aiofastnet's transports too.
TLS_PATHS = [
    pytest.param("stock", id="stock-tls"),
    pytest.param(
        "aiofastnet",
        id="aiofastnet",
        marks=pytest.mark.skipif(
            not aiofastnet_available(), reason=f"aiofastnet is not installable on {platform.python_implementation()}"
        ),
    ),
]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if inspect.iscoroutinefunction(metafunc.function) and runs_on_every_loop(metafunc.definition, TESTS_DIR):
        if "loop_impl" not in metafunc.fixturenames:
            metafunc.fixturenames.append("loop_impl")
        metafunc.parametrize("loop_impl", ALL_LOOPS)
    if "tls_certs" in metafunc.fixturenames:
        if "tls_path" not in metafunc.fixturenames:
            metafunc.fixturenames.append("tls_path")
        metafunc.parametrize("tls_path", TLS_PATHS)


@pytest.fixture
def tls_path(request: pytest.FixtureRequest) -> str:
    """The TLS transport path of a TLS test: "stock" or "aiofastnet" (what ``use_aiofastnet=None`` means)."""
    return getattr(request, "param", "stock")  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _apply_tls_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    # The parametrization above passes "tls_path" directly (the fixture function does not run), so
    # the choice is applied here, for every test that has one: use_aiofastnet=None then means it.
    callspec = getattr(request.node, "callspec", None)
    path = callspec.params.get("tls_path") if callspec is not None else None
    if path is not None:
        force_net_layer(monkeypatch, path == "aiofastnet")


@pytest.fixture
def loop_impl(request: pytest.FixtureRequest) -> str:
    """The loop the test runs on: "asyncio" or "uvloop"."""
    return getattr(request, "param", DEFAULT_LOOP)  # type: ignore[no-any-return]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    callspec = getattr(pyfuncitem, "callspec", None)
    kind = callspec.params.get("loop_impl", DEFAULT_LOOP) if callspec is not None else DEFAULT_LOOP
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    loop = new_loop(kind)
    loop_errors: list[dict[str, Any]] = []

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        loop_errors.append(context)
        loop.default_exception_handler(context)

    # aiofastnet reports a failed TLS handshake to the loop (asyncio only logs it at debug
    # level); tests of failing handshakes allow that with @pytest.mark.loop_errors_ok(message).
    allowed = {m.args[0] for m in pyfuncitem.iter_markers("loop_errors_ok")}
    loop.set_exception_handler(handler)
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(func(**kwargs), TEST_TIMEOUT))
        # Let connection_lost / close callbacks scheduled by the test run.
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        try:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending, timeout=5))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
    loop_errors = [c for c in loop_errors if c.get("message") not in allowed]
    if loop_errors:
        msgs = "\n".join(f"{c.get('message')}: {c.get('exception')!r}" for c in loop_errors)
        pytest.fail(f"exception(s) escaped into the event loop:\n{msgs}")
    return True
