"""Access to both hot-path backends from one test process.

The suite normally tests the backend ``picows`` selected at import (see
conftest.py). The parity, differential and buffer-policy tests need *both*
implementations side by side; this module hands them out:

* ``pure_module(name)`` -> ``picows._pure.<name>`` (always available);
* ``cython_module(name)`` -> ``picows._cython.<name>``, or a **skip** when the
  compiled backend genuinely does not exist for this interpreter (PyPy, or a
  ``PICOWS_NO_EXTENSIONS`` / failed build: no extension file for this
  interpreter in the installed package), or a **failure** when it should be
  there: ``PICOWS_TEST_BACKEND=cython`` was requested, or the extension files
  exist but do not import (a broken build must never look like a skip);
* the ``backend`` fixture, parametrised ``pure`` / ``cython``, and
  ``backend_module(backend, name)`` for tests that run once per backend.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import platform
from types import ModuleType
from typing import Any

import pytest

import picows

BACKENDS = ("pure", "cython")
IS_CPYTHON = platform.python_implementation() == "CPython"
PACKAGE_DIR = os.path.dirname(os.path.abspath(picows.__file__))
CYTHON_DIR = os.path.join(PACKAGE_DIR, "_cython")
PURE_DIR = os.path.join(PACKAGE_DIR, "_pure")


def cython_required() -> bool:
    """True when the run demands the compiled backend (``PICOWS_TEST_BACKEND=cython``)."""
    return os.environ.get("PICOWS_TEST_BACKEND", "").strip().lower() == "cython"


def compiled_extension_files() -> list[str]:
    """Extension module files in the installed ``picows/_cython`` loadable by *this* interpreter."""
    if not os.path.isdir(CYTHON_DIR):
        return []
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    return sorted(name for name in os.listdir(CYTHON_DIR) if name.endswith(suffixes))


def compiled_unavailable_reason() -> str | None:
    """Why the compiled backend cannot exist here, or None if it should be importable."""
    if not IS_CPYTHON:
        return f"the compiled backend is only built for CPython, this is {platform.python_implementation()}"
    if not compiled_extension_files():
        return (
            f"picows was installed without its compiled backend (no extension modules in {CYTHON_DIR}; "
            "PICOWS_NO_EXTENSIONS build or no C compiler)"
        )
    return None


def cython_module(name: str) -> ModuleType:
    """``picows._cython.<name>``; skips only if the compiled backend genuinely does not exist."""
    reason = compiled_unavailable_reason()
    if reason is not None:
        if cython_required():
            pytest.fail(f"PICOWS_TEST_BACKEND=cython but {reason}")
        pytest.skip(reason)
    try:
        return importlib.import_module(f"picows._cython.{name}")
    except ImportError as exc:
        pytest.fail(
            f"the compiled backend is installed ({', '.join(compiled_extension_files())}) "
            f"but picows._cython.{name} does not import: {exc!r}"
        )
        raise  # unreachable, for type checkers


def pure_module(name: str) -> ModuleType:
    return importlib.import_module(f"picows._pure.{name}")


def backend_module(backend: str, name: str) -> ModuleType:
    return cython_module(name) if backend == "cython" else pure_module(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over both backends; the cython half skips/fails as described above."""
    name: str = request.param
    if name == "cython":
        cython_module("frames")  # skip or fail early, before the test body
    return name


@pytest.fixture
def frames_pair() -> tuple[ModuleType, ModuleType]:
    """(pure frames module, compiled frames module) for side-by-side comparisons."""
    return pure_module("frames"), cython_module("frames")


def parser_of(transport: Any) -> Any:
    """The FrameParser behind a WSTransport (internal; for buffer-policy tests only).

    Both backends keep it on the connection's protocol object, which the
    transport references as ``_protocol``.
    """
    return transport._protocol._parser
