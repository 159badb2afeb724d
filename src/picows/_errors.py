"""Exception classes shared by both backends.

One hierarchy serves code written for every published picows release:

* ``WSError`` stays a ``RuntimeError`` (picows 1.15), so ``except RuntimeError``
  and ``except WSError`` both keep working, and it keeps the 1.15 attributes
  ``raw_header``, ``raw_body`` and ``response`` (None when not applicable);
* the 2.x subclasses say what went wrong: :class:`WSHandshakeError` and its
  ``WSInvalid*Error`` children for a failed upgrade, :class:`WSProtocolError`
  for a protocol violation (``code`` and, as in 1.15, ``close_code``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._handshake import WSUpgradeRequest, WSUpgradeResponse

__all__ = [
    "WSError",
    "WSHandshakeError",
    "WSInvalidHeaderError",
    "WSInvalidMessageError",
    "WSInvalidStatusError",
    "WSInvalidURL",
    "WSInvalidUpgradeError",
    "WSProtocolError",
]


class WSError(RuntimeError):
    """Base class of picows' WebSocket errors; a ``RuntimeError``, as in picows 1.15.

    So ``except RuntimeError`` (code written for 1.15) and ``except WSError``
    (code written for 2.x) both catch every picows error. The attributes of
    1.15 are kept on every WSError: :class:`WSHandshakeError` sets the first
    three, :class:`WSProtocolError` sets ``close_code``; they are None otherwise.

    Attributes:
        raw_header: bytes of the HTTP response head up to (not including) the
            blank line, or None.
        raw_body: bytes received after the blank line, or None.
        response: the parsed :class:`WSUpgradeResponse`, or None.
        close_code: for a :class:`WSProtocolError`, the close code; otherwise None.
    """

    close_code: Any = None

    def __init__(
        self,
        msg: str,
        raw_header: bytes | None = None,
        raw_body: bytes | None = None,
        response: WSUpgradeResponse | None = None,
    ) -> None:
        super().__init__(msg)
        self.raw_header = raw_header
        self.raw_body = raw_body
        self.response = response


class WSHandshakeError(WSError):
    """:func:`ws_connect`'s opening handshake failed: the server's answer is not a valid upgrade.

    ``raw_header``, ``raw_body`` and ``response`` (see :class:`WSError`)
    describe what the server sent; the subclasses say what was wrong with it.
    A redirect that cannot be followed (too many, no ``Location``, ``wss://``
    to ``ws://``) is a plain :class:`WSError`.
    """

    #: The upgrade request the server answered (set by the client's handshake on a non-101
    #: answer; private: picows.websockets writes it in its DEBUG records of a failed attempt).
    _request: WSUpgradeRequest | None = None

    def __init__(
        self,
        description: str,
        raw_header: bytes | None = None,
        raw_body: bytes | None = None,
        response: WSUpgradeResponse | None = None,
    ) -> None:
        super().__init__(description, raw_header, raw_body, response)


class WSInvalidMessageError(WSHandshakeError):
    """The handshake response is not well-formed HTTP.

    A bad status line or HTTP version, bad header syntax, or too many headers.
    """


class WSInvalidStatusError(WSHandshakeError):
    """The server answered with a status other than 101 (and no redirect was followed).

    The message contains ``expected upgrade response with status 101
    Switching Protocols, but received <status>``; ``response.status`` has it.
    """


class WSInvalidHeaderError(WSHandshakeError):
    """A header of the 101 response is missing or wrong.

    Attributes:
        name: the header's name.
        value: its value as received, or None when it was missing.
    """

    def __init__(
        self,
        description: str,
        name: str,
        value: str | None = None,
        raw_header: bytes | None = None,
        raw_body: bytes | None = None,
        response: WSUpgradeResponse | None = None,
    ) -> None:
        super().__init__(description, raw_header, raw_body, response)
        self.name = name
        self.value = value


class WSInvalidUpgradeError(WSInvalidHeaderError):
    """The ``Upgrade`` or ``Connection`` header of the 101 response is missing or wrong.

    ``name`` says which.
    """


class WSProtocolError(WSError):
    """A WebSocket protocol violation, with the close code it ends the connection with.

    Raised by :meth:`WSTransport.wait_disconnected` on the client when picows
    closed the connection because the peer broke the protocol. A listener may
    raise it from ``on_ws_connected`` or ``on_ws_frame`` to close the connection
    with ``code`` and ``message`` as the CLOSE reason (whatever
    ``disconnect_on_exception`` says); on the client ``wait_disconnected``
    then raises it.

    Attributes:
        code: the close code (a :class:`WSCloseCode`, or an int for 3000-4999).
        close_code: the same (the picows 1.15 name).
    """

    def __init__(self, code: Any, message: Any) -> None:
        super().__init__(str(message))
        self.args = (code, message)
        self.code = code

    @property
    def close_code(self) -> Any:
        return self.code

    def __str__(self) -> str:
        return str(self.args[1])


class WSInvalidURL(WSError):
    """The URL given to :func:`ws_connect` (or a redirect target) is not a usable WebSocket URL.

    Attributes:
        url: the offending URL.
        msg: why it was rejected.
    """

    def __init__(self, url: str, msg: str) -> None:
        super().__init__(f"invalid WebSocket URL {url!r}: {msg}")
        self.url = url
        self.msg = msg


class ProtocolViolation(Exception):
    """Internal: raised by a frame parser; ends the connection with ``close_code``."""

    def __init__(self, close_code: Any, msg: str) -> None:
        super().__init__(msg)
        self.close_code = close_code
        self.msg = msg
