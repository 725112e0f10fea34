"""Typed relay figures: a sliding-window rate meter and the per-relay stats record."""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .events import RelayState

__all__ = ["RateMeter", "RelayStats"]


class RateMeter:
    """Pictures and bits per second over a sliding window of the last ``window`` seconds.

    ``fps`` comes from the pictures' own timestamps (when the chunk that ended them arrived): the
    slope of the running count of pictures over those times (least squares), so neither the wait for
    a camera's first picture, nor the moment of the question, nor pictures that arrive together (a
    burst FFmpeg held back while it started, two in one chunk) bend it. When no picture comes for
    longer than the usual gap (a stall), the time runs on to now and the rate falls, to 0 once the
    window has no pictures left.
    ``kbps`` likewise: the bytes that came after the window's first ones, over the time since those.
    """

    BYTE_SLOT_S = 0.05  # bytes are summed in slots this long: at most window / slot entries

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        self._pictures: collections.deque[tuple[float, int]] = collections.deque()  # (time, pictures)
        self._bytes: collections.deque[list[float]] = collections.deque()  # [start, last, bytes]

    def add(self, nbytes: int, frames: int) -> None:
        """A chunk of ``nbytes`` that ended ``frames`` pictures arrived now."""
        now = self._clock()
        if frames > 0:
            self._pictures.append((now, frames))
        if nbytes > 0:
            slot = self._bytes[-1] if self._bytes else None
            if slot is not None and now - slot[0] < self.BYTE_SLOT_S:
                slot[1] = now
                slot[2] += nbytes
            else:
                self._bytes.append([now, now, nbytes])
        self._forget(now)

    def _forget(self, now: float) -> None:
        start = now - self.window
        while self._pictures and self._pictures[0][0] < start:
            self._pictures.popleft()
        while self._bytes and self._bytes[0][0] < start:
            self._bytes.popleft()

    def rates(self) -> tuple[float, float]:
        """(frames per second, kilobits per second) over the window."""
        now = self._clock()
        self._forget(now)
        return round(self._fps(now), 2), round(self._kbps(now), 1)

    def _fps(self, now: float) -> float:
        pictures = self._pictures
        size = len(pictures)
        if size < 2:
            return 0.0
        first, last = pictures[0][0], pictures[-1][0]
        span = last - first
        if span <= 0:
            return 0.0
        times = [arrived - first for arrived, _ in pictures]
        counts = list(itertools.accumulate(n for _, n in pictures))
        mean_t, mean_c = sum(times) / size, sum(counts) / size
        covariance = sum((t - mean_t) * (c - mean_c) for t, c in zip(times, counts, strict=True))
        slope = covariance / sum((t - mean_t) ** 2 for t in times)
        gap = span / (size - 1)  # the usual time between two arrivals
        stalled = max(span, now - first - gap)  # runs on with the clock only in a stall
        return max(0.0, slope * span / stalled)

    def _kbps(self, now: float) -> float:
        slots = self._bytes
        if len(slots) < 2:
            return 0.0
        _, first_last, first_bytes = slots[0]
        return (sum(slot[2] for slot in slots) - first_bytes) * 8 / 1000 / (now - first_last)


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
