"""Messages through real sockets: our client and server, each against both libraries."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.exceptions

from picows.websockets.asyncio.client import ClientConnection, connect
from picows.websockets.exceptions import ConcurrencyError, ConnectionClosedError, ConnectionClosedOK
from picows.websockets.protocol import State
from support.net import tcp_server
from support.raw_ws import raw_server_handshake
from support.ws_api import TIMEOUT, echo, our_server, their_server

SERVERS = ["ours", "websockets"]


@contextlib.asynccontextmanager
async def server_of(kind: str, handler: Any = echo, **kwargs: Any) -> AsyncIterator[str]:
    factory = our_server if kind == "ours" else their_server
    async with factory(handler, **kwargs) as url:
        yield url


@pytest.mark.parametrize("server", SERVERS)
async def test_echo_types(server: str) -> None:
    async with server_of(server) as url, connect(url, proxy=None) as ws:
        for message in ["", "héllo", "x" * 70000, b"", b"\x00\xff" * 40000, bytearray(b"ba"), memoryview(b"mv")]:
            await ws.send(message)
            expected = message if isinstance(message, str) else bytes(message)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == expected
        await ws.send("text as binary", text=False)
        assert await ws.recv() == b"text as binary"
        await ws.send(b"bytes as text", text=True)
        assert await ws.recv() == "bytes as text"
        await ws.send("abc")
        assert await ws.recv(decode=False) == b"abc"
        await ws.send(b"abc")
        assert await ws.recv(decode=True) == "abc"


@pytest.mark.parametrize("server", SERVERS)
async def test_fragmented_send_and_receive(server: str) -> None:
    async def agen() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c"):
            await asyncio.sleep(0)
            yield part

    async with server_of(server) as url, connect(url, proxy=None) as ws:
        await ws.send(["spl", "it ", "é"])
        assert await ws.recv() == "split é"
        await ws.send(agen())
        assert await ws.recv() == b"abc"
        await ws.send([])  # nothing is sent
        await ws.send("after")
        assert await ws.recv() == "after"
        with pytest.raises(TypeError):
            await ws.send({"a": "b"})
        with pytest.raises(TypeError):
            await ws.send(42)


async def test_recv_streaming_joins_split_utf8_character() -> None:
    """A 2-byte character split across two frames comes out whole from recv_streaming."""
    euro = "€".encode()

    async def handler(ws: Any) -> None:
        await ws.send([euro[:1], euro[1:] + b"!"], text=True)
        await ws.wait_closed()

    async with their_server(handler) as url, connect(url, proxy=None) as ws:
        parts = [part async for part in ws.recv_streaming()]
        assert "".join(parts) == "€!"


@pytest.mark.parametrize("server", SERVERS)
async def test_recv_streaming_yields_fragments(server: str) -> None:
    async def handler(ws: Any) -> None:
        await ws.send(["one", "two", "three"])
        await ws.send(b"whole")
        await ws.wait_closed()

    async with server_of(server, handler) as url, connect(url, proxy=None) as ws:
        # websockets ends a fragmented message with an empty final frame: it is a fragment too.
        assert [p async for p in ws.recv_streaming()] in (["one", "two", "three"], ["one", "two", "three", ""])
        assert [p async for p in ws.recv_streaming()] == [b"whole"]


@pytest.mark.parametrize("server", SERVERS)
async def test_async_for_ends_on_normal_close(server: str) -> None:
    async def handler(ws: Any) -> None:
        for i in range(3):
            await ws.send(str(i))
        await ws.close(1000, "done")

    async with server_of(server, handler) as url, connect(url, proxy=None) as ws:
        assert [m async for m in ws] == ["0", "1", "2"]
        assert ws.state is State.CLOSED or ws.state == State.CLOSED
        assert (ws.close_code, ws.close_reason) == (1000, "done")
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.recv()
        assert isinstance(info.value, websockets.exceptions.ConnectionClosedOK)
        assert info.value.rcvd.code == 1000 and info.value.rcvd_then_sent is True
        with pytest.raises(ConnectionClosedOK):
            await ws.send("late")


@pytest.mark.parametrize("server", SERVERS)
async def test_error_close_raises_connection_closed_error(server: str) -> None:
    async def handler(ws: Any) -> None:
        await ws.close(4001, "app error")

    async with server_of(server, handler) as url:
        ws = await connect(url, proxy=None)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert info.value.rcvd.code == 4001 and str(info.value).startswith("received 4001 (private use) app error")
        with pytest.raises(ConnectionClosedError):
            async for _ in ws:
                pass


async def test_async_for_stays_ended_after_an_error() -> None:
    # As websockets' async generator: once the iteration raised, the same iterator yields nothing more.
    async with our_server() as url, connect(url, proxy=None) as ws:
        iterator = ws.__aiter__()
        first = asyncio.ensure_future(iterator.__anext__())
        await asyncio.sleep(0)
        with pytest.raises(ConcurrencyError):
            await ws.recv()  # the iteration is receiving
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        await ws.send("after")
        with pytest.raises(StopAsyncIteration):
            await iterator.__anext__()  # ended by the cancellation
        # A new iteration receives (nothing was lost).
        assert await asyncio.wait_for(ws.__aiter__().__anext__(), TIMEOUT) == "after"


async def test_async_for_goes_through_an_overridden_recv() -> None:
    class Counting(ClientConnection):
        calls = 0

        async def recv(self, decode: bool | None = None) -> Any:
            Counting.calls += 1
            return await super().recv(decode)

    async with our_server() as url, connect(url, proxy=None, create_connection=Counting) as ws:
        await ws.send("one")
        async for message in ws:
            assert message == "one"
            break
        assert Counting.calls == 1


async def test_handler_exception_closes_1011() -> None:
    async def handler(ws: Any) -> None:
        raise RuntimeError("boom")

    async with our_server(handler) as url, upstream_client.connect(url) as ws:
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert info.value.rcvd.code == 1011


@pytest.mark.parametrize("server", SERVERS)
async def test_ping_returns_latency(server: str) -> None:
    async with server_of(server) as url, connect(url, proxy=None) as ws:
        waiter = await ws.ping()
        latency = await asyncio.wait_for(waiter, TIMEOUT)
        assert latency >= 0 and ws.latency == latency
        waiter = await ws.ping("custom")
        with pytest.raises(ConcurrencyError):
            await ws.ping("custom")
        await asyncio.wait_for(waiter, TIMEOUT)
        await ws.pong(b"unsolicited")
        await ws.send("still open")
        assert await ws.recv() == "still open"


async def test_concurrent_recv_raises() -> None:
    async with our_server() as url, connect(url, proxy=None) as ws:
        first = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)
        with pytest.raises(ConcurrencyError):
            await ws.recv()
        await ws.send("x")
        assert await asyncio.wait_for(first, TIMEOUT) == "x"


async def test_cancelled_recv_loses_no_message() -> None:
    async with our_server() as url, connect(url, proxy=None) as ws:
        task = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await ws.send("kept")
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "kept"


async def test_recv_after_received_and_timed_out_waits() -> None:
    # Each wait re-arms the connection's last wake-up unless it was cancelled.
    async with our_server() as url, connect(url, proxy=None) as ws:
        for n in range(3):
            await ws.send(f"m{n}")
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == f"m{n}"
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.01)
        await ws.send("last")
        assert [m async for m in _take(ws, 1)] == ["last"]


async def _take(ws: Any, count: int) -> Any:
    async for message in ws:
        yield message
        count -= 1
        if count == 0:
            return


async def test_recv_resumes_in_its_own_task_and_context() -> None:
    # A message wakes a waiting recv from inside the protocol callback (no loop
    # iteration in between): the code after the await still runs in the receiving
    # task, with its context variables, and nothing of that context leaks out.
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    async with our_server() as url, connect(url, proxy=None) as ws:

        async def receive() -> tuple[Any, str, bool]:
            var.set("receiver")
            message = await ws.recv()
            return message, var.get(), asyncio.current_task() is task

        for _ in range(3):
            task = asyncio.ensure_future(receive())
            await asyncio.sleep(0)
            await ws.send("x")
            assert await asyncio.wait_for(task, TIMEOUT) == ("x", "receiver", True)
            assert var.get() == "unset"


@pytest.mark.parametrize("client", ["ours", "websockets"])
async def test_our_server_properties(client: str) -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: Any) -> None:
        seen.update(
            path=ws.request.path, state=ws.state, remote=ws.remote_address, local=ws.local_address,
            id=ws.id, ua=ws.request.headers.get("User-Agent"), status=ws.response.status_code,
        )
        await ws.send("hi")

    async with our_server(handler) as url:
        client_connect = connect if client == "ours" else upstream_client.connect
        kwargs = {"proxy": None}
        async with client_connect(url + "path?q=1", **kwargs) as ws:
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "hi"
            assert ws.remote_address[1] == int(url.rsplit(":", 1)[1].split("/")[0])
            assert ws.response.headers["Server"]
    assert seen["path"] == "/path?q=1" and seen["state"] == State.OPEN and seen["status"] == 101
    assert seen["remote"][0] == "127.0.0.1" and seen["ua"]


# (connect() arguments, the User-Agent values sent; None: each library's own default)
USER_AGENT_CASES: dict[str, tuple[dict[str, Any], list[str] | None]] = {
    "default": ({}, None),
    "none": ({"user_agent_header": None}, []),
    "custom": ({"user_agent_header": "mine/1"}, ["mine/1"]),
    "additional": ({"additional_headers": {"User-Agent": "extra/2"}}, ["extra/2"]),
    "additional-and-none": ({"additional_headers": {"user-agent": "extra/2"}, "user_agent_header": None}, ["extra/2"]),
    "additional-and-custom": (
        {"additional_headers": [("User-Agent", "extra/2")], "user_agent_header": "mine/1"},
        ["extra/2"],
    ),
}


@pytest.mark.parametrize("case", sorted(USER_AGENT_CASES))
async def test_user_agent_header_like_websockets(case: str) -> None:
    """user_agent_header / additional_headers send what websockets' client sends (None: no User-Agent)."""
    sent: dict[str, list[str]] = {}

    async def handler(ws: Any) -> None:
        sent[ws.request.headers["X-Client"]] = ws.request.headers.get_all("User-Agent")

    kwargs, expected = USER_AGENT_CASES[case]
    async with their_server(handler) as url:
        for name, client in (("ours", connect), ("websockets", upstream_client.connect)):
            given = kwargs.get("additional_headers", {})
            headers = [*(given.items() if isinstance(given, dict) else given), ("X-Client", name)]
            async with client(url, proxy=None, **{**kwargs, "additional_headers": headers}):
                pass
    ours, theirs = sent["ours"], sent["websockets"]
    if expected is None:
        # Each library's own default, once (the core's "picows/x Python/y" is never added).
        assert len(ours) == len(theirs) == 1
        assert ours[0].startswith("Python/") and "picows/" in ours[0]
        assert theirs[0].startswith("Python/") and "websockets/" in theirs[0]
    else:
        assert ours == theirs == expected


@pytest.mark.parametrize("server", SERVERS)
async def test_oversize_message_closes_1009(server: str) -> None:
    async def handler(ws: Any) -> None:
        await ws.send(b"x" * 2000)
        await ws.wait_closed()

    async with server_of(server, handler) as url:
        ws = await connect(url, proxy=None, max_size=1000)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert info.value.sent is not None and info.value.sent.code == 1009


async def test_oversize_fragmented_message_closes_1009() -> None:
    async def handler(ws: Any) -> None:
        await ws.send([b"x" * 600, b"y" * 600])
        await ws.wait_closed()

    # Uncompressed: the layer counts the fragments (compressed messages: tests/websockets/test_ws_compression.py).
    async with their_server(handler, compression=None) as url:
        ws = await connect(url, proxy=None, max_size=1000)
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert info.value.sent.code == 1009
        assert "exceeds limit of" in info.value.sent.reason  # websockets' wording


async def test_our_server_max_size_against_websockets_client() -> None:
    async with our_server(max_size=100) as url, upstream_client.connect(url) as ws:
        await ws.send(b"z" * 500)
        with pytest.raises(websockets.exceptions.ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert info.value.rcvd.code == 1009


async def test_our_server_knows_the_close_its_core_sent() -> None:
    """The core closes a frame over max_size by itself (1009): the handler's error says so (close_handshake)."""
    seen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handler(ws: Any) -> None:
        try:
            await ws.recv()
        except ConnectionClosedError as exc:
            seen.set_result(exc)

    async with our_server(handler, max_size=100) as url, upstream_client.connect(url) as ws:
        await ws.send(b"z" * 500)
        with pytest.raises(websockets.exceptions.ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        exc = await asyncio.wait_for(seen, TIMEOUT)
    assert exc.sent is not None and exc.sent.code == 1009 and "max allowed size" in exc.sent.reason
    assert str(exc).startswith("sent 1009 (message too big)")


async def test_invalid_utf8_closes_1007() -> None:
    """Invalid UTF-8 in a text frame closes with 1007, whole or fragmented."""
    import picows

    class Sender(picows.WSListener):
        def on_ws_connected(self, transport: Any) -> None:
            transport.send(picows.WSMsgType.TEXT, b"ok")
            transport.send(picows.WSMsgType.TEXT, b"\xc3", fin=False)
            transport.send(picows.WSMsgType.CONTINUATION, b"\x28", fin=True)

    server = await picows.ws_create_server(lambda request: Sender(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ws = await connect(f"ws://127.0.0.1:{port}/", proxy=None)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "ok"
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert info.value.sent.code == 1007
    finally:
        server.close()


async def test_keepalive_timeout_closes_1011() -> None:
    """A peer that never answers pings is closed with 1011 "keepalive ping timeout"."""
    import picows

    class Silent(picows.WSListener):
        def __init__(self) -> None:
            self.closed: list[Any] = []

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == picows.WSMsgType.CLOSE:
                self.closed.append((frame.get_close_code(), frame.get_close_message()))

    silent = Silent()
    server = await picows.ws_create_server(lambda request: silent, "127.0.0.1", 0, enable_auto_pong=False)
    port = server.sockets[0].getsockname()[1]
    try:
        ws = await connect(f"ws://127.0.0.1:{port}/", proxy=None, ping_interval=0.05, ping_timeout=0.05)
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert ws.close_code == 1006  # nothing received
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
        assert (info.value.sent.code, info.value.sent.reason) == (1011, "keepalive ping timeout")
        assert silent.closed == [(1011, b"keepalive ping timeout")]
    finally:
        server.close()


async def test_keepalive_measures_latency() -> None:
    async with our_server(ping_interval=None) as url:
        async with connect(url, proxy=None, ping_interval=0.02, ping_timeout=5) as ws:
            for _ in range(200):
                if ws.latency > 0:
                    break
                await asyncio.sleep(0.01)
            assert ws.latency > 0


async def test_close_timeout_bounds_unanswered_close() -> None:
    """A peer that never answers CLOSE: close() returns after close_timeout (abort)."""
    import picows

    class Mute(picows.WSListener):
        pass

    server = await picows.ws_create_server(lambda request: Mute(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ws = await connect(f"ws://127.0.0.1:{port}/", proxy=None, close_timeout=0.1)
        await asyncio.wait_for(ws.close(), TIMEOUT)
        assert ws.state == State.CLOSED and ws.close_code == 1006
    finally:
        server.close()


async def test_max_queue_pauses_reading() -> None:
    """With max_queue=2 the client stops reading; every message still arrives in order."""
    count = 50

    async def handler(ws: Any) -> None:
        for i in range(count):
            await ws.send(str(i))
        await ws.wait_closed()

    async with their_server(handler) as url, connect(url, proxy=None, max_queue=2) as ws:
        await asyncio.sleep(0.05)
        assert ws._reading_paused
        assert len(ws._messages) <= count
        got = [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(count)]
        assert got == [str(i) for i in range(count)]
        assert not ws._reading_paused


async def test_write_limit_backpressure() -> None:
    """send() waits while the write buffer is over write_limit, and all data arrives."""
    received = asyncio.Event()
    total = 0

    async def handler(ws: Any) -> None:
        nonlocal total
        await asyncio.sleep(0.1)  # let the client's buffer fill first
        async for message in ws:
            total += len(message)
            if total == 64 * 100_000:
                received.set()

    async with our_server(handler, max_size=None) as url:
        async with connect(url, proxy=None, write_limit=1024, max_size=None) as ws:
            for _ in range(64):
                await ws.send(b"x" * 100_000)
            await asyncio.wait_for(received.wait(), TIMEOUT)


async def test_broadcast_to_open_connections() -> None:
    from picows.websockets.asyncio.server import broadcast

    clients: list[Any] = []
    ready = asyncio.Event()

    async def handler(ws: Any) -> None:
        clients.append(ws)
        if len(clients) == 3:
            ready.set()
        await ws.wait_closed()

    async with our_server(handler) as url:
        conns = [await connect(url, proxy=None) for _ in range(3)]
        await asyncio.wait_for(ready.wait(), TIMEOUT)
        await conns[2].close()
        await asyncio.sleep(0.05)
        broadcast(clients, "to all")
        broadcast(clients, b"bytes", text=False)
        broadcast(clients, "as binary", text=False)
        for ws in conns[:2]:
            assert [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(3)] == ["to all", b"bytes", b"as binary"]
        with pytest.raises(TypeError):
            broadcast(clients, 42)
        for ws in conns[:2]:
            await ws.close()


async def test_nothing_is_delivered_after_a_violation() -> None:
    """Frames after invalid UTF-8 in the same read are dropped: the connection failed (1007)."""
    import picows

    class Sender(picows.WSListener):
        def on_ws_connected(self, transport: Any) -> None:
            transport.send(picows.WSMsgType.TEXT, b"before")
            transport.send(picows.WSMsgType.TEXT, b"\xff")
            transport.send(picows.WSMsgType.TEXT, b"after")

    server = await picows.ws_create_server(lambda request: Sender(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        ws = await connect(f"ws://127.0.0.1:{port}/", proxy=None)
        assert await asyncio.wait_for(ws.recv(), TIMEOUT) == "before"
        with pytest.raises(ConnectionClosedError) as info:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert info.value.sent.code == 1007 and info.value.sent.reason == "invalid start byte at position 0"
    finally:
        server.close()


async def test_peer_that_stops_reading_cannot_block_send_forever() -> None:
    """Keepalive fails (the pong never comes), then close_timeout aborts: the blocked send raises."""
    finished = asyncio.Event()

    async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await raw_server_handshake(reader, writer)
        await asyncio.wait_for(finished.wait(), TIMEOUT)

    async with tcp_server(never_reads) as port:
        ws = await connect(f"ws://127.0.0.1:{port}/", proxy=None, ping_interval=0.1, ping_timeout=0.1, close_timeout=0.1,
                           write_limit=1024)
        try:
            with pytest.raises(ConnectionClosedError):
                for _ in range(10_000):
                    await asyncio.wait_for(ws.send(b"x" * 65536), TIMEOUT)
            assert ws.state == State.CLOSED
        finally:
            finished.set()
