"""Test, lint and benchmark sessions: ``python3 -m nox`` runs the default set.

* ``tests-cython``: CPython, compiled backend (the build must produce it).
* ``tests-pure``: CPython, pure-Python backend.
* ``tests-pypy``: PyPy 3 (``pypy3`` on PATH), pure-Python backend.
* ``lint``: ruff + mypy (strict) on ``src/picows``.
* ``bench``: pytest-benchmark suite in ``benchmarks/`` (not run by default).

The package is always installed NON-editable into the session's virtualenv and
the tests import that installed copy (tests/ is not a package and src/ is
never put on sys.path), so what is tested is what ``pip install`` produces.
Arguments after ``--`` are passed to pytest, e.g.
``python3 -m nox -s tests-pure -- -k handshake -x``.
"""

from __future__ import annotations

import glob
import os
import shutil

import nox

nox.needs_version = ">=2024.3.2"  # nox.project.load_toml
nox.options.sessions = [
    "tests-cython",
    "tests-pure",
    "tests-pypy",
    "tests-asan",
    "fuzz-parser",
    "lint",
    "docs",
    "packaging",
]
# A missing interpreter (e.g. no pypy3) must fail the run, never skip silently.
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
RUNTIME_DEPS: list[str] = PYPROJECT["project"]["dependencies"]

# Checked after installation: the tests must see the installed package.
CHECK_INSTALLED = """\
import os, sys, picows
where = os.path.dirname(picows.__file__)
print(f"picows {picows.__version__} backend={picows.BACKEND} at {where}")
if "site-packages" not in where:
    sys.exit(f"picows was imported from {where}, not from the session's site-packages")
"""


def _fresh_build_dir() -> None:
    """pip builds in ./build; objects left there by another session's flags must not be reused."""
    shutil.rmtree("build", ignore_errors=True)


def _run_tests(session: nox.Session, *, backend: str, build_env: dict[str, str]) -> None:
    _fresh_build_dir()
    session.install(".[test]", env=build_env)
    env = {"PICOWS_PURE": "1" if backend == "pure" else "0", "PICOWS_TEST_BACKEND": backend}
    # -I: isolated mode, so the current directory is not on sys.path.
    session.run("python", "-I", "-c", CHECK_INSTALLED, env=env)
    session.run("pytest", *session.posargs, env=env)


def _require_cpython(session: nox.Session) -> None:
    impl = session.run(
        "python", "-c", "import platform; print(platform.python_implementation())", silent=True
    )
    if not impl or impl.strip() != "CPython":
        session.error(f"this session needs CPython, got {impl!r}")


@nox.session(name="tests-cython", python=None)
def tests_cython(session: nox.Session) -> None:
    """CPython with the compiled backend; the build fails if it cannot be compiled."""
    _require_cpython(session)
    _run_tests(session, backend="cython", build_env={"PICOWS_REQUIRE_EXTENSIONS": "1"})


@nox.session(name="tests-pure", python=None)
def tests_pure(session: nox.Session) -> None:
    """CPython with the pure-Python backend (built without extensions)."""
    _require_cpython(session)
    _run_tests(session, backend="pure", build_env={"PICOWS_NO_EXTENSIONS": "1"})


@nox.session(name="tests-pypy", python="pypy3")
def tests_pypy(session: nox.Session) -> None:
    """PyPy 3 (the pure-Python backend is the only one there)."""
    _run_tests(session, backend="pure", build_env={})


@nox.session(python=None)
def lint(session: nox.Session) -> None:
    """ruff on the tree, mypy --strict on src/picows and on the examples, cython-lint on the .pyx."""
    # websockets and werkzeug: picows.websockets subclasses websockets' exceptions and routes with werkzeug.
    session.install("ruff", "mypy", "cython-lint", "pycodestyle", "websockets", "werkzeug", *RUNTIME_DEPS)
    pyx_dirs = ["src/picows/_cython", "src/picows/websockets", "tests/cython_user", "examples/cython_client"]
    commands = {
        "ruff": ["ruff", "check", "."],
        "mypy": ["mypy"],
        # The examples are the typed usage of the public API (run against the sources).
        "mypy examples": ["mypy", "--strict", "--no-incremental", *sorted(glob.glob("examples/*.py")),
                          *sorted(glob.glob("examples/websockets/*.py"))],
        "cython-lint": ["cython-lint", "--max-line-length", "120", *pyx_dirs],
    }
    failed = []
    for name, command in commands.items():  # run all, report all
        try:
            session.run(*command, env={"MYPYPATH": "src"})
        except nox.command.CommandFailed:
            failed.append(name)
    if failed:
        session.error(f"lint failed: {', '.join(failed)}")


@nox.session(python=None)
def demo(session: nox.Session) -> None:
    """The README's main job: echo round trips per second on loopback, once per backend."""
    _require_cpython(session)
    _fresh_build_dir()
    session.install(".", env={"PICOWS_REQUIRE_EXTENSIONS": "1"})
    session.run("python", "-I", "-m", "picows", "demo", *session.posargs)


@nox.session(name="tests-asan", python=None)
def tests_asan(session: nox.Session) -> None:
    """Memory-safety run: compiled backend built with bounds checks + AddressSanitizer/UBSan.

    Runs the differential fuzz (more examples), buffer-policy, echo, send and
    protocol-violation tests against that build. Not in the default set (slow).
    """
    _require_cpython(session)
    session.install(".[test]", env={"PICOWS_NO_EXTENSIONS": "1"})  # test deps only; replaced below
    sanitize = "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
    _fresh_build_dir()
    session.run(
        "pip", "install", "--force-reinstall", "--no-deps", "--no-build-isolation", ".",
        env={
            "PICOWS_REQUIRE_EXTENSIONS": "1",
            "PICOWS_CYTHON_DEBUG": "1",
            "CFLAGS": f"-O1 -g {sanitize}",
            "LDFLAGS": sanitize,
        },
    )
    _fresh_build_dir()  # never let the instrumented objects leak into another build
    find_so = (
        "import glob, sysconfig; "
        "print(glob.glob(sysconfig.get_paths()['platlib'] + '/picows/_cython/frames*.so')[0])"
    )
    so_path = session.run("python", "-c", find_so, silent=True).strip()
    linked = session.run("ldd", so_path, silent=True, external=True)
    if "libasan" not in linked:
        session.error(f"{so_path} is not built with AddressSanitizer")
    libs = [
        session.run("gcc", f"-print-file-name={lib}", silent=True, external=True).strip()
        for lib in ("libasan.so", "libubsan.so")
    ]
    env = {
        "LD_PRELOAD": " ".join(libs),
        "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        "PICOWS_PURE": "0",
        "PICOWS_TEST_BACKEND": "cython",
        "PICOWS_FUZZ_EXAMPLES": "2000",
    }
    session.run(
        "pytest", "tests/test_differential.py", "tests/test_buffer_policy.py", "tests/test_echo.py",
        "tests/test_send.py", "tests/test_protocol_violations.py", *session.posargs, env=env,
    )


@nox.session(python=None)
def packaging(session: nox.Session) -> None:
    """sdist/wheel contents; the sdist installed into fresh CPython (compiled, pure) and PyPy venvs."""
    _require_cpython(session)
    _fresh_build_dir()
    # conftest.py imports picows: a quick pure copy for pytest itself; the packages under
    # test are what tests/test_packaging.py builds from the checkout.
    session.install(".[test]", env={"PICOWS_NO_EXTENSIONS": "1"})
    session.run(
        "pytest",
        "tests/test_packaging.py",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"PICOWS_TEST_PACKAGING": "1", "PICOWS_PURE": "1", "PICOWS_TEST_BACKEND": "pure"},
    )


@nox.session(name="fuzz-parser", python=None)
def fuzz_parser(session: nox.Session) -> None:
    """Coverage-guided fuzzing of the compiled frame parser against its pure twin (atheris, ASan).

    Bounded: 30 s by default, or the number of seconds given as the first positional argument.
    """
    _require_cpython(session)
    seconds = session.posargs[0] if session.posargs else "30"
    session.install("atheris", "Cython>=3.0", "setuptools>=64", "wheel", *RUNTIME_DEPS)
    sanitize = "-fsanitize=fuzzer-no-link,address"
    _fresh_build_dir()
    session.run(
        "pip",
        "install",
        "--force-reinstall",
        "--no-deps",
        "--no-build-isolation",
        ".",
        env={
            "CC": "clang",
            "CXX": "clang++",
            "LDSHARED": "clang -shared",
            "CFLAGS": f"-g -O1 {sanitize}",
            "LDFLAGS": sanitize,
            "PICOWS_REQUIRE_EXTENSIONS": "1",
            "PICOWS_CYTHON_DEBUG": "1",
        },
    )
    _fresh_build_dir()
    atheris_dir = session.run("python", "-c", "import atheris; print(atheris.path())", silent=True).strip()
    tmp = os.path.abspath(session.create_tmp())
    corpus = os.path.join(tmp, "corpus")
    os.makedirs(corpus, exist_ok=True)
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "fuzz", "fuzz_parser.py")
    session.chdir(tmp)  # crash-* artefacts land here
    session.run(
        "python",
        target,
        corpus,
        f"-max_total_time={seconds}",
        "-max_len=4096",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        env={
            "LD_PRELOAD": os.path.join(atheris_dir, "asan_with_fuzzer.so"),
            "ASAN_OPTIONS": "detect_leaks=0:quarantine_size_mb=16:abort_on_error=1",
        },
    )


@nox.session(python=None)
def docs(session: nox.Session) -> None:
    """Sphinx docs: HTML (warnings are errors) and doctests, once per backend.

    The rendered HTML must be identical whichever backend picows loaded.
    """
    _require_cpython(session)
    shutil.rmtree("docs/_build", ignore_errors=True)
    _fresh_build_dir()
    session.install("-r", "docs/requirements.txt")
    session.install(".", env={"PICOWS_REQUIRE_EXTENSIONS": "1"})
    for backend, pure in (("cython", "0"), ("pure", "1")):
        env = {"PICOWS_PURE": pure}
        out = f"docs/_build/{backend}"
        common = ["-W", "--keep-going", "-d", f"{out}/doctrees", "docs"]
        session.run("sphinx-build", "-b", "html", *common, f"{out}/html", env=env)
        session.run("sphinx-build", "-b", "doctest", *common, f"{out}/doctest", env=env)
    session.run("diff", "-r", "docs/_build/cython/html", "docs/_build/pure/html", external=True)


@nox.session(python=None)
def bench(session: nox.Session) -> None:
    """Benchmarks, shortened repeats (a few minutes); not part of the default run.

    Micro-benchmarks pure vs compiled (pytest-benchmark + speed-up table), the
    echo RPS tool in client and server mode (the published picows is fetched
    from PyPI into benchmarks/.venvs/published; PyPy is used if it has our
    runtime deps), and the connection-scale / fan-out benchmark, all against
    the installed package. Arguments after ``--`` go to pytest. Full-length
    runs: see the docstrings of benchmarks/echo_rps.py and benchmarks/scale.py.
    """
    _require_cpython(session)
    session.install(".[bench]", env={"PICOWS_REQUIRE_EXTENSIONS": "1"})
    session.run("python", "-I", "-c", CHECK_INSTALLED)
    python = session.run("python", "-c", "import sys; print(sys.executable)", silent=True).strip()
    tmp = session.create_tmp()
    session.run(
        "pytest", "benchmarks/test_micro.py", "-p", "no:cacheprovider", "--benchmark-max-time=0.2",
        "--benchmark-columns=median,ops,rounds", f"--benchmark-json={tmp}/micro.json", *session.posargs,
        env={"PICOWS_BENCH_E2E_ROUNDS": "5"},
    )
    ours = ["--ours-python", python, "--ours-src", "installed"]
    short = ["--repeat", "1", "--duration", "1", "--warmup", "0.2", "--pypy-warmup", "1.5"]
    session.run(
        "python", "benchmarks/echo_rps.py", *ours, *short, "--setup-published",
        "--json", f"{tmp}/echo_clients.json",
    )
    session.run(
        "python", "benchmarks/echo_rps.py", "--mode", "server", *ours, *short,
        "--servers", "ours-cython,published,websockets,aiohttp,ours-pure,websockets-pure,aiohttp-pure",
        "--json", f"{tmp}/echo_servers.json",
    )
    session.run("python", "benchmarks/scale.py", *ours, "--repeat", "1", "--json", f"{tmp}/scale.json")
    session.run(
        "python", "benchmarks/report.py", f"{tmp}/echo_clients.json", f"{tmp}/echo_servers.json",
        "--ratio", "ours-cython/published", "--ratio", "ours-cython/raw", "--ratio", "ours-pure/websockets",
        "--ratio", "ours-pure/websockets-pure",
    )
    session.log(f"raw numbers: {tmp}/*.json")
