"""Node.js peers (the ``ws`` package) run as subprocesses by the interop tests.

The scripts live in ``tests/interop/node/``; ``ws`` is pinned in its
``package.json`` and installed once with ``npm ci`` into its ``node_modules``
when missing. Does not import picows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from support import TIMEOUT

__all__ = ["NODE_DIR", "PEER_TIMEOUT", "node_command", "node_process", "read_json_line"]

NODE_DIR = Path(__file__).resolve().parent.parent / "interop" / "node"
NPM_TIMEOUT = 300.0
#: Bound for one line of output of a peer (a cold Node start on a busy machine included).
PEER_TIMEOUT = 30.0


def node_command(script: str) -> list[str]:
    """The command that runs ``tests/interop/node/<script>``; skips without node/npm, installs ``ws`` if needed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js interop needs `node` and `npm` on PATH (Debian: apt-get install nodejs npm)")
    if not (NODE_DIR / "node_modules" / "ws" / "package.json").is_file():
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=NPM_TIMEOUT,
        )  # fmt: skip
        if proc.returncode != 0:
            pytest.fail(f"npm ci in {NODE_DIR} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return [node, str(NODE_DIR / script)]


@contextlib.asynccontextmanager
async def node_process(cmd: list[str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """The peer as a subprocess (stdout piped for its JSON lines); killed on exit if still running."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        await asyncio.wait_for(proc.wait(), TIMEOUT)


async def read_json_line(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    """The next JSON line the peer printed (its stderr in the error when it exited instead)."""
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), PEER_TIMEOUT)
    if not line:
        err = await asyncio.wait_for(proc.stderr.read(), TIMEOUT)
        raise AssertionError(f"node peer exited without output: {err.decode(errors='replace')}")
    result: dict[str, Any] = json.loads(line)
    return result
