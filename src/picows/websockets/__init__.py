"""picows.websockets: the asyncio API of the ``websockets`` package (v17) on picows' fast core.

Switch with one import line::

    # was: from websockets.asyncio.client import connect
    from picows.websockets.asyncio.client import connect
    from picows.websockets.asyncio.server import serve

Names are importable from the same modules as in websockets
(``picows.websockets.exceptions``, ``.datastructures``, ``.frames``,
``.protocol``, ``.http11``, ``.typing``, ``.extensions``, ``.asyncio.client``,
``.asyncio.server``, ``.asyncio.router``) and, like the published picows 2.x module, from this
package directly. See ``docs/guides/websockets.rst`` for the differences.
"""

from . import exceptions, protocol  # noqa: E402,I001  (published picows 2.x exports the modules)
from . import extensions  # noqa: E402,F401,I001  (as websockets: .extensions.permessage_deflate)
from .extensions import permessage_deflate as _permessage_deflate  # noqa: F401 - loaded with the package
from .asyncio.client import ClientConnection, connect, unix_connect
from .asyncio.connection import process_exception
from .asyncio.router import route, unix_route
from .asyncio.server import (
    Server,
    ServerConnection,
    ServerHandshakeConnection,
    basic_auth,
    broadcast,
    serve,
    unix_serve,
)
from .datastructures import Headers, HeadersLike, MultipleValuesError
from .exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    DuplicateParameter,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    InvalidState,
    InvalidStatus,
    InvalidUpgrade,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
    ProxyError,
    SecurityError,
    WebSocketException,
)
from .frames import Close, CloseCode
from .http11 import Request, Response
from .protocol import State
from .typing import (
    BytesLike,
    Data,
    DataLike,
    ExtensionName,
    ExtensionParameter,
    LoggerLike,
    Origin,
    StatusLike,
    Subprotocol,
)

# The published picows 2.x name.
WebSocketClientProtocol = ClientConnection

__all__ = [
    "BytesLike",
    "ClientConnection",
    "Close",
    "CloseCode",
    "ConcurrencyError",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "Data",
    "DataLike",
    "DuplicateParameter",
    "ExtensionName",
    "ExtensionParameter",
    "Headers",
    "HeadersLike",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidMessage",
    "InvalidOrigin",
    "InvalidParameterName",
    "InvalidParameterValue",
    "InvalidProxy",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidState",
    "InvalidStatus",
    "InvalidURI",
    "InvalidUpgrade",
    "LoggerLike",
    "MultipleValuesError",
    "NegotiationError",
    "Origin",
    "PayloadTooBig",
    "ProtocolError",
    "ProxyError",
    "Request",
    "Response",
    "SecurityError",
    "Server",
    "ServerConnection",
    "ServerHandshakeConnection",
    "State",
    "StatusLike",
    "Subprotocol",
    "WebSocketClientProtocol",
    "WebSocketException",
    "basic_auth",
    "broadcast",
    "connect",
    "exceptions",
    "process_exception",
    "protocol",
    "route",
    "serve",
    "unix_connect",
    "unix_route",
    "unix_serve",
]
