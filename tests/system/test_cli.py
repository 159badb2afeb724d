"""The command line, ``python -m picows``, driven as a user drives it.

Every command runs in a child process of the interpreter under test, which
inherits the environment (``PICOWS_PURE``), so the child loads the backend
under test (``test_version`` checks it). Interactive clients run in a real
pseudo-terminal with pexpect; pipe, file and /dev/null stdin run through
subprocess. Everything listens on 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

import picows
from support.backends import compiled_unavailable_reason
from support.tls import generate_tls_certs

IS_PYPY = platform.python_implementation() == "PyPy"
#: Seconds for one expected output of a child (PyPy starts and JITs slowly).
TIMEOUT = 10.0 * (2 if IS_PYPY else 1)
#: Seconds for a one-shot command to finish.
RUN_TIMEOUT = 60.0 * (2 if IS_PYPY else 1)

# A server that greets, sends a binary frame and a fragmented text message,
# then starts the closing handshake with the code and reason from argv. Path
# /missing gets a 404, /to-ftp a redirect to an ftp:// URL, /mute a server
# that never answers. It prints what the client echoed in its CLOSE.
SCRIPTED_SERVER = r"""
import asyncio, sys
import picows
from picows import WSListener, WSMsgType

CODE, REASON = int(sys.argv[1]), sys.argv[2]

class Greeter(WSListener):
    def on_ws_connected(self, transport):
        transport.send(WSMsgType.TEXT, "welcome \u2713".encode())
        transport.send(WSMsgType.BINARY, bytes(5))
        transport.send(WSMsgType.TEXT, b"frag", fin=False)
        transport.send(WSMsgType.PING, b"ping")
        transport.send(WSMsgType.CONTINUATION, b"ment", fin=True)
        transport.send_close(CODE, REASON)

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.CLOSE:
            print(f"client echoed CLOSE {int(frame.get_close_code())}", flush=True)
            transport.disconnect()

class Mute(WSListener):
    pass  # never answers, not even a CLOSE

def route(request):
    if request.path == b"/missing":
        return None
    if request.path == b"/to-ftp":  # a redirect to a URL that is not a WebSocket URL
        response = picows.WSUpgradeResponse.create_redirect_response(302, "ftp://127.0.0.1/")
        return picows.WSUpgradeResponseWithListener(response, None)
    return Mute() if request.path == b"/mute" else Greeter()

async def main():
    server = await picows.ws_create_server(route, "127.0.0.1", 0)
    print(f"listening on port {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.sleep(120)  # bounded life; the test stops it long before

asyncio.run(main())
"""


# ----------------------------------------------------------------- helpers ---


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    env.update(extra)
    return env


def run_cli(
    *args: str, input: str | None = None, stdin: object = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m picows ARGS`` to completion (bounded)."""
    kwargs: dict[str, object] = {"input": input} if input is not None else {"stdin": stdin}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "picows", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=child_env(**env),
        cwd=str(cwd) if cwd else None,
        timeout=RUN_TIMEOUT,
        **kwargs,
    )


def _as_in_a_terminal() -> None:
    # A shell starts background jobs with SIGINT ignored, and children inherit
    # that; a program run in a terminal always has the default. Restore it so
    # Ctrl-C tests do not depend on how the test run itself was launched.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(argv: list[str], cwd: Path | None = None, **env: str) -> pexpect.spawn:
    """Start ``python ARGV`` in a pseudo-terminal."""
    return pexpect.spawn(
        sys.executable,
        argv,
        env=child_env(**env),
        cwd=str(cwd) if cwd else None,
        timeout=TIMEOUT,
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(24, 200),
        preexec_fn=_as_in_a_terminal,
    )


def spawn_cli(*args: str, **env: str) -> pexpect.spawn:
    return spawn(["-m", "picows", *args], **env)


def wait_exit(child: pexpect.spawn, timeout: float = TIMEOUT) -> int:
    """Read to EOF, then wait (bounded) for the exit code; a signal gives -signum."""
    child.expect(pexpect.EOF, timeout=timeout)
    deadline = time.monotonic() + timeout
    while child.isalive():
        if time.monotonic() > deadline:
            child.terminate(force=True)
            pytest.fail(f"{child.args} closed its terminal but did not exit within {timeout} s")
        time.sleep(0.05)
    if child.signalstatus is not None:
        return -int(child.signalstatus)
    return int(child.exitstatus)


def stop(child: pexpect.spawn) -> None:
    if child.isalive():
        child.terminate(force=True)


def assert_one_line_error(
    proc: subprocess.CompletedProcess[str], *needles: str, code: int | None = None, connected: bool = False
) -> str:
    """A user error: non-zero exit, exactly one line on stderr, no traceback; not connected unless said."""
    assert proc.returncode != 0, proc
    if code is not None:
        assert proc.returncode == code, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ": error: " in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    if not connected:
        assert "Connected to" not in proc.stdout
    return lines[0]


def start_server(*args: str) -> tuple[pexpect.spawn, str]:
    """``python -m picows serve --port 0 ARGS``; returns the child and its URL."""
    child = spawn_cli("serve", "--port", "0", *args)
    try:
        child.expect(r"Serving on (wss?://127\.0\.0\.1:\d+/)\r?\n")
    except BaseException:
        stop(child)
        raise
    return child, child.match.group(1)


def interactive_echo(url: str, *extra: str) -> None:
    """Connect in a terminal, type lines, see their echoes, Ctrl-D: exit code 0."""
    client = spawn_cli(url, *extra, LC_ALL="C.UTF-8")
    try:
        client.expect_exact(f"Connected to {url}.")
        for line in ("hello", "second line with  spaces", "h\u00e9llo w\u00f6rld \u2713", ""):
            client.sendline(line)
            client.expect_exact(f"< {line}\r\n")
        client.sendeof()  # Ctrl-D at the start of a line
        client.expect_exact("< (close) 1000\r\n")
        client.expect_exact("Connection closed: 1000\r\n")
        assert wait_exit(client) == 0
    finally:
        stop(client)


# ---------------------------------------------------------------- fixtures ---


@pytest.fixture(scope="module")
def echo_url() -> Iterator[str]:
    """URL of a ``python -m picows serve --port 0`` shared by the module's tests."""
    server, url = start_server()
    try:
        yield url
    finally:
        stop(server)


@pytest.fixture(scope="module")
def tls_echo_url(tls_certs) -> Iterator[str]:  # type: ignore[no-untyped-def]
    server, url = start_server("--tls-cert", tls_certs.cert_file, "--tls-key", tls_certs.key_file)
    try:
        yield url
    finally:
        stop(server)


@pytest.fixture
def scripted_server(request: pytest.FixtureRequest) -> Iterator[tuple[pexpect.spawn, int]]:
    """SCRIPTED_SERVER with (code, reason) from the test's parameter; yields (child, port)."""
    code, reason = getattr(request, "param", (1000, "bye"))
    child = spawn(["-c", SCRIPTED_SERVER, str(code), reason])
    try:
        child.expect(r"listening on port (\d+)\r?\n")
        yield child, int(child.match.group(1))
    finally:
        stop(child)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A 127.0.0.1 port that is bound but not listening: connecting is refused, and no one else gets it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# ---------------------------------------------------------- version, help ---


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0, proc
    # The child inherited PICOWS_PURE, so it runs the backend under test.
    assert proc.stdout == f"picows {picows.__version__} (backend: {picows.BACKEND})\n"
    assert proc.stderr == ""


@pytest.mark.parametrize("command", ["", "serve", "demo"])
def test_help(command: str) -> None:
    proc = run_cli(*([command] if command else []), "--help")
    assert proc.returncode == 0, proc
    assert proc.stderr == ""
    prog = f"python -m picows {command}".strip()
    assert proc.stdout.startswith(f"usage: {prog} ")
    if command == "":
        for word in (
            "URL",
            "--header",
            "--proxy",
            "--cafile",
            "--insecure",
            "--max-frame-size",
            "--close-timeout",
            "serve",
            "demo",
        ):
            assert word in proc.stdout
    elif command == "serve":
        for word in ("--host", "--port", "--tls-cert", "--tls-key", "SIGTERM"):
            assert word in proc.stdout
    else:
        assert "--duration" in proc.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        pytest.param([], ["a URL or a command"], id="nothing"),
        pytest.param(["ws://127.0.0.1:9/", "--header", "no-colon"], ["--header", "Name: value"], id="header"),
        pytest.param(
            ["ws://127.0.0.1:9/", "--max-frame-size", "0"], ["--max-frame-size"], id="max-frame-size"
        ),
        pytest.param(["ws://127.0.0.1:9/", "--bogus"], ["--bogus"], id="unknown-option"),
        pytest.param(["serve", "--port", "70000"], ["--port"], id="serve-port"),
        pytest.param(["serve", "--tls-cert", "cert.pem"], ["--tls-key"], id="serve-cert-without-key"),
        pytest.param(
            ["serve", "--port", "0", "--tls-cert", "missing.pem", "--tls-key", "missing.key"],
            ["missing.pem"],
            id="serve-missing-cert",
        ),
        pytest.param(["ws://127.0.0.1:9/", "--close-timeout", "-1"], ["--close-timeout"], id="close-timeout"),
        pytest.param(["demo", "--duration", "0"], ["--duration"], id="demo-duration"),
        pytest.param(["wss://127.0.0.1:9/", "--cafile", "no.pem"], ["--cafile", "no.pem"], id="cafile-missing"),
        pytest.param(["wss://127.0.0.1:9/", "--cafile", "."], ["--cafile", "directory"], id="cafile-directory"),
        pytest.param(
            ["wss://127.0.0.1:9/", "--cafile", "/dev/null"], ["--cafile", "no certificate"], id="cafile-not-pem"
        ),
        pytest.param(
            ["wss://127.0.0.1:9/", "--cafile", "ca.pem", "--insecure"],
            ["--insecure", "not allowed with", "--cafile"],
            id="cafile-and-insecure",
        ),
    ],
)
def test_usage_errors(args: list[str], needles: list[str], tmp_path: Path) -> None:
    proc = run_cli(*args, cwd=tmp_path)
    assert_one_line_error(proc, *needles, code=2)


# ------------------------------------------------------------------ client ---


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("http://127.0.0.1/", "scheme must be ws:// or wss://"),
        ("ws://", "no host"),
        ("ws://127.0.0.1/#frag", "fragment"),
        ("not-a-url", "or a command: serve, demo"),
    ],
)
def test_bad_url(url: str, needle: str) -> None:
    assert_one_line_error(run_cli(url), "invalid WebSocket URL", needle, code=2)


def test_bench_is_not_a_command() -> None:
    """The benchmarks live in the source repository (benchmarks/echo_rps.py), not in the package."""
    assert_one_line_error(run_cli("bench"), "invalid WebSocket URL", "or a command: serve, demo", code=2)


def test_redirect_to_a_bad_url_is_a_failure(scripted_server: tuple[pexpect.spawn, int]) -> None:
    """The URL the user typed was fine: the server's bad redirect is a run-time failure (exit 1)."""
    url = f"ws://127.0.0.1:{scripted_server[1]}/to-ftp"
    assert_one_line_error(run_cli(url), f"cannot connect to {url}", "ftp://127.0.0.1/", code=1)


def test_connection_refused(refused_port: int) -> None:
    url = f"ws://127.0.0.1:{refused_port}/"
    assert_one_line_error(run_cli(url), f"cannot connect to {url}", "Connection refused", code=1)


def test_handshake_failure(scripted_server: tuple[pexpect.spawn, int]) -> None:
    url = f"ws://127.0.0.1:{scripted_server[1]}/missing"
    assert_one_line_error(run_cli(url), f"cannot connect to {url}", "404 Not Found", code=1)


def test_interactive_terminal(echo_url: str) -> None:
    interactive_echo(echo_url)


def test_interactive_terminal_with_options(echo_url: str) -> None:
    interactive_echo(echo_url, "--header", "X-Test: 1", "-H", "X-Other:two", "--max-frame-size", "65536")


@pytest.mark.parametrize("stdin_kind", ["pipe", "file", "devnull"])
def test_non_interactive_stdin(echo_url: str, stdin_kind: str, tmp_path: Path) -> None:
    """stdin from a pipe (read by the event loop), a regular file or /dev/null (read by a thread)."""
    text = "first\n\nthird \u2713\r\nlast line without newline"
    expected_echoes = ["< first", "< ", "< third \u2713", "< last line without newline"]
    if stdin_kind == "pipe":
        read_end, write_end = os.pipe()
        os.write(write_end, text.encode("utf-8"))
        os.close(write_end)
        try:
            proc = run_cli(echo_url, stdin=read_end)
            # The event loop made the pipe non-blocking; the client restores it on exit.
            assert os.get_blocking(read_end)
        finally:
            os.close(read_end)
    elif stdin_kind == "file":
        path = tmp_path / "input.txt"
        path.write_bytes(text.encode("utf-8"))
        with open(path, "rb") as f:
            proc = run_cli(echo_url, stdin=f)
    else:
        proc = run_cli(echo_url, stdin=subprocess.DEVNULL)
        expected_echoes = []
    assert proc.returncode == 0, proc
    assert proc.stderr == ""
    assert proc.stdout.splitlines() == [
        f"Connected to {echo_url}.",
        *expected_echoes,
        "< (close) 1000",
        "Connection closed: 1000",
    ]


@pytest.mark.parametrize(
    ("scripted_server", "exit_code"),
    [
        pytest.param((1001, "bye"), 0, id="going-away"),
        pytest.param((4000, "app specific"), 1, id="4000"),
    ],
    indirect=["scripted_server"],
)
def test_server_closes(scripted_server: tuple[pexpect.spawn, int], exit_code: int) -> None:
    """The server sends frames and closes while the client waits for terminal input."""
    server, port = scripted_server
    code, reason = (1001, "bye") if exit_code == 0 else (4000, "app specific")
    url = f"ws://127.0.0.1:{port}/"
    client = spawn_cli(url, LC_ALL="C.UTF-8")
    try:
        client.expect_exact(f"Connected to {url}.\r\n")
        client.expect_exact("< welcome \u2713\r\n")
        client.expect_exact("< (binary) 5 bytes\r\n")
        client.expect_exact("< fragment\r\n")  # reassembled, the PING in between not shown
        client.expect_exact(f"< (close) {code} {reason}\r\n")
        client.expect_exact(f"Connection closed: {code} {reason}\r\n")
        assert wait_exit(client) == exit_code
    finally:
        stop(client)
    server.expect_exact(f"client echoed CLOSE {code}")


def test_close_timeout(scripted_server: tuple[pexpect.spawn, int]) -> None:
    """EOF sends CLOSE; a server that never answers it is given --close-timeout, then one line, exit 1."""
    url = f"ws://127.0.0.1:{scripted_server[1]}/mute"
    proc = run_cli(url, "--close-timeout", "0.2", input="unanswered\n")
    assert proc.stdout.splitlines() == [f"Connected to {url}."]
    assert_one_line_error(proc, "did not close the connection within 0.2 s", code=1, connected=True)


def test_ctrl_c(echo_url: str) -> None:
    """Ctrl-C in the terminal: exit code 130, no traceback."""
    client = spawn_cli(echo_url)
    try:
        client.expect_exact(f"Connected to {echo_url}.")
        client.sendline("before Ctrl-C")
        client.expect_exact("< before Ctrl-C")
        client.sendintr()
        assert wait_exit(client) == 130
        assert "Traceback" not in client.before
    finally:
        stop(client)


def test_tls_insecure(tls_echo_url: str) -> None:
    assert tls_echo_url.startswith("wss://")
    interactive_echo(tls_echo_url, "--insecure")


def test_tls_verification_failure(tls_echo_url: str) -> None:
    """The test CA is not trusted: without --cafile or --insecure the handshake fails with one line."""
    proc = run_cli(tls_echo_url, input="never sent\n")
    assert_one_line_error(
        proc, f"cannot connect to {tls_echo_url}", "certificate", "--cafile", "--insecure", code=1
    )


def test_tls_cafile(tls_echo_url: str, tls_certs) -> None:  # type: ignore[no-untyped-def]
    """--cafile trusts the test CA: the certificate (and the host name) are verified, and pass."""
    interactive_echo(tls_echo_url, "--cafile", tls_certs.ca_file)


def test_tls_cafile_of_another_ca(tls_echo_url: str, tmp_path: Path) -> None:
    """--cafile replaces the trusted CAs: a CA that did not sign the server's certificate fails it."""
    other = generate_tls_certs(tmp_path / "other-pki")
    proc = run_cli(tls_echo_url, "--cafile", other.ca_file, input="never sent\n")
    assert_one_line_error(proc, f"cannot connect to {tls_echo_url}", "certificate", code=1)



# ------------------------------------------------------------------- serve ---


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_on_signal(signum: signal.Signals) -> None:
    """A connected client gets CLOSE(1001) and exits 0; the server exits 0."""
    server, url = start_server()
    client = None
    try:
        client = spawn_cli(url)
        client.expect_exact(f"Connected to {url}.")
        client.sendline("still there?")
        client.expect_exact("< still there?")
        server.kill(signum)
        client.expect_exact("< (close) 1001\r\n")
        client.expect_exact("Connection closed: 1001\r\n")
        assert wait_exit(client) == 0
        server.expect_exact("Server stopped.")
        assert wait_exit(server) == 0
    finally:
        if client is not None:
            stop(client)
        stop(server)


def test_serve_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        proc = run_cli("serve", "--port", str(port))
    assert_one_line_error(proc, f"cannot listen on 127.0.0.1:{port}", code=1)


# -------------------------------------------------------------------- demo ---


def test_demo_runs() -> None:
    """``python -m picows demo`` (the README's main job), shortened."""
    proc = subprocess.run(
        [sys.executable, "-m", "picows", "demo", "--duration", "0.05"],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=RUN_TIMEOUT * 3,
    )
    rows = [m.group(1) for m in re.finditer(r"^(cython|pure) +\d", proc.stdout, re.MULTILINE)]
    assert "pure" in rows, proc
    if compiled_unavailable_reason() is None or IS_PYPY:
        assert proc.returncode == 0, proc
        assert rows == (["pure"] if IS_PYPY else ["cython", "pure"])
    else:  # an install without the compiled backend: the demo says the cython run failed
        assert proc.returncode == 1, proc
        assert "cython backend: FAILED" in proc.stderr
