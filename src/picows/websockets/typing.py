"""Type aliases used in the signatures of :mod:`picows.websockets`, as in ``websockets.typing``."""

from __future__ import annotations

import http
import logging
from typing import Optional, Union

from .datastructures import HeadersLike

__all__ = [
    "BytesLike",
    "Data",
    "DataLike",
    "ExtensionName",
    "ExtensionParameter",
    "HeadersLike",
    "LoggerLike",
    "MaxQueue",
    "MaxSize",
    "Origin",
    "StatusLike",
    "Subprotocol",
]

BytesLike = Union[bytes, bytearray, memoryview]
Data = Union[str, bytes]
DataLike = Union[str, bytes, bytearray, memoryview]
LoggerLike = Union[logging.Logger, logging.LoggerAdapter, str, None]  # type: ignore[type-arg]
StatusLike = Union[http.HTTPStatus, int]
Origin = str
Subprotocol = str
ExtensionName = str
ExtensionParameter = tuple[str, Optional[str]]
MaxSize = Union[int, None, tuple[Optional[int], Optional[int]]]
MaxQueue = Union[int, None, tuple[Optional[int], Optional[int]]]
