"""Test harness shared by the whole suite.

* Every ``async def`` test runs once per event loop implementation
  (``asyncio`` and ``uvloop``) in a fresh loop, bounded by a timeout.
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

import pytest

import picows

try:
    import uvloop
except ImportError:  # PyPy: uvloop cannot be installed there
    uvloop = None

IS_PYPY = platform.python_implementation() == "PyPy"
TEST_TIMEOUT = float(os.environ.get("PICOWS_TEST_TIMEOUT", "60")) * (2 if IS_PYPY else 1)

LOOP_PARAMS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop",
        id="uvloop",
        marks=pytest.mark.skipif(
            uvloop is None, reason=f"uvloop is not installable on {platform.python_implementation()}"
        ),
    ),
]


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if inspect.iscoroutinefunction(metafunc.function):
        if "loop_impl" not in metafunc.fixturenames:
            metafunc.fixturenames.append("loop_impl")
        metafunc.parametrize("loop_impl", LOOP_PARAMS)


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        assert uvloop is not None
        return uvloop.new_event_loop()  # type: ignore[no-any-return]
    return asyncio.new_event_loop()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    func = pyfuncitem.obj
    if not inspect.iscoroutinefunction(func):
        return None
    kind = pyfuncitem.callspec.params.get("loop_impl", "asyncio")
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    loop = new_loop(kind)
    loop_errors: list[dict] = []

    def handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        loop_errors.append(context)
        loop.default_exception_handler(context)

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
    if loop_errors:
        msgs = "\n".join(
            f"{c.get('message')}: {c.get('exception')!r}" for c in loop_errors
        )
        pytest.fail(f"exception(s) escaped into the event loop:\n{msgs}")
    return True


@pytest.fixture
def loop_impl(request: pytest.FixtureRequest) -> str:
    return getattr(request, "param", "asyncio")  # type: ignore[no-any-return]


# Network fixtures (real TLS certificates, real proxy servers); defined in
# fixtures_net.py, imported here so that every test module can request them.
from fixtures_net import (  # noqa: E402,F401
    http_proxy,
    http_proxy_auth,
    socks4_proxy,
    socks5_proxy,
    socks5_proxy_auth,
    tls_certs,
)
