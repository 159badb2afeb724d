"""Test, lint and benchmark sessions: ``python3 -m nox`` runs the default set, ``-l`` lists them all.

* ``tests-cython``: the newest CPython 3.12+ found (on PATH or pyenv's; else nox's own),
  compiled backend (the build must produce it), the whole suite.
* ``tests-pure``: the CPython running nox, pure-Python backend, the whole suite.
* ``tests-pypy``: PyPy 3 (``pypy3`` on PATH), pure-Python backend, the whole suite.
* ``tests-asan``: the differential fuzz and the e2e data path on an AddressSanitizer build.
* ``fuzz-parser``: coverage-guided fuzzing of the compiled parser against the pure one.
* ``lint``: ruff, mypy (strict) on ``src/picows`` and the examples, cython-lint.
* ``docs``, ``packaging``: Sphinx (both backends), sdist/wheel into fresh venvs.
* ``coverage``, ``demo``, ``bench``: not run by default.

What each test group covers and how to run one group or one test: tests/README.md.
The package is always installed NON-editable into the session's virtualenv and
the tests import that installed copy (tests/ is not a package and src/ is
never put on sys.path), so what is tested is what ``pip install`` produces.
Arguments after ``--`` are passed to pytest, e.g.
``python3 -m nox -s tests-pure -- tests/unit -x``."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from xml.etree import ElementTree

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
# uv (installed beside nox by ./run) creates the venvs and installs into them in seconds
# where pip takes half a minute per session; plain virtualenv + pip when uv is missing.
# uv builds a local directory afresh on every install, so no session reuses another's build.
nox.options.default_venv_backend = "uv|virtualenv"

PYPROJECT = nox.project.load_toml("pyproject.toml")
RUNTIME_DEPS: list[str] = PYPROJECT["project"]["dependencies"]

# Checked after installation: the tests must see the installed package.
CHECK_INSTALLED = """\
import os, sys, picows
where = os.path.dirname(picows.__file__)
print(f"picows {picows.__version__} backend={picows.BACKEND} at {where} (Python {sys.version.split()[0]})")
if "site-packages" not in where:
    sys.exit(f"picows was imported from {where}, not from the session's site-packages")
"""


def _newest_cpython() -> str | None:
    """The newest CPython 3.12+ here (on PATH, else one of pyenv's), or None: the one running nox.

    ``tests-cython`` runs on it and ``tests-pure`` on nox's own, so that the suite covers
    a current CPython besides the oldest one a machine tends to have as ``python3``.
    """
    for minor in (14, 13, 12):
        candidates = []
        on_path = shutil.which(f"python3.{minor}")
        if on_path is not None and f"{os.sep}shims{os.sep}" not in on_path:  # pyenv's shims may refuse
            candidates.append(on_path)
        pyenv = glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}"))
        candidates += sorted(pyenv, key=_version_key, reverse=True)
        for candidate in candidates:
            if subprocess.run([candidate, "-c", _USABLE], capture_output=True).returncode == 0:
                return candidate
    return None


# What tests-cython needs of an interpreter: it runs, has ssl and venv, and can build extensions.
_USABLE = """\
import os, ssl, sysconfig, venv
assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))
"""


def _version_key(path: str) -> tuple[int, ...]:
    """(3, 13, 1) for ``.../versions/3.13.1/bin/python3.13``; pre-releases and variants sort first."""
    version = path.split(os.sep)[-3]
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


NEWEST_CPYTHON = _newest_cpython()


def _fresh_build_dir() -> None:
    """pip builds in ./build; objects left there by another session's flags must not be reused."""
    shutil.rmtree("build", ignore_errors=True)


def _run_tests(session: nox.Session, *, backend: str, build_env: dict[str, str]) -> None:
    _fresh_build_dir()
    session.install(".[test]", env=build_env)
    env = {"PICOWS_PURE": "1" if backend == "pure" else "0", "PICOWS_TEST_BACKEND": backend}
    # -I: isolated mode, so the current directory is not on sys.path.
    session.run("python", "-I", "-c", CHECK_INSTALLED, env=env)
    session.run("pytest", *_workers(), *session.posargs, env=env)


def _workers() -> list[str]:
    """pytest-xdist arguments: one worker per CPU; PICOWS_TEST_WORKERS=N sets N, 0 runs in one process.

    The suite waits on sockets and child processes much of the time.
    """
    workers = os.environ.get("PICOWS_TEST_WORKERS", "auto")
    return [] if workers == "0" else ["-n", workers]


def _require_cpython(session: nox.Session) -> None:
    impl = session.run(
        "python", "-c", "import platform; print(platform.python_implementation())", silent=True
    )
    if not impl or impl.strip() != "CPython":
        session.error(f"this session needs CPython, got {impl!r}")


@nox.session(name="tests-cython", python=NEWEST_CPYTHON)
def tests_cython(session: nox.Session) -> None:
    """The newest CPython 3.12+ found (else nox's own), compiled backend; the build must compile it."""
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
    pyx_dirs = ["src/picows/_cython", "src/picows/__init__.pxd", "src/picows/picows.pxd",
                "src/picows/websockets", "tests/system/cython_user", "examples/cython_client"]
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
    session.install(
        "--force-reinstall", "--no-deps", "--no-build-isolation", ".",
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
        "pytest", *_workers(), "tests/unit/test_differential.py", "tests/e2e/test_buffer_policy.py",
        "tests/e2e/test_echo.py", "tests/e2e/test_send.py", "tests/e2e/test_protocol_violations.py",
        *session.posargs, env=env,
    )


@nox.session(python=None)
def coverage(session: nox.Session) -> None:
    """Coverage of the whole suite; not in the default set (two full runs, one of them line-traced).

    1. Pure backend build: branch coverage of the shared modules (src/picows/*.py) and of the
       pure hot path (src/picows/_pure/), settings in tests/coverage/pure.toml.
    2. Compiled build with PICOWS_CYTHON_LINETRACE=1: line coverage of src/picows/_cython/*.pyx
       through the Cython.Coverage plugin, settings in tests/coverage/compiled.toml.

    Prints both reports and writes HTML to htmlcov/pure and htmlcov/compiled. Code run only
    in child processes (CLI, examples, backend selection) is not counted. Arguments after
    ``--`` go to pytest (e.g. ``-- tests/unit``).
    """
    _require_cpython(session)
    tmp = os.path.abspath(session.create_tmp())
    runs = [
        ("pure", {"PICOWS_NO_EXTENSIONS": "1"}, {"PICOWS_PURE": "1", "PICOWS_TEST_BACKEND": "pure"}),
        (
            "compiled",
            {"PICOWS_REQUIRE_EXTENSIONS": "1", "PICOWS_CYTHON_LINETRACE": "1"},
            {"PICOWS_PURE": "0", "PICOWS_TEST_BACKEND": "cython"},
        ),
    ]
    try:
        for name, build_env, test_env in runs:
            _fresh_build_dir()
            session.install(".[test]", "coverage>=7.4", env=build_env)
            rcfile = f"--rcfile=tests/coverage/{name}.toml"
            data_file = os.path.join(tmp, f"{name}.coverage")
            for stale in glob.glob(data_file + "*"):  # never combine an earlier run's data
                os.remove(stale)
            env = {**test_env, "COVERAGE_FILE": data_file}
            session.run("python", "-I", "-c", CHECK_INSTALLED, env=env)
            # A failing test must not hide the figures (exit code 1 is accepted here); the
            # session still fails below, from the JUnit report.
            junit = os.path.join(tmp, f"{name}.xml")
            session.run(
                "coverage", "run", rcfile, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                f"--junitxml={junit}", *session.posargs, env=env, success_codes=[0, 1],
            )  # fmt: skip
            session.run("coverage", "combine", "-q", rcfile, env=env)
            session.run("coverage", "report", rcfile, env=env)
            session.run("coverage", "html", rcfile, "-q", "-d", f"htmlcov/{name}", env=env)
            suite = ElementTree.parse(junit).getroot().find("testsuite")
            if suite is None or int(suite.get("failures", "0")) + int(suite.get("errors", "0")):
                session.error(f"tests failed in the {name} coverage run (see {junit})")
    finally:
        _fresh_build_dir()
        # The line-tracing build wrote its C next to the sources; never leave it for another build.
        for c_file in glob.glob("src/picows/_cython/*.c"):
            os.remove(c_file)


@nox.session(python=None)
def packaging(session: nox.Session) -> None:
    """sdist/wheel contents; the sdist installed into fresh CPython (compiled, pure) and PyPy venvs."""
    _require_cpython(session)
    _fresh_build_dir()
    # conftest.py imports picows: a quick pure copy for pytest itself; the packages under
    # test are what tests/system/test_packaging.py builds from the checkout.
    session.install(".[test]", env={"PICOWS_NO_EXTENSIONS": "1"})
    # Two groups of tests (xdist_group marks), one per worker: the wheel's build runs beside the installs.
    workers = _workers()
    session.run(
        "pytest",
        *workers,
        *(["--dist", "loadgroup"] if workers else []),
        "tests/system/test_packaging.py",
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"PICOWS_TEST_PACKAGING": "1", "PICOWS_PURE": "1", "PICOWS_TEST_BACKEND": "pure"},
    )


def _fuzz_arguments(session: nox.Session) -> tuple[str, bool]:
    """``fuzz-parser``'s arguments: the seconds (default 30) and whether to show libFuzzer's output."""
    seconds, verbose = "30", os.environ.get("PICOWS_FUZZ_VERBOSE", "") not in ("", "0")
    for arg in session.posargs:
        if arg in ("-verbose", "--verbose"):
            verbose = True
        elif arg.isdigit():
            seconds = arg
        else:
            session.error(f"fuzz-parser: unknown argument {arg!r} (use: [SECONDS] [-verbose])")
    return seconds, verbose


def _fuzz_summary(output: str, seconds: str, crashes: int) -> str:
    """One line from libFuzzer's output: runs, speed, coverage, corpus, crashes."""

    def stat(name: str) -> str:
        found = re.findall(rf"^stat::{name}:\s*(\d+)", output, re.MULTILINE)
        return found[-1] if found else "?"

    # The last status line, e.g. "#12345  DONE   cov: 1234 ft: 5678 corp: 60/3000b ...".
    status = re.findall(r"^#\d+\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/", output, re.MULTILINE)
    cov, ft, corp = status[-1] if status else ("?", "?", "?")
    return (
        f"fuzz-parser: {stat('number_of_executed_units')} runs in {seconds} s "
        f"({stat('average_exec_per_sec')}/s), coverage {cov} edges ({ft} features), "
        f"corpus {corp} inputs, {crashes} crashes"
    )


@nox.session(name="fuzz-parser", python=None)
def fuzz_parser(session: nox.Session) -> None:
    """Coverage-guided fuzzing of the compiled frame parser against its pure twin (atheris, ASan).

    Bounded: 30 s by default, or the number of seconds given as an argument
    (``nox -s fuzz-parser -- 120``). Prints a one-line summary (runs, coverage,
    crashes) and keeps libFuzzer's output in the session's tmp directory;
    ``-- -verbose`` (or ``PICOWS_FUZZ_VERBOSE=1``) prints all of it instead. A
    crash fails the session and prints the whole output.
    """
    _require_cpython(session)
    seconds, verbose = _fuzz_arguments(session)
    session.install("atheris", "Cython>=3.1", "setuptools>=64", "wheel", *RUNTIME_DEPS)
    sanitize = "-fsanitize=fuzzer-no-link,address"
    _fresh_build_dir()
    session.install(
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
        silent=not verbose,
    )
    _fresh_build_dir()
    atheris_dir = session.run("python", "-c", "import atheris; print(atheris.path())", silent=True).strip()
    tmp = os.path.abspath(session.create_tmp())
    corpus = os.path.join(tmp, "corpus")
    os.makedirs(corpus, exist_ok=True)
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.path.join(here, "tests", "system", "fuzz", "fuzz_parser.py")
    session.chdir(tmp)  # crash-* artefacts land here
    output = session.run(
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
        silent=not verbose,  # on failure nox prints the whole output anyway
    )
    crashes = len(glob.glob(os.path.join(tmp, "crash-*")) + glob.glob(os.path.join(tmp, "timeout-*")))
    if verbose:
        return
    log = os.path.join(tmp, "fuzz-parser.log")
    with open(log, "w") as f:
        f.write(str(output))
    session.log(_fuzz_summary(str(output), seconds, crashes))
    session.log(f"libFuzzer's output: {log} (or run with -- -verbose)")
    if crashes:
        session.error(f"{crashes} crash/timeout inputs in {tmp}")


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
    """Benchmarks, shortened repeats (several minutes); not part of the default run.

    Micro-benchmarks pure vs compiled (pytest-benchmark + speed-up table), the
    echo RPS tool in client and server mode over ws:// and wss:// (the
    published picows is fetched from PyPI into benchmarks/.venvs/published,
    PyPy gets our runtime deps in benchmarks/.venvs/pypy), and the
    connection-scale / fan-out benchmark (ws://, then wss:// memory), all
    against the installed package. Arguments after ``--`` go to pytest.
    Full-length runs: see the docstrings of benchmarks/echo_rps.py and
    benchmarks/scale.py.
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
    servers = "ours-cython,published,websockets,aiohttp,ours-pure,websockets-pure,aiohttp-pure"
    reports = []
    for scheme, tls in (("ws", []), ("wss", ["--tls"])):
        session.run(
            "python", "benchmarks/echo_rps.py", *ours, *short, *tls, "--setup-published", "--setup-pypy",
            "--json", f"{tmp}/{scheme}_clients.json",
        )
        session.run(
            "python", "benchmarks/echo_rps.py", "--mode", "server", *ours, *short, *tls, "--servers", servers,
            "--json", f"{tmp}/{scheme}_servers.json",
        )
        reports += [f"{tmp}/{scheme}_clients.json", f"{tmp}/{scheme}_servers.json"]
    session.run("python", "benchmarks/scale.py", *ours, "--repeat", "1", "--json", f"{tmp}/scale.json")
    session.run(
        "python", "benchmarks/scale.py", *ours, "--tls", "--fanout-clients", "0", "--repeat", "1",
        "--json", f"{tmp}/scale_wss.json",
    )
    session.run(
        "python", "benchmarks/report.py", *reports,
        "--ratio", "ours-cython/published", "--ratio", "ours-cython/raw", "--ratio", "ours-pure/websockets",
        "--ratio", "ours-pure/websockets-pure",
    )
    session.log(f"raw numbers: {tmp}/*.json")
