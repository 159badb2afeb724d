"""Real proxy servers for the tests: pproxy in a subprocess, one per kind and session.

The fixtures ``http_proxy``, ``http_proxy_auth``, ``socks4_proxy``,
``socks5_proxy`` and ``socks5_proxy_auth`` start a proxy on an ephemeral
127.0.0.1 port and return its URL in the form ``python_socks`` (and
``ws_connect(proxy=...)``) accepts, e.g. ``http://user:password@127.0.0.1:PORT``.
Every wait is bounded. Does not import picows.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.net import free_port

__all__ = [
    "PROXY_PASSWORD",
    "PROXY_USER",
    "ProxyServer",
    "LoggedSocksProxies",
    "http_proxy",
    "http_proxy_auth",
    "logged_socks_proxies",
    "socks4_proxy",
    "socks5_proxy",
    "socks5_proxy_auth",
    "start_proxy",
]

#: Credentials of the ``*_proxy_auth`` fixtures.
PROXY_USER = "picows"
PROXY_PASSWORD = "s3cret"

_PROXY_START_TIMEOUT = 30.0  # seconds until a proxy must accept connections (PyPy starts slowly)
_PROXY_STOP_TIMEOUT = 10.0


# pproxy's ``python -m pproxy`` calls asyncio.get_event_loop() outside a running
# loop and installs uvloop when it is importable; uvloop's policy (and CPython
# >= 3.14) raise there. Run it on a fresh stdlib loop instead.
_PPROXY_BOOTSTRAP = (
    "import asyncio, sys\n"
    "sys.modules['uvloop'] = None\n"
    "asyncio.set_event_loop(asyncio.new_event_loop())\n"
    "from pproxy.server import main\n"
    "main(sys.argv[1:])\n"
)


@dataclass
class ProxyServer:
    """A running proxy subprocess."""

    url: str  # for python_socks / ws_connect(proxy=...), credentials included
    port: int
    process: subprocess.Popen[bytes]
    log_file: Path

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    async def wait_for_log(self, text: str, timeout: float = 10.0) -> str:
        """The log once it contains ``text`` (AssertionError with the log after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the proxy's log:\n{self.log()}")
            await asyncio.sleep(0.05)
        return self.log()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(_PROXY_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(_PROXY_STOP_TIMEOUT)


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def start_proxy(
    scheme: str,
    directory: Path,
    *,
    auth: tuple[str, str] | None = None,
    attempts: int = 3,
    verbose: bool = False,
) -> ProxyServer:
    """Start ``pproxy`` serving *scheme* (http, socks4, socks5) on a free 127.0.0.1 port.

    ``verbose``: pproxy logs each tunnel as ``<scheme> <client> -> <target>``,
    the target as the client asked for it (see :meth:`ProxyServer.wait_for_log`).

    Returns once the proxy accepts TCP connections (bounded wait). The port is
    picked before the proxy binds it, so another process may grab it in
    between: then the proxy exits at once and another port is tried.
    """
    failures: list[str] = []
    for attempt in range(attempts):
        port = free_port()
        listen = f"{scheme}://127.0.0.1:{port}"
        url_auth = ""
        if auth is not None:
            listen += f"#{auth[0]}:{auth[1]}"
            url_auth = f"{auth[0]}:{auth[1]}@"
        log_file = directory / f"pproxy-{scheme}-{port}-{attempt}.log"
        with open(log_file, "wb") as log:
            process = subprocess.Popen(
                # --auth 0: check credentials on every connection. By default
                # pproxy trusts an IP for 30 days after one successful login,
                # which would make "wrong password is refused" order-dependent.
                [sys.executable, "-u", "-c", _PPROXY_BOOTSTRAP, "--auth", "0", "-l", listen]
                + (["-v"] if verbose else []),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = ProxyServer(f"{scheme}://{url_auth}127.0.0.1:{port}", port, process, log_file)
        deadline = time.monotonic() + _PROXY_START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _accepts_connections(port):
                if process.poll() is None:  # not someone else on that port
                    return server
                break
            time.sleep(0.05)
        server.stop()
        failures.append(
            f"attempt {attempt + 1} on port {port} (exit code {process.returncode}):\n{server.log()}"
        )
    raise RuntimeError(f"could not start a {scheme} proxy (pproxy):\n" + "\n".join(failures))


def _proxy_fixture(
    tmp_path_factory: pytest.TempPathFactory, scheme: str, auth: tuple[str, str] | None = None
) -> Iterator[str]:
    server = start_proxy(scheme, tmp_path_factory.mktemp("proxy"), auth=auth)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HTTP CONNECT proxy without authentication: ``http://127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "http")


@pytest.fixture(scope="session")
def http_proxy_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HTTP CONNECT proxy with Basic auth: ``http://picows:s3cret@127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "http", (PROXY_USER, PROXY_PASSWORD))


@pytest.fixture(scope="session")
def socks4_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SOCKS4 proxy: ``socks4://127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "socks4")


@pytest.fixture(scope="session")
def socks5_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SOCKS5 proxy without authentication: ``socks5://127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "socks5")


@pytest.fixture(scope="session")
def socks5_proxy_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SOCKS5 proxy with username/password auth: ``socks5://picows:s3cret@127.0.0.1:PORT``."""
    yield from _proxy_fixture(tmp_path_factory, "socks5", (PROXY_USER, PROXY_PASSWORD))


class LoggedSocksProxies:
    """A SOCKS4 and a SOCKS5 proxy logging each tunnel's target (:meth:`ProxyServer.wait_for_log`)."""

    def __init__(self, socks4: ProxyServer, socks5: ProxyServer) -> None:
        self.socks4, self.socks5 = socks4, socks5

    def server(self, scheme: str) -> ProxyServer:
        """The proxy a ``socks4://``/``socks4a://`` or ``socks5://``/``socks5h://`` URL reaches."""
        return self.socks5 if scheme.startswith("socks5") else self.socks4

    def url(self, scheme: str) -> str:
        """The proxy's URL with ``scheme`` (socks4, socks4a, socks5 or socks5h)."""
        url = self.server(scheme).url
        return scheme + url[url.index("://") :]


@pytest.fixture(scope="session")
def logged_socks_proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedSocksProxies]:
    """SOCKS4 and SOCKS5 proxies started with ``verbose=True`` (their logs name each target)."""
    directory = tmp_path_factory.mktemp("logged-socks")
    socks5 = start_proxy("socks5", directory, verbose=True)
    try:
        socks4 = start_proxy("socks4", directory, verbose=True)
        try:
            yield LoggedSocksProxies(socks4, socks5)
        finally:
            socks4.stop()
    finally:
        socks5.stop()
