"""Interoperability with Node.js's ``ws`` package, in both roles.

``tests/interop/node/peer.js`` is the Node side (``ws`` pinned in ``tests/interop/node/package.json``,
installed once per session with ``npm ci`` into ``tests/interop/node/node_modules`` if
missing). Exchanged both ways: text, binary, empty, fragmented, large (1 MiB+)
messages, ping/pong with payloads, and a closing handshake with code and reason;
over ws:// and over wss:// (Node verifying picows' certificate against the test
CA, and picows verifying Node's; on every TLS path). Skipped, with the reason,
only when ``node``/``npm`` are not installed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import pytest

from picows import WSMsgType
from support import TIMEOUT
from support.conformance import server_app
from support.listeners import SnapshotListener
from support.node import PEER_TIMEOUT, node_command, node_process, read_json_line
from support.servers import connect
from support.tls import TLSCerts, client_ssl_context, server_ssl_context


@pytest.fixture(scope="session")
def node_peer() -> list[str]:
    """The command that runs peer.js; installs ``ws`` with npm the first time."""
    return node_command("peer.js")


async def _node_client_with_picows_server(node_peer: list[str], tls_certs: TLSCerts | None) -> None:
    """``ws`` client -> the reference echo server (reassembles and echoes whole messages)."""
    tls: dict[str, Any] = {"ssl": server_ssl_context(tls_certs)} if tls_certs else {}
    server = await server_app().start_server("127.0.0.1", 0, max_message_size=64 * 1024 * 1024, **tls)
    async with server:
        scheme, ca = ("wss", [tls_certs.ca_file]) if tls_certs else ("ws", [])
        url = f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        async with node_process([*node_peer, "client", url, *ca]) as proc:
            result = await read_json_line(proc)
            assert result["ok"], result
            assert result["steps"] == [
                "text", "binary", "empty", "fragmented-text", "fragmented-binary-1.5MiB", "binary-1.5MiB",
                "text-1MiB", "ping-pong",
            ]  # fmt: skip
            assert (result["close_code"], result["close_reason"]) == (4000, "bye from node")
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0


async def test_node_client_with_picows_server(node_peer: list[str]) -> None:
    await _node_client_with_picows_server(node_peer, None)


async def test_node_client_with_picows_server_over_wss(node_peer: list[str], tls_certs: TLSCerts) -> None:
    await _node_client_with_picows_server(node_peer, tls_certs)


async def _picows_client_with_node_server(node_peer: list[str], tls_certs: TLSCerts | None) -> None:
    cert_args = [tls_certs.cert_file, tls_certs.key_file] if tls_certs else []
    async with node_process([*node_peer, "server", *cert_args]) as proc:
        port = (await read_json_line(proc))["port"]
        if tls_certs:
            transport, listener = await connect(
                SnapshotListener, f"wss://127.0.0.1:{port}/", ssl_context=client_ssl_context(tls_certs)
            )
            assert transport.is_secure
        else:
            transport, listener = await connect(SnapshotListener, f"ws://127.0.0.1:{port}/")
        ssl_object = transport.underlying_transport.get_extra_info("ssl_object")
        tls_version = ssl_object.version() if ssl_object is not None else None

        async def get() -> tuple[int, bool, bytes]:
            s = await listener.get(PEER_TIMEOUT)
            return s["msg_type"], s["fin"], s["payload"]

        # the greeting: a text, a binary message in three fragments (delivered as frames); the PING
        # in between is answered by picows' auto-pong and not delivered
        assert await get() == (WSMsgType.TEXT, True, "hello from node \u2713".encode())
        assert [await get() for _ in range(3)] == [
            (WSMsgType.BINARY, False, b"AAA"), (WSMsgType.CONTINUATION, False, b"BBB"),
            (WSMsgType.CONTINUATION, True, b"CCC"),
        ]  # fmt: skip
        sent: list[tuple[bool, bytes]] = []

        async def roundtrip(msg_type: WSMsgType, data: bytes, fragment: int | None = None) -> None:
            if fragment is None:
                transport.send(msg_type, data)
            else:
                pieces = [data[i : i + fragment] for i in range(0, len(data), fragment)] or [b""]
                for i, piece in enumerate(pieces):
                    transport.send(
                        msg_type if i == 0 else WSMsgType.CONTINUATION, piece, fin=i == len(pieces) - 1
                    )
            sent.append((msg_type == WSMsgType.BINARY, data))
            # ws reassembles and echoes the whole message (maybe in several frames of its own)
            got = b""
            for i in range(10000):
                t, fin, payload = await get()
                assert t == (msg_type if i == 0 else WSMsgType.CONTINUATION), (i, t)
                got += payload
                if fin:
                    break
            assert got == data

        await roundtrip(WSMsgType.TEXT, "hello from picows \u2713".encode())
        await roundtrip(WSMsgType.BINARY, os.urandom(300))
        await roundtrip(WSMsgType.BINARY, b"")
        await roundtrip(WSMsgType.TEXT, "fragmented \u00e9 text from picows".encode(), fragment=5)
        await roundtrip(WSMsgType.BINARY, os.urandom(1536 * 1024))
        await roundtrip(WSMsgType.BINARY, os.urandom(2 * 1024 * 1024 + 17), fragment=65536)
        transport.send_ping(b"ping from picows")
        assert await get() == (WSMsgType.PONG, True, b"ping from picows")
        transport.send_close(4001, b"bye from picows")
        s = await listener.get(PEER_TIMEOUT)
        assert (s["msg_type"], s["close_code"], s["close_message"]) == (
            WSMsgType.CLOSE,
            4001,
            b"bye from picows",
        )
        transport.disconnect()
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)

        result = await read_json_line(proc)
        assert result["ok"] and result["event"] == "closed", result
        assert (result["close_code"], result["close_reason"]) == (4001, "bye from picows")
        assert result["pongs"] == ["ping from node"]  # picows' auto-pong
        assert result["pings"] == ["ping from picows"]
        assert [(m["binary"], m["size"], m["sha1"]) for m in result["messages"]] == [
            (binary, len(data), hashlib.sha1(data).hexdigest()) for binary, data in sent
        ]
        assert result["headers"]["sec-websocket-version"] == "13"
        assert result["tls_version"] == tls_version  # Node saw the same TLS session (None over ws://)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0


async def test_picows_client_with_node_server(node_peer: list[str]) -> None:
    await _picows_client_with_node_server(node_peer, None)


async def test_picows_client_with_node_server_over_wss(node_peer: list[str], tls_certs: TLSCerts) -> None:
    await _picows_client_with_node_server(node_peer, tls_certs)
