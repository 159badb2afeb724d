"""The rows of the benchmark tables: how each implementation is run, and proof that it ran.

A row is one implementation as a client and/or a server: an interpreter, a
worker (``picows``, ``picows-websockets``, ``websockets``, ``aiohttp`` or
``raw``), an environment, and optional keyword arguments for the library's
connect/serve call (the hook for transport paths: a row ``ours-cython-fastnet``
is one more entry in :data:`ROWS`, or
``--variant 'ours-cython-fastnet=ours-cython:{"use_aiofastnet": true}'`` on the
command line).

Every worker reports what it imported; :func:`check_identity` aborts the run
when a row's process did not run what the row promises (our tree with the
requested backend, the published package and not ours, a library with its C
extensions really off).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import REPO, VENVS, WORKERS
from .procs import Abort, last_json_line, tail

ECHO_WORKER = WORKERS / "echo.py"
#: Honoured by workers/echo.py: websockets' optional C extension is blocked.
NO_WEBSOCKETS_SPEEDUPS_ENV = "ECHO_RPS_NO_WEBSOCKETS_SPEEDUPS"

BUILD_HINT = (
    "our rows import picows from --ours-src, by default this checkout's src/: build the compiled "
    "backend there with 'python setup.py build_ext --inplace', or pass --ours-src installed"
)

# glibc malloc decides from a process's allocation history whether a 256 KiB
# block comes from mmap (fresh pages, faulted in on every use) or from the heap.
# asyncio's non-buffered protocols (websockets, aiohttp) allocate one such
# block per socket read, so that history alone moved their asyncio results by
# 2x between two identical virtualenvs. Every process gets the fast setting
# (the best case for those libraries); a value already in the environment wins.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20), "MALLOC_TRIM_THRESHOLD_": str(4 << 20)}
#: The workers that have an echo server (``raw`` is a client only).
SERVING_WORKERS = ("picows", "picows-websockets", "websockets", "aiohttp")


@dataclass(frozen=True)
class Row:
    """How to run one implementation (before the interpreters are known)."""

    interpreter: str  # "ours", "pypy" or "published": which --*-python runs it
    worker: str  # the worker's --impl
    pure: str | None = None  # PICOWS_PURE for our package (None: unset)
    expect_backend: str | None = None  # our package: picows.BACKEND must be this
    expect_accel: str | None = None  # a third-party library: "python" = its C extensions must be off
    extra_env: tuple[tuple[str, str], ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()  # keyword arguments of the connect/serve call

    @property
    def can_serve(self) -> bool:
        return self.worker in SERVING_WORKERS


ROWS: dict[str, Row] = {
    "ours-cython": Row("ours", "picows", pure="0", expect_backend="cython"),
    "ours-pure": Row("ours", "picows", pure="1", expect_backend="pure"),
    # PICOWS_PURE unset: on PyPy the pure backend must be chosen by itself.
    "ours-pypy": Row("pypy", "picows", expect_backend="pure"),
    # The published picows uses aiofastnet when it is installed (its default);
    # "published-stock" pins the loop's own transports.
    "published": Row("published", "picows"),
    "published-stock": Row("published", "picows", kwargs=(("use_aiofastnet", False),)),
    "websockets": Row("ours", "websockets"),
    # The websockets-compatible API (picows.websockets) on each picows above: "<row>-ws".
    "ours-cython-ws": Row("ours", "picows-websockets", pure="0", expect_backend="cython"),
    "ours-pure-ws": Row("ours", "picows-websockets", pure="1", expect_backend="pure"),
    "ours-pypy-ws": Row("pypy", "picows-websockets", expect_backend="pure"),
    "published-ws": Row("published", "picows-websockets"),
    "aiohttp": Row("ours", "aiohttp"),
    "websockets-pure": Row(
        "ours", "websockets", expect_accel="python", extra_env=((NO_WEBSOCKETS_SPEEDUPS_ENV, "1"),)
    ),
    "aiohttp-pure": Row("ours", "aiohttp", expect_accel="python", extra_env=(("AIOHTTP_NO_EXTENSIONS", "1"),)),
    "raw": Row("ours", "raw"),
}
#: The default client rows, in table order.
ALL_CLIENTS = [
    "ours-cython",
    "ours-pure",
    "ours-pypy",
    "published",
    "websockets",
    "aiohttp",
    "websockets-pure",
    "aiohttp-pure",
    "raw",
]


def server_rows() -> list[str]:
    return [name for name, row in ROWS.items() if row.can_serve]


def add_variant(spec: str) -> str:
    """``NAME=BASE:JSON``: a new row NAME like BASE with extra connect/serve keyword arguments."""
    name, sep, rest = spec.partition("=")
    base, sep2, kwargs_text = rest.partition(":")
    if not sep or not sep2 or not name or base not in ROWS:
        raise ValueError(f"--variant wants NAME=BASE:JSON with BASE one of {sorted(ROWS)}, got {spec!r}")
    if name in ROWS:
        raise ValueError(f"--variant {name!r}: a row of that name exists")
    kwargs = json.loads(kwargs_text)
    if not isinstance(kwargs, dict):
        raise ValueError(f"--variant {name!r}: the keyword arguments must be a JSON object")
    row = ROWS[base]
    ROWS[name] = Row(**{**row.__dict__, "kwargs": row.kwargs + tuple(kwargs.items())})
    return name


@dataclass
class Impl:
    """One row, ready to run: interpreter, environment, and what its processes must report."""

    name: str
    python: str
    worker_impl: str
    env: dict[str, str]
    expect_backend: str | None = None
    foreign: bool = False  # the published picows: must NOT load our source tree
    ours_root: Path | None = None  # our picows must come from here (None: the interpreter's installed one)
    min_warmup: float | None = None  # e.g. PyPy: the JIT needs longer
    expect_accel: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    probe: dict | None = None
    unavailable: str | None = None

    def cmd(self, *args: str) -> list[str]:
        return [self.python, str(ECHO_WORKER), *args]

    def worker_args(self) -> list[str]:
        """``--impl`` and, when the row has them, ``--kwargs`` for workers/echo.py."""
        extra = ["--kwargs", json.dumps(self.kwargs)] if self.kwargs else []
        return ["--impl", self.worker_impl, *extra]

    @property
    def can_serve(self) -> bool:
        return self.worker_impl in SERVING_WORKERS


def base_env() -> dict[str, str]:
    """The environment of every worker: ours minus what would change what is imported, malloc pinned."""
    env = dict(os.environ)
    for k in ("PICOWS_PURE", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(k, None)
    env["PYTHONHASHSEED"] = "0"
    for k, v in MALLOC_ENV.items():
        env.setdefault(k, v)
    return env


def ours_root(ours_src: str) -> Path | None:
    """Where our picows must be imported from: a source tree, or None for 'installed'."""
    return None if ours_src == "installed" else Path(ours_src).resolve()


def make_impls(
    *, ours_python: str, ours_src: str, published_python: str, pypy_python: str, pypy_warmup: float
) -> dict[str, Impl]:
    """An :class:`Impl` for every row of :data:`ROWS`."""
    root = ours_root(ours_src)
    pythons = {"ours": ours_python, "published": published_python, "pypy": pypy_python}
    impls = {}
    for name, row in ROWS.items():
        env = base_env()
        impl_root = None
        if row.interpreter == "pypy":
            # The pure backend needs no build: PyPy always runs our source tree.
            impl_root = root if root is not None else REPO / "src"
            env["PYTHONPATH"] = str(impl_root)
        elif row.interpreter == "ours" and root is not None:
            env["PYTHONPATH"] = str(root)  # always OUR tree, whatever else the venv has
            impl_root = root if row.worker.startswith("picows") else None
        if row.pure is not None:
            env["PICOWS_PURE"] = row.pure
        env.update(row.extra_env)
        impls[name] = Impl(
            name,
            pythons[row.interpreter],
            row.worker,
            env,
            expect_backend=row.expect_backend,
            foreign=row.interpreter == "published",
            ours_root=impl_root,
            min_warmup=pypy_warmup if row.interpreter == "pypy" else None,
            expect_accel=row.expect_accel,
            kwargs=dict(row.kwargs),
        )
    return impls


def accel_label(info: dict) -> str:
    """The table's backend column for a third-party library: whether its C extensions ran."""
    return {"c": "C ext", "python": "python"}.get(info.get("accel") or "", "-")


def transport_label(kinds: list[str] | str | None) -> str:
    """``aiofastnet`` / ``stock``: which transport implementation carried the connections."""
    if not kinds:
        return "?"
    if isinstance(kinds, str):
        kinds = [kinds]
    if any(k.startswith("aiofastnet") for k in kinds):
        return "aiofastnet"
    return "stock"


def server_desc(info: dict) -> str:
    api = f"{info['api']} of " if info.get("api") else ""
    if info.get("backend"):
        return f"{api}picows {info.get('picows_version')} BACKEND={info['backend']}"
    if info.get("picows_version"):
        return f"{api}picows {info['picows_version']}"
    if info.get("aiohttp_version"):
        return f"aiohttp {info['aiohttp_version']}"
    return f"websockets {info.get('websockets_version')}"


def check_identity(impl: Impl, info: dict, what: str) -> None:
    """Our processes must run our tree with the requested backend; the published must not."""
    f = info.get("picows_file") or ""
    inside = f.startswith(str(REPO / "src"))
    if impl.expect_backend is not None:
        if info.get("backend") != impl.expect_backend:
            raise Abort(
                f"{what} {impl.name}: picows.BACKEND is {info.get('backend')!r}, expected "
                f"{impl.expect_backend!r} (PICOWS_PURE={impl.env.get('PICOWS_PURE')}, picows from {f})"
            )
        if impl.ours_root is not None and not f.startswith(str(impl.ours_root)):
            raise Abort(f"{what} {impl.name}: imported picows from {f}, not from {impl.ours_root}")
        if impl.ours_root is None and f.startswith(str(VENVS)):
            raise Abort(f"{what} {impl.name}: imported the published picows ({f}), not ours")
    if impl.expect_accel is not None and info.get("accel") != impl.expect_accel:
        raise Abort(f"{what} {impl.name}: uses {info.get('accel_detail')}, expected {impl.expect_accel} code")
    if impl.foreign and f and (inside or f.startswith(str(REPO / "build"))):
        raise Abort(f"{what} {impl.name}: the 'published' interpreter imported OUR picows ({f})")


def probe(impl: Impl, deflate: bool = False) -> None:
    """Ask the row's interpreter what it can import; sets ``impl.probe`` or ``impl.unavailable``.

    With ``deflate`` a row whose library cannot negotiate permessage-deflate
    is unavailable too (rather than failing every run, or aborting a server
    mode run when its server does not start).
    """
    resolved = shutil.which(impl.python)
    if resolved is None:
        impl.unavailable = f"interpreter {impl.python} not found" + (
            " (run with --setup-published)" if impl.foreign else ""
        )
        return
    impl.python = resolved
    try:
        p = subprocess.run(
            impl.cmd("probe", "--impl", impl.worker_impl, *(["--deflate"] if deflate else [])),
            env=impl.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        impl.unavailable = "probe timed out"
        return
    info = last_json_line(p.stdout)
    if p.returncode != 0 or info is None:
        impl.unavailable = f"import failed: {tail(p.stderr, 1) or p.returncode}"
        if impl.expect_backend == "cython" and impl.ours_root is not None:
            impl.unavailable += f" ({BUILD_HINT})"
        return
    if info.get("deflate_unsupported"):
        impl.unavailable = info["deflate_unsupported"]
        return
    impl.probe = info


def probe_all(impls: dict[str, Impl], names: list[str], deflate: bool = False) -> None:
    for name in names:
        probe(impls[name], deflate)
    for name in names:
        impl = impls[name]
        if impl.probe is not None:
            check_identity(impl, impl.probe, "probe")
