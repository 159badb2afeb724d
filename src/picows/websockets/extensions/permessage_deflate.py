"""permessage-deflate configuration (``websockets.extensions.permessage_deflate``'s names).

Pass a factory in ``connect(extensions=[...])`` / ``serve(extensions=[...])``
to tune what ``compression="deflate"`` negotiates: picows.websockets reads its
parameters and compresses in picows' core (see the guide). websockets'
classes when it is installed; without it, these factories take the same
arguments with the same checks (negotiating in Python, websockets'
``process_*_params``, needs websockets: compression here is the core's).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .base import ClientExtensionFactory, ServerExtensionFactory

__all__ = [
    "ClientPerMessageDeflateFactory",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

_NAME = "permessage-deflate"
_NEEDS_WEBSOCKETS = (
    "picows.websockets negotiates permessage-deflate in picows' core: pass this factory to "
    "connect(extensions=...) or serve(extensions=...) (negotiating in Python needs the websockets package)"
)


def _check_settings(compress_settings: dict[str, Any] | None) -> None:
    if compress_settings is not None and "wbits" in compress_settings:
        raise ValueError("compress_settings must not include wbits, set client_max_window_bits instead")


def _parameters(
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: int | None,
    client_max_window_bits: int | bool | None,
) -> list[tuple[str, str | None]]:
    params: list[tuple[str, str | None]] = []
    if server_no_context_takeover:
        params.append(("server_no_context_takeover", None))
    if client_no_context_takeover:
        params.append(("client_no_context_takeover", None))
    if server_max_window_bits:
        params.append(("server_max_window_bits", str(server_max_window_bits)))
    if client_max_window_bits is True:
        params.append(("client_max_window_bits", None))
    elif client_max_window_bits:
        params.append(("client_max_window_bits", str(client_max_window_bits)))
    return params


try:  # pragma: no branch - depends on the environment
    import websockets.extensions.permessage_deflate as _upstream
except ImportError:
    _upstream = None  # type: ignore[assignment]

if TYPE_CHECKING or _upstream is None:

    class ClientPerMessageDeflateFactory(ClientExtensionFactory):
        """The client's permessage-deflate offer (websockets' arguments and checks)."""

        name = _NAME

        def __init__(
            self,
            server_no_context_takeover: bool = False,
            client_no_context_takeover: bool = False,
            server_max_window_bits: int | None = None,
            client_max_window_bits: int | bool | None = True,
            compress_settings: dict[str, Any] | None = None,
        ) -> None:
            if not (server_max_window_bits is None or 8 <= server_max_window_bits <= 15):
                raise ValueError("server_max_window_bits must be between 8 and 15")
            if not (
                client_max_window_bits is None
                or client_max_window_bits is True
                or 9 <= client_max_window_bits <= 15
            ):
                raise ValueError("client_max_window_bits must be between 9 and 15")
            _check_settings(compress_settings)
            self.server_no_context_takeover = server_no_context_takeover
            self.client_no_context_takeover = client_no_context_takeover
            self.server_max_window_bits = server_max_window_bits
            self.client_max_window_bits = client_max_window_bits
            self.compress_settings = compress_settings

        def get_request_params(self) -> list[tuple[str, str | None]]:
            """The offer's parameters."""
            return _parameters(
                self.server_no_context_takeover,
                self.client_no_context_takeover,
                self.server_max_window_bits,
                self.client_max_window_bits,
            )

        def process_response_params(self, params: Sequence[Any], accepted_extensions: Sequence[Any]) -> Any:
            raise NotImplementedError(_NEEDS_WEBSOCKETS)

    class ServerPerMessageDeflateFactory(ServerExtensionFactory):
        """The server's permessage-deflate preferences (websockets' arguments and checks)."""

        name = _NAME

        def __init__(
            self,
            server_no_context_takeover: bool = False,
            client_no_context_takeover: bool = False,
            server_max_window_bits: int | None = None,
            client_max_window_bits: int | None = None,
            compress_settings: dict[str, Any] | None = None,
            require_client_max_window_bits: bool = False,
        ) -> None:
            if not (server_max_window_bits is None or 9 <= server_max_window_bits <= 15):
                raise ValueError("server_max_window_bits must be between 9 and 15")
            if not (client_max_window_bits is None or 8 <= client_max_window_bits <= 15):
                raise ValueError("client_max_window_bits must be between 8 and 15")
            _check_settings(compress_settings)
            if require_client_max_window_bits and client_max_window_bits is None:
                raise ValueError(
                    "require_client_max_window_bits is enabled, but client_max_window_bits isn't configured"
                )
            self.server_no_context_takeover = server_no_context_takeover
            self.client_no_context_takeover = client_no_context_takeover
            self.server_max_window_bits = server_max_window_bits
            self.client_max_window_bits = client_max_window_bits
            self.compress_settings = compress_settings
            self.require_client_max_window_bits = require_client_max_window_bits

        def process_request_params(self, params: Sequence[Any], accepted_extensions: Sequence[Any]) -> Any:
            raise NotImplementedError(_NEEDS_WEBSOCKETS)

    def enable_client_permessage_deflate(extensions: Sequence[Any] | None) -> Sequence[Any]:
        """``extensions`` with the default client factory added when it has no permessage-deflate one."""
        extensions = list(extensions or [])
        if not any(factory.name == _NAME for factory in extensions):
            extensions.append(ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}))
        return extensions

    def enable_server_permessage_deflate(extensions: Sequence[Any] | None) -> Sequence[Any]:
        """``extensions`` with the default server factory (12-bit windows) added when it has none."""
        extensions = list(extensions or [])
        if not any(factory.name == _NAME for factory in extensions):
            extensions.append(
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12, client_max_window_bits=12, compress_settings={"memLevel": 5}
                )
            )
        return extensions

else:  # websockets' own
    ClientPerMessageDeflateFactory = _upstream.ClientPerMessageDeflateFactory
    ServerPerMessageDeflateFactory = _upstream.ServerPerMessageDeflateFactory
    enable_client_permessage_deflate = _upstream.enable_client_permessage_deflate
    enable_server_permessage_deflate = _upstream.enable_server_permessage_deflate
    PerMessageDeflate = _upstream.PerMessageDeflate  # the extension websockets compresses with
    __all__ += ["PerMessageDeflate"]
