"""URL parsing (``parse_url``) and redirect resolution (``resolve_redirect``) as tables, without sockets.

What goes on the wire for a URL (request line, Host header, CONNECT target)
is checked over real sockets in ``e2e/test_url.py`` and ``e2e/test_redirects.py``.
"""

from __future__ import annotations

import pytest

from picows import WSError, WSInvalidURL
from support.internals import parse_url, resolve_redirect

# url -> (secure, host, port, resource_name, host_header, user_info)
VALID = [
    ("ws://127.0.0.1:9001/", (False, "127.0.0.1", 9001, "/", "127.0.0.1:9001", None)),
    ("ws://example.com", (False, "example.com", 80, "/", "example.com", None)),
    ("wss://example.com", (True, "example.com", 443, "/", "example.com", None)),
    # scheme and host are case-insensitive; the default port is left out of Host
    ("WS://Example.COM:80/x", (False, "example.com", 80, "/x", "example.com", None)),
    ("Wss://example.com:443/a?b=c", (True, "example.com", 443, "/a?b=c", "example.com", None)),
    ("wss://example.com:80/", (True, "example.com", 80, "/", "example.com:80", None)),
    ("ws://example.com:8080/chat?room=1&x=y", (False, "example.com", 8080, "/chat?room=1&x=y", "example.com:8080", None)),
    ("ws://h:65535", (False, "h", 65535, "/", "h:65535", None)),
    # IPv6 literals: brackets off for connecting, on in Host
    ("ws://[::1]:8765/v6", (False, "::1", 8765, "/v6", "[::1]:8765", None)),
    ("ws://[::1]/", (False, "::1", 80, "/", "[::1]", None)),
    ("wss://[2001:db8::1]:443/", (True, "2001:db8::1", 443, "/", "[2001:db8::1]", None)),
    # user info is percent-decoded; a missing password is empty
    ("ws://user:pa%20ss@host/", (False, "host", 80, "/", "host", ("user", "pa ss"))),
    ("ws://user@host/", (False, "host", 80, "/", "host", ("user", ""))),
    # non-ASCII: IDNA host, UTF-8 percent-encoded path and query
    (
        "ws://пример.испытание:8765/путь",
        (False, "xn--e1afmkfd.xn--80akhbyknj4f", 8765, "/%D0%BF%D1%83%D1%82%D1%8C", "xn--e1afmkfd.xn--80akhbyknj4f:8765", None),
    ),
    ("ws://h/ü/ß?ä=ö", (False, "h", 80, "/%C3%BC/%C3%9F?%C3%A4=%C3%B6", "h", None)),
    ("ws://h/a b", (False, "h", 80, "/a%20b", "h", None)),
    # existing escapes and RFC 3986 sub-delimiters stay as they are
    ("ws://h/a%20b/c%2Fd?x=%26y", (False, "h", 80, "/a%20b/c%2Fd?x=%26y", "h", None)),
    ("ws://h/%zz", (False, "h", 80, "/%zz", "h", None)),
    ("ws://h/p;q", (False, "h", 80, "/p;q", "h", None)),
    ("ws://h/api/v1?symbols=a,b&depth=10&x=-._~", (False, "h", 80, "/api/v1?symbols=a,b&depth=10&x=-._~", "h", None)),
    ("ws://h/path?q=a?b/c", (False, "h", 80, "/path?q=a?b/c", "h", None)),
    # no path: "/"; an empty query is dropped
    ("ws://h?token=abc", (False, "h", 80, "/?token=abc", "h", None)),
    ("ws://h/?", (False, "h", 80, "/", "h", None)),
    # surrounding white space is ignored
    ("  ws://h/  ", (False, "h", 80, "/", "h", None)),
]


@pytest.mark.parametrize("url, expected", VALID, ids=[u for u, _ in VALID])
def test_valid_url(url: str, expected: tuple[object, ...]) -> None:
    parsed = parse_url(url)
    assert parsed.url == url
    got = (parsed.is_secure, parsed.host, parsed.port, parsed.resource_name, parsed.host_header, parsed.user_info)
    assert got == expected
    assert parsed.scheme == ("wss" if parsed.is_secure else "ws")
    assert parsed.resource_name == parsed.path + ("?" + parsed.query if parsed.query else "")


def test_parsed_url_is_frozen_and_public() -> None:
    """WSParsedURL (picows 2.x) is exported and immutable; it is what socket_factory receives."""
    import dataclasses

    import picows

    parsed = parse_url("wss://u:p%40ss@Example.com:8443/a/b?c=d")
    assert isinstance(parsed, picows.WSParsedURL)
    assert (parsed.scheme, parsed.netloc, parsed.host, parsed.port, parsed.path, parsed.query) == (
        "wss", "u:p%40ss@Example.com:8443", "example.com", 8443, "/a/b", "c=d"
    )
    assert (parsed.username, parsed.password, parsed.user_info) == ("u", "p@ss", ("u", "p@ss"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.port = 1  # type: ignore[misc]


# url -> the reason picows gives (exact), or None where the reason comes from urllib and varies by Python version
INVALID = [
    ("http://h/", "scheme must be ws:// or wss://"),
    ("https://h/", "scheme must be ws:// or wss://"),
    ("ftp://h/", "scheme must be ws:// or wss://"),
    ("h:1/", "scheme must be ws:// or wss://"),
    ("//h:1/", "scheme must be ws:// or wss://"),
    ("/just/a/path", "scheme must be ws:// or wss://"),
    ("", "scheme must be ws:// or wss://"),
    ("ws:///path", "no host"),
    ("ws://", "no host"),
    ("wss://:1/", "no host"),
    ("ws://h/#frag", "a WebSocket URL must not have a fragment"),
    ("ws://h/p?q=1#f", "a WebSocket URL must not have a fragment"),
    ("wss://h#", "a WebSocket URL must not have a fragment"),
    ("ws://h:99999/", None),
    ("ws://h:port/", None),
    ("ws://[::1/", None),
]


@pytest.mark.parametrize("url, reason", INVALID, ids=[u or "empty" for u, _ in INVALID])
def test_invalid_url(url: str, reason: str | None) -> None:
    with pytest.raises(WSInvalidURL) as info:
        parse_url(url)
    exc = info.value
    assert isinstance(exc, WSError)
    assert exc.url == url
    assert exc.response is None
    if reason is not None:
        assert exc.msg == reason
    assert str(exc) == f"invalid WebSocket URL {url!r}: {exc.msg}"
    assert exc.msg


def test_host_that_cannot_be_idna_encoded() -> None:
    url = "ws://\u00ad/"  # a soft hyphen alone: an empty label after IDNA mapping
    with pytest.raises(WSInvalidURL) as info:
        parse_url(url)
    assert info.value.msg.startswith("host '\\xad' cannot be IDNA-encoded (")


@pytest.mark.parametrize("url", [b"ws://h/", None, 80])
def test_url_must_be_str(url: object) -> None:
    with pytest.raises(TypeError, match=f"url must be a str, got {type(url).__name__}"):
        parse_url(url)  # type: ignore[arg-type]


# (current URL, Location) -> the URL followed, or the reason it is refused
BASE = "ws://example.com:8080/a/b/start?x=1"
SECURE = "wss://example.com/a/b/start"
REDIRECTS = [
    (BASE, "/final", "ws://example.com:8080/final"),
    (BASE, "next?k=v", "ws://example.com:8080/a/b/next?k=v"),
    (BASE, "../c", "ws://example.com:8080/a/c"),
    (BASE, "?only=query", "ws://example.com:8080/a/b/start?only=query"),
    (BASE, "", BASE),
    (BASE, "  /spaced  ", "ws://example.com:8080/spaced"),
    (BASE, "/f#frag", "ws://example.com:8080/f"),  # a fragment in Location is dropped
    (BASE, "/путь", "ws://example.com:8080/путь"),
    # absolute locations: ws/wss as given, http/https mapped to ws/wss
    (BASE, "ws://other:9/p", "ws://other:9/p"),
    (BASE, "WS://Other/p", "ws://Other/p"),
    (BASE, "wss://other/p", "wss://other/p"),
    (BASE, "http://other/p", "ws://other/p"),
    (BASE, "https://other/p", "wss://other/p"),
    (BASE, "http://[::1]:5/v6", "ws://[::1]:5/v6"),
    (BASE, "http://user:pw@h/", "ws://user:pw@h/"),
    # scheme-relative: keeps the current scheme
    (BASE, "//other:1/p", "ws://other:1/p"),
    (SECURE, "//other/p", "wss://other/p"),
    (SECURE, "/final", "wss://example.com/final"),
    # a secure URL may redirect to a plain one here: ws_connect refuses that itself
    (SECURE, "ws://plain/p", "ws://plain/p"),
    (SECURE, "http://plain/p", "ws://plain/p"),
]


@pytest.mark.parametrize("current, location, expected", REDIRECTS, ids=[f"{c}->{loc}" for c, loc, _ in REDIRECTS])
def test_resolve_redirect(current: str, location: str, expected: str) -> None:
    resolved = resolve_redirect(parse_url(current), location)
    assert resolved.url == expected
    assert vars(resolved) == vars(parse_url(expected))


@pytest.mark.parametrize("location", ["ftp://x/", "mailto:a@b"])
def test_redirect_to_a_non_websocket_url_is_invalid(location: str) -> None:
    with pytest.raises(WSInvalidURL) as info:
        resolve_redirect(parse_url(BASE), location)
    assert info.value.msg == "scheme must be ws:// or wss://"
