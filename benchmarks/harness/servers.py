"""An echo server worker (workers/echo.py server) of one row on one event loop."""

from __future__ import annotations

from pathlib import Path

from .impls import Impl, check_identity
from .procs import Abort, WorkerProcess
from .tls import Certificate


class EchoServer:
    """Started on a free port of 127.0.0.1; ``url`` is ``ws://`` or, with a certificate, ``wss://``.

    ``info`` is what the server reported when it started listening (versions,
    pid, backend); ``seen``, after :meth:`stop`, what it saw of its
    connections (transport implementations, TLS protocol and cipher).
    """

    def __init__(
        self,
        impl: Impl,
        loop: str,
        cpu: int | None,
        log_path: Path,
        cert: Certificate | None = None,
        deflate: bool = False,
    ) -> None:
        if not impl.can_serve:
            raise Abort(f"{impl.name} cannot be a server")
        self.impl = impl
        self.log_path = log_path
        self.log = open(log_path, "a")  # append: tools may share one log between workers
        tls_args = cert.server_args() if cert is not None else []
        self.worker = WorkerProcess(
            impl.cmd("server", *impl.worker_args(), "--loop", loop, *tls_args, *(["--deflate"] if deflate else [])),
            impl.env,
            cpu,
            self.log,
        )
        self.seen: dict = {}
        try:
            self.info = self.worker.read_json(60, f"server {impl.name}")
        except Abort:
            self.stop()
            raise Abort(f"server {impl.name} did not start; see {log_path}") from None
        self.port = self.info["port"]
        self.pid = self.info["pid"]
        self.url = f"{'wss' if cert is not None else 'ws'}://127.0.0.1:{self.port}/"
        try:
            check_identity(impl, self.info, "server")
        except Abort:
            self.stop()
            raise

    def alive(self) -> bool:
        return self.worker.alive()

    def stop(self) -> None:
        self.worker.stop()
        self.log.close()
        for doc in self.worker.final:
            if doc.get("role") == "server-seen":
                self.seen = doc
