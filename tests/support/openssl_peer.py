"""OpenSSL's own TLS peers (``openssl s_server`` / ``s_client``) for the TLS robustness tests.

Python's ``ssl`` module cannot renegotiate a TLS 1.2 session, send a TLS 1.3
KeyUpdate on demand, or write clear text into an established TLS stream; the
``openssl`` command line tool (already needed for the test certificates)
does all three through its interactive command letters: a line holding only
``r`` (renegotiate, server), ``R`` (renegotiate, client), ``k``/``K``
(KeyUpdate, TLS 1.3) or ``P`` (clear text down the TCP connection, server).
Anything else written to its stdin goes to the peer as application data; what
the peer sends appears on its stdout, after the tool's own session report.
The TLS state machine's trace (``-state``) goes to stderr.

Every wait is bounded; the process is killed when the block exits. Does not
import picows.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator

from support import TIMEOUT
from support.tls import TLSCerts

__all__ = ["OpenSSLPeer", "openssl_client", "openssl_server"]

_VERSION_FLAG = {"1.2": "-tls1_2", "1.3": "-tls1_3"}


class OpenSSLPeer:
    """A running ``openssl s_server``/``s_client``: write data or commands, read what the peer sent."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.output = bytearray()  # everything read from stdout so far
        self.seen = 0  # where in ``output`` the test has looked so far (for the test to keep)
        self._stderr = bytearray()
        self._stderr_task = asyncio.ensure_future(self._collect_stderr())

    async def _collect_stderr(self) -> None:
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self._stderr.extend(chunk)

    async def read_until(self, marker: bytes, start: int = 0) -> int:
        """Read stdout until ``marker`` appears at or after ``start``; returns where it ends."""
        assert self.proc.stdout is not None

        async def run() -> int:
            while (pos := self.output.find(marker, start)) < 0:
                chunk = await self.proc.stdout.read(65536)  # type: ignore[union-attr]
                if not chunk:
                    raise AssertionError(f"openssl exited before {marker!r}; stderr:\n{self.trace()}")
                self.output.extend(chunk)
            return pos + len(marker)

        return await asyncio.wait_for(run(), TIMEOUT)

    async def read_to(self, size: int) -> None:
        """Read stdout until ``output`` holds at least ``size`` bytes."""
        assert self.proc.stdout is not None

        async def run() -> None:
            while len(self.output) < size:
                chunk = await self.proc.stdout.read(65536)  # type: ignore[union-attr]
                if not chunk:
                    raise AssertionError(f"openssl exited early; stderr:\n{self.trace()}")
                self.output.extend(chunk)

        await asyncio.wait_for(run(), TIMEOUT)

    def send(self, data: bytes) -> None:
        """Application data to the peer (more than two bytes, so it cannot read as a command letter)."""
        assert len(data) > 2, data
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)

    async def command(self, letter: str) -> None:
        """One of the tool's command letters (see the module docstring)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(letter.encode() + b"\n")
        await asyncio.wait_for(self.proc.stdin.drain(), TIMEOUT)

    async def wait_trace(self, text: str, count: int = 1) -> None:
        """Wait until the TLS trace on stderr holds ``text`` ``count`` times (bounded)."""
        for _ in range(int(TIMEOUT / 0.01)):
            if self.trace().count(text) >= count:
                return
            if self.proc.returncode is not None and self._stderr_task.done():
                break
            await asyncio.sleep(0.01)
        raise AssertionError(f"{text!r} not seen {count} time(s) in the TLS trace:\n{self.trace()}")

    def trace(self) -> str:
        """The TLS state trace and error messages (stderr) so far."""
        return self._stderr.decode(errors="replace")

    async def wait_exit(self) -> int:
        return await asyncio.wait_for(self.proc.wait(), TIMEOUT)


def _openssl() -> str:
    path = shutil.which("openssl")
    assert path is not None, "the 'openssl' command line tool is needed (it also makes the test certificates)"
    return path


@contextlib.asynccontextmanager
async def _running(args: list[str]) -> AsyncIterator[OpenSSLPeer]:
    proc = await asyncio.create_subprocess_exec(
        _openssl(), *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    peer = OpenSSLPeer(proc)
    try:
        yield peer
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), TIMEOUT)
        await asyncio.wait_for(peer._stderr_task, TIMEOUT)


@contextlib.asynccontextmanager
async def openssl_server(tls_certs: TLSCerts, tls_version: str) -> AsyncIterator[tuple[OpenSSLPeer, int]]:
    """``openssl s_server`` for one connection on 127.0.0.1 (any free port), TLS ``tls_version``.

    Yields ``(peer, port)``.
    """
    args = [
        "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", _VERSION_FLAG[tls_version], "-state",
        "-cert", tls_certs.cert_file, "-key", tls_certs.key_file,
    ]  # fmt: skip
    async with _running(args) as peer:
        end = await peer.read_until(b"ACCEPT 127.0.0.1:")
        line_end = await peer.read_until(b"\n", end)
        yield peer, int(peer.output[end : line_end - 1])


@contextlib.asynccontextmanager
async def openssl_client(port: int, tls_certs: TLSCerts, tls_version: str) -> AsyncIterator[OpenSSLPeer]:
    """``openssl s_client`` to 127.0.0.1:port, TLS ``tls_version``, verifying against the test CA."""
    args = [
        "s_client", "-connect", f"127.0.0.1:{port}", _VERSION_FLAG[tls_version], "-state",
        "-CAfile", tls_certs.ca_file, "-verify_return_error", "-verify_ip", "127.0.0.1",
    ]  # fmt: skip
    async with _running(args) as peer:
        yield peer
