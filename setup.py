"""Build script: the optional Cython backend.

All metadata lives in pyproject.toml; this file only decides which extension
modules to build. Every ``src/picows/_cython/<name>.pyx`` becomes the extension
``picows._cython.<name>``. The build is best effort: it is skipped (leaving a
working pure-Python install) when

* the interpreter is not CPython (e.g. PyPy),
* ``PICOWS_NO_EXTENSIONS`` is set to 1/true/yes/on at build time,
* Cython cannot be imported, or
* compiling fails (no C compiler, missing headers, ...), with a loud warning.

``PICOWS_REQUIRE_EXTENSIONS=1`` turns every one of those skips and failures
into a build error, so that CI and wheel builds can never silently produce a
pure install when the compiled backend was wanted. Both variables are parsed
strictly: 1/true/yes/on or 0/false/no/off/empty (any case); anything else is
an error naming the variable.
"""

from __future__ import annotations

import glob
import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError  # setuptools >= 59

HERE = os.path.dirname(os.path.abspath(__file__))
CYTHON_DIR = os.path.join("src", "picows", "_cython")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, ValueError)


def env_flag(name: str) -> bool:
    """Strictly parse a boolean build switch; unset means False."""
    raw = os.environ.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SystemExit(
        f"error: invalid value {raw!r} for environment variable {name}: "
        f"expected one of 1, true, yes, on (enable) or 0, false, no, off, empty (disable)"
    )


NO_EXTENSIONS = env_flag("PICOWS_NO_EXTENSIONS")
REQUIRE_EXTENSIONS = env_flag("PICOWS_REQUIRE_EXTENSIONS")


def warn(message: str) -> None:
    bar = "*" * 78
    sys.stderr.write(
        f"\n{bar}\nWARNING (picows): {message}\nInstalling the pure-Python backend only.\n{bar}\n\n"
    )
    sys.stderr.flush()


def skip_or_fail(message: str) -> None:
    if REQUIRE_EXTENSIONS:
        raise SystemExit(
            f"error: PICOWS_REQUIRE_EXTENSIONS is set but the Cython backend cannot be built: {message}"
        )
    warn(message)


def pyx_sources() -> list[str]:
    """``src/picows/_cython/*.pyx``, relative to the project root, sorted."""
    pattern = os.path.join(HERE, CYTHON_DIR, "*.pyx")
    return sorted(os.path.relpath(path, HERE) for path in glob.glob(pattern))


# PICOWS_CYTHON_DEBUG=1: a checking build (Cython bounds/wraparound checks, -O1 -g)
# for the memory-safety runs (nox -s tests-asan adds the sanitizers).
CYTHON_DEBUG = env_flag("PICOWS_CYTHON_DEBUG")
# PICOWS_CYTHON_LINETRACE=1: a line-tracing build for measuring coverage of the compiled
# backend (nox -s coverage, with the Cython.Coverage plugin). Much slower; never shipped.
# The generated C is written next to the .pyx sources, where the plugin looks for it.
CYTHON_LINETRACE = env_flag("PICOWS_CYTHON_LINETRACE")
COMPILER_DIRECTIVES = {
    "language_level": 3,
    "embedsignature": True,
    "binding": True,
    "boundscheck": CYTHON_DEBUG,
    "wraparound": CYTHON_DEBUG,
    "cdivision": True,
    # Declares the modules safe without the GIL on free-threaded CPython: per
    # connection state is only touched from its event loop's thread, which
    # WSTransport checks on every call.
    "freethreading_compatible": True,
    "linetrace": CYTHON_LINETRACE,
}


def extension_modules() -> list[Extension]:
    """The Cython extensions to build (sources still .pyx), or [] when they are skipped."""
    if NO_EXTENSIONS and REQUIRE_EXTENSIONS:
        raise SystemExit("error: PICOWS_NO_EXTENSIONS and PICOWS_REQUIRE_EXTENSIONS are both set")
    if NO_EXTENSIONS:
        sys.stderr.write("picows: PICOWS_NO_EXTENSIONS is set, building the pure-Python backend only\n")
        return []
    if platform.python_implementation() != "CPython":
        skip_or_fail(f"the Cython backend is only built on CPython, not {platform.python_implementation()}")
        return []
    sources = pyx_sources()
    if not sources:
        skip_or_fail(f"no .pyx sources found in {CYTHON_DIR}")
        return []
    try:
        import Cython.Build  # noqa: F401
    except ImportError as exc:
        skip_or_fail(f"Cython is not importable ({exc})")
        return []

    # -O3 rather than -O2: lets gcc/clang vectorise the payload masking loop.
    # (Comes after CPython's own CFLAGS, so it also wins over a -O2 there.)
    if sys.platform == "win32":
        extra_compile_args = []
    else:
        extra_compile_args = ["-O1", "-g"] if CYTHON_DEBUG else ["-O3"]
    return websockets_extensions(extra_compile_args) + [
        Extension(
            "picows._cython." + os.path.splitext(os.path.basename(src))[0],
            [src],
            extra_compile_args=extra_compile_args,
            # C headers (vectorised masking) live in _cython/includes/.
            include_dirs=[os.path.join(CYTHON_DIR, "includes")],
            define_macros=[("CYTHON_TRACE_NOGIL", "1")] if CYTHON_LINETRACE else [],
            depends=glob.glob(os.path.join(CYTHON_DIR, "includes", "*"))
            + glob.glob(os.path.join(CYTHON_DIR, "*.pxi")),
        )
        for src in sources
    ]


# picows.websockets: the per-message path, one .py source compiled with a .pxd
# beside it (_messages_c.py is a symlink to the pure module _messages.py).
WEBSOCKETS_COMPILED = {
    "picows.websockets.asyncio._messages_c": os.path.join(
        "src", "picows", "websockets", "asyncio", "_messages_c.py"
    ),
}


def websockets_extensions(extra_compile_args: list[str]) -> list[Extension]:
    return [
        Extension(name, [src], extra_compile_args=extra_compile_args)
        for name, src in WEBSOCKETS_COMPILED.items()
    ]


class OptionalBuildExt(build_ext):
    """``build_ext`` that cythonizes, then compiles; degrades to a pure install on failure.

    Cythonizing happens here rather than at import of setup.py, so that
    metadata and sdist steps do not run Cython, and the generated C goes to
    the build directory instead of next to the sources.

    It is all or nothing: when one extension fails, the ones already built are
    removed again, so an install never mixes compiled and missing modules.
    Unless PICOWS_REQUIRE_EXTENSIONS is set: then any failure is an error.
    """

    def finalize_options(self) -> None:
        super().finalize_options()
        # Compile the extensions side by side unless told otherwise (-j/--parallel): the
        # modules are independent and the build is most of an install's time.
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        self._picows_failed = False
        if self.extensions:
            try:
                from Cython.Build import cythonize

                cythonized = cythonize(
                    self.extensions,
                    compiler_directives=COMPILER_DIRECTIVES,
                    include_path=[os.path.join(HERE, "src")],
                    build_dir=None if CYTHON_LINETRACE else os.path.join(self.build_temp, "cython"),
                )
                # Keep setuptools' own Extension objects (finalize_options
                # annotated them); only their sources change from .pyx to .c.
                by_name = {ext.name: ext for ext in cythonized}
                for ext in self.extensions:
                    ext.sources = by_name[ext.name].sources
            except Exception as exc:  # Cython reports errors as CompileError and other exceptions
                skip_or_fail(f"cythonize failed: {exc!r}")
                self.extensions = []
                return
        try:
            super().run()
        except BUILD_ERRORS as exc:
            self._picows_failed = True
            skip_or_fail(f"building the C extensions failed: {exc}")
        if self._picows_failed:
            for ext in self.extensions:
                path = self.get_ext_fullpath(ext.name)
                if os.path.exists(path):
                    os.remove(path)

    def build_extension(self, ext: Extension) -> None:
        if getattr(self, "_picows_failed", False):
            return
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as exc:
            self._picows_failed = True
            skip_or_fail(f"compiling {ext.name} failed: {exc}")


setup(
    ext_modules=extension_modules(),
    cmdclass={"build_ext": OptionalBuildExt},
)
