"""Parsing and normalising ``ws://`` / ``wss://`` URLs (and proxy URLs)."""

from __future__ import annotations

import dataclasses
import urllib.parse

from ._errors import WSInvalidURL

#: The proxy URL schemes ws_connect takes, and how its errors list them.
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
PROXY_SCHEMES_TEXT = "http://, https://, socks4://, socks4a://, socks5:// or socks5h://"

__all__ = ["WSParsedURL", "parse_proxy_url", "parse_url", "resolve_redirect"]

# Characters that may stay as they are in a request target (RFC 3986 pchar,
# '/', '?', and '%' so existing escapes are kept).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"
_DEFAULT_PORTS = {"ws": 80, "wss": 443, "http": 80, "https": 443, "socks4": 1080, "socks5": 1080}
_SECURE_SCHEMES = frozenset(("wss", "https"))


@dataclasses.dataclass(frozen=True, eq=False)
class WSParsedURL:
    """A validated URL, as :func:`ws_connect` uses it (and passes it to ``socket_factory``).

    Attributes:
        url: the URL as given.
        scheme: ``"ws"`` or ``"wss"`` (for a proxy: its scheme), lower case.
        is_secure: True for ``wss`` (and ``https`` proxies).
        netloc: the network location as given (``user:password@host:port``).
        host: the host to connect to: IDNA-encoded, lower case, IPv6 without brackets.
        port: the port (the scheme's default when the URL has none).
        path: the percent-encoded path, ``"/"`` when empty.
        query: the percent-encoded query, ``""`` when there is none.
        username: the user name from the URL, percent-decoded, or None.
        password: the password from the URL, percent-decoded, or None.
    """

    url: str
    scheme: str
    is_secure: bool
    netloc: str
    host: str
    port: int
    path: str
    query: str
    username: str | None = None
    password: str | None = None

    @property
    def resource_name(self) -> str:
        """Path and query, as sent in the request line (e.g. ``/chat?room=1``)."""
        return self.path + "?" + self.query if self.query else self.path

    @property
    def user_info(self) -> tuple[str, str] | None:
        """``(username, password)`` when the URL has credentials, else None."""
        if self.username is None:
            return None
        return self.username, self.password or ""

    @property
    def host_header(self) -> str:
        """The value of the ``Host`` header for this URL (the port only when it is not the default)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS.get(self.scheme) else f"{host}:{self.port}"


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


def _parse(url: str, schemes: tuple[str, ...], what: str) -> WSParsedURL:
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, got {type(url).__name__}")
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise WSInvalidURL(url, str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise WSInvalidURL(url, f"scheme must be {what}")
    if parts.fragment or url.rstrip().endswith("#"):
        raise WSInvalidURL(url, "a WebSocket URL must not have a fragment")
    if not parts.hostname:
        raise WSInvalidURL(url, "no host")
    host = _encode_host(url, parts.hostname)
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    path = urllib.parse.quote(parts.path or "/", safe=_PATH_SAFE)
    if not path.startswith("/"):
        path = "/" + path
    query = urllib.parse.quote(parts.query, safe=_QUERY_SAFE) if parts.query else ""
    username = password = None
    if parts.username is not None:
        username = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    return WSParsedURL(
        url, scheme, scheme in _SECURE_SCHEMES, parts.netloc, host, port, path, query, username, password
    )


def parse_url(url: str) -> WSParsedURL:
    """Validate a ``ws://`` or ``wss://`` URL; raise :class:`WSInvalidURL` otherwise."""
    return _parse(url, ("ws", "wss"), "ws:// or wss://")


def parse_proxy_url(url: str) -> WSParsedURL:
    """Parse a proxy URL (already checked by ``check_proxy_url``)."""
    return _parse(url, PROXY_SCHEMES, PROXY_SCHEMES_TEXT)


def resolve_redirect(current: WSParsedURL, location: str) -> WSParsedURL:
    """Resolve a ``Location`` header against the current URL (relative locations allowed)."""
    # Join on an http(s) base: urljoin does not know ws(s):// on every Python version.
    base = ("https" if current.is_secure else "http") + "://" + current.host_header + current.resource_name
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
