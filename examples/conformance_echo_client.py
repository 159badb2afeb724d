"""A standards-compliant WebSocket echo client (RFC 6455), for conformance testing.

Connects to a server and echoes every whole message the server sends, with
the same rules as ``conformance_echo_server.py`` (whose listener it reuses):
fragments are reassembled, TEXT is validated as UTF-8 fail-fast (1007),
fragment-order errors and RSV1 close with 1002, messages over
``--max-message-size`` with 1009, a CLOSE from the server is echoed. It runs
until the server ends the connection and prints how it ended::

    python examples/conformance_echo_client.py ws://127.0.0.1:9001/
    python examples/conformance_echo_client.py --host 127.0.0.1 --port 9001 --path /echo

With ``--autobahn`` the URL is the base of an Autobahn-style fuzzing server:
the client asks ``getCaseCount``, runs each ``runCase?case=N&agent=AGENT``
and finally calls ``updateReports?agent=AGENT``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from picows import WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect


def _load_sibling(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` next to this file without touching sys.path."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


_server = _load_sibling("conformance_echo_server")
ConformanceEchoListener = _server.ConformanceEchoListener
DEFAULT_MAX_MESSAGE_SIZE: int = _server.DEFAULT_MAX_MESSAGE_SIZE
DEFAULT_CLOSE_TIMEOUT: float = _server.DEFAULT_CLOSE_TIMEOUT


@dataclass
class EchoResult:
    """How one echo session ended."""

    messages: int  # whole messages echoed
    close_code_received: int | None  # the server's CLOSE code (0: CLOSE without a code), None: no CLOSE
    close_code_sent: int | None  # our CLOSE code (echo or our own failure), None: none sent by the listener
    error: WSError | None  # the protocol violation picows detected itself (it sent that CLOSE)

    def describe(self) -> str:
        text = f"echoed {self.messages} message(s)"
        text += f"; CLOSE received: {self.close_code_received}; CLOSE sent: {self.close_code_sent}"
        if self.error is not None:
            text += f"; failed by picows: {self.error} (close code {self.error.close_code})"
        return text


async def run_echo(
    url: str,
    *,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    check_fragment_order: bool = True,
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
    **kwargs: Any,
) -> EchoResult:
    """Connect to ``url`` and echo messages until the connection ends.

    Further keyword arguments go to ``ws_connect``. Errors of the opening
    handshake propagate; a protocol violation detected by picows is
    reported in ``EchoResult.error``.
    """
    kwargs.setdefault("enable_auto_pong", False)  # the listener answers PINGs itself
    transport, listener = await ws_connect(
        lambda: ConformanceEchoListener(max_message_size, close_timeout),
        url,
        ssl_context=ssl_context,
        max_frame_size=max_message_size,
        check_fragment_order=check_fragment_order,
        **kwargs,
    )
    error = None
    try:
        await transport.wait_disconnected()
    except WSError as exc:
        error = exc
    return EchoResult(listener.messages, listener.close_code_received, listener.close_code_sent, error)


class _TextListener(WSListener):
    """Keeps the TEXT messages the server sends, answers its CLOSE."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.texts.append(frame.get_payload_as_utf8_text())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


async def _texts_from(url: str, timeout: float) -> list[str]:
    transport, listener = await asyncio.wait_for(ws_connect(_TextListener, url), timeout)
    await asyncio.wait_for(transport.wait_disconnected(), timeout)
    return listener.texts


async def run_autobahn(
    base_url: str, agent: str = "picows", *, case_timeout: float = 60.0, **options: Any
) -> list[EchoResult]:
    """Run every case of an Autobahn-style fuzzing server at ``base_url``; one result per case."""
    base = base_url.rstrip("/")
    count = int((await _texts_from(f"{base}/getCaseCount", case_timeout))[0])
    results = []
    for case in range(1, count + 1):
        url = f"{base}/runCase?case={case}&agent={agent}"
        results.append(await asyncio.wait_for(run_echo(url, **options), case_timeout))
    await _texts_from(f"{base}/updateReports?agent={agent}", case_timeout)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", help="server URL (default: built from --host/--port/--path)")
    parser.add_argument("--host", default="127.0.0.1", help="server host (default: %(default)s)")
    parser.add_argument("--port", type=int, default=9001, help="server port (default: %(default)s)")
    parser.add_argument("--path", default="/", help="request path (default: %(default)s)")
    parser.add_argument(
        "--max-message-size", type=int, default=DEFAULT_MAX_MESSAGE_SIZE,
        help="larger messages are closed with 1009 (default: %(default)s bytes)",
    )  # fmt: skip
    parser.add_argument("--cafile", help="CA certificate (PEM) to verify a wss:// server with")
    parser.add_argument("--autobahn", action="store_true", help="URL is an Autobahn-style fuzzing server")
    parser.add_argument("--agent", default="picows", help="agent name for --autobahn (default: %(default)s)")
    parser.add_argument(
        "--permessage-deflate", action="store_true", help="offer permessage-deflate (RFC 7692)"
    )
    args = parser.parse_args(argv)
    url = args.url or f"ws://{args.host}:{args.port}{args.path}"
    options: dict[str, Any] = {
        "max_message_size": args.max_message_size,
        "permessage_deflate": args.permessage_deflate,
    }
    if args.cafile:
        options["ssl_context"] = ssl.create_default_context(cafile=args.cafile)
    if args.autobahn:
        for case, result in enumerate(asyncio.run(run_autobahn(url, args.agent, **options)), 1):
            print(f"case {case}: {result.describe()}")
    else:
        print(asyncio.run(run_echo(url, **options)).describe())


if __name__ == "__main__":
    main()
