"""Large frames sent while the peer does not read: byte-exact on every transport path.

The compiled server writes a large unmasked payload from where it is, beside its
header (``sendmsg`` when it may write to the socket itself, else aiofastnet's
``writelines``: under TLS, or on its plain transport once that holds data),
instead of copying it into a frame first; what the socket cannot take at once is
copied by whoever queues it. These tests make the queueing happen (the receiver pauses
reading) and change the sender's buffer after every send.
"""

from __future__ import annotations

import asyncio
import platform
from typing import Any

import pytest

import picows
from picows import WSMsgType
from support import TIMEOUT
from support.internals import aiofastnet_available, force_net_layer
from support.listeners import CollectingListener
from support.servers import ROLES, ws_server
from support.tls import client_ssl_context, server_ssl_context

# Around the compiled backend's GATHER_WRITE_MIN (64 KiB); then enough to fill the socket buffers (the
# 3 MiB frames), so that the last two are sent while the transport already holds data.
SIZES = [64 * 1024 - 1, 64 * 1024, 100_000, 3 * 1024 * 1024, 3 * 1024 * 1024 + 7, 200_000, 64 * 1024 - 1]


class _Listener(CollectingListener):
    """Also counts the transport's backpressure signals."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = 0

    def pause_writing(self) -> None:
        self.paused += 1


async def _send_while_the_peer_is_paused(
    sender_role: str, ssl_pair: tuple[Any, Any] | None, *, expect_backpressure: bool, aiofastnet: bool | None = None
) -> None:
    server_listeners: list[_Listener] = []

    def factory(request: Any) -> _Listener:
        server_listeners.append(_Listener())
        return server_listeners[-1]

    server_ssl, client_ssl = ssl_pair if ssl_pair is not None else (None, None)
    async with ws_server(factory, ssl=server_ssl, max_frame_size=8 * 1024 * 1024) as url:
        client, client_listener = await asyncio.wait_for(
            picows.ws_connect(_Listener, url, ssl_context=client_ssl, max_frame_size=8 * 1024 * 1024),
            TIMEOUT,
        )
        receiver: Any = None
        try:
            await asyncio.wait_for(server_listeners[0].connected.wait(), TIMEOUT)
            server = server_listeners[0].transport
            assert server is not None
            sender, sender_listener, receiver, receiver_listener = (
                (server, server_listeners[0], client, client_listener)
                if sender_role == "server"
                else (client, client_listener, server, server_listeners[0])
            )
            if aiofastnet is not None:
                assert (type(sender.underlying_transport).__module__.split(".")[0] == "aiofastnet") is aiofastnet
            receiver.underlying_transport.pause_reading()
            source = bytearray(max(SIZES))
            expected = []
            for i, size in enumerate(SIZES):
                source[:size] = bytes([i + 1]) * size
                source[size // 2] = 0xEE
                sender.send(WSMsgType.BINARY, memoryview(source)[:size])
                expected.append(bytes(source[:size]))
                source[:size] = b"\xff" * size  # what was sent must not change with the buffer
            if expect_backpressure:
                # Megabytes the peer does not read: the transport holds what the socket could not take.
                # (asyncio's own TLS transports may keep all of it below their watermark check.)
                assert sender_listener.paused > 0
            receiver.underlying_transport.resume_reading()
            for want in expected:
                msg_type, fin, _rsv1, payload = await receiver_listener.get()
                assert (msg_type, fin, len(payload)) == (WSMsgType.BINARY, True, len(want))
                assert payload == want
            sender.send(WSMsgType.TEXT, b"after")
            assert await receiver_listener.get() == (WSMsgType.TEXT, True, False, b"after")
        finally:
            if receiver is not None:
                receiver.underlying_transport.resume_reading()
            client.disconnect()
            await asyncio.wait_for(client.wait_disconnected(), TIMEOUT)


@pytest.mark.parametrize(
    "net_layer",
    [
        "stock",
        pytest.param(
            "aiofastnet",
            marks=pytest.mark.skipif(
                not aiofastnet_available(),
                reason=f"aiofastnet is not installable on {platform.python_implementation()}",
            ),
        ),
    ],
)
@pytest.mark.parametrize("sender_role", ROLES)
async def test_large_frames_to_a_paused_peer_over_tcp(
    sender_role: str, net_layer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiofastnet's plain transport: our direct sendmsg() first, its writelines once it holds data.
    force_net_layer(monkeypatch, net_layer == "aiofastnet")
    await _send_while_the_peer_is_paused(
        sender_role, None, expect_backpressure=True, aiofastnet=net_layer == "aiofastnet"
    )


@pytest.mark.parametrize("sender_role", ROLES)
async def test_large_frames_to_a_paused_peer_over_tls(sender_role: str, tls_certs: Any, tls_path: str) -> None:
    await _send_while_the_peer_is_paused(
        sender_role,
        (server_ssl_context(tls_certs), client_ssl_context(tls_certs)),
        expect_backpressure=tls_path == "aiofastnet",
    )
