"""A client that reconnects after failures, with bounded exponential backoff.

Each failed connection attempt doubles the delay before the next one (with
random jitter, capped at ``--max-delay``); after ``--max-attempts``
consecutive failures the client gives up. A connection that was established
and then lost is re-opened right away, and resets the failure count::

    python examples/reconnecting_client.py ws://127.0.0.1:9001/ --max-attempts 5

Invalid URLs are not retried: no amount of waiting fixes them.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys

from picows import WSError, WSFrame, WSInvalidURL, WSListener, WSMsgType, WSTransport, ws_connect


class ClientListener(WSListener):
    """Says hello on every (re)connection and collects text messages."""

    def __init__(self, received: list[str]) -> None:
        self.received = received

    def on_ws_connected(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.TEXT, b"hello")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.TEXT:
            self.received.append(frame.get_payload_as_utf8_text())


def backoff_delay(failures: int, base_delay: float, max_delay: float) -> float:
    """Delay before the next attempt: exponential, capped, with "full jitter" in [50%, 100%]."""
    return min(max_delay, base_delay * 2.0 ** (failures - 1)) * random.uniform(0.5, 1.0)


async def run(
    url: str,
    *,
    max_attempts: int = 5,
    base_delay: float = 0.5,
    max_delay: float = 10.0,
    max_sessions: int | None = None,
) -> list[str]:
    """Stay connected to ``url`` for ``max_sessions`` connections (forever if None).

    Returns the text messages received; raises ConnectionError after
    ``max_attempts`` consecutive failed attempts.
    """
    received: list[str] = []
    sessions = failures = 0
    while max_sessions is None or sessions < max_sessions:
        try:
            transport, _ = await ws_connect(lambda: ClientListener(received), url)
        except WSInvalidURL:
            raise
        except (OSError, asyncio.TimeoutError, WSError) as exc:
            failures += 1
            if failures >= max_attempts:
                raise ConnectionError(f"giving up after {failures} failed attempts: {exc}") from exc
            delay = backoff_delay(failures, base_delay, max_delay)
            print(f"attempt {failures} failed ({exc}); retrying in {delay:.2f} s", flush=True)
            await asyncio.sleep(delay)
            continue
        failures = 0
        sessions += 1
        print(f"connected (session {sessions})", flush=True)
        try:
            await transport.wait_disconnected()
        except WSError as exc:  # the connection ended with a protocol error
            print(f"connection failed: {exc}", flush=True)
        print("disconnected", flush=True)
    return received


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="ws://127.0.0.1:9001/", help="default: %(default)s")
    parser.add_argument("--max-attempts", type=int, default=5, help="default: %(default)s")
    parser.add_argument("--base-delay", type=float, default=0.5, help="seconds (default: %(default)s)")
    parser.add_argument("--max-delay", type=float, default=10.0, help="seconds (default: %(default)s)")
    parser.add_argument("--max-sessions", type=int, help="stop after this many connections")
    args = parser.parse_args(argv)
    try:
        messages = asyncio.run(
            run(
                args.url,
                max_attempts=args.max_attempts,
                base_delay=args.base_delay,
                max_delay=args.max_delay,
                max_sessions=args.max_sessions,
            )
        )
    except ConnectionError as exc:
        sys.exit(str(exc))
    for message in messages:
        print(f"received: {message}")


if __name__ == "__main__":
    main()
