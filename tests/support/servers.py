"""picows servers and connections for the tests (public API only).

* :func:`ws_server` / :func:`echo_server`: a picows server on 127.0.0.1, yielding its URL;
* :func:`picows_server`: a picows server that hands each connection's listener to the test;
* :func:`connect`, :func:`finish`, :func:`wait_disconnected_any`: bounded client calls;
* :func:`pair`: a picows endpoint in either role against a hand-written raw peer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Callable

import picows
from picows import WSTransport
from support import TIMEOUT
from support.listeners import CollectingListener, EchoListener
from support.net import port_of
from support.raw_ws import RawPeer, raw_ws_client, raw_ws_server

__all__ = [
    "ROLES",
    "PicowsServer",
    "connect",
    "echo_server",
    "finish",
    "pair",
    "picows_server",
    "wait_disconnected_any",
    "ws_server",
]

#: The roles picows can play against a raw peer (see :func:`pair`).
ROLES = ["client", "server"]


@contextlib.asynccontextmanager
async def ws_server(ws_listener_factory: Callable[[Any], Any], *, path: str = "/", **kwargs: Any) -> AsyncIterator[str]:
    """A picows server on 127.0.0.1 (ephemeral port); yields its ``ws://`` or ``wss://`` URL."""
    server = await picows.ws_create_server(ws_listener_factory, "127.0.0.1", 0, **kwargs)
    port = server.sockets[0].getsockname()[1]
    scheme = "wss" if kwargs.get("ssl") is not None else "ws"
    try:
        yield f"{scheme}://127.0.0.1:{port}{path}"
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


@contextlib.asynccontextmanager
async def echo_server(**kwargs: Any) -> AsyncIterator[str]:
    """A picows server whose connections run :class:`EchoListener`."""
    async with ws_server(lambda request: EchoListener(), **kwargs) as url:
        yield url


class PicowsServer:
    """What :func:`picows_server` yields."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.port = port_of(url)
        self.listeners: asyncio.Queue[Any] = asyncio.Queue()
        self.requests: list[Any] = []

    async def next_listener(self, timeout: float = TIMEOUT) -> Any:
        """The listener of the next accepted connection, once on_ws_connected ran (if it has a ``connected`` event)."""
        lst = await asyncio.wait_for(self.listeners.get(), timeout)
        ev = getattr(lst, "connected", None)
        if isinstance(ev, asyncio.Event):
            await asyncio.wait_for(ev.wait(), timeout)
        return lst


@contextlib.asynccontextmanager
async def picows_server(
    listener_factory: Callable[[], Any] | None = None, **kwargs: Any
) -> AsyncIterator[PicowsServer]:
    """A picows server whose listeners (``listener_factory()``, default CollectingListener) are handed to the test."""
    factory = listener_factory if listener_factory is not None else CollectingListener
    holder: list[PicowsServer] = []

    def ws_factory(request: Any) -> Any:
        lst = factory()
        holder[0].requests.append(request)
        holder[0].listeners.put_nowait(lst)
        return lst

    # ws_server yields the URL only once the server listens; nothing can connect before holder is filled.
    async with ws_server(ws_factory, **kwargs) as url:
        srv = PicowsServer(url)
        holder.append(srv)
        yield srv


async def connect(listener_factory: Callable[[], Any], url: str, **kwargs: Any) -> tuple[WSTransport, Any]:
    """``picows.ws_connect``, bounded."""
    return await asyncio.wait_for(picows.ws_connect(listener_factory, url, **kwargs), TIMEOUT)


async def finish(transport: WSTransport) -> None:
    """Normal end of a connection: disconnect and wait (must not raise)."""
    transport.disconnect()
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def wait_disconnected_any(transport: WSTransport) -> BaseException | None:
    """Wait for the disconnect and return the exception wait_disconnected raised (or None)."""
    try:
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
    except asyncio.TimeoutError:
        raise
    except Exception as e:  # noqa: BLE001 - returned to the caller for checking
        return e
    return None


@contextlib.asynccontextmanager
async def pair(
    picows_role: str,
    listener_factory: Callable[[], Any],
    *,
    check_clean: bool = True,
    peer_headers: bytes = b"",
    **kwargs: Any,
) -> AsyncIterator[tuple[RawPeer, Any, WSTransport]]:
    """(raw peer, picows listener, picows transport) with picows in ``picows_role``.

    "client": ``picows.ws_connect`` against a raw server; "server":
    ``picows.ws_create_server`` with a raw client. The listener must store its
    transport in ``.transport`` in on_ws_connected (CollectingListener and
    SnapshotListener do). With ``check_clean`` (client role) the final
    ``wait_disconnected`` must not raise. ``peer_headers`` (``Name: value\\r\\n``
    lines) go into the raw peer's 101 answer or upgrade request (e.g.
    ``Sec-WebSocket-Extensions``).
    """
    if picows_role == "client":
        async with raw_ws_server(headers=peer_headers) as srv:
            transport, listener = await connect(listener_factory, srv.url, **kwargs)
            peer = await srv.accept()
            try:
                yield peer, listener, transport
            finally:
                transport.disconnect()
                if check_clean:
                    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
                else:
                    await wait_disconnected_any(transport)
    else:
        assert picows_role == "server", picows_role
        async with picows_server(listener_factory, **kwargs) as srv:
            async with raw_ws_client(srv.port, headers=peer_headers) as peer:
                listener = await srv.next_listener()
                yield peer, listener, listener.transport
