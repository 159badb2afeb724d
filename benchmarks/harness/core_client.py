"""A picows core client that does ``rounds`` binary echo round trips (the instruction-count tools' driver)."""

from __future__ import annotations

import asyncio


async def echo_rounds(url: str, payload: bytes, rounds: int) -> None:
    """Send ``payload``, await its echo, ``rounds`` times; then close normally. Every wait is bounded."""
    import picows  # imported here: the caller decides which picows (--ours-src) is on sys.path

    done = asyncio.get_running_loop().create_future()
    binary = picows.WSMsgType.BINARY  # compared by identity: an enum comparison costs more than the echo

    class Client(picows.WSListener):
        count = 0

        def on_ws_connected(self, transport):  # type: ignore[no-untyped-def]
            transport.send(binary, payload)

        def on_ws_frame(self, transport, frame):  # type: ignore[no-untyped-def]
            if frame.msg_type is not binary:  # the CLOSE answering ours, for one
                return
            self.count += 1
            if self.count >= rounds:
                done.set_result(None)
            else:
                transport.send(binary, payload)

    transport, _ = await picows.ws_connect(Client, url)
    await asyncio.wait_for(done, 600)
    transport.send_close(picows.WSCloseCode.OK)
    await asyncio.wait_for(transport.wait_disconnected(), 60)
