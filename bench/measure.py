"""What every benchmark measures the same way: event-loop gaps, resident memory, CPU time.

Shared so that a "longest gap" or an "RSS" means one thing across the whole table.
"""

from __future__ import annotations

import os
import time
from typing import Any


class Heartbeat:
    """The longest time the Qt event loop went without running a 5 ms timer (a frozen window).

    Use as a context manager around the work measured; `gaps` holds every interval in seconds.
    """

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer  # benchmarks without Qt can still import this module

        self.gaps: list[float] = []
        self._last = 0.0
        self._timer: Any = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self.gaps.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self._beat()  # the stretch since the last beat counts too

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def longest_ms(self) -> float:
        return max(self.gaps, default=0.0) * 1000

    def over(self, ms: float) -> int:
        """How many gaps were longer than `ms`."""
        return sum(1 for g in self.gaps if g * 1000 > ms)


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (default this one) in MB, from /proc (Linux)."""
    with open(f"/proc/{pid or 'self'}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (default this one), all threads, in seconds."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU share of this process while the block runs: 1.0 = one core busy all the time."""

    def __enter__(self) -> CpuMeter:
        self._cpu = cpu_seconds()
        self._wall = time.perf_counter()
        self.share = 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        wall = time.perf_counter() - self._wall
        self.share = (cpu_seconds() - self._cpu) / wall if wall > 0 else 0.0
