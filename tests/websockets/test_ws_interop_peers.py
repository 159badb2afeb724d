"""picows.websockets against Node's ``ws`` (both roles) and headless Chromium (server role).

Reuses the peers of the core's interop tests: ``tests/interop/node/peer.js``
(``support/node.py``) and ``tests/interop/browser/interop.html``
(``support/browser.py``); they skip, with the reason, when node/npm or
Chromium are not installed.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from picows.websockets.asyncio.client import connect
from picows.websockets.asyncio.server import serve
from picows.websockets.exceptions import ConnectionClosedError
from support.browser import find_chromium, run_page
from support.node import PEER_TIMEOUT, node_command, node_process, read_json_line
from support.tls import TLSCerts, client_ssl_context, server_ssl_context
from support.ws_api import TIMEOUT, echo, url_of

BIG = 64 * 1024 * 1024


@pytest.fixture(scope="session")
def node_peer() -> list[str]:
    return node_command("peer.js")


@pytest.fixture(scope="session")
def chromium() -> str:
    return find_chromium()


def tls_options(tls_certs: TLSCerts | None) -> dict[str, Any]:
    return {"ssl": server_ssl_context(tls_certs)} if tls_certs else {}


async def test_node_client_with_our_server(node_peer: list[str]) -> None:
    await _node_client_with_our_server(node_peer, None)


async def test_node_client_with_our_server_over_wss(node_peer: list[str], tls_certs: TLSCerts) -> None:
    await _node_client_with_our_server(node_peer, tls_certs)


async def _node_client_with_our_server(node_peer: list[str], tls_certs: TLSCerts | None) -> None:
    scheme = "wss" if tls_certs else "ws"
    ca = [tls_certs.ca_file] if tls_certs else []  # node verifies our certificate against the test CA
    async with serve(echo, "127.0.0.1", 0, max_size=BIG, **tls_options(tls_certs)) as server:
        async with node_process([*node_peer, "client", url_of(server, scheme), *ca]) as proc:
            result = await read_json_line(proc)
            assert result["ok"], result
            assert result["steps"] == [
                "text", "binary", "empty", "fragmented-text", "fragmented-binary-1.5MiB", "binary-1.5MiB",
                "text-1MiB", "ping-pong",
            ]  # fmt: skip
            assert (result["close_code"], result["close_reason"]) == (4000, "bye from node")
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0


async def test_our_client_with_node_server(node_peer: list[str]) -> None:
    await _our_client_with_node_server(node_peer, None)


async def test_our_client_with_node_server_over_wss(node_peer: list[str], tls_certs: TLSCerts) -> None:
    await _our_client_with_node_server(node_peer, tls_certs)


async def _our_client_with_node_server(node_peer: list[str], tls_certs: TLSCerts | None) -> None:
    scheme = "wss" if tls_certs else "ws"
    cert = [tls_certs.cert_file, tls_certs.key_file] if tls_certs else []
    tls = {"ssl": client_ssl_context(tls_certs)} if tls_certs else {}
    async with node_process([*node_peer, "server", *cert]) as proc:
        port = (await read_json_line(proc))["port"]
        sent: list[tuple[bool, bytes]] = []
        async with connect(f"{scheme}://127.0.0.1:{port}/", proxy=None, max_size=BIG, **tls) as ws:
            # the greeting: a text, a binary message in three fragments (one message), a PING
            assert await asyncio.wait_for(ws.recv(), PEER_TIMEOUT) == "hello from node \u2713"
            assert await asyncio.wait_for(ws.recv(), PEER_TIMEOUT) == b"AAABBBCCC"
            messages: list[Any] = [
                "hello from picows \u2713", os.urandom(300), b"", ["fragmented ", "\u00e9 text"],
                os.urandom(1536 * 1024), [os.urandom(65536) for _ in range(33)],
            ]  # fmt: skip
            for message in messages:
                await ws.send(message)
                if isinstance(message, list):
                    whole: Any = "".join(message) if isinstance(message[0], str) else b"".join(message)
                else:
                    whole = message
                data = whole.encode() if isinstance(whole, str) else whole
                sent.append((not isinstance(whole, str), data))
                assert await asyncio.wait_for(ws.recv(), PEER_TIMEOUT) == whole
            latency = await asyncio.wait_for(await ws.ping(b"ping from picows"), PEER_TIMEOUT)
            assert latency >= 0
            await ws.close(4001, "bye from picows")
        result = await read_json_line(proc)
        assert result["ok"] and result["event"] == "closed", result
        assert (result["close_code"], result["close_reason"]) == (4001, "bye from picows")
        assert result["pongs"] == ["ping from node"]
        assert result["pings"] == ["ping from picows"]
        assert [(m["binary"], m["size"], m["sha1"]) for m in result["messages"]] == [
            (binary, len(data), hashlib.sha1(data).hexdigest()) for binary, data in sent
        ]
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0


async def test_chromium_with_our_server(chromium: str, tmp_path: Path) -> None:
    await _chromium_with_our_server(chromium, tmp_path, None)


async def test_chromium_with_our_server_over_wss(chromium: str, tmp_path: Path, tls_certs: TLSCerts) -> None:
    await _chromium_with_our_server(chromium, tmp_path, tls_certs)


async def _chromium_with_our_server(chromium: str, tmp_path: Path, tls_certs: TLSCerts | None) -> None:
    seen: dict[str, Any] = {}

    async def greeting_echo(ws: Any) -> None:
        # Chromium offers permessage-deflate; compression="deflate" (the default) accepts it.
        seen["deflate"] = ws._transport.permessage_deflate is not None
        seen["offer"] = ws.request.headers.get("Sec-WebSocket-Extensions", "")
        await ws.send(["greeting ", "in fragments", " \u2713"])
        pong = await ws.ping(b"are you there")
        seen["messages"] = 0
        try:
            async for message in ws:
                seen["messages"] += 1
                await ws.send(message)
        except ConnectionClosedError as exc:  # 4000 is not an "OK" close code, as in websockets
            seen["error_rcvd"] = exc.rcvd.code if exc.rcvd else None
        seen["pong"] = pong.done()
        seen["close"] = (ws.close_code, ws.close_reason)

    async with serve(greeting_echo, "127.0.0.1", 0, max_size=BIG, **tls_options(tls_certs)) as server:
        report = await run_page(chromium, tmp_path, url_of(server, "wss" if tls_certs else "ws"), tls_certs)
        for _ in range(100):  # the handler finishes once the closing handshake is done
            if "close" in seen:
                break
            await asyncio.sleep(0.05)
    assert report["ok"], report
    assert report["steps"][0] == "fragmented-greeting" and len(report["steps"]) == 6
    assert (report["close_code"], report["close_reason"], report["was_clean"]) == (4000, "bye from the browser", True)
    assert seen.pop("offer").startswith("permessage-deflate")
    assert seen == {
        "deflate": True, "messages": 5, "error_rcvd": 4000, "pong": True, "close": (4000, "bye from the browser"),
    }  # fmt: skip


@pytest.fixture(scope="session")
def deflate_peer() -> list[str]:
    return node_command("deflate_peer.js")


async def test_node_deflate_client_with_our_server(deflate_peer: list[str]) -> None:
    """``ws`` with perMessageDeflate against serve()'s default compression: every message compressed."""
    async with serve(echo, "127.0.0.1", 0, max_size=BIG) as server:
        async with node_process([*deflate_peer, "client", url_of(server)]) as proc:
            result = await read_json_line(proc)
            assert result["ok"], result
            assert result["extensions"].startswith("permessage-deflate"), result
            assert len(result["steps"]) == 13
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0


async def test_our_client_with_node_deflate_server(deflate_peer: list[str]) -> None:
    doc = '{"price": "101.5", "side": "buy"}, ' * 3000
    messages: list[Any] = [doc, doc.encode(), "", ["frag", "mented ", doc], "\u00e9" * 200000]
    async with node_process([*deflate_peer, "server"]) as proc:
        port = (await read_json_line(proc))["port"]
        async with connect(f"ws://127.0.0.1:{port}/", proxy=None, max_size=BIG) as ws:
            assert ws._transport.permessage_deflate is not None
            for message in messages:
                await ws.send(message)
                whole = "".join(message) if isinstance(message, list) else message
                assert await asyncio.wait_for(ws.recv(), PEER_TIMEOUT) == whole
        result = await read_json_line(proc)
        assert result["ok"] and result["messages"] == len(messages), result
        assert result["offer"] == "permessage-deflate; client_max_window_bits"
        assert result["answer"].startswith("permessage-deflate")
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
