"""picows.websockets against Node's ``ws`` (both roles) and headless Chromium (server role).

Reuses the peers of the core's interop tests: ``tests/node/peer.js`` and
``tests/browser/interop.html`` (their fixtures skip, with the reason, when
node/npm or Chromium are not installed).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from ws_support import TIMEOUT, echo, url_of

from picows.websockets.asyncio.client import connect
from picows.websockets.asyncio.server import serve
from picows.websockets.exceptions import ConnectionClosedError
from test_interop_browser import BROWSER_TIMEOUT, CHROMIUM_FLAGS, chromium, page_server  # noqa: F401
from test_interop_node import PEER_TIMEOUT, node_peer, node_process, read_json_line  # noqa: F401

BIG = 64 * 1024 * 1024


def tls_options(scheme: str, tls_certs: Any) -> dict[str, Any]:
    from fixtures_net import server_ssl_context

    return {"ssl": server_ssl_context(tls_certs)} if scheme == "wss" else {}


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_node_client_with_our_server(
    node_peer: list[str], scheme: str, tls_certs: Any, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", tls_certs.ca_file)  # node trusts the test CA
    async with serve(echo, "127.0.0.1", 0, max_size=BIG, **tls_options(scheme, tls_certs)) as server:
        async with node_process([*node_peer, "client", url_of(server, scheme)]) as proc:
            result = await read_json_line(proc)
            assert result["ok"], result
            assert result["steps"] == [
                "text", "binary", "empty", "fragmented-text", "fragmented-binary-1.5MiB", "binary-1.5MiB",
                "text-1MiB", "ping-pong",
            ]  # fmt: skip
            assert (result["close_code"], result["close_reason"]) == (4000, "bye from node")
            assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0


async def test_our_client_with_node_server(node_peer: list[str]) -> None:  # noqa: F811
    async with node_process([*node_peer, "server"]) as proc:
        port = (await read_json_line(proc))["port"]
        sent: list[tuple[bool, bytes]] = []
        async with connect(f"ws://127.0.0.1:{port}/", proxy=None, max_size=BIG) as ws:
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


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_chromium_with_our_server(chromium: str, tmp_path: Path, scheme: str, tls_certs: Any) -> None:  # noqa: F811
    seen: dict[str, Any] = {}

    async def greeting_echo(ws: Any) -> None:
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

    result: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    # wss: the test CA is not in Chromium's trust store, so certificate errors are ignored.
    flags = [*CHROMIUM_FLAGS, "--ignore-certificate-errors"] if scheme == "wss" else CHROMIUM_FLAGS
    async with serve(greeting_echo, "127.0.0.1", 0, max_size=BIG, **tls_options(scheme, tls_certs)) as server:
        async with page_server(url_of(server, scheme), result) as page_url:
            log = (tmp_path / "chromium.log").open("wb")
            proc = await asyncio.create_subprocess_exec(
                chromium, *flags, f"--user-data-dir={tmp_path / 'profile'}", page_url,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
            try:
                await asyncio.wait([result, asyncio.ensure_future(proc.wait())], timeout=BROWSER_TIMEOUT,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                if not result.done():
                    log.flush()
                    pytest.fail(f"no result from Chromium:\n{(tmp_path / 'chromium.log').read_text()[-3000:]}")
            finally:
                if proc.returncode is None:
                    proc.terminate()
                    await asyncio.wait_for(proc.wait(), TIMEOUT)
                log.close()
        for _ in range(100):  # the handler finishes once the closing handshake is done
            if "close" in seen:
                break
            await asyncio.sleep(0.05)
    report = result.result()
    assert report["ok"], report
    assert report["steps"][0] == "fragmented-greeting" and len(report["steps"]) == 6
    assert (report["close_code"], report["close_reason"], report["was_clean"]) == (4000, "bye from the browser", True)
    assert seen == {"messages": 5, "error_rcvd": 4000, "pong": True, "close": (4000, "bye from the browser")}
