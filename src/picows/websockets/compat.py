"""Names the published ``picows.websockets`` (2.x) kept in its ``compat`` module."""

from __future__ import annotations

from .frames import CloseCode
from .http11 import Request, Response
from .protocol import State

__all__ = ["CloseCode", "Request", "Response", "State"]
