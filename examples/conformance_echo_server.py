"""A standards-compliant WebSocket echo server (RFC 6455), for conformance testing.

Unlike ``echo_server.py``, which bounces every frame straight back, this
server echoes whole *messages*, the way conformance suites expect:

* fragments of a TEXT/BINARY message are reassembled and the message is sent
  back as one frame once its last fragment has arrived;
* TEXT is validated as UTF-8 incrementally, fragment by fragment, and the
  connection is failed with CLOSE 1007 as soon as invalid bytes are seen, not
  only at the end of the message ("fail fast");
* a CONTINUATION without a message in progress, or a new TEXT/BINARY frame
  inside a fragmented message, closes with 1002 (picows' opt-in
  ``check_fragment_order=True`` does it in the library; the listener checks
  again, so it is also correct with the library check switched off);
* an RSV bit set (no extension is negotiated) closes with 1002 (picows
  passes RSV1-3 through); picows itself rejects reserved opcodes, bad control
  frames, bad close codes...; with ``--permessage-deflate`` picows negotiates
  RFC 7692, delivers compressed messages inflated (RSV1 cleared) and
  compresses the echoes;
* a message bigger than ``--max-message-size`` closes with 1009 (one frame
  that is too big is refused by the library, via ``max_frame_size``);
* PING is answered with a PONG of the same payload (by the listener, so
  that the RSV bits are checked on control frames too), unsolicited PONGs are ignored;
* a CLOSE is echoed (same code and reason) and the server then disconnects;
  after failing a connection it waits up to ``--close-timeout`` seconds for
  the peer's CLOSE before dropping the TCP connection.

Run it and point a conformance client (or ``conformance_echo_client.py``) at it::

    python examples/conformance_echo_server.py --host 127.0.0.1 --port 9001

``--port 0`` picks a free port. Stop the server with Ctrl+C (or SIGTERM).
The listener class is reused by ``conformance_echo_client.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import signal
from typing import Any

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    ws_create_server,
)

#: 16 MiB: the largest message the well-known conformance suites send.
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
#: Seconds to wait for the peer's CLOSE after we failed the connection.
DEFAULT_CLOSE_TIMEOUT = 2.0

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


def _utf8_ok(decoder: Any, data: memoryview, final: bool) -> bool:
    """Feed ``data`` to an incremental UTF-8 decoder; False as soon as the text cannot be valid.

    An incomplete sequence at the end of a fragment waits for the next
    fragment, an impossible one fails right away. One exception needs help:
    CPython's decoder keeps ED A0..ED BF (the start of an encoded surrogate,
    never valid UTF-8) pending instead of raising, so that is checked here.
    """
    try:
        decoder.decode(data, final)
    except UnicodeDecodeError:
        return False
    pending = decoder.getstate()[0]
    return not (len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0)


class ConformanceEchoListener(WSListener):
    """One connection: reassemble, validate and echo whole messages.

    Works on both sides of a connection (``conformance_echo_client.py`` uses
    it too). Observable results, for tests and reports: ``messages`` (number
    of messages echoed), ``close_code_received`` and ``close_code_sent``.
    """

    def __init__(
        self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, close_timeout: float = DEFAULT_CLOSE_TIMEOUT
    ) -> None:
        self.max_message_size = max_message_size
        self.close_timeout = close_timeout
        self.transport: WSTransport | None = None
        self.messages = 0
        self.close_code_received: int | None = None
        self.close_code_sent: int | None = None
        self._msg_type: WSMsgType | None = None  # message in progress, if any
        self._parts = bytearray()
        self._size = 0
        self._decoder: Any = None
        self._close_timer: asyncio.TimerHandle | None = None

    # -- callbacks -------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        if transport.is_close_frame_sent:
            # We are closing: only the peer's CLOSE matters now.
            if msg_type == WSMsgType.CLOSE:
                self._on_close(transport, frame)
            return
        if frame.rsv1 or frame.rsv2 or frame.rsv3:
            # picows passes the RSV bits through (extensions are the user's
            # business); this server negotiates none, so any of them fails any
            # frame, control frames included (which is why auto-pong is off,
            # see start_server).
            self.fail(WSCloseCode.PROTOCOL_ERROR, "RSV bit set but no extension was negotiated")
            if msg_type == WSMsgType.CLOSE:
                transport.disconnect()  # picows parses nothing after a CLOSE: no answer can come
            return
        if msg_type == WSMsgType.CLOSE:
            self._on_close(transport, frame)
            return
        if msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_memoryview())
            return
        if msg_type == WSMsgType.PONG:
            return  # unsolicited pongs are allowed and ignored (RFC 6455 5.5.3)
        if msg_type == WSMsgType.CONTINUATION:
            if self._msg_type is None:
                self.fail(WSCloseCode.PROTOCOL_ERROR, "continuation frame without a message in progress")
                return
        elif self._msg_type is not None:
            self.fail(WSCloseCode.PROTOCOL_ERROR, "new data frame inside a fragmented message")
            return
        else:
            self._msg_type = msg_type
            self._decoder = _Utf8Decoder() if msg_type == WSMsgType.TEXT else None

        payload = frame.get_payload_as_memoryview()
        self._size += len(payload)
        if self._size > self.max_message_size:
            self.fail(WSCloseCode.MESSAGE_TOO_BIG, f"message larger than {self.max_message_size} bytes")
            return
        if self._decoder is not None and not _utf8_ok(self._decoder, payload, frame.fin):
            self.fail(WSCloseCode.INVALID_TEXT, "invalid UTF-8 in a text message")
            return
        if not frame.fin:
            self._parts += payload
            return
        echo_type = self._msg_type
        assert echo_type is not None
        if self._parts:
            self._parts += payload
            transport.send(echo_type, self._parts)
            self._parts = bytearray()  # never reuse a buffer handed to send()
        else:
            transport.send(echo_type, payload)  # single-frame message: no copy
        self.messages += 1
        self._msg_type = None
        self._decoder = None
        self._size = 0

    # -- closing ---------------------------------------------------------------

    def _on_close(self, transport: WSTransport, frame: WSFrame) -> None:
        code = frame.get_close_code()
        self.close_code_received = int(code)  # 0 (NO_INFO): the CLOSE carried no code
        initiated_by_peer = not transport.is_close_frame_sent
        if initiated_by_peer:
            # Echo the peer's CLOSE (picows has validated code and reason).
            if code == WSCloseCode.NO_INFO:
                transport.send_close()
            else:
                transport.send_close(code, frame.get_close_message())
            self.close_code_sent = int(code)
        if transport.is_client_side and initiated_by_peer:
            # RFC 6455 7.1.1: the server should close the TCP connection first.
            self._disconnect_later(transport)
        else:
            transport.disconnect()

    def fail(self, code: WSCloseCode, reason: str) -> None:
        """Fail the connection: send CLOSE(code), then wait (bounded) for the peer's CLOSE."""
        transport = self.transport
        assert transport is not None
        self._parts = bytearray()
        self._msg_type = self._decoder = None
        if not transport.is_close_frame_sent:
            transport.send_close(code, reason.encode()[:123])
            self.close_code_sent = int(code)
        self._disconnect_later(transport)

    def _disconnect_later(self, transport: WSTransport) -> None:
        if self._close_timer is None:
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(self.close_timeout, transport.disconnect)


async def start_server(
    host: str,
    port: int,
    *,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    check_fragment_order: bool = True,
    close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    **kwargs: Any,
) -> asyncio.Server:
    """Start the conformance echo server; the returned server is already accepting connections.

    ``check_fragment_order=False`` leaves fragment-order checking to the
    listener alone. Further keyword arguments go to ``ws_create_server``.
    """

    def route(request: WSUpgradeRequest) -> WSListener:
        return ConformanceEchoListener(max_message_size, close_timeout)

    kwargs.setdefault("enable_auto_pong", False)  # the listener answers PINGs itself
    return await ws_create_server(
        route,
        host,
        port,
        max_frame_size=max_message_size,  # one frame is never larger than its message
        check_fragment_order=check_fragment_order,
        **kwargs,
    )


async def serve(host: str, port: int, **options: Any) -> None:
    """Run the server until Ctrl+C / SIGTERM."""
    server = await start_server(host, port, **options)
    port = server.sockets[0].getsockname()[1]
    print(f"Conformance echo server listening on ws://{host}:{port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print("Conformance echo server stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=9001, help="0 for any free port (default: %(default)s)")
    parser.add_argument(
        "--max-message-size", type=int, default=DEFAULT_MAX_MESSAGE_SIZE,
        help="larger messages are closed with 1009 (default: %(default)s bytes)",
    )  # fmt: skip
    parser.add_argument(
        "--close-timeout", type=float, default=DEFAULT_CLOSE_TIMEOUT,
        help="seconds to wait for the peer's CLOSE after failing a connection (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--no-library-fragment-check", action="store_true",
        help="do not pass check_fragment_order=True to picows (the listener still checks)",
    )  # fmt: skip
    parser.add_argument(
        "--permessage-deflate", action="store_true", help="accept permessage-deflate (RFC 7692) offers"
    )
    args = parser.parse_args(argv)
    options = {
        "max_message_size": args.max_message_size,
        "close_timeout": args.close_timeout,
        "check_fragment_order": not args.no_library_fragment_check,
        "permessage_deflate": args.permessage_deflate,
    }
    asyncio.run(serve(args.host, args.port, **options))


if __name__ == "__main__":
    main()
