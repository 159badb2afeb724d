"""Base classes of WebSocket extensions (``websockets.extensions.base``'s names).

websockets' classes when it is installed; else these, with the same methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

__all__ = ["ClientExtensionFactory", "Extension", "ServerExtensionFactory"]


try:  # pragma: no branch - depends on the environment
    import websockets.extensions.base as _upstream
except ImportError:
    _upstream = None  # type: ignore[assignment]

if TYPE_CHECKING or _upstream is None:

    class Extension:
        """An extension negotiated for one connection: it transforms frames.

        ``decode`` gets every received data frame (in reverse order of
        negotiation) and ``encode`` every sent one (in order); both return the
        frame to pass on (a :class:`picows.websockets.frames.Frame`).
        """

        name: str

        def decode(self, frame: Any, *, max_size: int | None = None) -> Any:
            """Decode a received frame; raise ``PayloadTooBig`` beyond ``max_size``."""
            raise NotImplementedError

        def encode(self, frame: Any) -> Any:
            """Encode a frame to send."""
            raise NotImplementedError

    class ClientExtensionFactory:
        """The client's side of negotiating one extension."""

        name: str

        def get_request_params(self) -> Sequence[tuple[str, str | None]]:
            """The parameters offered in ``Sec-WebSocket-Extensions``."""
            raise NotImplementedError

        def process_response_params(
            self, params: Sequence[tuple[str, str | None]], accepted_extensions: Sequence[Any]
        ) -> Any:
            """The extension for the server's parameters; raise ``NegotiationError`` to refuse them."""
            raise NotImplementedError

    class ServerExtensionFactory:
        """The server's side of negotiating one extension."""

        name: str

        def process_request_params(
            self, params: Sequence[tuple[str, str | None]], accepted_extensions: Sequence[Any]
        ) -> tuple[list[tuple[str, str | None]], Any]:
            """``(parameters to answer, extension)``; raise ``NegotiationError`` to decline the offer."""
            raise NotImplementedError

else:  # websockets' own classes: its extensions are ours
    Extension = _upstream.Extension
    ClientExtensionFactory = _upstream.ClientExtensionFactory
    ServerExtensionFactory = _upstream.ServerExtensionFactory
