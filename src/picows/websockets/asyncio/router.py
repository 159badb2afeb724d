"""``route``/``unix_route``: dispatch connections by URL with a werkzeug ``Map`` (optional dependency)."""

from __future__ import annotations

import http
import inspect
import urllib.parse
from typing import Any

from ..http11 import Request, Response
from .server import ServerConnection, serve, unix_serve

__all__ = ["route", "unix_route"]


def _werkzeug() -> Any:
    try:
        import werkzeug.exceptions
        import werkzeug.routing
    except ImportError as exc:
        raise ImportError("route() and unix_route() need werkzeug: pip install werkzeug") from exc
    return werkzeug


def _router_hooks(url_map: Any, server_name: str | None, secure: bool, kwargs: dict[str, Any]) -> Any:
    werkzeug = _werkzeug()
    for rule in url_map.iter_rules():
        rule.websocket = True  # bound with a ws/wss scheme, werkzeug matches only WebSocket rules
    user_process_request = kwargs.pop("process_request", None)

    async def handler(connection: ServerConnection) -> None:
        assert connection._route_match is not None
        endpoint, arguments = connection._route_match
        await endpoint(connection, **arguments)

    def process_request(connection: ServerConnection, request: Request) -> Any:
        """The user's hook first (sync or async), then the URL map."""
        if user_process_request is not None:
            response = user_process_request(connection, request)
            if inspect.isawaitable(response):
                return after_user_hook(connection, request, response)
            if response is not None:
                return response
        return match(connection, request)

    async def after_user_hook(connection: ServerConnection, request: Request, pending: Any) -> Any:
        response = await pending
        if response is not None:
            return response
        return match(connection, request)

    def match(connection: ServerConnection, request: Request) -> Response | None:
        host = server_name or request.headers.get("Host", "localhost")
        adapter = url_map.bind(host, url_scheme="wss" if secure else "ws")
        parsed = urllib.parse.urlsplit(request.path)
        path, query = parsed.path, parsed.query
        try:
            connection._route_match = adapter.match(path, query_args=query)
        except werkzeug.routing.RequestRedirect as redirect:
            # websockets' texts, without a trailing newline.
            response = connection.respond(http.HTTPStatus.FOUND, f"Found at {redirect.new_url}")
            response.headers["Location"] = redirect.new_url
            return response
        except werkzeug.exceptions.NotFound:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found")
        return None

    return handler, process_request


def _take_ssl(ssl: Any, kwargs: dict[str, Any]) -> bool:
    """Whether URLs are bound as ``wss``; puts a real TLS context (not ``ssl=True``) into ``kwargs``.

    As in websockets, ``ssl=True`` only binds ``wss`` URLs (TLS terminated by a reverse proxy).
    """
    if ssl is not None and ssl is not True:
        kwargs["ssl"] = ssl
    return ssl is not None


def route(url_map: Any, *args: Any, server_name: str | None = None, ssl: Any = None, **kwargs: Any) -> serve:
    """Like :func:`serve`, dispatching each connection to the endpoint of ``url_map`` matching its path.

    Endpoints are ``async def endpoint(connection, **url_arguments)``.
    Unmatched paths get 404; werkzeug redirects (e.g. a missing trailing
    slash) get 302 with ``Location``. ``server_name`` is the host of those
    URLs (default: the request's ``Host``); ``ssl=True`` makes them ``wss://``
    without enabling TLS (behind a reverse proxy that terminates it).
    """
    secure = _take_ssl(ssl, kwargs)
    handler, process_request = _router_hooks(url_map, server_name, secure, kwargs)
    return serve(handler, *args, process_request=process_request, **kwargs)


def unix_route(
    url_map: Any, path: str | None = None, *, server_name: str | None = None, ssl: Any = None, **kwargs: Any
) -> serve:
    """Like :func:`route`, on a Unix socket."""
    secure = _take_ssl(ssl, kwargs)
    handler, process_request = _router_hooks(url_map, server_name, secure, kwargs)
    return unix_serve(handler, path, process_request=process_request, **kwargs)
