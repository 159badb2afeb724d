"""Frame-level helpers for the data-path tests (echo, send, violations, ...).

Complements ``helpers.py`` with:

* a fast reference frame encoder/decoder that exposes every header bit
  (mask bit, rsv2/rsv3, the mask key) so the tests can check what a picows
  peer really put on the wire;
* raw WebSocket peers (server and client) built on plain asyncio streams,
  so each picows role can be tested against a hand-written counterpart;
* a picows server wrapper that hands the server-side listeners to the test;
* listeners that snapshot ``WSFrame`` data inside ``on_ws_frame`` (frames are
  only valid during the callback).

Everything uses only picows' public API or raw sockets.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any, Callable

import helpers
import picows
from helpers import TIMEOUT
from picows import WSFrame, WSListener, WSMsgType, WSTransport

# How long a raw peer waits to be reasonably sure that *nothing* arrives.
QUIET_PERIOD = 0.15

# ----------------------------------------------------------------------------
# Reference encoder / decoder
# ----------------------------------------------------------------------------


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` (fast for large payloads)."""
    n = len(payload)
    if n == 0:
        return b""
    full_mask = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(full_mask, "little")).to_bytes(n, "little")


def make_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    masked: bool = False,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask: bytes | None = None,
    length_override: int | None = None,
    force_64bit_length: bool = False,
) -> bytes:
    """Encode one frame independently of picows.

    ``masked=True`` (or an explicit ``mask``) produces a client-style frame.
    ``length_override`` writes a length that differs from the real payload
    (for hostile headers). ``force_64bit_length`` uses the 8-byte length form
    even for small payloads.
    """
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0) | opcode
    n = len(payload) if length_override is None else length_override
    if masked and mask is None:
        mask = os.urandom(4)
    mbit = 0x80 if mask is not None else 0
    if force_64bit_length or n >= 65536:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    elif n >= 126:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BB", b0, mbit | n)
    if mask is not None:
        return head + mask + apply_mask(payload, mask)
    return head + payload


def client_frame(opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
    """A correctly masked client->server frame."""
    return make_frame(opcode, payload, masked=True, **kwargs)


def server_frame(opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
    """An unmasked server->client frame."""
    return make_frame(opcode, payload, masked=False, **kwargs)


def frame_for(role_of_sender: str, opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
    """``role_of_sender`` is "client" (masked) or "server" (unmasked)."""
    if role_of_sender == "client":
        return client_frame(opcode, payload, **kwargs)
    return server_frame(opcode, payload, **kwargs)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class RawFrame:
    """A decoded frame as seen on the wire (payload already unmasked)."""

    __slots__ = ("opcode", "fin", "rsv1", "rsv2", "rsv3", "masked", "mask", "payload", "wire_size")

    def __init__(
        self,
        opcode: int,
        fin: bool,
        rsv1: bool,
        rsv2: bool,
        rsv3: bool,
        masked: bool,
        mask: bytes | None,
        payload: bytes,
        wire_size: int,
    ) -> None:
        self.opcode = opcode
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.masked = masked
        self.mask = mask
        self.payload = payload
        self.wire_size = wire_size

    @property
    def close_code(self) -> int | None:
        assert self.opcode == WSMsgType.CLOSE
        if len(self.payload) < 2:
            return None
        return int(struct.unpack("!H", self.payload[:2])[0])

    @property
    def close_message(self) -> bytes:
        return self.payload[2:]

    def __repr__(self) -> str:
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return (
            f"RawFrame(opcode={self.opcode:#x}, fin={self.fin}, rsv=({self.rsv1},{self.rsv2},{self.rsv3}), "
            f"masked={self.masked}, len={len(self.payload)}, payload={p!r})"
        )


async def read_frame(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> RawFrame:
    """Read one frame; raises asyncio.IncompleteReadError on EOF, TimeoutError on silence."""

    async def _read() -> RawFrame:
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7F
        size = 2
        if n == 126:
            (n,) = struct.unpack("!H", await reader.readexactly(2))
            size += 2
        elif n == 127:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
            size += 8
        mask = None
        if b1 & 0x80:
            mask = await reader.readexactly(4)
            size += 4
        payload = await reader.readexactly(n)
        if mask is not None:
            payload = apply_mask(payload, mask)
        return RawFrame(
            b0 & 0x0F,
            bool(b0 & 0x80),
            bool(b0 & 0x40),
            bool(b0 & 0x20),
            bool(b0 & 0x10),
            bool(b1 & 0x80),
            mask,
            payload,
            size + n,
        )

    return await asyncio.wait_for(_read(), timeout)


async def read_frame_or_eof(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> RawFrame | None:
    """Like read_frame, but returns None when the peer closed the connection (cleanly at a frame boundary)."""
    try:
        return await read_frame(reader, timeout)
    except asyncio.IncompleteReadError as e:
        assert e.partial == b"", f"connection closed in the middle of a frame: {e.partial!r}"
        return None
    except ConnectionResetError:
        return None


async def expect_close(reader: asyncio.StreamReader, code: int | None, *, max_frames: int = 10000) -> RawFrame:
    """Skip data/control frames until a CLOSE frame arrives; check its code.

    ``code=None`` means an empty CLOSE payload is expected.
    """
    for _ in range(max_frames):
        f = await read_frame_or_eof(reader)
        assert f is not None, f"connection closed without a CLOSE frame (expected close code {code})"
        if f.opcode == WSMsgType.CLOSE:
            assert f.close_code == code, f"expected CLOSE with code {code}, got {f!r} (code {f.close_code})"
            return f
    raise AssertionError("too many frames before CLOSE")


async def expect_eof(reader: asyncio.StreamReader, timeout: float = TIMEOUT) -> bytes:
    """Wait until the peer closes the TCP connection; returns any bytes that arrived before EOF."""
    got = b""

    async def _drain() -> bytes:
        data = b""
        for _ in range(100000):
            try:
                chunk = await reader.read(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk
        raise AssertionError("peer keeps sending instead of closing")

    got = await asyncio.wait_for(_drain(), timeout)
    return got


async def expect_close_then_eof(reader: asyncio.StreamReader, code: int | None) -> RawFrame:
    f = await expect_close(reader, code)
    rest = await expect_eof(reader)
    assert rest == b"", f"bytes sent after CLOSE: {rest[:50]!r}"
    return f


async def expect_silence(reader: asyncio.StreamReader, period: float = QUIET_PERIOD) -> None:
    """Assert that nothing arrives (and the connection is not closed) for ``period`` seconds."""
    try:
        data = await asyncio.wait_for(reader.read(1), period)
    except asyncio.TimeoutError:
        return
    raise AssertionError(f"expected silence, got {data!r}")


# ----------------------------------------------------------------------------
# Raw peers
# ----------------------------------------------------------------------------


class RawPeer:
    """One raw TCP connection with the WebSocket handshake already done."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, role: str) -> None:
        self.reader = reader
        self.writer = writer
        self.head = head  # raw HTTP head received from the picows side
        self.role = role  # role of THIS raw peer: "client" or "server"
        self.done = asyncio.Event()

    def frame(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> bytes:
        """Encode a well-formed frame for this peer's role (masked for a client)."""
        return frame_for(self.role, opcode, payload, **kwargs)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), TIMEOUT)

    async def send(self, opcode: int, payload: bytes = b"", **kwargs: Any) -> None:
        await self.write(self.frame(opcode, payload, **kwargs))

    async def read_frame(self, timeout: float = TIMEOUT) -> RawFrame:
        return await read_frame(self.reader, timeout)

    async def read_data_frame(self, timeout: float = TIMEOUT) -> RawFrame:
        """Read the next frame and check the masking rule for the picows side."""
        f = await read_frame(self.reader, timeout)
        expected_masked = self.role == "server"  # a picows client masks
        assert f.masked == expected_masked, f"mask bit {f.masked} in a frame from the picows {'client' if expected_masked else 'server'}"
        return f

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        self.done.set()


class RawWSServer:
    def __init__(self, url: str, port: int) -> None:
        self.url = url
        self.port = port
        self.peers: asyncio.Queue[RawPeer] = asyncio.Queue()
        self.all_peers: list[RawPeer] = []

    async def accept(self, timeout: float = TIMEOUT) -> RawPeer:
        return await asyncio.wait_for(self.peers.get(), timeout)


@contextlib.asynccontextmanager
async def raw_ws_server(
    *, extra: bytes = b"", rcvbuf: int | None = None, handshake: bool = True
) -> AsyncIterator[RawWSServer]:
    """A hand-written WebSocket server on 127.0.0.1.

    Answers each upgrade with a correct 101 (followed by ``extra`` in the same
    write), then hands a RawPeer to the test via ``srv.accept()``; the
    connection stays open until the test calls ``peer.close()`` or leaves the
    context. ``rcvbuf`` shrinks SO_RCVBUF (set on the listening socket so the
    accepted sockets inherit it before the window is negotiated).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = RawWSServer(f"ws://127.0.0.1:{port}/", port)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer: RawPeer | None = None
        try:
            head = b""
            if handshake:
                head = await helpers.raw_server_handshake(reader, writer, extra)
            peer = RawPeer(reader, writer, head, "server")
            srv.all_peers.append(peer)
            srv.peers.put_nowait(peer)
            await peer.done.wait()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handler, sock=sock)
    try:
        yield srv
    finally:
        for p in srv.all_peers:
            p.close()
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT)


@contextlib.asynccontextmanager
async def raw_ws_client(
    port: int, *, path: str = "/", rcvbuf: int | None = None, headers: bytes = b""
) -> AsyncIterator[RawPeer]:
    """A hand-written WebSocket client connected to 127.0.0.1:port, handshake done (101 checked)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), TIMEOUT)
    except BaseException:
        sock.close()
        raise
    reader, writer = await asyncio.wait_for(asyncio.open_connection(sock=sock), TIMEOUT)
    peer: RawPeer | None = None
    try:
        key = base64.b64encode(os.urandom(16))
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key.decode()}\r\n".encode()
            + headers
            + b"\r\n"
        )
        head = await helpers.read_http_head(reader)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert helpers.accept_key(key) in head, head
        peer = RawPeer(reader, writer, head, "client")
        yield peer
    finally:
        writer.close()


# ----------------------------------------------------------------------------
# picows server wrapper
# ----------------------------------------------------------------------------


class PicowsServer:
    def __init__(self, url: str) -> None:
        self.url = url
        self.port = helpers.port_of(url)
        self.listeners: asyncio.Queue[Any] = asyncio.Queue()
        self.requests: list[Any] = []

    async def next_listener(self, timeout: float = TIMEOUT) -> Any:
        """The listener of the next accepted connection, once on_ws_connected ran (if it has a ``connected`` event)."""
        lst = await asyncio.wait_for(self.listeners.get(), timeout)
        ev = getattr(lst, "connected", None)
        if isinstance(ev, asyncio.Event):
            await asyncio.wait_for(ev.wait(), timeout)
        return lst


@contextlib.asynccontextmanager
async def picows_server(listener_factory: Callable[[], Any] = None, **kwargs: Any) -> AsyncIterator[PicowsServer]:  # type: ignore[assignment]
    """Run a picows server whose listeners (created by ``listener_factory()``) are handed to the test."""
    factory = listener_factory if listener_factory is not None else CollectingListener
    holder: list[PicowsServer] = []

    def ws_factory(request: Any) -> Any:
        lst = factory()
        holder[0].requests.append(request)
        holder[0].listeners.put_nowait(lst)
        return lst

    # ws_server yields the URL only after the server is listening; nothing can
    # connect before holder is filled.
    async with helpers.ws_server(ws_factory, **kwargs) as url:
        srv = PicowsServer(url)
        holder.append(srv)
        yield srv


async def connect(listener_factory: Callable[[], Any], url: str, **kwargs: Any) -> tuple[WSTransport, Any]:
    return await asyncio.wait_for(picows.ws_connect(listener_factory, url, **kwargs), TIMEOUT)


async def finish(transport: WSTransport) -> None:
    """Normal end of a connection: disconnect and wait (must not raise)."""
    transport.disconnect()
    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


async def wait_disconnected_any(transport: WSTransport) -> BaseException | None:
    """Wait for the disconnect and return the exception wait_disconnected raised (or None)."""
    try:
        await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
    except asyncio.TimeoutError:
        raise
    except Exception as e:  # noqa: BLE001 - returned to the caller for checking
        return e
    return None


# ----------------------------------------------------------------------------
# Listeners
# ----------------------------------------------------------------------------


CollectingListener = helpers.CollectingListener


def snapshot(frame: WSFrame) -> dict:
    """Everything observable about a frame, captured while it is valid."""
    d = {
        "msg_type": frame.msg_type,
        "fin": frame.fin,
        "rsv1": frame.rsv1,
        "last_in_buffer": frame.last_in_buffer,
        "tail_size": frame.tail_size,
        "payload": frame.get_payload_as_bytes(),
        "str": str(frame),
    }
    if frame.msg_type == WSMsgType.CLOSE:
        d["close_code"] = frame.get_close_code()
        d["close_message"] = frame.get_close_message()
    return d


class SnapshotListener(WSListener):
    """Records a snapshot of every frame (plus optional probe results) and lifecycle events."""

    probe: Callable[[WSFrame], Any] | None = None

    def __init__(self) -> None:
        self.snapshots: asyncio.Queue[dict] = asyncio.Queue()
        self.transport: WSTransport | None = None
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.events: list[str] = []

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.events.append("connected")
        self.connected.set()

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        assert transport is self.transport
        self.events.append("frame")
        d = snapshot(frame)
        if self.probe is not None:
            try:
                d["probe"] = self.probe(frame)
            except Exception as e:  # noqa: BLE001 - recorded for the test to check
                d["probe"] = e
        self.snapshots.put_nowait(d)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        assert transport is self.transport
        self.events.append("disconnected")
        self.disconnected.set()

    async def get(self, timeout: float = TIMEOUT) -> dict:
        return await asyncio.wait_for(self.snapshots.get(), timeout)


class CloseEchoListener(CollectingListener):
    """Collects frames; answers a received CLOSE with the same code/message and disconnects."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        super().on_ws_frame(transport, frame)
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()


def drain_queue(q: asyncio.Queue[Any]) -> list:
    items = []
    while not q.empty():
        items.append(q.get_nowait())
    return items


def payload_of(size: int, text: bool, seed: int = 0) -> bytes:
    """Deterministic payload; ASCII (valid UTF-8) for TEXT, arbitrary bytes for BINARY."""
    if text:
        alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        reps = size // len(alphabet) + 1
        return (alphabet * reps)[:size]
    if size == 0:
        return b""
    block = bytes((i * 131 + seed * 7 + 17) & 0xFF for i in range(256))
    data = (block * (size // 256 + 1))[:size]
    # make it non-periodic at the beginning so truncation/offset bugs show up
    head = os.urandom(min(size, 64))
    return head + data[len(head):]


@contextlib.asynccontextmanager
async def pair(
    picows_role: str, listener_factory: Callable[[], Any], *, check_clean: bool = True, **kwargs: Any
) -> AsyncIterator[tuple[RawPeer, Any, WSTransport]]:
    """(raw peer, picows listener, picows transport) with picows in ``picows_role``.

    picows_role "client": picows.ws_connect against a raw server.
    picows_role "server": picows.ws_create_server with a raw client.
    The listener must store its transport in ``.transport`` in on_ws_connected
    (CollectingListener / SnapshotListener do). With ``check_clean`` (client
    role) the final ``wait_disconnected`` must not raise.
    """
    if picows_role == "client":
        async with raw_ws_server() as srv:
            transport, listener = await connect(listener_factory, srv.url, **kwargs)
            peer = await srv.accept()
            try:
                yield peer, listener, transport
            finally:
                transport.disconnect()
                if check_clean:
                    await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)
                else:
                    await wait_disconnected_any(transport)
    else:
        assert picows_role == "server"
        async with picows_server(listener_factory, **kwargs) as srv:
            async with raw_ws_client(srv.port) as peer:
                listener = await srv.next_listener()
                yield peer, listener, listener.transport


ROLES = ["client", "server"]
