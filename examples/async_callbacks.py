"""Running coroutines from picows' (synchronous) callbacks, safely.

``on_ws_frame`` is a plain method: it cannot ``await``. To call async code
(a database, an HTTP request, ...) start a task, and do three things right:

1. copy what you need out of the frame *before* the callback returns (the
   frame points into a receive buffer that picows reuses);
2. keep a reference to every task (the event loop keeps only weak ones) and
   look at its result, so errors are not silently lost;
3. cancel unfinished tasks when the connection goes away.

Tasks run concurrently, so replies may come back in a different order than
the requests; tag them (as done here) or use one worker task with a queue
(see ``async_iteration.py``) when order matters. ``transport.send`` may be
called from any task on the same event loop; from another thread use
``loop.call_soon_threadsafe``::

    python examples/async_callbacks.py --port 9001
    python examples/echo_client.py ws://127.0.0.1:9001/ hello world
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

logger = logging.getLogger(__name__)


async def lookup(text: str) -> str:
    """Stands for any async work: a database query, an HTTP call, ..."""
    await asyncio.sleep(0.01)
    return text.upper()


class AsyncHandlerListener(WSListener):
    """Answers every TEXT message with the result of an async lookup."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.TEXT:
            text = frame.get_payload_as_utf8_text()  # (1) copy now
            task = asyncio.get_running_loop().create_task(self.handle(transport, text))
            self.tasks.add(task)  # (2) keep a strong reference ...
            task.add_done_callback(self._task_done)

    async def handle(self, transport: WSTransport, text: str) -> None:
        result = await lookup(text)
        transport.send(WSMsgType.TEXT, result.encode())  # a no-op if we already sent CLOSE

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # (2) ... and look at the outcome
        if exc is not None and self.transport is not None:
            logger.error("handler failed", exc_info=exc)
            self.transport.send_close(WSCloseCode.INTERNAL_ERROR)
            self.transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        for task in self.tasks:  # (3) nobody is left to answer
            task.cancel()


async def start_server(host: str, port: int) -> asyncio.Server:
    return await ws_create_server(lambda request: AsyncHandlerListener(), host, port)


async def serve(host: str, port: int) -> None:
    server = await start_server(host, port)
    print(f"Listening on ws://{host}:{server.sockets[0].getsockname()[1]}/", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument("--port", type=int, default=9001, help="0 for any free port (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
