"""Lines of stdin for the interactive client, read without blocking the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import threading


class StdinLines:
    """Lines of stdin, read without blocking the event loop.

    A pipe or socket is read by the event loop (``loop.connect_read_pipe``).
    A terminal (and a regular file, /dev/null, ...) is read by a daemon thread
    with ``os.read`` on the file descriptor: a terminal must stay in blocking
    mode because stdout shares it, and ``os.read`` takes no lock that could
    block interpreter shutdown while the thread waits for input.

    :meth:`get` returns the next line (bytes, without the line ending) or
    None at EOF.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int = 0) -> None:
        self._loop = loop
        self._fd = fd
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._transport: asyncio.BaseTransport | None = None
        self._restore_blocking = False
        self._stopped = False

    async def start(self) -> None:
        """Start reading; lines are queued for :meth:`get` from now on."""
        try:
            mode = os.fstat(self._fd).st_mode
        except OSError:
            self._queue.put_nowait(None)
            return
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            reader = asyncio.StreamReader(limit=2**31)
            protocol = asyncio.StreamReaderProtocol(reader)
            pipe = os.fdopen(os.dup(self._fd), "rb", buffering=0)
            self._restore_blocking = os.get_blocking(self._fd)
            try:
                self._transport, _ = await self._loop.connect_read_pipe(lambda: protocol, pipe)
            except (OSError, ValueError):
                pipe.close()
                self._undo_nonblocking()
            else:
                self._loop.create_task(self._pump(reader))
                return
        threading.Thread(target=self._read_in_thread, name="picows-stdin", daemon=True).start()

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        while True:
            line = await reader.readline()
            if not line:
                self._queue.put_nowait(None)
                return
            self._queue.put_nowait(strip_eol(line))

    def _read_in_thread(self) -> None:
        pending = b""
        while not self._stopped:
            try:
                chunk = os.read(self._fd, 65536)
            except InterruptedError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                lines = [pending] if pending else []
                self._post(*lines, None)
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if lines and not self._post(*[strip_eol(line) for line in lines]):
                return

    def _post(self, *items: bytes | None) -> bool:
        try:
            for item in items:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: the program is ending
            return False
        return True

    async def get(self) -> bytes | None:
        """The next line without its line ending, or None at EOF."""
        return await self._queue.get()

    def close(self) -> None:
        """Stop reading and give stdin back as it was (blocking mode)."""
        self._stopped = True
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._undo_nonblocking()

    def _undo_nonblocking(self) -> None:
        if self._restore_blocking:
            # connect_read_pipe made the (shared) file description non-blocking: undo it.
            self._restore_blocking = False
            with contextlib.suppress(OSError):
                os.set_blocking(self._fd, True)


def strip_eol(line: bytes) -> bytes:
    """``line`` without a trailing ``\\n`` or ``\\r\\n``."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line
