"""Both hot-path backends side by side in one test process.

The suite normally tests the backend ``picows`` selected at import (the one
the nox session asked for). Parity, differential and buffer-policy tests need
*both* implementations at once; this module hands them out:

* ``pure_module(name)`` -> the pure backend's module (always available);
* ``cython_module(name)`` -> the compiled backend's module, or a **skip** when
  the compiled backend genuinely does not exist for this interpreter (PyPy, or
  a ``PICOWS_NO_EXTENSIONS`` / failed build: no extension file for this
  interpreter in the installed package), or a **failure** when it should be
  there: ``PICOWS_TEST_BACKEND=cython`` was requested, or the extension files
  exist but do not import (a broken build must never look like a skip);
* the ``backend`` fixture, parametrised ``pure`` / ``cython``, and
  ``backend_module(backend, name)`` for tests that run once per backend.

Module paths come from :mod:`support.internals`.
"""

from __future__ import annotations

import importlib.machinery
import os
import platform
from types import ModuleType

import pytest

from support.internals import PACKAGE_DIR, backend_dir, import_backend_module

__all__ = [
    "BACKENDS",
    "CYTHON_DIR",
    "IS_CPYTHON",
    "PACKAGE_DIR",
    "PURE_DIR",
    "backend",
    "backend_module",
    "compiled_extension_files",
    "compiled_unavailable_reason",
    "cython_module",
    "cython_required",
    "frames_pair",
    "pure_module",
]

BACKENDS = ("pure", "cython")
IS_CPYTHON = platform.python_implementation() == "CPython"
CYTHON_DIR = backend_dir("cython")
PURE_DIR = backend_dir("pure")


def cython_required() -> bool:
    """True when the run demands the compiled backend (``PICOWS_TEST_BACKEND=cython``)."""
    return os.environ.get("PICOWS_TEST_BACKEND", "").strip().lower() == "cython"


def compiled_extension_files() -> list[str]:
    """Extension module files in the installed compiled backend loadable by *this* interpreter."""
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
    """The compiled backend's module ``name``; skips only if the compiled backend genuinely does not exist."""
    reason = compiled_unavailable_reason()
    if reason is not None:
        if cython_required():
            pytest.fail(f"PICOWS_TEST_BACKEND=cython but {reason}")
        pytest.skip(reason)
    try:
        return import_backend_module("cython", name)
    except ImportError as exc:
        pytest.fail(
            f"the compiled backend is installed ({', '.join(compiled_extension_files())}) "
            f"but its module {name!r} does not import: {exc!r}"
        )
        raise  # unreachable, for type checkers


def pure_module(name: str) -> ModuleType:
    """The pure backend's module ``name``."""
    return import_backend_module("pure", name)


def backend_module(backend: str, name: str) -> ModuleType:
    """Module ``name`` of ``backend`` ("cython" or "pure"), with :func:`cython_module`'s skip rule."""
    return cython_module(name) if backend == "cython" else pure_module(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Parametrises a test over both backends; the cython half skips or fails as described above."""
    name: str = request.param
    if name == "cython":
        cython_module("frames")  # skip or fail early, before the test body
    return name


@pytest.fixture
def frames_pair() -> tuple[ModuleType, ModuleType]:
    """(pure frames module, compiled frames module) for side-by-side comparisons."""
    return pure_module("frames"), cython_module("frames")
