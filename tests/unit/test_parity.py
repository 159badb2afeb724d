"""Parity of the two backends as a tested contract (DESIGN.md, "Backend selection").

* registry: every ``_cython/<name>.pyx`` has a ``_pure/<name>.py`` twin and
  vice versa, and setup.py builds an extension for every .pyx;
* surface: same ``__all__`` per module pair; for the public classes and
  functions the same public methods and attributes, with the same parameter
  names, kinds and defaults (annotations are ignored: Cython has none);
* coroutines are recognised as such on both;
* enums are the shared objects from ``picows._types``: type, values,
  ``repr``, ``int`` comparison, IntEnum; frames of both backends hand out the
  very same members.
"""

from __future__ import annotations

import enum
import inspect
import os
import re
import runpy
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest

import picows
from support import REPO_ROOT
from support.backends import CYTHON_DIR, IS_CPYTHON, PURE_DIR, backend_module, cython_module, pure_module
from support.internals import ProtocolViolation, backend_package, shared_types

SOURCE_CYTHON_DIR = REPO_ROOT / "src" / "picows" / "_cython"
SOURCE_PURE_DIR = REPO_ROOT / "src" / "picows" / "_pure"
SETUP_PY = REPO_ROOT / "setup.py"

HOT_MODULES = ("frames", "transport", "protocol")
PUBLIC_CLASSES = {
    "frames": ("WSFrame", "FrameParser"),
    "transport": ("WSListener", "WSTransport"),
    "protocol": ("WSProtocol",),
}


def _stems(directory: Path, suffix: str) -> set[str]:
    return {p.stem for p in directory.glob(f"*{suffix}") if p.stem != "__init__"}


# -- registry ----------------------------------------------------------------------------


@pytest.mark.skipif(not SOURCE_CYTHON_DIR.is_dir(), reason="needs the source tree (src/picows/_cython)")
def test_every_pyx_has_a_pure_twin_and_vice_versa() -> None:
    pyx = _stems(SOURCE_CYTHON_DIR, ".pyx")
    pure = _stems(SOURCE_PURE_DIR, ".py")
    assert pyx, "no .pyx sources found"
    assert pyx == pure, f"only compiled: {sorted(pyx - pure)}, only pure: {sorted(pure - pyx)}"
    assert set(HOT_MODULES) <= pyx
    for stem in pyx:  # every .pyx declares its cdef classes for cimport
        assert (SOURCE_CYTHON_DIR / f"{stem}.pxd").is_file(), f"{stem}.pyx has no .pxd"


def test_installed_package_has_both_halves() -> None:
    """What was installed (not the checkout) carries the pure twins and the Cython declarations."""
    pure = _stems(Path(PURE_DIR), ".py")
    assert set(HOT_MODULES) <= pure
    # .pxd files are package data, so user code can cimport them from a wheel.
    assert set(HOT_MODULES) <= _stems(Path(CYTHON_DIR), ".pxd")


@pytest.mark.skipif(not SETUP_PY.is_file(), reason="needs the source tree (setup.py)")
def test_setup_py_builds_every_pyx(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run setup.py with ``setup()`` intercepted and check its extension list against the .pyx files."""
    import setuptools

    captured: dict[str, Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: captured.update(kwargs))
    for var in ("PICOWS_NO_EXTENSIONS", "PICOWS_REQUIRE_EXTENSIONS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(REPO_ROOT)
    namespace = runpy.run_path(str(SETUP_PY), run_name="setup_py_under_test")

    pyx = _stems(SOURCE_CYTHON_DIR, ".pyx")
    discovered = namespace["pyx_sources"]()
    assert {Path(src).stem for src in discovered} == pyx
    assert all(Path(src).parent == Path("src", "picows", "_cython") for src in discovered)

    try:
        import Cython  # noqa: F401
    except ImportError:
        cython_importable = False
    else:
        cython_importable = True
    ext_modules = captured["ext_modules"]
    if not (IS_CPYTHON and cython_importable):
        # setup.py skips the build here; the discovery above is still checked.
        assert ext_modules == []
        return
    # picows.websockets' compiled module is checked in tests/websockets/test_ws_surface.py.
    built = {ext.name: ext.sources for ext in ext_modules if ext.name.startswith("picows._cython.")}
    assert set(built) == {f"picows._cython.{stem}" for stem in pyx}
    for stem in pyx:
        assert built[f"picows._cython.{stem}"] == [str(Path("src", "picows", "_cython", f"{stem}.pyx"))]


@pytest.mark.parametrize("name", HOT_MODULES)
def test_compiled_module_is_an_extension(name: str) -> None:
    module = cython_module(name)
    assert module.__file__ is not None
    assert not module.__file__.endswith((".py", ".pyc")), module.__file__
    assert os.path.dirname(os.path.abspath(module.__file__)) == CYTHON_DIR


@pytest.mark.skipif(not SOURCE_CYTHON_DIR.is_dir(), reason="needs the source tree (src/picows/_cython)")
def test_every_pyx_is_compiled_and_importable() -> None:
    for stem in sorted(_stems(SOURCE_CYTHON_DIR, ".pyx")):
        cython_module(stem)


# -- public surface --------------------------------------------------------------------------


def _pair(name: str) -> tuple[ModuleType, ModuleType]:
    return pure_module(name), cython_module(name)


@pytest.mark.parametrize("name", HOT_MODULES)
def test_same_all(name: str) -> None:
    pure, compiled = _pair(name)
    assert sorted(pure.__all__) == sorted(compiled.__all__)
    for attr in pure.__all__:
        assert hasattr(pure, attr) and hasattr(compiled, attr), attr


def test_package_init_exports_are_the_same() -> None:

    pure_pkg = backend_package("pure")
    cython_module("frames")  # skip/fail as appropriate before importing the package
    compiled_pkg = backend_package("cython")
    assert sorted(pure_pkg.__all__) == sorted(compiled_pkg.__all__)
    for attr in pure_pkg.__all__:
        assert getattr(pure_pkg, attr).__name__ == getattr(compiled_pkg, attr).__name__


def _public_names(obj: Any) -> set[str]:
    return {n for n in dir(obj) if not n.startswith("_")}


def _params(func: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """(name, kind, default) of every parameter; annotations ignored."""
    sig = inspect.signature(func)
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


# "Name(type arg, arg=default, ...)": the first line Cython's embedsignature puts in a class docstring.
_EMBEDDED = re.compile(r"^(?P<name>\w+)\((?P<args>.*)\)\s*$")


def _embedded_init_params(cls: type) -> list[tuple[str, str]]:
    """Constructor (name, default source) pairs of a cdef class, from its embedded signature."""
    for klass in cls.__mro__:
        doc = klass.__dict__.get("__doc__") or ""
        match = _EMBEDDED.match(doc.splitlines()[0] if doc else "")
        if match:
            params = []
            for arg in filter(None, (a.strip() for a in match.group("args").split(","))):
                decl, _, default = arg.partition("=")
                params.append((decl.split()[-1].lstrip("*"), default.strip()))
            return params
    raise AssertionError(f"no embedded signature for {cls!r}")


@pytest.mark.parametrize(
    "module_name,class_name",
    [(m, c) for m, classes in PUBLIC_CLASSES.items() for c in classes],
)
def test_classes_have_same_public_members_and_signatures(module_name: str, class_name: str) -> None:
    pure_cls = getattr(pure_module(module_name), class_name)
    compiled_cls = getattr(cython_module(module_name), class_name)
    pure_names = _public_names(pure_cls)
    compiled_names = _public_names(compiled_cls)
    assert pure_names == compiled_names, (
        f"only pure: {sorted(pure_names - compiled_names)}, only compiled: {sorted(compiled_names - pure_names)}"
    )
    for attr in sorted(pure_names):
        pure_member = getattr(pure_cls, attr)
        compiled_member = getattr(compiled_cls, attr)
        assert callable(pure_member) == callable(compiled_member), attr
        if callable(pure_member):
            assert _params(pure_member) == _params(compiled_member), f"{class_name}.{attr}"
            assert inspect.iscoroutinefunction(pure_member) == inspect.iscoroutinefunction(compiled_member), attr


def test_protocol_per_connection_half_is_shared() -> None:
    """Both WSProtocol classes get __init__ and the asyncio callbacks from the one shared Connection."""
    from picows._connection import Connection

    pure_cls = pure_module("protocol").WSProtocol
    compiled_cls = cython_module("protocol").WSProtocol
    for name in ("__init__", "connection_made", "connection_lost", "eof_received", "pause_writing",
                 "resume_writing"):
        assert getattr(pure_cls, name) is getattr(Connection, name), name
        assert getattr(compiled_cls, name) is getattr(Connection, name), name


def test_transport_per_connection_methods_are_shared() -> None:
    """The per-connection methods of both WSTransport classes are the same functions (written once)."""
    from picows import _transport_api

    for name in _transport_api.__all__:
        func = getattr(_transport_api, name)
        assert getattr(pure_module("transport").WSTransport, name) is func, name
        assert getattr(cython_module("transport").WSTransport, name) is func, name


@pytest.mark.parametrize("class_name,module_name", [("FrameParser", "frames"), ("WSTransport", "transport")])
def test_constructor_signatures_match(class_name: str, module_name: str) -> None:
    pure_cls = getattr(pure_module(module_name), class_name)
    compiled_cls = getattr(cython_module(module_name), class_name)
    pure_params = [
        (name, "" if default is inspect.Parameter.empty else repr(default))
        for name, _kind, default in _params(pure_cls.__init__)[1:]
    ]
    assert pure_params == _embedded_init_params(compiled_cls)


def test_frame_parser_constructor_accepts_keywords_on_both() -> None:
    for frames in _pair("frames"):
        frames.FrameParser(is_client_side=True, max_frame_size=100, check_fragment_order=True)
        frames.FrameParser(False, 100)  # check_fragment_order defaults to False


@pytest.mark.parametrize("name", HOT_MODULES)
def test_module_functions_have_same_signatures(name: str) -> None:
    pure, compiled = _pair(name)
    for attr in sorted(set(pure.__all__) & set(compiled.__all__)):  # missing names: test_same_all
        pure_obj = getattr(pure, attr)
        if inspect.isclass(pure_obj):
            continue
        assert _params(pure_obj) == _params(getattr(compiled, attr)), attr


def test_listener_subclasses_override_on_both() -> None:
    """A Python subclass of either WSListener overrides its callbacks (DESIGN: user subclasses work)."""
    for transport in _pair("transport"):

        class Listener(transport.WSListener):  # type: ignore[name-defined,misc]
            def is_user_specific_pong(self, frame: Any) -> bool:
                return True

        assert Listener().is_user_specific_pong(None) is True


# -- coroutines ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["wait_disconnected", "measure_roundtrip_time"])
def test_coroutine_methods_are_recognised(backend: str, method: str) -> None:  # noqa: F811
    cls = backend_module(backend, "transport").WSTransport
    assert inspect.iscoroutinefunction(getattr(cls, method))
    import asyncio

    assert asyncio.iscoroutinefunction(getattr(cls, method))


# -- enums -------------------------------------------------------------------------------------

ENUM_VALUES = {
    "WSMsgType": {"CONTINUATION": 0, "TEXT": 1, "BINARY": 2, "CLOSE": 8, "PING": 9, "PONG": 10},
    "WSCloseCode": {
        "NO_INFO": 0, "OK": 1000, "GOING_AWAY": 1001, "PROTOCOL_ERROR": 1002, "UNSUPPORTED_DATA": 1003,
        "ABNORMAL_CLOSURE": 1006, "INVALID_TEXT": 1007, "POLICY_VIOLATION": 1008, "MESSAGE_TOO_BIG": 1009,
        "MANDATORY_EXTENSION": 1010, "INTERNAL_ERROR": 1011, "SERVICE_RESTART": 1012,
        "TRY_AGAIN_LATER": 1013, "BAD_GATEWAY": 1014,
    },
    "WSAutoPingStrategy": {"PING_WHEN_IDLE": 1, "PING_PERIODICALLY": 2},
}


@pytest.mark.parametrize("enum_name", sorted(ENUM_VALUES))
def test_enum_pinned(enum_name: str) -> None:
    cls = getattr(picows, enum_name)
    assert cls is getattr(shared_types, enum_name)
    assert issubclass(cls, enum.IntEnum)
    assert {m.name: m.value for m in cls} == ENUM_VALUES[enum_name]
    for member_name, value in ENUM_VALUES[enum_name].items():
        member = cls[member_name]
        assert type(member) is cls
        assert repr(member) == f"<{enum_name}.{member_name}: {value}>"
        assert member == value and value == member
        assert int(member) == value
        assert isinstance(member, int)
        assert cls(value) is member
        assert hash(member) == hash(value)
        assert f"{member:d}" == str(value)


@pytest.mark.parametrize("name", ["transport", "frames"])
def test_backend_modules_use_the_shared_enums(backend: str, name: str) -> None:  # noqa: F811
    module = backend_module(backend, name)
    for enum_name in ("WSMsgType", "WSCloseCode", "WSAutoPingStrategy"):
        if hasattr(module, enum_name):
            assert getattr(module, enum_name) is getattr(shared_types, enum_name)


def test_frames_hand_out_shared_enum_members(backend: str) -> None:  # noqa: F811
    frames = backend_module(backend, "frames")
    parser = frames.FrameParser(True, 1 << 20)
    stream = b"".join(
        [
            frames.build_frame(op, b"x", True, False, None)
            for op in (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.PING,
                       picows.WSMsgType.PONG)
        ]
        + [frames.build_frame(picows.WSMsgType.CONTINUATION, b"", True, False, None)]
    )
    parser.feed(stream)
    seen = []
    for _ in range(10):
        frame = parser.get_next_frame()
        if frame is None:
            break
        assert type(frame.msg_type) is picows.WSMsgType
        assert picows.WSMsgType(int(frame.msg_type)) is frame.msg_type
        seen.append(frame.msg_type)
    assert seen == [picows.WSMsgType.TEXT, picows.WSMsgType.BINARY, picows.WSMsgType.PING,
                    picows.WSMsgType.PONG, picows.WSMsgType.CONTINUATION]

    for code, expected_type in [(1000, picows.WSCloseCode), (1014, picows.WSCloseCode), (3000, int),
                                (4999, int)]:
        parser = frames.FrameParser(True, 1 << 20)
        parser.feed(frames.build_frame(picows.WSMsgType.CLOSE, code.to_bytes(2, "big") + b"bye", True,
                                       False, None))
        frame = parser.get_next_frame()
        assert frame is not None and frame.msg_type is picows.WSMsgType.CLOSE
        got = frame.get_close_code()
        assert type(got) is expected_type
        assert got == code and int(got) == code
        if expected_type is picows.WSCloseCode:
            assert got is picows.WSCloseCode(code)
        assert frame.get_close_message() == b"bye"

    parser = frames.FrameParser(True, 1 << 20)
    parser.feed(frames.build_frame(picows.WSMsgType.CLOSE, b"", True, False, None))
    frame = parser.get_next_frame()
    assert frame is not None
    assert frame.get_close_code() is picows.WSCloseCode.NO_INFO
    assert frame.get_close_message() is None


def test_protocol_violation_codes_are_shared_members(backend: str) -> None:  # noqa: F811
    frames = backend_module(backend, "frames")
    parser = frames.FrameParser(True, 10)
    parser.feed(b"\x82\x7e\x10\x00")  # BINARY, 4096 bytes > max_frame_size
    with pytest.raises(ProtocolViolation) as info:
        parser.get_next_frame()
    assert info.value.close_code is picows.WSCloseCode.MESSAGE_TOO_BIG
