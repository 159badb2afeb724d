"""Parsing and normalising ``ws://`` / ``wss://`` URLs."""

from __future__ import annotations

import urllib.parse
from typing import NamedTuple

from ._errors import WSInvalidURL

__all__ = ["ParsedURL", "parse_url", "resolve_redirect"]

# Characters that may stay as they are in a request target (RFC 3986 pchar,
# '/', '?', and '%' so existing escapes are kept).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


class ParsedURL(NamedTuple):
    """A validated WebSocket URL, ready for connecting and for the upgrade request."""

    url: str
    secure: bool
    host: str  # ASCII (IDNA-encoded) host, without IPv6 brackets: what to connect to
    port: int
    resource_name: str  # path + query, percent-encoded, e.g. "/chat?room=1"
    host_header: str  # value of the Host header
    user_info: tuple[str, str] | None  # (user, password) from the URL, percent-decoded


def _encode_host(url: str, host: str) -> str:
    try:
        host.encode("ascii")
        return host
    except UnicodeEncodeError:
        pass
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise WSInvalidURL(url, f"host {host!r} cannot be IDNA-encoded ({exc})") from None


def parse_url(url: str) -> ParsedURL:
    """Validate a ``ws://`` or ``wss://`` URL; raise :class:`WSInvalidURL` otherwise."""
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WSInvalidURL(url, str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise WSInvalidURL(url, "scheme must be ws:// or wss://")
    if parts.fragment or url.rstrip().endswith("#"):
        raise WSInvalidURL(url, "a WebSocket URL must not have a fragment")
    if not parts.hostname:
        raise WSInvalidURL(url, "no host")
    secure = scheme == "wss"
    host = _encode_host(url, parts.hostname)
    if port is None:
        port = 443 if secure else 80
    path = urllib.parse.quote(parts.path or "/", safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    resource = path
    if parts.query:
        resource += "?" + urllib.parse.quote(parts.query, safe=_QUERY_SAFE)
    host_for_header = f"[{host}]" if ":" in host else host
    default_port = 443 if secure else 80
    host_header = host_for_header if port == default_port else f"{host_for_header}:{port}"
    user_info = None
    if parts.username is not None:
        user_info = (
            urllib.parse.unquote(parts.username),
            urllib.parse.unquote(parts.password or ""),
        )
    return ParsedURL(url, secure, host, port, resource, host_header, user_info)


def resolve_redirect(current: ParsedURL, location: str) -> ParsedURL:
    """Resolve a ``Location`` header against the current URL (relative locations allowed)."""
    # Join on an http(s) base: urljoin does not know ws(s):// on every Python version.
    base = ("https" if current.secure else "http") + "://" + current.host_header + current.resource_name
    location = location.strip()
    scheme, sep, rest = location.partition("://")
    if sep and scheme.lower() in ("ws", "wss"):
        location = ("https" if scheme.lower() == "wss" else "http") + "://" + rest
    target = urllib.parse.urljoin(base, location)
    scheme, sep, rest = target.partition("://")
    if sep and scheme.lower() in ("http", "https"):
        target = ("wss" if scheme.lower() == "https" else "ws") + "://" + rest
    # A fragment in Location is legal HTTP but meaningless for WebSockets.
    target = target.split("#", 1)[0]
    return parse_url(target)
