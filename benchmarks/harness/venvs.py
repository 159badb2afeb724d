"""Interpreters of the rows: ours (this one), the published picows' virtualenv, PyPy's.

No path of any particular machine: ours defaults to the interpreter running
the tool, PyPy to ``benchmarks/.venvs/pypy`` (made by ``--setup-pypy``) or
``pypy3`` on PATH, the published picows to ``benchmarks/.venvs/published``
(made by ``--setup-published``); every one can be given by a flag.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import REPO, VENVS

PUBLISHED_VENV = VENVS / "published"
PYPY_VENV = VENVS / "pypy"
#: The published release the tables compare with (``--published-version``).
PUBLISHED_VERSION = "2.3.1"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def default_ours_python() -> str:
    return sys.executable


def default_published_python() -> str:
    return str(venv_python(PUBLISHED_VENV))


def default_pypy_python() -> str:
    """PyPy with our runtime dependencies: the harness' venv if made, else ``pypy3`` on PATH."""
    if venv_python(PYPY_VENV).exists():
        return str(venv_python(PYPY_VENV))
    return shutil.which("pypy3") or "pypy3"


def runtime_dependencies() -> list[str]:
    """Our package's runtime dependencies (pyproject.toml), which ours-pypy needs beside src/."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11: the list as of this writing
        return ["multidict", "python-socks[asyncio]"]
    with open(REPO / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def _make_venv(base: str, venv: Path, packages: list[str], env: dict[str, str]) -> int:
    print(f"creating {venv} with {base} and installing {' '.join(packages)} from PyPI ...")
    venv.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([base, "-m", "venv", str(venv)], cwd="/")
    if r.returncode:
        print(f"creating {venv} failed", file=sys.stderr)
        return r.returncode
    pip = [str(venv_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # cwd=/ : our checkout must not be importable while pip runs.
    r = subprocess.run(pip + packages, cwd="/", env=env)
    if r.returncode:
        print(f"pip install {' '.join(packages)} failed", file=sys.stderr)
    return r.returncode


def setup_published(python: str, base_python: str, version: str, env: dict[str, str]) -> int:
    """The published picows (and uvloop) in their own venv, unless ``python`` already exists."""
    if Path(python).exists():
        print(f"published picows venv already present: {Path(python).parent.parent}")
        return 0
    return _make_venv(base_python, Path(python).parent.parent, [f"picows=={version}", "uvloop"], env)


def setup_pypy(env: dict[str, str]) -> int:
    """A PyPy venv with our runtime dependencies (our picows itself comes from src/ on PYTHONPATH)."""
    if venv_python(PYPY_VENV).exists():
        print(f"PyPy venv already present: {PYPY_VENV}")
        return 0
    pypy = shutil.which("pypy3")
    if pypy is None:
        print("no pypy3 on PATH: ours-pypy will not run", file=sys.stderr)
        return 1
    return _make_venv(pypy, PYPY_VENV, runtime_dependencies(), env)
