"""Packaging: build the sdist and the wheel, install the sdist into fresh venvs.

Slow (each compile of the Cython backend takes about a minute), so opt-in:
these tests run only with ``PICOWS_TEST_PACKAGING=1``, which the nox session
``packaging`` sets. Without it every test here is skipped with the reason
"run by the nox session 'packaging'".

* The sdist is built once (``python -m build --sdist``) from the source tree
  this file belongs to, and the wheel from that sdist, as ``python -m build``
  does; the contents of both archives are checked. Under pytest-xdist the
  tests run in two groups (``--dist loadgroup``) sharing one sdist: the
  wheel's build overlaps the compiled install's.
* The sdist is installed with pip into three fresh virtual environments, and
  a smoke echo (``ws_create_server`` + ``ws_connect`` on 127.0.0.1) runs in
  each, printing ``picows.BACKEND``:

  - (a) CPython with a C compiler -> ``cython``;
  - (b) CPython with ``PICOWS_NO_EXTENSIONS=1`` at build time -> ``pure``;
  - (c) PyPy (``pypy3 -m venv``) -> ``pure``; skipped only when ``pypy3`` is
    not on PATH.

Dependencies come from the package index (pip's normal resolution). Every
subprocess is bounded (SUBPROCESS_TIMEOUT).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import REPO_ROOT

ROOT = REPO_ROOT
CYTHON_SRC = ROOT / "src" / "picows" / "_cython"
SUBPROCESS_TIMEOUT = 600.0  # seconds; a build with compilation takes ~1 minute here
SKIP_REASON = "run by the nox session 'packaging' (set PICOWS_TEST_PACKAGING=1)"
#: The distribution's name on PyPI; the import package stays ``picows`` (a drop-in for the
#: published picows, which is a different distribution of the same import name).
DIST_NAME = "picows-ng"
#: The name in archive file names and in ``.dist-info`` (PEP 427/625 normalisation).
DIST_FILE_NAME = "picows_ng"

pytestmark = pytest.mark.packaging

# Variables of the surrounding test run that must not leak into the builds and
# smoke runs: each case sets what it needs.
_PICOWS_VARIABLES = (
    "PICOWS_PURE",
    "PICOWS_TEST_BACKEND",
    "PICOWS_NO_EXTENSIONS",
    "PICOWS_REQUIRE_EXTENSIONS",
)


def packaging_enabled() -> bool:
    raw = os.environ.get("PICOWS_TEST_PACKAGING", "").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("", "0", "false", "no", "off"):
        return False
    raise pytest.UsageError(f"PICOWS_TEST_PACKAGING={raw!r}: use 1/true/yes/on or 0/false/no/off")


@pytest.fixture(autouse=True)
def _opt_in() -> None:
    if not packaging_enabled():
        pytest.skip(SKIP_REASON)


# ----------------------------------------------------------------- helpers ---


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PICOWS_VARIABLES}
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    env.update(extra)
    return env


def run(cmd: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (bounded); fail with its output if it exits non-zero."""
    try:
        proc = subprocess.run(
            cmd,
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=SUBPROCESS_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else exc.output or ""
        pytest.fail(f"timed out after {SUBPROCESS_TIMEOUT:g} s: {shlex.join(cmd)}\n{output[-5000:]}")
    if proc.returncode != 0:
        pytest.fail(f"exit code {proc.returncode}: {shlex.join(cmd)}\n{proc.stdout[-5000:]}")
    return proc


def cpython() -> str | None:
    """A CPython interpreter: this one, or ``python3`` on PATH when the suite runs elsewhere."""
    if platform.python_implementation() == "CPython":
        return sys.executable
    return shutil.which("python3")


def c_compiler() -> str | None:
    """The C compiler CPython would build extensions with, if it is installed."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    return shutil.which(cc[0]) if cc else None


def cython_module_names() -> list[str]:
    names = sorted(p.stem for p in CYTHON_SRC.glob("*.pyx"))
    assert names, f"no .pyx sources in {CYTHON_SRC}"
    return names


def cython_source_files() -> list[str]:
    """``_cython`` sources the sdist must carry: .pyx, .pxd and C headers."""
    return sorted(p.name for p in CYTHON_SRC.iterdir() if p.suffix in (".pyx", ".pxd", ".h"))


def project_version() -> str:
    for line in (ROOT / "src" / "picows" / "__init__.py").read_text().splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip("\"'")
    raise AssertionError("no __version__ in src/picows/__init__.py")


# A server and a client in one process: echo one message, then print the
# backend and where picows was imported from.
SMOKE = r"""
import asyncio, os, sys
import picows
from picows import WSListener, WSMsgType, WSCloseCode

class Echo(WSListener):
    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        else:
            transport.send(frame.msg_type, frame.get_payload_as_bytes())

class Client(WSListener):
    def __init__(self):
        self.echo = asyncio.get_running_loop().create_future()
    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT and not self.echo.done():
            self.echo.set_result(frame.get_payload_as_utf8_text())

async def main():
    server = await picows.ws_create_server(lambda request: Echo(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport, client = await asyncio.wait_for(picows.ws_connect(Client, f"ws://127.0.0.1:{port}/"), 10)
    transport.send(WSMsgType.TEXT, b"smoke test")
    echoed = await asyncio.wait_for(client.echo, 10)
    transport.send_close(WSCloseCode.OK)
    await asyncio.wait_for(transport.wait_disconnected(), 10)
    server.close()
    await asyncio.wait_for(server.wait_closed(), 10)
    assert echoed == "smoke test", echoed
    print(f"echo: {echoed}")
    print(f"backend: {picows.BACKEND}")
    print(f"location: {os.path.dirname(picows.__file__)}")
    from importlib import metadata
    dist = metadata.distribution("picows-ng")
    print(f"distribution: {dist.metadata['Name']} {dist.version}")

asyncio.run(main())
"""


@dataclass(frozen=True)
class SmokeResult:
    backend: str
    location: str
    version_line: str
    package_files: list[str]


def _require_packaging() -> None:
    if not packaging_enabled():
        pytest.skip(SKIP_REASON)
    if not (ROOT / "pyproject.toml").is_file():
        pytest.fail(f"no source tree at {ROOT}: the packaging tests build from a checkout")


def _only(out: Path, pattern: str) -> Path:
    found = list(out.glob(pattern))
    assert len(found) == 1, sorted(p.name for p in out.iterdir())
    return found[0]


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_file`` (between pytest-xdist workers)."""
    import fcntl  # POSIX; the packaging session runs on Linux

    with open(lock_file, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build --sdist`` of the checkout, once per test run.

    setuptools stages the sdist inside the source tree, so two builds at once
    collide: under pytest-xdist the first worker builds it into the run's
    shared temporary directory and the others wait for it and take it.
    """
    _require_packaging()
    pattern = f"{DIST_FILE_NAME}-*.tar.gz"

    def build_into(out: Path) -> None:
        run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(ROOT)], cwd=out, env=clean_env())

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        out = tmp_path_factory.mktemp("sdist")
        build_into(out)
        return _only(out, pattern)
    shared = tmp_path_factory.getbasetemp().parent  # this run's directory, above each worker's own
    out = shared / "sdist"
    with _exclusive(shared / "sdist.lock"):
        if not out.is_dir() or not list(out.glob(pattern)):
            out.mkdir(exist_ok=True)
            build_into(out)
    return _only(out, pattern)


@pytest.fixture(scope="session")
def wheel(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the unpacked sdist (what ``python -m build`` does after the sdist)."""
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as tar:
        # The "data" filter (3.9.17+/3.10.12+/3.11.4+) refuses links and paths out of the directory.
        tar.extractall(unpacked, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (source,) = unpacked.iterdir()
    out = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)], cwd=out, env=clean_env())
    return _only(out, f"{DIST_FILE_NAME}-*.whl")


def install_and_smoke(
    sdist: Path, directory: Path, venv_cmd: list[str], build_env: dict[str, str] | None = None
) -> SmokeResult:
    """Create a venv with ``venv_cmd DIR``, pip install the sdist, run the smoke echo and the CLI."""
    venv = directory / "venv"
    run([*venv_cmd, str(venv)], cwd=directory, env=clean_env())
    python = str(venv / "bin" / "python")
    run(
        [python, "-m", "pip", "install", "--no-cache-dir", str(sdist)],
        cwd=directory,
        env=clean_env(**(build_env or {})),
    )
    # -I: isolated, so neither the cwd nor the user's site-packages can supply picows.
    smoke = run([python, "-I", "-c", SMOKE], cwd=directory, env=clean_env()).stdout
    values = dict(line.split(": ", 1) for line in smoke.splitlines() if ": " in line)
    assert values.get("echo") == "smoke test", smoke
    # Installed under our distribution name, with the version picows reports.
    assert values.get("distribution") == f"{DIST_NAME} {project_version()}", smoke
    location = values["location"]
    assert Path(location).resolve().is_relative_to(venv.resolve()), f"picows imported from {location}"
    version = run([python, "-I", "-m", "picows", "--version"], cwd=directory, env=clean_env()).stdout.strip()
    files = sorted(str(p.relative_to(location)) for p in Path(location).rglob("*") if p.is_file())
    return SmokeResult(values["backend"], location, version, files)


def extension_files(files: list[str]) -> list[str]:
    return [f for f in files if f.startswith("_cython/") and f.endswith((".so", ".pyd"))]


# ------------------------------------------------------------------ archives ---


@pytest.mark.xdist_group("sdist")
def test_sdist_contents(sdist: Path) -> None:
    prefix = f"{DIST_FILE_NAME}-{project_version()}/"
    with tarfile.open(sdist) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    assert all(n.startswith(prefix) for n in names), sorted(names)[:5]
    names = {n[len(prefix) :] for n in names}
    required = {
        "README.md",
        "CHANGELOG.md",
        "pyproject.toml",
        "setup.py",
        "src/picows/py.typed",
        "src/picows/__init__.py",
        "src/picows/__main__.py",
        "src/picows/_cli/__init__.py",
        *(f"src/picows/_cython/{name}" for name in cython_source_files()),
        *(f"src/picows/_pure/{name}.py" for name in cython_module_names()),
    }
    assert not required - names, f"missing from the sdist: {sorted(required - names)}"
    # Build products of a developer's tree must not leak into the sdist.
    leaked = sorted(n for n in names if n.endswith((".so", ".pyd", ".pyc")) or "/build/" in f"/{n}")
    assert not leaked, f"build artefacts in the sdist: {leaked}"


@pytest.mark.xdist_group("wheel")
def test_wheel_contents(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        metadata = whl.read(f"{DIST_FILE_NAME}-{project_version()}.dist-info/METADATA").decode()
    dist_info = f"{DIST_FILE_NAME}-{project_version()}.dist-info/"
    top_level = {n.split("/", 1)[0] + "/" for n in names}
    # The distribution is picows-ng; what it installs is the import package picows.
    assert top_level == {"picows/", dist_info}, f"unexpected top-level entries: {sorted(top_level)}"
    assert f"Name: {DIST_NAME}\n" in metadata, metadata[:300]
    required = {
        "picows/py.typed",
        "picows/__main__.py",
        "picows/_cli/__init__.py",
        *(f"picows/_cython/{name}.pyx" for name in cython_module_names()),
        *(f"picows/_cython/{p.name}" for p in CYTHON_SRC.glob("*.pxd")),
        *(f"picows/_pure/{name}.py" for name in cython_module_names()),
    }
    assert not required - names, f"missing from the wheel: {sorted(required - names)}"
    assert not [n for n in names if n.endswith(".c")], "generated C in the wheel"
    compiled = sorted(n for n in names if n.startswith("picows/_cython/") and n.endswith((".so", ".pyd")))
    if platform.python_implementation() == "CPython" and c_compiler() is not None:
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        expected = sorted(f"picows/_cython/{name}{suffix}" for name in cython_module_names())
        assert compiled == expected, "the wheel built on CPython with a compiler lacks the compiled backend"
        assert "-none-any.whl" not in wheel.name, wheel.name
    else:
        assert compiled == [], compiled


# ------------------------------------------------------------------ installs ---


@pytest.mark.xdist_group("sdist")
def test_install_cpython_compiled(sdist: Path, tmp_path: Path) -> None:
    """(a) CPython with a C compiler: the sdist builds the compiled backend, which is used."""
    python = cpython()
    if python is None:
        pytest.skip("no CPython interpreter to test with (not this one, no python3 on PATH)")
    if c_compiler() is None:
        pytest.skip(f"no C compiler ({sysconfig.get_config_var('CC')!r}) for CPython extensions")
    result = install_and_smoke(sdist, tmp_path, [python, "-m", "venv"])
    assert result.backend == "cython"
    assert result.version_line.endswith("(backend: cython)"), result.version_line
    names = sorted(Path(f).name.split(".", 1)[0] for f in extension_files(result.package_files))
    assert names == cython_module_names(), result.package_files


@pytest.mark.xdist_group("sdist")
def test_install_cpython_no_extensions(sdist: Path, tmp_path: Path) -> None:
    """(b) CPython with PICOWS_NO_EXTENSIONS=1 at build time: a pure install that works."""
    python = cpython()
    if python is None:
        pytest.skip("no CPython interpreter to test with (not this one, no python3 on PATH)")
    result = install_and_smoke(sdist, tmp_path, [python, "-m", "venv"], {"PICOWS_NO_EXTENSIONS": "1"})
    assert result.backend == "pure"
    assert result.version_line.endswith("(backend: pure)"), result.version_line
    assert extension_files(result.package_files) == []
    # Demanding the compiled backend from a pure install fails loudly.
    venv_python = str(tmp_path / "venv" / "bin" / "python")
    proc = subprocess.run(
        [venv_python, "-I", "-c", "import picows"],
        cwd=str(tmp_path),
        env=clean_env(PICOWS_PURE="0"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert proc.returncode != 0 and "ImportError" in proc.stderr, proc


@pytest.mark.xdist_group("wheel")
def test_install_pypy(sdist: Path, tmp_path: Path) -> None:
    """(c) PyPy: the sdist installs without compiling anything; the pure backend is used."""
    pypy = shutil.which("pypy3")
    if pypy is None:
        pytest.skip("pypy3 is not on PATH (on Debian: apt-get install pypy3 pypy3-venv)")
    result = install_and_smoke(sdist, tmp_path, [pypy, "-m", "venv"])
    assert result.backend == "pure"
    assert result.version_line.endswith("(backend: pure)"), result.version_line
    assert extension_files(result.package_files) == []
