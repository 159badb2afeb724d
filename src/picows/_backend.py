"""The import shim: selects the compiled or the pure-Python hot path.

``PICOWS_PURE`` (read once, at import):

* ``1``/``true``/``yes``/``on`` (any case): use the pure-Python backend;
* ``0``/``false``/``no``/``off``: require the compiled backend, ImportError if absent;
* unset or empty: the compiled backend if it is available, else pure Python;
* anything else: ValueError naming the variable.

On interpreters other than CPython the pure backend is always used.
"""

from __future__ import annotations

import logging
import os
import platform
from types import ModuleType

__all__ = ["BACKEND", "BACKEND_FALLBACK_REASON", "impl"]

_TRUE = frozenset(("1", "true", "yes", "on"))
_FALSE = frozenset(("0", "false", "no", "off"))


def _requested_backend() -> str | None:
    raw = os.environ.get("PICOWS_PURE")
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return "pure"
    if value in _FALSE:
        return "cython"
    raise ValueError(
        f"PICOWS_PURE={raw!r} is not understood: use 1/true/yes/on for the pure-Python "
        "backend, 0/false/no/off to require the compiled one, or leave it unset"
    )


def _select() -> tuple[ModuleType, str, str | None]:
    requested = _requested_backend()
    if requested == "pure":
        from . import _pure

        return _pure, "pure", None
    if platform.python_implementation() != "CPython":
        reason = f"the compiled backend is only built for CPython, not {platform.python_implementation()}"
        if requested == "cython":
            raise ImportError(f"PICOWS_PURE=0 requires the compiled backend, but {reason}")
        from . import _pure

        return _pure, "pure", reason
    try:
        from . import _cython
    except ImportError as exc:
        reason = f"the compiled backend is not available ({exc})"
        if requested == "cython":
            raise ImportError(
                f"PICOWS_PURE=0 requires the compiled backend, but {reason}; "
                "reinstall picows on CPython with a C compiler (and without PICOWS_NO_EXTENSIONS=1)"
            ) from exc
        from . import _pure

        return _pure, "pure", reason
    return _cython, "cython", None


impl, BACKEND, BACKEND_FALLBACK_REASON = _select()
if BACKEND_FALLBACK_REASON:
    logging.getLogger("picows").debug("using the pure-Python backend: %s", BACKEND_FALLBACK_REASON)
