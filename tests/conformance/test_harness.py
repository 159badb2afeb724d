"""Self-checks of the conformance harness (``support/conformance.py``) and the reference apps run as scripts.

The battery itself is ``test_framing.py``, ``test_messages.py``,
``test_closing.py`` and ``test_opening.py``; the harness is described in
``support/conformance.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import pytest

from support import TIMEOUT
from support.conformance import (
    BINARY,
    CLOSE,
    CONT,
    EXAMPLES,
    HOST,
    PING,
    PONG,
    TEXT,
    client_app,
    utf8_fail_point,
    utf8_valid,
)
from support.frames import close_payload, expect_close, read_frame
from support.raw_ws import RawPeer, raw_server_handshake, raw_ws_client, raw_ws_server

# -- the harness -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data,fail_point,valid",
    [
        (b"", None, True),
        (b"abc", None, True),
        ("κόσμε".encode(), None, True),
        ("\U0010ffff\ud7ff\ue000\ufffe".encode("utf-8", "surrogatepass"), None, True),
        (b"\xce", None, False),  # incomplete only
        (b"\xf0\x9f\x98", None, False),
        (b"\x80", 1, False),
        (b"a\xc0\x80", 2, False),  # overlong lead byte
        (b"\xe0\x80\x80", 2, False),  # overlong 3-byte form
        (b"\xed\xa0\x80", 2, False),  # U+D800
        (b"\xf4\x90\x80\x80", 2, False),  # U+110000
        (b"\xf5", 1, False),
        (b"\xce\xba\xff", 3, False),
        (b"\xe1\xbd\x41", 3, False),
    ],
)
def test_utf8_automaton(data: bytes, fail_point: int | None, valid: bool) -> None:
    assert utf8_fail_point(data) == fail_point
    assert utf8_valid(data) is valid
    # where it matters, the automaton agrees with the strict codec
    try:
        data.decode("utf-8")
        decodes = True
    except UnicodeDecodeError:
        decodes = False
    assert decodes is valid


def test_utf8_automaton_agrees_with_codec_on_all_short_sequences() -> None:
    """Every 1- and 2-byte sequence and a sample of 3- and 4-byte ones."""
    samples = [bytes([a]) for a in range(256)] + [
        bytes([a, b]) for a in range(0xC0, 0x100) for b in range(0x70, 0xD0)
    ]
    samples += [bytes([a, b, 0x80]) for a in (0xE0, 0xED, 0xEF, 0xF0, 0xF4) for b in range(0x70, 0xD0)]
    samples += [bytes([a, b, 0x80, 0x80]) for a in (0xF0, 0xF3, 0xF4, 0xF5) for b in range(0x70, 0xD0)]
    for data in samples:
        try:
            data.decode("utf-8")
            decodes = True
        except UnicodeDecodeError:
            decodes = False
        assert utf8_valid(data) is decodes, data


# -- the reference apps as a reader runs them ------------------------------------------------------


async def _start_process(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, *args, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _finish_process(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT * 3)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_server_script() -> None:
    """``conformance_echo_server.py --port 0`` serves, then stops cleanly on SIGINT."""
    proc = await _start_process(str(EXAMPLES / "conformance_echo_server.py"), "--host", HOST, "--port", "0",
                                "--max-message-size", "1000")  # fmt: skip
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT * 3)).decode()
        assert "ws://" in line, line
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        async with raw_ws_client(port) as peer:
            await peer.write(peer.frame(TEXT, b"a" * 600, fin=False) + peer.frame(CONT, b"b" * 400))
            f = await read_frame(peer.reader)
            assert (f.opcode, f.payload) == (TEXT, b"a" * 600 + b"b" * 400)
            await peer.write(peer.frame(BINARY, b"c" * 1001))  # over --max-message-size
            await expect_close(peer.reader, 1009)
        proc.send_signal(2)  # SIGINT
    finally:
        code, out, err = await _finish_process(proc)
    assert code == 0, err
    assert "stopped" in out


async def test_client_script() -> None:
    """``conformance_echo_client.py URL`` echoes until the server closes, then prints how it ended."""
    async with raw_ws_server() as srv:
        proc = await _start_process(str(EXAMPLES / "conformance_echo_client.py"), srv.url)
        try:
            peer = await srv.accept(TIMEOUT * 3)
            await peer.write(peer.frame(TEXT, "κόσμε".encode(), fin=False) + peer.frame(PING, b"p")
                             + peer.frame(CONT, b"!"))  # fmt: skip
            f1, f2 = await read_frame(peer.reader), await read_frame(peer.reader)
            assert [(f.opcode, f.payload) for f in (f1, f2)] == [(PONG, b"p"), (TEXT, "κόσμε!".encode())]
            await peer.send(CLOSE, close_payload(1001, b"going"))
            f = await read_frame(peer.reader)
            assert (f.opcode, f.payload) == (CLOSE, close_payload(1001, b"going"))
            peer.close()
        finally:
            code, out, err = await _finish_process(proc)
    assert code == 0, err
    assert out.strip() == "echoed 1 message(s); CLOSE received: 1001; CLOSE sent: 1001", out


async def test_client_autobahn_mode() -> None:
    """``--autobahn``: getCaseCount, runCase for each case, updateReports, against a stand-in fuzzing server."""
    paths: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await raw_server_handshake(reader, writer)
        paths.append(head.split(b" ")[1])
        peer = RawPeer(reader, writer, head, "server")
        if paths[-1].startswith(b"/runCase?case=1&"):
            await peer.send(BINARY, b"case one")
            assert (await read_frame(reader)).payload == b"case one"
        elif paths[-1].startswith(b"/runCase?case=2&"):
            await peer.send(TEXT, b"\xff")  # the client must fail this case with 1007
            assert (await read_frame(reader)).close_code == 1007
        elif paths[-1] == b"/getCaseCount":
            await peer.send(TEXT, b"2")
        await peer.send(CLOSE, close_payload(1000))
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            await read_frame(reader, 2)
        writer.close()

    server = await asyncio.start_server(handler, HOST, 0)
    async with server:
        base = f"ws://{HOST}:{server.sockets[0].getsockname()[1]}"
        results = await asyncio.wait_for(client_app().run_autobahn(base, "tester"), TIMEOUT * 3)
    assert paths == [b"/getCaseCount", b"/runCase?case=1&agent=tester", b"/runCase?case=2&agent=tester",
                     b"/updateReports?agent=tester"]  # fmt: skip
    assert [(r.messages, r.close_code_sent) for r in results] == [(1, 1000), (0, 1007)]
