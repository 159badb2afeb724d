"""``route``/``unix_route``: dispatch connections by URL with a werkzeug ``Map`` (optional dependency)."""

from __future__ import annotations

import http
import inspect
import urllib.parse
from typing import Any

from ..http11 import Request, Response
from .server import ServerConnection, serve, unix_serve

__all__ = ["Router", "route", "unix_route"]


def _werkzeug() -> Any:
    try:
        import werkzeug.exceptions
        import werkzeug.routing
    except ImportError as exc:
        raise ImportError("route() and unix_route() need werkzeug: pip install werkzeug") from exc
    return werkzeug


class Router:
    """What :func:`route` dispatches with: a werkzeug ``Map`` from URL paths to handlers.

    :func:`route` creates one per server (``create_router(url_map,
    server_name, url_scheme)``); pass a subclass as ``create_router`` to
    change one step, e.g. :meth:`not_found` or :meth:`get_server_name`.

    :param url_map: ``werkzeug.routing.Map`` whose endpoints are
        ``async def handler(connection, **url_arguments)``; its rules are
        marked as WebSocket rules.
    :param server_name: host of the redirect URLs (None: the request's ``Host``).
    :param url_scheme: ``"ws"`` or ``"wss"``, the scheme the map is bound with.
    """

    def __init__(self, url_map: Any, server_name: str | None = None, url_scheme: str = "ws") -> None:
        self.url_map = url_map
        self.server_name = server_name
        self.url_scheme = url_scheme
        werkzeug = _werkzeug()
        # Looked up once: route_request runs on every handshake.
        self._redirect_error = werkzeug.routing.RequestRedirect
        self._not_found_error = werkzeug.exceptions.NotFound
        for rule in url_map.iter_rules():
            rule.websocket = True  # bound with a ws/wss scheme, werkzeug matches only WebSocket rules

    def get_server_name(self, connection: ServerConnection, request: Request) -> str:
        """The host the map is bound to: ``server_name``, else the request's ``Host`` (KeyError: none)."""
        if self.server_name is not None:
            return self.server_name
        return request.headers["Host"]

    def redirect(self, connection: ServerConnection, url: str) -> Response:
        """The answer to a werkzeug redirect (e.g. a missing trailing slash): 302 to ``url``."""
        response = connection.respond(http.HTTPStatus.FOUND, f"Found at {url}")
        response.headers["Location"] = url
        return response

    def not_found(self, connection: ServerConnection) -> Response:
        """The answer when no rule matches: 404."""
        return connection.respond(http.HTTPStatus.NOT_FOUND, "Not Found")

    def route_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Match the request's path: None (and the connection knows its handler), or the answer to send."""
        try:
            server_name = self.get_server_name(connection, request)
        except KeyError:
            if "Host" in request.headers:
                raise
            # No Host to bind the map to (HTTP/1.1 requires one, serve() takes requests without):
            # 400 rather than websockets' 500 for the KeyError.
            return connection.respond(
                http.HTTPStatus.BAD_REQUEST, "Failed to open a WebSocket connection: missing Host header.\n"
            )
        adapter = self.url_map.bind(server_name=server_name, url_scheme=self.url_scheme)
        parsed = urllib.parse.urlsplit(request.path)
        try:
            handler, arguments = adapter.match(path_info=parsed.path, query_args=parsed.query)
        except self._redirect_error as redirect:
            return self.redirect(connection, redirect.new_url)
        except self._not_found_error:
            return self.not_found(connection)
        connection.handler, connection.handler_kwargs = handler, arguments
        return None

    async def handler(self, connection: ServerConnection) -> None:
        """The handler :func:`route` serves with: the matched endpoint, given the URL's arguments."""
        await connection.handler(connection, **connection.handler_kwargs)


def _router_serve_arguments(
    url_map: Any,
    server_name: str | None,
    ssl: Any,
    create_router: type[Router] | None,
    kwargs: dict[str, Any],
) -> Any:
    """The handler and ``process_request`` of a routing server; puts a real TLS context into ``kwargs``.

    As in websockets, ``ssl=True`` only binds ``wss`` URLs (TLS terminated by a
    reverse proxy). The user's ``process_request`` (sync or async) runs first;
    when it returns None the router decides.
    """
    _werkzeug()
    if ssl is not None and ssl is not True:
        kwargs["ssl"] = ssl
    router = (create_router or Router)(url_map, server_name, "ws" if ssl is None else "wss")
    user_process_request = kwargs.pop("process_request", None)
    if user_process_request is None:
        return router.handler, router.route_request

    def process_request(connection: ServerConnection, request: Request) -> Any:
        response = user_process_request(connection, request)
        if inspect.isawaitable(response):
            return after_user_hook(connection, request, response)
        if response is not None:
            return response
        return router.route_request(connection, request)

    async def after_user_hook(connection: ServerConnection, request: Request, pending: Any) -> Any:
        response = await pending
        if response is not None:
            return response
        return router.route_request(connection, request)

    return router.handler, process_request


def route(
    url_map: Any,
    *args: Any,
    server_name: str | None = None,
    ssl: Any = None,
    create_router: type[Router] | None = None,
    **kwargs: Any,
) -> serve:
    """Like :func:`serve`, dispatching each connection to the endpoint of ``url_map`` matching its path.

    Endpoints are ``async def endpoint(connection, **url_arguments)``.
    Unmatched paths get 404; werkzeug redirects (e.g. a missing trailing
    slash) get 302 with ``Location``. ``server_name`` is the host of those
    URLs (default: the request's ``Host``); ``ssl=True`` makes them ``wss://``
    without enabling TLS (behind a reverse proxy that terminates it).
    ``create_router``: a :class:`Router` subclass (or factory with its
    arguments) to customise routing.
    """
    handler, process_request = _router_serve_arguments(url_map, server_name, ssl, create_router, kwargs)
    return serve(handler, *args, process_request=process_request, **kwargs)


def unix_route(
    url_map: Any,
    path: str | None = None,
    *,
    server_name: str | None = None,
    ssl: Any = None,
    create_router: type[Router] | None = None,
    **kwargs: Any,
) -> serve:
    """Like :func:`route`, on a Unix socket."""
    handler, process_request = _router_serve_arguments(url_map, server_name, ssl, create_router, kwargs)
    return unix_serve(handler, path, process_request=process_request, **kwargs)
