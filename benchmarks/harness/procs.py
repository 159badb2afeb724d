"""Spawning worker processes: CPU pinning, one JSON line per answer, bounded waits, clean stops."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO


class Abort(Exception):
    """The run cannot go on (a server did not start or died, a process ran the wrong code, ...)."""


def pin(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that pins the child to ``cpu`` (None: no pinning)."""
    if cpu is None:
        return None

    def _pre() -> None:
        os.sched_setaffinity(0, {cpu})

    return _pre


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def tail(text: str, n: int = 3) -> str:
    """The last ``n`` non-empty lines of a child's stderr, on one line (for error reports)."""
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-400:]


def run_once(cmd: list[str], env: dict, cpu: int | None, timeout: float) -> tuple[dict | None, str | None]:
    """Run a one-shot worker (a client run) to completion: ``(its JSON line, None)`` or ``(None, error)``."""
    try:
        p = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=pin(cpu)
        )
    except subprocess.TimeoutExpired:
        return None, "timeout"
    out = last_json_line(p.stdout)
    if p.returncode == 0 and out:
        return out, None
    return None, tail(p.stderr) or f"exit {p.returncode}"


class WorkerProcess:
    """A long-running worker: commands on its stdin, JSON lines on its stdout, stderr to a log.

    It stops when its stdin is closed (so it never outlives the tool);
    :meth:`stop` does that, waits (bounded) and keeps the JSON lines it
    printed on the way out in :attr:`final`.
    """

    def __init__(self, cmd: list[str], env: dict, cpu: int | None, log: IO[str]) -> None:
        self.final: list[dict] = []
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            preexec_fn=pin(cpu),
            text=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def read_json(self, timeout: float, what: str) -> dict:
        """The next JSON line on the worker's stdout, within ``timeout`` seconds."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Abort(f"{what}: no answer within {timeout:g}s")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise Abort(f"{what}: exited (code {self.proc.poll()})")
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)  # type: ignore[no-any-return]

    def stop(self, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except Exception:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()  # our own child, by its pid
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            # The process has exited: reading to EOF cannot block.
            rest = self.proc.stdout.read()
            self.proc.stdout.close()
            for line in rest.splitlines():
                doc = last_json_line(line)
                if doc is not None:
                    self.final.append(doc)


def open_log(name: str) -> tuple[IO[str], Path]:
    """A log file for the workers' stderr in $TMPDIR (default /tmp), named after the tool and its pid."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}_{os.getpid()}.log"
    return open(path, "w"), path

