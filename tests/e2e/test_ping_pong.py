"""SPEC "Ping and pong": auto-pong, auto-ping strategies, user hooks, round-trip measurement, debug logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

import picows
from picows import WSAutoPingStrategy, WSCloseCode, WSError, WSFrame, WSMsgType, WSTransport
from support import TIMEOUT
from support.frames import RawFrame, expect_close, read_frame
from support.listeners import CollectingListener, EchoListener, drain_queue
from support.net import expect_eof, expect_silence
from support.raw_ws import RawPeer, raw_ws_server
from support.servers import ROLES, connect, echo_server, finish, pair, picows_server, wait_disconnected_any

GOING_AWAY = int(WSCloseCode.GOING_AWAY)
INTERNAL_ERROR = int(WSCloseCode.INTERNAL_ERROR)


class Recorder:
    """Reads every frame picows sends to a raw peer; optionally answers pings."""

    def __init__(self, peer: RawPeer, answer: Any | None) -> None:
        self.peer = peer
        self.answer = answer  # callable(frame) -> Optional[bytes] to write back
        self.frames: list[RawFrame] = []
        self.changed = asyncio.Event()
        self.eof = False

    async def run(self) -> None:
        for _ in range(100000):
            try:
                f = await read_frame(self.peer.reader, timeout=3600)
            except (asyncio.IncompleteReadError, ConnectionError):
                self.eof = True
                self.changed.set()
                return
            assert f.masked == (self.peer.role == "server")
            self.frames.append(f)
            if self.answer is not None:
                reply = self.answer(f)
                if reply:
                    self.peer.writer.write(reply)
            self.changed.set()

    def count(self, opcode: int, payload: bytes | None = None) -> int:
        return sum(1 for f in self.frames if f.opcode == opcode and (payload is None or f.payload == payload))

    async def wait_until(self, pred: Any, timeout: float = TIMEOUT) -> None:
        async def _wait() -> None:
            for _ in range(100000):
                if pred():
                    return
                self.changed.clear()
                await self.changed.wait()
            raise AssertionError("condition never met")

        await asyncio.wait_for(_wait(), timeout)


def pong_answer(peer: RawPeer) -> Any:
    def answer(f: RawFrame) -> bytes | None:
        if f.opcode == WSMsgType.PING:
            return peer.frame(WSMsgType.PONG, f.payload)
        return None

    return answer


@contextlib.asynccontextmanager
async def recording(peer: RawPeer, answer: Any | None = None) -> AsyncIterator[Recorder]:
    rec = Recorder(peer, answer)
    task = asyncio.ensure_future(rec.run())
    try:
        yield rec
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


def auto_ping(idle: float, reply: float, strategy: WSAutoPingStrategy = WSAutoPingStrategy.PING_WHEN_IDLE) -> dict:
    return {
        "enable_auto_ping": True,
        "auto_ping_idle_timeout": idle,
        "auto_ping_reply_timeout": reply,
        "auto_ping_strategy": strategy,
    }


# ---------------------------------------------------------------------------
# auto-pong
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("picows_role", ROLES)
@pytest.mark.parametrize("payload", [b"", b"hello", b"\x00\xff" * 62 + b"!"], ids=["empty", "hello", "125"])
async def test_auto_pong_answers_ping_with_same_payload(picows_role: str, payload: bytes) -> None:
    async with pair(picows_role, CollectingListener) as (peer, listener, _t):
        await peer.send(WSMsgType.PING, payload)
        await peer.send(WSMsgType.TEXT, b"after")
        pong = await peer.read_data_frame()
        # the PING is not delivered to on_ws_frame
        first = await listener.get()
    assert (pong.opcode, pong.fin, pong.payload) == (WSMsgType.PONG, True, payload)
    assert first == (WSMsgType.TEXT, True, False, b"after")


@pytest.mark.parametrize("picows_role", ROLES)
async def test_auto_pong_disabled_delivers_ping(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener, enable_auto_pong=False) as (peer, listener, transport):
        await peer.send(WSMsgType.PING, b"deliver me")
        got = await listener.get()
        transport.send(WSMsgType.TEXT, b"marker")
        nxt = await peer.read_data_frame()
    assert got == (WSMsgType.PING, True, False, b"deliver me")
    assert (nxt.opcode, nxt.payload) == (WSMsgType.TEXT, b"marker"), "no PONG must be sent with auto-pong off"


# ---------------------------------------------------------------------------
# auto-ping
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("picows_role", ROLES)
async def test_auto_ping_when_idle(picows_role: str) -> None:
    idle = 0.3
    async with pair(picows_role, CollectingListener, **auto_ping(idle, idle)) as (peer, listener, transport):
        async with recording(peer, pong_answer(peer)) as rec:
            # data flows (an incoming frame every 30 ms for 2 idle periods): no ping
            for i in range(20):
                await peer.send(WSMsgType.BINARY, b"%d" % i)
                await asyncio.sleep(0.03)
            assert rec.count(WSMsgType.PING) == 0, rec.frames
            # idle: pings arrive, are answered, the connection survives
            await rec.wait_until(lambda: rec.count(WSMsgType.PING) >= 2)
            assert not transport.is_close_frame_sent
            assert rec.count(WSMsgType.CLOSE) == 0
        got = drain_queue(listener.frames)
    # the answering PONGs were consumed by the ping machinery
    assert [g[3] for g in got] == [b"%d" % i for i in range(20)]


@pytest.mark.parametrize("picows_role", ROLES)
async def test_auto_ping_periodically_even_while_data_flows(picows_role: str) -> None:
    idle = 0.2
    kw = auto_ping(idle, idle, WSAutoPingStrategy.PING_PERIODICALLY)
    async with pair(picows_role, CollectingListener, **kw) as (peer, _listener, transport):
        async with recording(peer, pong_answer(peer)) as rec:
            for i in range(400):
                if rec.count(WSMsgType.PING) >= 2:
                    break
                await peer.send(WSMsgType.BINARY, b"%d" % i)
                await asyncio.sleep(0.02)
            assert rec.count(WSMsgType.PING) >= 2
            assert rec.count(WSMsgType.CLOSE) == 0
            assert not transport.is_close_frame_sent


async def test_auto_ping_picows_to_picows_pongs_are_consumed() -> None:
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url, **auto_ping(0.15, 0.15))
        await asyncio.sleep(0.5)  # several ping/pong rounds
        transport.send(WSMsgType.TEXT, b"alive")
        assert await listener.get() == (WSMsgType.TEXT, True, False, b"alive")
        assert listener.frames.empty(), "PONGs answering auto-pings must not reach on_ws_frame"
        await finish(transport)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_no_pong_closes_with_going_away(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener, check_clean=False, **auto_ping(0.2, 0.2)) as (peer, listener, transport):
        ping = await peer.read_data_frame()
        assert ping.opcode == WSMsgType.PING
        close = await expect_close(peer.reader, GOING_AWAY)
        assert await expect_eof(peer.reader) == b""
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        assert transport.is_close_frame_sent is True
        if picows_role == "client":
            exc = await wait_disconnected_any(transport)
            assert exc is None or isinstance(exc, WSError), repr(exc)
    assert close.fin


@pytest.mark.parametrize(
    "idle,reply",
    [(1.0, 2.0), (0.1, 0.2)],
)
async def test_reply_timeout_larger_than_idle_timeout_is_rejected(idle: float, reply: float) -> None:
    async with raw_ws_server() as srv:
        with pytest.raises((ValueError, WSError)):
            await connect(CollectingListener, srv.url, **auto_ping(idle, reply))
    with pytest.raises((ValueError, WSError)):
        async with echo_server(**auto_ping(idle, reply)):
            pass


async def test_reply_timeout_equal_to_idle_timeout_is_accepted() -> None:
    async with echo_server(**auto_ping(1.0, 1.0)) as url:
        transport, _ = await connect(CollectingListener, url, **auto_ping(1.0, 1.0))
        await finish(transport)


# ---------------------------------------------------------------------------
# user-specific ping/pong hooks
# ---------------------------------------------------------------------------


class AppPingListener(CollectingListener):
    """Ping implemented as application messages: BINARY b"app-ping" / b"app-pong"."""

    def __init__(self) -> None:
        super().__init__()
        self.pings_sent = 0
        self.pong_checks: list[bytes] = []
        self.early_checks = 0

    def send_user_specific_ping(self, transport: WSTransport) -> None:
        self.pings_sent += 1
        transport.send(WSMsgType.BINARY, b"app-ping")

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        if self.pings_sent == 0:
            self.early_checks += 1
        payload = frame.get_payload_as_bytes()
        self.pong_checks.append(payload)
        return frame.msg_type == WSMsgType.BINARY and payload == b"app-pong"


def app_pong_answer(peer: RawPeer) -> Any:
    def answer(f: RawFrame) -> bytes | None:
        if f.opcode == WSMsgType.BINARY and f.payload == b"app-ping":
            return peer.frame(WSMsgType.BINARY, b"app-pong")
        return None

    return answer


@pytest.mark.parametrize("picows_role", ROLES)
async def test_user_specific_ping_pong(picows_role: str) -> None:
    async with pair(picows_role, AppPingListener, **auto_ping(0.2, 0.2)) as (peer, listener, transport):
        # no ping outstanding yet: an app-pong is an ordinary frame
        await peer.send(WSMsgType.BINARY, b"app-pong")
        assert await listener.get() == (WSMsgType.BINARY, True, False, b"app-pong")
        async with recording(peer, app_pong_answer(peer)) as rec:
            await rec.wait_until(lambda: rec.count(WSMsgType.BINARY, b"app-ping") >= 3)
            assert rec.count(WSMsgType.PING) == 0  # the default send_ping was replaced
            assert rec.count(WSMsgType.CLOSE) == 0
        assert not transport.is_close_frame_sent
        assert listener.frames.empty(), "answered app-pongs are consumed"
        assert listener.early_checks == 0, "is_user_specific_pong called while no pong was awaited"
        assert b"app-pong" in listener.pong_checks


class NotifyListener(CollectingListener):
    """Recognises pongs inside on_ws_frame and tells the ping machinery."""

    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)
        transport.notify_user_specific_pong_received()  # harmless when none is awaited

    def send_user_specific_ping(self, transport: WSTransport) -> None:
        transport.send(WSMsgType.BINARY, b"app-ping")

    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        return False

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        super().on_ws_frame(transport, frame)
        if frame.get_payload_as_bytes() == b"app-pong":
            transport.notify_user_specific_pong_received()


@pytest.mark.parametrize("picows_role", ROLES)
async def test_notify_user_specific_pong_received(picows_role: str) -> None:
    async with pair(picows_role, NotifyListener, **auto_ping(0.2, 0.2)) as (peer, listener, transport):
        async with recording(peer, app_pong_answer(peer)) as rec:
            await rec.wait_until(lambda: rec.count(WSMsgType.BINARY, b"app-ping") >= 3)
            assert rec.count(WSMsgType.CLOSE) == 0
        assert not transport.is_close_frame_sent
        got = drain_queue(listener.frames)
        assert len(got) >= 2 and all(g[3] == b"app-pong" for g in got)
        transport.notify_user_specific_pong_received()  # still harmless


# ---------------------------------------------------------------------------
# errors in ping hooks
# ---------------------------------------------------------------------------


class HookError(Exception):
    pass


class RaisingPingListener(CollectingListener):
    def send_user_specific_ping(self, transport: WSTransport) -> None:
        raise HookError("boom-ping")


class RaisingPongCheckListener(CollectingListener):
    def is_user_specific_pong(self, frame: WSFrame) -> bool:
        raise HookError("boom-pong-check")


@pytest.mark.parametrize("picows_role", ROLES)
async def test_send_user_specific_ping_raising_closes_with_internal_error(picows_role: str) -> None:
    async with pair(picows_role, RaisingPingListener, check_clean=False, **auto_ping(0.1, 0.1)) as (peer, listener, transport):
        await expect_close(peer.reader, INTERNAL_ERROR)
        assert await expect_eof(peer.reader) == b""
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        if picows_role == "client":
            with pytest.raises(HookError):
                await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_measure_roundtrip_time_with_a_raising_ping_hook(picows_role: str) -> None:
    """The hook's exception reaches the caller, and the callback-failure policy closes the connection."""
    async with pair(picows_role, RaisingPingListener, check_clean=False) as (peer, listener, transport):
        with pytest.raises(HookError):
            await asyncio.wait_for(transport.measure_roundtrip_time(2), TIMEOUT)
        await expect_close(peer.reader, INTERNAL_ERROR)
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_is_user_specific_pong_raising_closes_with_internal_error(picows_role: str) -> None:
    async with pair(picows_role, RaisingPongCheckListener, check_clean=False, **auto_ping(0.5, 0.5)) as (peer, listener, transport):
        ping = await peer.read_data_frame()
        assert ping.opcode == WSMsgType.PING
        await peer.send(WSMsgType.PONG, ping.payload)
        await expect_close(peer.reader, INTERNAL_ERROR)
        assert await expect_eof(peer.reader) == b""
        await asyncio.wait_for(listener.disconnected.wait(), TIMEOUT)
        if picows_role == "client":
            with pytest.raises(HookError):
                await asyncio.wait_for(transport.wait_disconnected(), TIMEOUT)


# ---------------------------------------------------------------------------
# measure_roundtrip_time
# ---------------------------------------------------------------------------


def _check_rtts(rtts: Any, n: int) -> None:
    assert isinstance(rtts, list)
    assert len(rtts) == n
    assert all(isinstance(x, float) and x > 0 for x in rtts), rtts


async def test_measure_roundtrip_time_client() -> None:
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url)
        _check_rtts(await asyncio.wait_for(transport.measure_roundtrip_time(5), TIMEOUT), 5)
        _check_rtts(await asyncio.wait_for(transport.measure_roundtrip_time(1), TIMEOUT), 1)
        assert listener.frames.empty(), "rtt pongs are consumed"
        transport.send(WSMsgType.TEXT, b"alive")
        assert (await listener.get())[3] == b"alive"
        await finish(transport)


async def test_measure_roundtrip_time_server() -> None:
    async with picows_server(CollectingListener) as srv:
        transport, _ = await connect(EchoListener, srv.url)
        server_listener = await srv.next_listener()
        _check_rtts(await asyncio.wait_for(server_listener.transport.measure_roundtrip_time(4), TIMEOUT), 4)
        assert server_listener.frames.empty()
        await finish(transport)


async def test_measure_roundtrip_time_while_auto_ping_is_on() -> None:
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url, **auto_ping(0.1, 0.1))
        for _ in range(3):
            _check_rtts(await asyncio.wait_for(transport.measure_roundtrip_time(10), TIMEOUT), 10)
            await asyncio.sleep(0.12)  # let an auto-ping be outstanding at the next call
        assert listener.frames.empty()
        assert not transport.is_close_frame_sent
        await finish(transport)


@pytest.mark.parametrize("picows_role", ROLES)
async def test_measure_roundtrip_time_uses_user_hooks(picows_role: str) -> None:
    async with pair(picows_role, AppPingListener) as (peer, listener, transport):
        async with recording(peer, app_pong_answer(peer)) as rec:
            _check_rtts(await asyncio.wait_for(transport.measure_roundtrip_time(3), TIMEOUT), 3)
            assert rec.count(WSMsgType.BINARY, b"app-ping") == 3
            assert rec.count(WSMsgType.PING) == 0
        assert listener.frames.empty()


@pytest.mark.parametrize("picows_role", ROLES)
async def test_measure_roundtrip_time_waits_for_outstanding_auto_ping(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener, **auto_ping(0.3, 0.3)) as (peer, listener, transport):
        auto = await peer.read_data_frame()
        assert auto.opcode == WSMsgType.PING
        task = asyncio.ensure_future(transport.measure_roundtrip_time(2))
        # while the auto-ping is unanswered, measuring does not send its own ping
        await expect_silence(peer.reader, 0.1)
        assert not task.done()
        await peer.send(WSMsgType.PONG, auto.payload)
        for _ in range(2):
            ping = await peer.read_data_frame()
            assert ping.opcode == WSMsgType.PING
            await peer.send(WSMsgType.PONG, ping.payload)
        _check_rtts(await asyncio.wait_for(task, TIMEOUT), 2)
        assert listener.frames.empty()
        assert not transport.is_close_frame_sent


@pytest.mark.parametrize("picows_role", ROLES)
async def test_measure_roundtrip_time_peer_drops(picows_role: str) -> None:
    async with pair(picows_role, CollectingListener, check_clean=False) as (peer, _listener, transport):
        task = asyncio.ensure_future(transport.measure_roundtrip_time(3))
        ping = await peer.read_data_frame()
        assert ping.opcode == WSMsgType.PING
        peer.close()  # the peer goes away instead of answering
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(task, TIMEOUT)


# ---------------------------------------------------------------------------
# debug logging
# ---------------------------------------------------------------------------


def _debug_records(caplog: pytest.LogCaptureFixture, prefix: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == picows.PICOWS_DEBUG_LL and (r.name == prefix or r.name.startswith(prefix + "."))
    ]


async def test_debug_logging_enabled(caplog: pytest.LogCaptureFixture) -> None:
    assert picows.PICOWS_DEBUG_LL == 9
    caplog.set_level(picows.PICOWS_DEBUG_LL, logger="picows.client")
    caplog.set_level(picows.PICOWS_DEBUG_LL, logger="picows.server")
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url)
        before_client = len(_debug_records(caplog, "picows.client"))
        before_server = len(_debug_records(caplog, "picows.server"))
        for i in range(3):
            transport.send(WSMsgType.BINARY, b"frame %d" % i)
        transport.send_reuse_external_bytearray(WSMsgType.BINARY, bytearray(14) + b"reused", 14)
        for _ in range(4):
            await listener.get()
        await finish(transport)
    # per-frame debug lines on both sides
    assert len(_debug_records(caplog, "picows.client")) >= before_client + 4
    assert len(_debug_records(caplog, "picows.server")) >= before_server + 4
    assert any("payload_sz=6" in r.getMessage() for r in _debug_records(caplog, "picows.client"))


async def test_debug_logging_of_auto_ping(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(picows.PICOWS_DEBUG_LL, logger="picows.client")
    async with echo_server() as url:
        transport, _listener = await connect(CollectingListener, url, **auto_ping(0.05, 0.05))
        try:
            for _ in range(int(TIMEOUT / 0.01)):  # bounded: until the first auto-ping is logged
                if any("auto-ping: sending ping" in r.getMessage() for r in _debug_records(caplog, "picows.client")):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError("no auto-ping was logged")
        finally:
            transport.disconnect()
            await wait_disconnected_any(transport)  # a pong slower than 50 ms may have closed it first


async def test_debug_logging_disabled_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="picows.client")
    caplog.set_level(logging.INFO, logger="picows.server")
    async with echo_server() as url:
        transport, listener = await connect(CollectingListener, url)
        for i in range(3):
            transport.send(WSMsgType.BINARY, b"frame %d" % i)
        for _ in range(3):
            await listener.get()
        await finish(transport)
    assert [r for r in caplog.records if r.name.startswith("picows") and r.levelno < logging.INFO] == []
