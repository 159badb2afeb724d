"""websockets' ``extensions=`` argument: permessage-deflate factories and custom extensions.

Two kinds of extension factories reach ``connect()`` / ``serve()``:

* websockets' permessage-deflate factories (``ClientPerMessageDeflateFactory``,
  ``ServerPerMessageDeflateFactory``, or any factory named
  ``permessage-deflate`` with their attributes): their parameters become the
  core's :class:`picows.PerMessageDeflate`, so compression runs in picows'
  core as with ``compression="deflate"``;
* any other factory (websockets' ``ClientExtensionFactory`` /
  ``ServerExtensionFactory`` API): negotiated here with websockets' rules,
  and every data frame then goes through the extensions' ``decode`` /
  ``encode`` in Python (see ``Connection._on_extension_frame``), as websockets
  does. With permessage-deflate too, picows' core compresses last (after
  the custom extensions' ``encode``) and inflates first, so the answer must
  list permessage-deflate after them (ours always does).

Per connection only (handshake time); nothing here runs per frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from picows._deflate_negotiation import parse_extensions

from ..exceptions import NegotiationError, _up
from ..frames import Frame, Opcode  # websockets' own when it is installed
from . import _core

# What a factory raises to decline: websockets' class when installed (ours subclasses it), else ours.
_DECLINED: tuple[type[Exception], ...] = (NegotiationError, *_up("NegotiationError"))

__all__ = [
    "DEFLATE",
    "Frame",
    "Opcode",
    "accept_offers",
    "accept_response",
    "build_offer",
    "split_extensions",
]

DEFLATE = "permessage-deflate"

# compress_settings keys the core's compressor takes (zlib.compressobj's names), and its own names.
_COMPRESS_SETTINGS = {"level": "compress_level", "memLevel": "mem_level"}
_ZLIB_DEFAULT_LEVEL = 6  # what zlib's level -1 (Z_DEFAULT_COMPRESSION) means
_ZLIB_DEFAULT_MEM_LEVEL = 8  # zlib.DEF_MEM_LEVEL: websockets' factories without memLevel use it


def split_extensions(
    extensions: Sequence[Any] | None, compression: str | None, side: str, max_message: int | None
) -> tuple[Any, list[Any]]:
    """``(core permessage_deflate option, custom factories)`` for connect()/serve()'s arguments.

    As websockets: ``compression="deflate"`` adds the default permessage-deflate
    factory unless ``extensions`` has one (whose parameters then apply);
    ``compression=None`` with a permessage-deflate factory still negotiates it.
    """
    if compression is not None and compression != "deflate":
        raise ValueError(f"unsupported compression: {compression}")
    factories = list(extensions or ())
    deflate = [factory for factory in factories if _name(factory) == DEFLATE]
    custom = [factory for factory in factories if _name(factory) != DEFLATE]
    if len(deflate) > 1:
        raise NotImplementedError(
            "picows.websockets negotiates one permessage-deflate configuration; "
            f"extensions has {len(deflate)} permessage-deflate factories"
        )
    if deflate:
        options = _deflate_from_factory(deflate[0], side, max_message)
    else:
        options = _core.deflate_options(compression, side, max_message)
    for factory in custom:
        if not isinstance(_name(factory), str) or not _name(factory):
            raise TypeError(f"extension factory {factory!r} has no name (websockets' extension factories do)")
    return options, custom


def _name(factory: Any) -> Any:
    return getattr(factory, "name", None)


def _deflate_from_factory(factory: Any, side: str, max_message: int | None) -> Any:
    """The core's options for one of websockets' permessage-deflate factories (same offer, same answer)."""
    settings = dict(getattr(factory, "compress_settings", None) or {})
    unsupported = sorted(set(settings) - set(_COMPRESS_SETTINGS))
    if unsupported:
        raise NotImplementedError(
            f"compress_settings {unsupported} are not supported by picows.websockets "
            f"(supported: {sorted(_COMPRESS_SETTINGS)})"
        )
    level = settings.get("level")
    tuning: dict[str, Any] = {
        "mem_level": settings.get("memLevel", _ZLIB_DEFAULT_MEM_LEVEL),
        "compress_threshold": 0,  # websockets compresses every message
        "max_message_size": max_message,
    }
    if level is not None:  # else picows' default level (1): the same wire format, less CPU
        tuning["compress_level"] = _ZLIB_DEFAULT_LEVEL if level == -1 else level
    server_bits = factory.server_max_window_bits
    client_bits = factory.client_max_window_bits
    if side == "client":
        # websockets: client_max_window_bits None = not offered, True = offered without a value.
        offered_client_bits = False if client_bits is None else client_bits
        return _core.permessage_deflate(
            server_no_context_takeover=bool(factory.server_no_context_takeover),
            client_no_context_takeover=bool(factory.client_no_context_takeover),
            server_max_window_bits=server_bits,
            client_max_window_bits=offered_client_bits,
            **tuning,
        )
    # websockets' server: None = no cap of its own (the client's request, else 15 bits);
    # the core's None means its 12-bit default, 15 / True mean no cap.
    return _core.permessage_deflate(
        server_no_context_takeover=bool(factory.server_no_context_takeover),
        client_no_context_takeover=bool(factory.client_no_context_takeover),
        server_max_window_bits=15 if server_bits is None else server_bits,
        client_max_window_bits=True if client_bits is None else client_bits,
        require_client_max_window_bits=bool(getattr(factory, "require_client_max_window_bits", False)),
        **tuning,
    )


# -- custom extensions: websockets' negotiation --------------------------------------------------


def _format_params(name: str, params: Sequence[tuple[str, str | None]]) -> str:
    return "; ".join([name, *(key if value is None else f"{key}={value}" for key, value in params)])


def build_offer(factories: Sequence[Any]) -> str:
    """The client's ``Sec-WebSocket-Extensions`` value: each factory's name and request parameters."""
    return ", ".join(_format_params(factory.name, factory.get_request_params()) for factory in factories)


def _parsed(values: Sequence[str]) -> list[tuple[str, list[tuple[str, str | None]]]]:
    try:
        return parse_extensions(values)
    except ValueError as exc:
        raise NegotiationError(f"invalid Sec-WebSocket-Extensions header: {exc}") from None


def accept_response(
    factories: Sequence[Any], values: Sequence[str], deflate_agreed: bool = False
) -> list[Any]:
    """The extensions the server accepted (its ``Sec-WebSocket-Extensions`` values), as websockets decides.

    Each accepted name goes to the first factory of that name whose
    ``process_response_params`` accepts the parameters. With
    ``deflate_agreed``, permessage-deflate elements are the core's (already
    checked) and must come last.

    :raises NegotiationError: the server accepted an extension no factory takes,
        or put one after permessage-deflate.
    """
    accepted: list[Any] = []
    if not values:
        return accepted
    deflate_seen = False
    for name, params in _parsed(values):
        if deflate_agreed and name == DEFLATE:
            deflate_seen = True
            continue
        if deflate_seen:
            raise NegotiationError(
                f"picows.websockets applies permessage-deflate after the other extensions; "
                f"the server put {name} after it"
            )
        if not factories:
            raise NegotiationError("no extensions supported")
        for factory in factories:
            if factory.name.lower() != name:
                continue
            try:
                extension = factory.process_response_params(params, accepted)
            except _DECLINED:
                continue
            accepted.append(extension)
            break
        else:
            raise NegotiationError(f"Unsupported extension: name = {name}, params = {params}")
    return accepted


def accept_offers(factories: Sequence[Any], values: Sequence[str]) -> tuple[str | None, list[Any]]:
    """The server's answer to the client's offers: ``(Sec-WebSocket-Extensions value or None, extensions)``.

    As websockets: each offer goes to the first factory of its name that
    accepts it (``process_request_params``); declined offers are left out.
    An offer header that is not valid syntax declines every offer.
    """
    accepted: list[Any] = []
    answers: list[str] = []
    if not values or not factories:
        return None, accepted
    try:
        offers = parse_extensions(values)
    except ValueError:
        return None, accepted
    for name, params in offers:
        for factory in factories:
            if factory.name.lower() != name:
                continue
            try:
                response_params, extension = factory.process_request_params(params, accepted)
            except _DECLINED:
                continue
            answers.append(_format_params(factory.name, response_params))
            accepted.append(extension)
            break
    return (", ".join(answers) if answers else None), accepted
