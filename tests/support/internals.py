"""The ONLY place where the tests reach into picows' private modules.

The tests otherwise use the public API. What they need from inside - the
sans-I/O handshake and URL objects, connection options, the backend's
protocol object, the frame parser behind a transport, the backend packages
themselves - is named here once, so a refactoring of ``src/picows`` is
followed by changing this file, not the tests. Keep every accessor small and
say which tests rely on it.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import picows
from picows import _limits as limits  # the buffer and linger policy (buffer-policy tests)

# Shared (per-connection) modules, used by both backends.
from picows import _types as shared_types  # test_parity: the enums are shared objects
from picows._deflate import DeflateState  # permessage-deflate per-connection state (unit tables)
from picows._deflate_negotiation import (  # permessage-deflate negotiation (unit tables)
    accept_response,
    answer_offers,
    build_offer,
    parse_extensions,
)
from picows._errors import ProtocolViolation  # the parser's error (differential, parity)
from picows._handshake import (  # sans-I/O upgrade objects (unit tables, fuzz)
    ClientUpgrade,
    RoutePending,
    ServerUpgrade,
)
from picows._limits import DEFAULT_MAX_FRAME_SIZE
from picows._options import ConnectionOptions  # what ws_connect/ws_create_server pass to a protocol
from picows._url import WSParsedURL, parse_url, resolve_redirect  # URL tables

#: Private keywords of ws_connect / ws_create_server that only picows.websockets passes
#: (picows._options.CLIENT_INTERNAL_OPTIONS / SERVER_INTERNAL_OPTIONS; e2e handshake tests).
WITHOUT_DEFAULT_USER_AGENT = {"_send_user_agent": False}
LENIENT_REQUEST_LINE = {"_lenient_request_line": True}

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "PACKAGE_DIR",
    "ClientUpgrade",
    "ConnectionOptions",
    "DeflateState",
    "LENIENT_REQUEST_LINE",
    "WITHOUT_DEFAULT_USER_AGENT",
    "WSParsedURL",
    "accept_response",
    "answer_offers",
    "build_offer",
    "parse_extensions",
    "ProtocolViolation",
    "RoutePending",
    "ServerUpgrade",
    "active_backend_package",
    "aiofastnet_available",
    "backend_dir",
    "backend_package",
    "backend_module_name",
    "backend_shim",
    "cli_module",
    "force_compiled_backend",
    "force_net_layer",
    "import_backend_module",
    "limits",
    "new_protocol",
    "parse_url",
    "parser_of",
    "protocol_of",
    "resolve_redirect",
    "shared_types",
    "uses_fast_read",
    "ws_messages_module",
]

#: The installed package (the tests never import the checkout).
PACKAGE_DIR = os.path.dirname(os.path.abspath(picows.__file__))


# -- the backend packages -----------------------------------------------------------------------


def backend_module_name(backend: str, name: str) -> str:
    """Import name of a hot-path module of a backend ("cython" or "pure"), e.g. ``picows._pure.frames``."""
    assert backend in ("cython", "pure"), backend
    return f"picows._{backend}.{name}"


def import_backend_module(backend: str, name: str) -> ModuleType:
    """``picows._<backend>.<name>`` (raises ImportError as importing does)."""
    return importlib.import_module(backend_module_name(backend, name))


def backend_dir(backend: str) -> str:
    """Where the installed package keeps a backend's modules."""
    return os.path.join(PACKAGE_DIR, f"_{backend}")


def backend_shim() -> ModuleType:
    """The import shim that picks the backend (test_backend_selection, test_cimport)."""
    return importlib.import_module("picows._backend")


def backend_package(backend: str) -> ModuleType:
    """A backend's package (``WSFrame``, ``WSTransport``, ``WSListener``, its ``WSProtocol``)."""
    assert backend in ("cython", "pure"), backend
    return importlib.import_module(f"picows._{backend}")


def active_backend_package() -> ModuleType:
    """The package of the backend that picows loaded (its ``WSProtocol``, ``WSTransport``, ...)."""
    return backend_shim().impl  # type: ignore[no-any-return]


def force_compiled_backend(monkeypatch: Any) -> None:
    """Make ws_connect/ws_create_server create compiled-backend objects for one test (test_cimport)."""
    monkeypatch.setattr(backend_shim(), "impl", backend_package("cython"))


def ws_messages_module() -> ModuleType:
    """picows.websockets' per-message module of the loaded backend (test_ws_wakeup: its ``_Wakeup``)."""
    return importlib.import_module("picows.websockets.asyncio._core").messages_module  # type: ignore[no-any-return]


def cli_module() -> ModuleType:
    """The command-line implementation (test_cli calls its ``main`` in-process)."""
    return importlib.import_module("picows._cli")


# -- connection objects -------------------------------------------------------------------------


def new_protocol(is_client: bool, options: ConnectionOptions, listener_factory: Any, upgrade: Any = None) -> Any:
    """The active backend's asyncio protocol object, as ws_connect/ws_create_server create it (test_protocol_fuzz)."""
    impl = active_backend_package()
    if is_client:
        return impl.WSProtocol(True, options, listener_factory, upgrade)
    return impl.WSProtocol(False, options, listener_factory)


def protocol_of(transport: Any) -> Any:
    """The asyncio protocol object behind a WSTransport (the connection, which owns its state)."""
    return transport._protocol


def uses_fast_read(transport: Any) -> bool:
    """Whether the compiled backend reads with its own recv() on this connection (test_read_path)."""
    return bool(protocol_of(transport)._fast_read)


def aiofastnet_available() -> bool:
    """Whether picows can use aiofastnet here (CPython with the package installed)."""
    from picows import _netlayer

    return _netlayer.aiofastnet_available()


def force_net_layer(monkeypatch: Any, use_aiofastnet: bool) -> None:
    """Make ``use_aiofastnet=None`` mean ``use_aiofastnet`` for this test (every TLS test runs both paths)."""
    from picows import _netlayer

    monkeypatch.setattr(_netlayer, "default_override", use_aiofastnet)


def parser_of(transport: Any) -> Any:
    """The FrameParser behind a WSTransport (buffer-policy and fuzz tests).

    Both backends keep it on the connection's protocol object, which the
    transport references as ``_protocol``.
    """
    return transport._protocol._parser
