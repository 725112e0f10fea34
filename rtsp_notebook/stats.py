"""Typed relay figures: a sliding-window rate meter and the per-relay stats record."""

from __future__ import annotations

import collections
import time
from dataclasses import asdict, dataclass
from typing import Any

from .events import RelayState

__all__ = ["RateMeter", "RelayStats"]


class RateMeter:
    """Bytes and frames per second over the last ``window`` seconds, in one-second buckets."""

    def __init__(self, window: int = 5, clock: Any = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._buckets: collections.deque[list[float]] = collections.deque()  # [second, bytes, frames]
        self._started = clock()

    def add(self, nbytes: int, frames: int) -> None:
        second = int(self._clock())
        if self._buckets and self._buckets[-1][0] == second:
            bucket = self._buckets[-1]
            bucket[1] += nbytes
            bucket[2] += frames
        else:
            self._buckets.append([second, nbytes, frames])
            while len(self._buckets) > self.window + 1:
                self._buckets.popleft()

    def rates(self) -> tuple[float, float]:
        """(frames per second, kilobits per second) over the complete seconds of the window."""
        now = self._clock()
        current = int(now)
        full = [b for b in self._buckets if current - self.window <= b[0] < current]
        span = min(self.window, max(1.0, current - max(self._started, current - self.window)))
        if not full:
            return 0.0, 0.0
        nbytes = sum(b[1] for b in full)
        frames = sum(b[2] for b in full)
        return round(frames / span, 2), round(nbytes * 8 / 1000 / span, 1)


@dataclass(frozen=True)
class RelayStats:
    stream_id: str
    profile: str
    state: RelayState
    viewers: int
    uptime_s: float
    restarts: int
    fps: float
    kbps: float
    bytes_in: int
    bytes_out: int
    dropped_bytes: int
    drops: int
    last_frame_age_s: float | None
    last_error: str | None
    last_error_code: str | None
    pid: int | None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = self.state.value
        return out
