"""The measuring clock of a client run: warm-up, then a measured window (standard library only)."""

from __future__ import annotations

import time

from common import cpu_times, proc_cpu


class Clock:
    """Warm-up, then a measured window; ``tick()`` per completed round trip."""

    __slots__ = (
        "warmup",
        "duration",
        "limit",
        "phase_end",
        "measuring",
        "count",
        "t0",
        "t1",
        "cpu0",
        "cpu1",
        "server_pid",
        "scpu0",
        "scpu1",
    )

    def __init__(self, warmup: float, duration: float, limit: int = 0, server_pid: int = 0) -> None:
        self.warmup = warmup
        self.duration = duration
        self.limit = limit  # > 0: stop after this many measured round trips (profiling)
        self.measuring = False
        self.count = 0
        self.t0 = self.t1 = 0.0
        self.cpu0 = self.cpu1 = None
        self.phase_end = 0.0
        self.server_pid = server_pid  # > 0: also report the server's CPU time per round trip
        self.scpu0 = self.scpu1 = None

    def start(self) -> None:
        now = time.perf_counter()
        if self.warmup > 0:
            self.phase_end = now + self.warmup
        else:
            self._begin(now)

    def _begin(self, now: float) -> None:
        self.measuring = True
        self.count = 0
        self.t0 = now
        self.cpu0 = cpu_times()
        self.scpu0 = proc_cpu(self.server_pid)
        self.phase_end = now + self.duration

    def _end(self, now: float) -> None:
        self.t1 = now
        self.cpu1 = cpu_times()
        self.scpu1 = proc_cpu(self.server_pid)

    def tick(self) -> bool:
        """Count one round trip; return True when the run is over."""
        self.count += 1
        if self.limit and self.measuring:
            if self.count < self.limit:
                return False
            self._end(time.perf_counter())
            return True
        now = time.perf_counter()
        if now < self.phase_end:
            return False
        if not self.measuring:
            self._begin(now)
            return False
        self._end(now)
        return True

    def result(self) -> dict:
        elapsed = self.t1 - self.t0
        out = {
            "round_trips": self.count,
            "elapsed": elapsed,
            "rps": self.count / elapsed if elapsed > 0 else 0.0,
        }
        if self.cpu0 is not None and self.cpu1 is not None and self.count:
            # CPU time of THIS (client) process per round trip: much less
            # sensitive to other load on the machine than the wall-clock rps.
            user = self.cpu1[0] - self.cpu0[0]
            system = self.cpu1[1] - self.cpu0[1]
            out.update(
                cpu_user=user,
                cpu_sys=system,
                client_cpu_us_per_rt=(user + system) / self.count * 1e6,
                client_cpu_share=(user + system) / elapsed if elapsed > 0 else None,
            )
        if self.scpu0 is not None and self.scpu1 is not None and self.count:
            out.update(
                server_cpu_us_per_rt=(self.scpu1 - self.scpu0) / self.count * 1e6,
                server_cpu_share=(self.scpu1 - self.scpu0) / elapsed if elapsed > 0 else None,
            )
        return out
