"""Sphinx configuration for the picows documentation.

The API reference is rendered from the docstrings of the *installed* picows
package (whichever backend it loads: ``PICOWS_PURE=1`` or ``0`` picks one);
both backends must render it identically.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys

from sphinx.util import inspect as sphinx_inspect
from sphinx.util import logging as sphinx_logging

import picows

_logger = sphinx_logging.getLogger(__name__)

# The distribution is picows-ng; the import package it documents is picows.
project = "picows-ng"
author = "picows developers"
copyright = "picows developers"
release = picows.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.napoleon",  # "Attributes:" sections (Google style) in some docstrings
    "enum_tools.autoenum",
]

# Examples are included with literalinclude relative to this directory.
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES_DIR = os.path.join(os.path.dirname(HERE), "examples")

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# Source order is unknown for compiled classes: alphabetical is the same for both backends.
autodoc_member_order = "alphabetical"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autoclass_content = "class"

html_theme = "furo"
html_title = f"picows-ng {release}"
html_static_path: list[str] = []

# Doctests run against the same installed package. ``run_with_echo_server(main)``
# runs ``await main(url)`` with ``url`` pointing at examples/echo_server.py,
# started on a free loopback port (hidden helper of the guides' doctests).
doctest_global_setup = f"""
import asyncio
import sys

sys.path.insert(0, {EXAMPLES_DIR!r})

import picows
from picows import *


async def _with_echo_server(main):
    import echo_server

    server = await echo_server.start_server("127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        return await asyncio.wait_for(main(f"ws://127.0.0.1:{{port}}/"), 10)


def run_with_echo_server(main):
    return asyncio.run(_with_echo_server(main))
"""


def _skip_cython_attribute_stubs(app, what, name, obj, skip, options):
    """Hide attribute descriptors that only carry Cython's generated ``name: type`` docstring.

    With ``embedsignature=True`` Cython gives ``public`` cdef attributes a
    docstring such as ``"request: object"``; autodoc would then list them under
    ``:members:`` for the compiled backend only. The reference documents these
    attributes explicitly, so both backends render the same page.
    """
    if inspect.isgetsetdescriptor(obj) or inspect.ismemberdescriptor(obj):
        doc = (obj.__doc__ or "").strip()
        if not doc or re.fullmatch(r"\w+: [\w.\[\], ]+", doc):
            return True
    return None


_BACKEND_MODULES = ("picows._cython.", "picows._pure.")
_BACKEND_QUALNAME = re.compile(r"\bpicows\._(?:pure|cython)\.\w+\.")


def _pure_twin(obj):
    """The pure-Python twin of an object of the compiled backend, or None for other objects."""
    module = getattr(obj, "__module__", None) or ""
    if not module.startswith("picows._cython."):
        return None
    target = importlib.import_module("picows._pure." + module.rsplit(".", 1)[1])
    for part in obj.__qualname__.split("."):
        target = getattr(target, part)
    return target


def _comparable(sig):
    """Parameter names, kinds and defaults (annotations left out: Cython has C types there)."""
    return [(p.name, p.kind, repr(p.default)) for p in sig.parameters.values()]


def _same_signature_for_both_backends(app, what, name, obj, options, signature, return_annotation):
    """Render the signatures of the backend classes identically for both backends.

    * Classes of the hot path (WSFrame, WSTransport, WSListener) are created by
      picows, so their constructor signature is not shown.
    * Methods of the compiled backend are rendered with the signature of their
      pure-Python twin, which carries the Python type annotations (Cython's
      embedded signatures show C types such as ``bint`` and ``Py_ssize_t``).
      Parameter names, kinds and defaults must match exactly; any difference
      is a parity bug and is reported as a warning (an error with ``-W``).
    """
    module = getattr(obj, "__module__", None) or ""
    if not module.startswith(_BACKEND_MODULES):
        return None
    if what == "class":
        return "", None
    if what not in ("method", "function"):
        return None
    twin = obj
    if module.startswith("picows._cython."):
        try:
            twin = _pure_twin(obj)
        except AttributeError:
            _logger.warning("%s exists in the compiled backend but not in the pure one", name)
            return None
        compiled_sig = inspect.signature(obj)
        pure_sig = inspect.signature(twin)
        if _comparable(compiled_sig) != _comparable(pure_sig):
            _logger.warning(
                "signature of %s differs between backends: compiled %s, pure %s", name, compiled_sig, pure_sig
            )
            return None
    # What autodoc's MethodDocumenter does, applied to the pure-Python twin.
    app.emit("autodoc-before-process-signature", twin, True)
    sig = sphinx_inspect.signature(twin, bound_method=True, type_aliases=app.config.autodoc_type_aliases)
    args = sphinx_inspect.stringify_signature(
        sig, unqualified_typehints=app.config.autodoc_typehints_format == "short"
    )
    # Annotations name the defining module (picows._pure.transport.WSTransport):
    # point them at the public names, which the reference documents.
    return _BACKEND_QUALNAME.sub("picows.", args), None


def _drop_backend_aliases(app, env):
    """Remove the backend-specific canonical names (``picows._pure.transport.WSTransport``, ...).

    autodoc registers a class under its defining module too; those private
    names would make the inventory (objects.inv) depend on the backend.
    """
    objects = env.get_domain("py").objects
    for name in [n for n, entry in objects.items() if entry.aliased and n.startswith(_BACKEND_MODULES)]:
        del objects[name]


def setup(app):
    app.connect("autodoc-skip-member", _skip_cython_attribute_stubs)
    app.connect("autodoc-process-signature", _same_signature_for_both_backends)
    app.connect("env-updated", _drop_backend_aliases)


print(f"picows {picows.__version__}: rendering with the {picows.BACKEND!r} backend", file=sys.stderr)
