"""Build ``echo_client.pyx`` in place, against the installed picows.

Needs Cython, a C compiler and picows installed with its compiled backend
(``picows.BACKEND == "cython"``)::

    pip install cython
    python examples/cython_client/build.py
    python examples/cython_client/run.py ws://127.0.0.1:9001/

The ``.pxd`` files that ``from picows cimport ...`` needs are installed with
picows, so the include path is simply the directory that contains the
``picows`` package.
"""

from __future__ import annotations

import os
import sys

from Cython.Build import cythonize
from setuptools import Distribution, Extension

import picows

HERE = os.path.dirname(os.path.abspath(__file__))


def build() -> str:
    """Compile the extension next to this file; return its path."""
    include_dir = os.path.dirname(os.path.dirname(os.path.abspath(picows.__file__)))
    extensions = cythonize(
        [Extension("echo_client", [os.path.join(HERE, "echo_client.pyx")])],
        include_path=[include_dir],
        build_dir=os.path.join(HERE, "build"),
        compiler_directives={"language_level": 3},
        quiet=True,
    )
    dist = Distribution({"name": "echo_client", "ext_modules": extensions})
    cmd = dist.get_command_obj("build_ext")
    cmd.inplace = True
    cmd.build_temp = os.path.join(HERE, "build", "tmp")
    cmd.ensure_finalized()
    cwd = os.getcwd()
    os.chdir(HERE)  # --inplace writes into the current directory
    try:
        cmd.run()
    finally:
        os.chdir(cwd)
    return os.path.join(HERE, os.path.basename(cmd.get_ext_fullpath("echo_client")))


if __name__ == "__main__":
    if picows.BACKEND != "cython":
        sys.exit(f"picows' compiled backend is not available ({picows.BACKEND_FALLBACK_REASON})")
    print(f"built {build()}")
