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
            response = connection.respond(http.HTTPStatus.FOUND, f"Found at {redirect.new_url}\n")
            response.headers["Location"] = redirect.new_url
            return response
        except werkzeug.exceptions.NotFound:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found\n")
        return None

    return handler, process_request


def route(url_map: Any, *args: Any, server_name: str | None = None, ssl: Any = None, **kwargs: Any) -> serve:
    """Like :func:`serve`, dispatching each connection to the endpoint of ``url_map`` matching its path.

    Endpoints are ``async def endpoint(connection, **url_arguments)``.
    Unmatched paths get 404; werkzeug redirects (e.g. a missing trailing
    slash) get 302 with ``Location``.
    """
    handler, process_request = _router_hooks(url_map, server_name, ssl is not None, kwargs)
    if ssl is not None:
        kwargs["ssl"] = ssl
    return serve(handler, *args, process_request=process_request, **kwargs)


def unix_route(url_map: Any, path: str | None = None, **kwargs: Any) -> serve:
    """Like :func:`route`, on a Unix socket."""
    handler, process_request = _router_hooks(url_map, kwargs.pop("server_name", None), False, kwargs)
    return unix_serve(handler, path, process_request=process_request, **kwargs)
