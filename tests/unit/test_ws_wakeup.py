"""What a waiting ``recv`` of picows.websockets awaits: ``_Wakeup``, driven by asyncio's own Task.

It replaces an ``asyncio.Future`` per message and wakes the waiting task at
once when no task is running (a protocol callback), later otherwise. These
tests drive it directly, on the loaded backend's build (compiled or pure).
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any

import pytest

from support.internals import ws_messages_module

Wakeup = ws_messages_module()._Wakeup
where: contextvars.ContextVar[str] = contextvars.ContextVar("where", default="outside")


async def start_waiting(wakeup: Any, log: list[Any]) -> asyncio.Task[None]:
    """A task that records what it sees once ``wakeup`` let it go on; returned once it waits."""

    async def waiter() -> None:
        where.set("task")
        try:
            await wakeup
        except asyncio.CancelledError as exc:
            log.append(("cancelled", exc.args))
            raise
        log.append(("woken", where.get(), asyncio.current_task() is task))

    task = asyncio.ensure_future(waiter())
    for _ in range(3):
        await asyncio.sleep(0)
    assert wakeup.done() is False and log == []
    return task


@pytest.mark.all_loops
async def test_wake_outside_a_task_runs_the_step_at_once_in_its_context() -> None:
    loop = asyncio.get_running_loop()
    wakeup, log = Wakeup(loop), list[Any]()
    task = await start_waiting(wakeup, log)
    seen_in_callback: list[Any] = []

    done = loop.create_future()

    def protocol_callback() -> None:  # as a message arriving in data_received: no task runs
        wakeup.wake(True)
        seen_in_callback.extend(log)
        done.set_result(None)

    loop.call_soon(protocol_callback)
    await done
    assert seen_in_callback == [("woken", "task", True)]  # before wake returned
    assert where.get() == "outside"  # the task's context did not leak out
    await asyncio.wait_for(task, 5)
    assert wakeup.done() and not wakeup.cancelled() and wakeup.result() is None


@pytest.mark.all_loops
async def test_wake_inside_a_task_falls_back_to_a_later_step() -> None:
    wakeup, log = Wakeup(asyncio.get_running_loop()), list[Any]()
    task = await start_waiting(wakeup, log)
    wakeup.wake(True)  # this test is a task: running another one here is impossible
    assert log == []
    await asyncio.wait_for(task, 5)
    assert log == [("woken", "task", True)]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="create_task(context=) exists from Python 3.11")
async def test_wake_inside_the_tasks_own_context_falls_back_to_a_later_step() -> None:
    # Running the step would enter the task's context a second time: refused, so scheduled instead.
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    wakeup = Wakeup(loop)

    async def wait() -> str:
        await wakeup
        return "woken"

    task = loop.create_task(wait(), context=context)  # type: ignore[call-arg,unused-ignore]
    for _ in range(3):
        await asyncio.sleep(0)
    done = loop.create_future()

    def protocol_callback() -> None:
        context.run(wakeup.wake, True)
        done.set_result(task.done())

    loop.call_soon(protocol_callback)
    assert await asyncio.wait_for(done, 5) is False  # not run in place
    assert await asyncio.wait_for(task, 5) == "woken"


async def test_wake_later_wakes_in_a_later_iteration() -> None:
    loop = asyncio.get_running_loop()
    wakeup, log = Wakeup(loop), list[Any]()
    task = await start_waiting(wakeup, log)
    loop.call_soon(wakeup.wake, False)
    loop.call_soon(lambda: log.append("after wake(False)"))
    await asyncio.wait_for(task, 5)
    assert log == ["after wake(False)", ("woken", "task", True)]
    wakeup.wake(True)  # a second wake-up is ignored
    wakeup.wake(False)


async def test_cancelling_the_waiting_task_cancels_the_wakeup() -> None:
    wakeup, log = Wakeup(asyncio.get_running_loop()), list[Any]()
    task = await start_waiting(wakeup, log)
    task.cancel("stop")
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert log == [("cancelled", ("stop",))]
    assert wakeup.cancelled() and wakeup.done()
    with pytest.raises(asyncio.CancelledError):
        wakeup.result()
    wakeup.wake(True)  # a message arriving after the cancellation wakes nobody
    assert wakeup.cancel() is False


async def test_timeout_around_a_wait_raises_timeout_error() -> None:
    wakeup = Wakeup(asyncio.get_running_loop())

    async def wait() -> None:
        await wakeup

    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(wait(), 0.01)
    assert wakeup.cancelled()


async def test_done_before_awaited_completes_without_waiting() -> None:
    loop = asyncio.get_running_loop()
    wakeup = Wakeup(loop)
    wakeup.wake(True)  # nobody waits yet
    assert wakeup.done()
    assert await asyncio.wait_for(_await(wakeup), 5) is None
    called: list[Any] = []
    wakeup.add_done_callback(called.append)  # as a Future: scheduled, not called in place
    assert called == []
    await asyncio.sleep(0)
    assert len(called) == 1
    assert_done_future(called[0])


def assert_done_future(handed: Any) -> None:
    """What a callback is handed for a delivered message: an exact asyncio.Future, done, with None.

    Exact: asyncio's C Task reads such a future's result directly (for any
    other object it calls ``result()`` by name).
    """
    assert type(handed) is asyncio.Future
    assert handed.done() and not handed.cancelled() and handed.result() is None


@pytest.mark.parametrize("now", [True, False])
async def test_callbacks_are_handed_a_done_future_or_the_cancelled_wakeup(now: bool) -> None:
    loop = asyncio.get_running_loop()
    handed: list[Any] = []
    delivered, cancelled = Wakeup(loop), Wakeup(loop)
    delivered.add_done_callback(handed.append)
    cancelled.add_done_callback(handed.append)
    delivered.wake(now)  # inside this task: scheduled either way
    assert cancelled.cancel("gone") is True
    await asyncio.sleep(0)
    assert len(handed) == 2
    assert_done_future(handed[0])
    assert handed[1] is cancelled  # its result() raises what the waiting task must see
    with pytest.raises(asyncio.CancelledError, match="gone"):
        handed[1].result()


async def _await(awaitable: Any) -> Any:
    return await awaitable


def test_one_waiter_and_its_loop() -> None:
    loop = asyncio.new_event_loop()
    try:
        wakeup = Wakeup(loop)
        assert wakeup._loop is loop  # what asyncio.Task reads (no get_loop method)
        assert wakeup.__await__() is wakeup
        wakeup.add_done_callback(lambda _: None)
        with pytest.raises(RuntimeError, match="one waiter"):
            wakeup.add_done_callback(lambda _: None)
    finally:
        loop.close()


async def test_a_task_of_another_loop_is_refused() -> None:
    other = asyncio.new_event_loop()
    try:
        wakeup = Wakeup(other)

        async def wait() -> None:
            await wakeup

        with pytest.raises(RuntimeError, match="attached to a different loop"):
            await asyncio.wait_for(wait(), 5)
    finally:
        other.close()


async def test_rearmed_after_a_message_never_after_a_cancellation() -> None:
    # A connection re-arms its last wake-up for the next wait; a cancelled one's
    # result() is still to be read by its Task, so it must stay cancelled.
    loop = asyncio.get_running_loop()
    wakeup, log = Wakeup(loop), list[Any]()
    assert wakeup._rearm() is False  # pending: nothing to re-arm
    task = await start_waiting(wakeup, log)
    loop.call_soon(wakeup.wake, True)
    await asyncio.wait_for(task, 5)
    assert wakeup._rearm() is True
    assert not wakeup.done() and wakeup._asyncio_future_blocking is False
    again: list[Any] = []
    task = await start_waiting(wakeup, again)  # awaited again, woken again
    loop.call_soon(wakeup.wake, True)
    await asyncio.wait_for(task, 5)
    assert log == again == [("woken", "task", True)]

    cancelled = Wakeup(loop)
    task = await start_waiting(cancelled, [])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert cancelled._rearm() is False and cancelled.cancelled()
