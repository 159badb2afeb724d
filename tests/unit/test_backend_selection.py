"""``PICOWS_PURE`` and the import shim (DESIGN.md, "Backend selection").

Every case runs ``import picows`` in a fresh interpreter (the choice is made
once, at import) with a controlled environment. The "compiled backend is
absent" cases are real: on PyPy it is absent anyway; on CPython the installed
package is copied to a temporary directory without its extension modules and
put first on ``PYTHONPATH``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import picows
from support.backends import IS_CPYTHON, PACKAGE_DIR, compiled_unavailable_reason, cython_required
from support.internals import backend_module_name, backend_package, backend_shim

PROBE = (
    "import os, picows\n"
    "print(picows.BACKEND)\n"
    "print(repr(picows.BACKEND_FALLBACK_REASON))\n"
    "print(os.path.dirname(os.path.abspath(picows.__file__)))\n"
    "print(picows.WSFrame.__module__, picows.WSListener.__module__, picows.WSTransport.__module__)\n"
)
SUBPROCESS_TIMEOUT = 120

TRUE_VALUES = ["1", "true", "TRUE", "True", "yes", "YES", "Yes", "on", "ON", "On"]
FALSE_VALUES = ["0", "false", "FALSE", "False", "no", "NO", "No", "off", "OFF", "Off"]
BAD_VALUES = ["maybe", "2", "-1", "pure", "cython", "y", "n", "truee", "0x0", "none", "1.0", "enable"]

COMPILED_REASON = compiled_unavailable_reason()
COMPILED_AVAILABLE = COMPILED_REASON is None
NEUTRAL_CWD = tempfile.mkdtemp(prefix="picows_backend_cwd_")
atexit.register(shutil.rmtree, NEUTRAL_CWD, True)


def _clean_env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PICOWS_PURE", "PICOWS_TEST_BACKEND")}
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(env: dict[str, str], code: str = PROBE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        # A neutral directory: ``-c`` puts the cwd first on sys.path, ahead of PYTHONPATH.
        cwd=NEUTRAL_CWD,
    )


def _probe(env: dict[str, str], expected_dir: str = PACKAGE_DIR) -> tuple[str, str | None]:
    """(BACKEND, BACKEND_FALLBACK_REASON) of a fresh ``import picows``; asserts it imported the right copy."""
    proc = _run(env)
    assert proc.returncode == 0, f"import picows failed:\n{proc.stderr}"
    backend, reason, where, modules = proc.stdout.strip().splitlines()
    assert os.path.samefile(where, expected_dir), f"imported {where}, expected {expected_dir}"
    # The public classes come from the selected implementation.
    assert set(modules.split()) == {backend_module_name(backend, "frames"), backend_module_name(backend, "transport")}
    return backend, eval(reason)  # repr of a str or None


def _import_error(env: dict[str, str]) -> str:
    """stderr of a ``import picows`` that must fail."""
    proc = _run(env)
    assert proc.returncode != 0, f"import picows unexpectedly succeeded: {proc.stdout!r}"
    return proc.stderr


@pytest.fixture(scope="module")
def pure_only_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the installed package without compiled modules; returns the directory to put on PYTHONPATH."""
    root = tmp_path_factory.mktemp("picows_no_ext")
    shutil.copytree(
        PACKAGE_DIR,
        root / "picows",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.dylib", "__pycache__", "*.c", "*.html"),
    )
    return root


def _env_with_path(path: Path, **overrides: str | None) -> dict[str, str]:
    env = _clean_env(**overrides)
    env["PYTHONPATH"] = os.pathsep.join([str(path)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


# -- the running test process ------------------------------------------------------------------


def test_backend_of_this_process_is_consistent() -> None:
    shim = backend_shim()
    assert picows.BACKEND in ("cython", "pure")
    assert shim.BACKEND == picows.BACKEND
    assert shim.impl is backend_package(picows.BACKEND)
    assert picows.WSFrame is shim.impl.WSFrame
    assert picows.WSListener is shim.impl.WSListener
    assert picows.WSTransport is shim.impl.WSTransport
    if picows.BACKEND == "cython":
        assert picows.BACKEND_FALLBACK_REASON is None
    requested = os.environ.get("PICOWS_TEST_BACKEND", "").strip().lower()
    if requested:
        assert picows.BACKEND == requested
    if cython_required():
        assert COMPILED_AVAILABLE, COMPILED_REASON


# -- PICOWS_PURE values ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", TRUE_VALUES)
def test_true_values_force_pure(value: str) -> None:
    backend, reason = _probe(_clean_env(PICOWS_PURE=value))
    assert backend == "pure"
    assert reason is None  # requested, not a fallback


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_unset_or_empty_prefers_compiled(value: str | None) -> None:
    backend, reason = _probe(_clean_env(PICOWS_PURE=value))
    if COMPILED_AVAILABLE:
        assert backend == "cython"
        assert reason is None
    else:
        assert backend == "pure"
        assert reason  # the fallback is explained


@pytest.mark.parametrize("value", FALSE_VALUES)
def test_false_values_demand_compiled(value: str) -> None:
    env = _clean_env(PICOWS_PURE=value)
    if COMPILED_AVAILABLE:
        backend, reason = _probe(env)
        assert backend == "cython"
        assert reason is None
    else:
        stderr = _import_error(env)
        assert "ImportError" in stderr
        assert "PICOWS_PURE" in stderr


@pytest.mark.parametrize("value", BAD_VALUES)
def test_garbage_value_is_an_error_naming_the_variable(value: str) -> None:
    stderr = _import_error(_clean_env(PICOWS_PURE=value))
    last_line = stderr.strip().splitlines()[-1]
    assert "PICOWS_PURE" in last_line, stderr
    assert repr(value) in last_line or value in last_line, stderr


# -- compiled backend really absent ----------------------------------------------------------------


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_absent_compiled_backend_falls_back_with_reason(pure_only_copy: Path, value: str | None) -> None:
    backend, reason = _probe(_env_with_path(pure_only_copy, PICOWS_PURE=value), str(pure_only_copy / "picows"))
    assert backend == "pure"
    assert isinstance(reason, str) and reason


@pytest.mark.parametrize("value", ["0", "false", "no", "off", "OFF"])
def test_absent_compiled_backend_with_false_value_is_an_import_error(pure_only_copy: Path, value: str) -> None:
    env = _env_with_path(pure_only_copy, PICOWS_PURE=value)
    stderr = _import_error(env)
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError"), stderr
    assert "PICOWS_PURE" in last_line, stderr


def test_absent_compiled_backend_with_true_value_is_pure(pure_only_copy: Path) -> None:
    backend, reason = _probe(_env_with_path(pure_only_copy, PICOWS_PURE="1"), str(pure_only_copy / "picows"))
    assert backend == "pure"
    assert reason is None


def test_fallback_only_on_import_error(tmp_path: Path) -> None:
    """A compiled backend that fails with anything but ImportError must not be papered over."""
    shutil.copytree(PACKAGE_DIR, tmp_path / "picows", ignore=shutil.ignore_patterns("__pycache__"))
    init = tmp_path / "picows" / "_cython" / "__init__.py"

    init.write_text("raise ImportError('simulated: extension missing')\n")
    backend, reason = _probe(_env_with_path(tmp_path), str(tmp_path / "picows"))
    assert backend == "pure"
    if IS_CPYTHON:
        assert reason is not None and "simulated: extension missing" in reason
    else:
        assert reason  # not CPython: the reason names the interpreter

    if IS_CPYTHON:
        init.write_text("raise RuntimeError('simulated: broken extension')\n")
        stderr = _import_error(_env_with_path(tmp_path))
        assert "RuntimeError: simulated: broken extension" in stderr


@pytest.mark.skipif(IS_CPYTHON, reason="only meaningful on an interpreter without the compiled backend (PyPy)")
def test_non_cpython_uses_pure_and_says_why() -> None:
    backend, reason = _probe(_clean_env())
    assert backend == "pure"
    assert reason and "CPython" in reason
    stderr = _import_error(_clean_env(PICOWS_PURE="0"))
    assert "ImportError" in stderr and "PICOWS_PURE" in stderr
