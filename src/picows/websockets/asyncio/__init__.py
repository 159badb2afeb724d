"""The asyncio API of :mod:`picows.websockets` (``websockets.asyncio`` names)."""

from ..protocol import State
from .client import ClientConnection, connect, unix_connect
from .connection import process_exception
from .router import route, unix_route
from .server import (
    Server,
    ServerConnection,
    ServerHandshakeConnection,
    basic_auth,
    broadcast,
    serve,
    unix_serve,
)

__all__ = [
    "ClientConnection",
    "Server",
    "ServerConnection",
    "ServerHandshakeConnection",
    "State",
    "basic_auth",
    "broadcast",
    "connect",
    "process_exception",
    "route",
    "serve",
    "unix_connect",
    "unix_route",
    "unix_serve",
]
