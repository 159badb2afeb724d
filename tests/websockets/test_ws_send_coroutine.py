"""``send()`` is a coroutine function, as websockets' is: lazily run, usable as a task, cancellable.

Code written for websockets relies on this beyond ``await ws.send(...)``:
adapters ask ``inspect.iscoroutinefunction(ws.send)`` whether to await it,
tasks and ``gather`` take the coroutine. Each test runs our client and
websockets' client against the same echo server and expects the same result.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets.asyncio.client as upstream_client
import websockets.exceptions as upstream_exceptions

from picows.websockets.asyncio.client import connect
from support.ws_api import TIMEOUT, our_server

CLIENTS = ["ours", "websockets"]


@contextlib.asynccontextmanager
async def client_of(kind: str, url: str, **kwargs: Any) -> AsyncIterator[Any]:
    factory: Any = connect if kind == "ours" else upstream_client.connect
    async with factory(url, proxy=None, compression=None, **kwargs) as ws:
        yield ws


async def received(ws: Any, count: int) -> list[Any]:
    return [await asyncio.wait_for(ws.recv(), TIMEOUT) for _ in range(count)]


@pytest.mark.parametrize("client", CLIENTS)
async def test_send_is_a_coroutine_to_asyncio(client: str) -> None:
    async with our_server() as url, client_of(client, url) as ws:
        assert inspect.iscoroutinefunction(ws.send) and asyncio.iscoroutinefunction(ws.send)
        sending = ws.send("x")
        assert asyncio.iscoroutine(sending)
        assert isinstance(sending, collections.abc.Coroutine)
        await sending
        assert await received(ws, 1) == ["x"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_nothing_is_sent_before_it_is_awaited(client: str) -> None:
    async with our_server() as url, client_of(client, url) as ws:
        never = ws.send("never")
        never.close()  # as a coroutine dropped unawaited, without the warning
        await ws.send("awaited")
        assert await received(ws, 1) == ["awaited"]
        await ws.send("last")
        assert await received(ws, 1) == ["last"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_send_run_as_a_task_goes_out_when_the_task_runs(client: str) -> None:
    async with our_server() as url, client_of(client, url) as ws:
        task = asyncio.create_task(ws.send("in a task"))
        await ws.send("awaited first")  # no suspension: sent before the task's first step
        await asyncio.wait_for(task, TIMEOUT)
        assert await received(ws, 2) == ["awaited first", "in a task"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_gather_and_wait_for_accept_sends(client: str) -> None:
    async with our_server() as url, client_of(client, url) as ws:
        await asyncio.gather(ws.send("one"), ws.send(b"two"))
        await asyncio.wait_for(ws.send("three"), TIMEOUT)
        assert await received(ws, 3) == ["one", b"two", "three"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_awaiting_a_send_twice_is_an_error(client: str) -> None:
    async with our_server() as url, client_of(client, url) as ws:
        sending = ws.send("once")
        await sending
        with pytest.raises(RuntimeError, match="cannot reuse already awaited coroutine"):
            await sending
        assert await received(ws, 1) == ["once"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_throw_into_an_unstarted_send_raises_and_sends_nothing(client: str) -> None:
    async with our_server() as url, client_of(client, url) as ws:
        sending = ws.send("thrown away")
        with pytest.raises(KeyError):
            sending.throw(KeyError("k"))
        await ws.send("after")
        assert await received(ws, 1) == ["after"]


@pytest.mark.parametrize("client", CLIENTS)
async def test_errors_come_out_of_the_await(client: str) -> None:
    async with our_server() as url, client_of(client, url) as ws:
        sending = ws.send(42)  # no error before it runs
        with pytest.raises(TypeError):
            await sending
        await ws.close()
        closed = ws.send("late")
        with pytest.raises(upstream_exceptions.ConnectionClosedOK):  # ours subclasses it
            await closed


async def test_a_send_waiting_for_the_buffer_can_be_cancelled() -> None:
    """Cancelling a send that waits for the write buffer to drain ends its task; the connection goes on."""
    release = asyncio.Event()

    async def slow_reader(ws: Any) -> None:
        await asyncio.wait_for(release.wait(), TIMEOUT)
        async for _ in ws:
            pass

    async with our_server(slow_reader, max_size=None) as url:
        async with connect(url, proxy=None, write_limit=1024, max_size=None) as ws:
            tasks = [asyncio.create_task(ws.send(b"x" * 1_000_000)) for _ in range(16)]
            for _ in range(100):  # until the write buffer is over its limit and a send waits
                if any(not task.done() for task in tasks):
                    break
                await asyncio.sleep(0.01)
            waiting = [task for task in tasks if not task.done()]
            assert waiting, "no send had to wait for the write buffer"
            for task in waiting:
                task.cancel()
            results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), TIMEOUT)
            assert any(isinstance(result, asyncio.CancelledError) for result in results)
            release.set()
            await ws.send("still usable")
