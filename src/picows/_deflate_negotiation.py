"""Negotiating permessage-deflate (RFC 7692 section 7.1) in ``Sec-WebSocket-Extensions``.

Sans-I/O and shared by both backends: the client builds its offer and checks
the server's answer; the server picks the first acceptable offer and builds
its answer. Both produce a :class:`~picows._deflate.DeflateAgreement`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._deflate import MAX_WBITS, MIN_ZLIB_WBITS, SERVER_DEFAULT_WBITS, DeflateAgreement, PerMessageDeflate

__all__ = [
    "EXTENSION",
    "accept_response",
    "answer_offers",
    "build_offer",
    "deflate_elements",
    "names_deflate",
    "parse_extensions",
]

EXTENSION = "permessage-deflate"

_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_PARAMETERS = frozenset(
    (
        "server_no_context_takeover",
        "client_no_context_takeover",
        "server_max_window_bits",
        "client_max_window_bits",
    )
)
#: ``1*DIGIT`` of RFC 7692 without leading zeros: "8" to "15".
_WINDOW_VALUES = {str(n): n for n in range(8, 16)}

Params = list[tuple[str, "str | None"]]


class _Scanner:
    """Reads the RFC 6455 9.1 grammar: ``1#(token *(";" token ["=" (token / quoted-string)]))``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def at_end(self) -> bool:
        self.skip_space()
        return self.pos >= len(self.text)

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def token(self) -> str:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _TOKEN_CHARS:
            self.pos += 1
        if self.pos == start:
            raise ValueError(f"expected a token at position {start} of {self.text!r}")
        return self.text[start : self.pos]

    def value(self) -> str:
        if self.peek() != '"':
            return self.token()
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if c == '"':
                # RFC 6455 9.1: a quoted value must still be a token once unquoted.
                unquoted = "".join(out)
                if not unquoted or any(ch not in _TOKEN_CHARS for ch in unquoted):
                    raise ValueError(f"quoted value {unquoted!r} is not a token")
                return unquoted
            if c == "\\":
                if self.pos >= len(self.text):
                    break
                c = self.text[self.pos]
                self.pos += 1
            out.append(c)
        raise ValueError(f"unterminated quoted string in {self.text!r}")

    def expect(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False


def parse_extensions(values: Iterable[str]) -> list[tuple[str, Params]]:
    """All extensions of every ``Sec-WebSocket-Extensions`` header, in order.

    Names are lower-cased (tokens are case-insensitive); parameter names too;
    values are kept as received (quotes removed). Raises ValueError for a
    header that does not follow the grammar.
    """
    result: list[tuple[str, Params]] = []
    for text in values:
        scanner = _Scanner(text)
        while not scanner.at_end():
            if scanner.expect(","):  # empty list elements are allowed (RFC 7230 7)
                continue
            name = scanner.token().lower()
            params: Params = []
            while scanner.expect(";"):
                param = scanner.token().lower()
                value = scanner.value() if scanner.expect("=") else None
                params.append((param, value))
            result.append((name, params))
            if not scanner.at_end() and not scanner.expect(","):
                raise ValueError(f"expected ',' or ';' at position {scanner.pos} of {text!r}")
    return result


def deflate_elements(values: Iterable[str]) -> list[str]:
    """The permessage-deflate elements of ``Sec-WebSocket-Extensions`` values (others left out).

    Raises ValueError for a header that does not follow the grammar.
    """
    return [_format(params) for name, params in parse_extensions(values) if name == EXTENSION]


def names_deflate(values: Iterable[str]) -> bool:
    """Whether ``Sec-WebSocket-Extensions`` values name permessage-deflate (True for an invalid header)."""
    try:
        return any(name == EXTENSION for name, _ in parse_extensions(values))
    except ValueError:
        return True


def _check_params(params: Params) -> dict[str, str | None]:
    """The parameters of one permessage-deflate element as a dict; ValueError when RFC 7692 forbids them."""
    seen: dict[str, str | None] = {}
    for name, value in params:
        if name not in _PARAMETERS:
            raise ValueError(f"unknown parameter {name!r}")
        if name in seen:
            raise ValueError(f"parameter {name!r} given twice")
        if name.endswith("no_context_takeover"):
            if value is not None:
                raise ValueError(f"{name} takes no value")
        elif value is not None and value not in _WINDOW_VALUES:
            raise ValueError(f"{name}={value!r} is not a window size 8-15")
        seen[name] = value
    if "server_max_window_bits" in seen and seen["server_max_window_bits"] is None:
        raise ValueError("server_max_window_bits needs a value")
    return seen


def _format(flags: Iterable[tuple[str, int | str | None]]) -> str:
    parts = [EXTENSION]
    for name, value in flags:
        parts.append(name if value is None else f"{name}={value}")
    return "; ".join(parts)


# -- client --------------------------------------------------------------------------------


def build_offer(options: PerMessageDeflate) -> str:
    """The client's ``Sec-WebSocket-Extensions`` value: one permessage-deflate offer."""
    flags: list[tuple[str, int | None]] = []
    if options.server_no_context_takeover:
        flags.append(("server_no_context_takeover", None))
    if options.client_no_context_takeover:
        flags.append(("client_no_context_takeover", None))
    if options.server_max_window_bits is not None:
        flags.append(("server_max_window_bits", options.server_max_window_bits))
    offered = _client_offer_bits(options)
    if offered is True:
        flags.append(("client_max_window_bits", None))
    elif offered is not None:
        flags.append(("client_max_window_bits", offered))
    return _format(flags)


def _client_offer_bits(options: PerMessageDeflate) -> int | bool | None:
    """What the client offers for client_max_window_bits: True (bare), a value, or None (not offered)."""
    value = options.client_max_window_bits
    if value is None or value is True:
        return True
    if value is False:
        return None
    return int(value)


def accept_response(options: PerMessageDeflate, values: list[str]) -> DeflateAgreement | None:
    """Check the server's ``Sec-WebSocket-Extensions`` answer to :func:`build_offer`.

    Returns the agreement, or None when the server declined (no header).
    Raises ValueError with the reason when the answer is not one RFC 7692
    allows for our offer (the client must then fail the connection).
    """
    if not values:
        return None
    extensions = parse_extensions(values)
    if not extensions:
        return None
    if len(extensions) != 1 or extensions[0][0] != EXTENSION:
        names = [name for name, _ in extensions]
        raise ValueError(f"the server selected extensions that were not offered: {names}")
    params = _check_params(extensions[0][1])
    server_bits = MAX_WBITS
    if "server_max_window_bits" in params:
        server_bits = _WINDOW_VALUES[params["server_max_window_bits"]]  # type: ignore[index]
        if options.server_max_window_bits is not None and server_bits > options.server_max_window_bits:
            raise ValueError(
                f"server_max_window_bits={server_bits} exceeds the offered {options.server_max_window_bits}"
            )
    client_bits = MAX_WBITS
    offered_client_bits = _client_offer_bits(options)
    if "client_max_window_bits" in params:
        value = params["client_max_window_bits"]
        if offered_client_bits is None:
            raise ValueError("client_max_window_bits was not offered")
        if value is None:
            raise ValueError("client_max_window_bits needs a value in an answer")
        client_bits = _WINDOW_VALUES[value]
        if offered_client_bits is not True and client_bits > offered_client_bits:
            raise ValueError(
                f"client_max_window_bits={client_bits} exceeds the offered {offered_client_bits}"
            )
    elif isinstance(offered_client_bits, int) and offered_client_bits is not True:
        client_bits = offered_client_bits  # we said we would not use more
    return DeflateAgreement(
        server_no_context_takeover="server_no_context_takeover" in params,
        client_no_context_takeover=(
            "client_no_context_takeover" in params or options.client_no_context_takeover
        ),
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
        header=", ".join(values),
    )


# -- server --------------------------------------------------------------------------------


def answer_offers(options: PerMessageDeflate, values: list[str]) -> DeflateAgreement | None:
    """Accept the first acceptable permessage-deflate offer of the client's header, or None.

    Offers with unknown or repeated parameters, invalid values, or an 8-bit
    server window (zlib cannot produce one) are declined and the next one is
    considered; a header that is not valid syntax declines them all.
    """
    try:
        extensions = parse_extensions(values)
    except ValueError:
        return None
    for name, raw_params in extensions:
        if name != EXTENSION:
            continue
        try:
            params = _check_params(raw_params)
        except ValueError:
            continue
        agreement = _answer(options, params)
        if agreement is not None:
            return agreement
    return None


def _answer(options: PerMessageDeflate, params: dict[str, str | None]) -> DeflateAgreement | None:
    if options.require_client_max_window_bits and "client_max_window_bits" not in params:
        return None  # declined: this client would use a window we did not bound
    flags: list[tuple[str, int | None]] = []
    server_reset = options.server_no_context_takeover or "server_no_context_takeover" in params
    if server_reset:
        flags.append(("server_no_context_takeover", None))
    client_reset = options.client_no_context_takeover or "client_no_context_takeover" in params
    if client_reset:
        flags.append(("client_no_context_takeover", None))

    server_bits = MAX_WBITS
    if "server_max_window_bits" in params:
        server_bits = _WINDOW_VALUES[params["server_max_window_bits"]]  # type: ignore[index]
        if server_bits < MIN_ZLIB_WBITS:
            return None  # zlib cannot keep to an 8-bit window
    own_limit = options.server_max_window_bits
    server_bits = min(server_bits, SERVER_DEFAULT_WBITS if own_limit is None else own_limit)
    if "server_max_window_bits" in params or server_bits < MAX_WBITS:
        flags.append(("server_max_window_bits", server_bits))

    client_bits = MAX_WBITS
    if "client_max_window_bits" in params:
        value = params["client_max_window_bits"]
        if value is not None:
            client_bits = _WINDOW_VALUES[value]
        limit = options.client_max_window_bits
        if limit is None:
            client_bits = min(client_bits, SERVER_DEFAULT_WBITS)
        elif not isinstance(limit, bool):
            client_bits = min(client_bits, limit)
        if value is not None or client_bits < MAX_WBITS:
            flags.append(("client_max_window_bits", client_bits))
    return DeflateAgreement(
        server_no_context_takeover=server_reset,
        client_no_context_takeover=client_reset,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
        header=_format(flags),
    )
