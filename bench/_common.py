"""What the figures of ``python -m bench`` share: CPU seconds of a process, a subscription sink, medians."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import time
from collections.abc import Iterable
from typing import Any

import psutil

from bench.first_video import PREDECESSOR_ARGS
from rtsp_notebook.media.events import RelayEvent
from rtsp_notebook.media.mpegts import PacketAligner, TsAnalyzer
from rtsp_notebook.media.subscription import Subscription, SubscriptionClosed

MB = 1_000_000


def predecessor_argv(ffmpeg: str, url: str) -> list[str]:
    """The predecessor app's FFmpeg command line (issue 7), quiet."""
    return [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        *PREDECESSOR_ARGS.format(url=url).split(),
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (not its children)."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def rounded(values: Iterable[float], digits: int = 4) -> list[float]:
    return [round(v, digits) for v in values]


class Sink:
    """Takes a subscription's data as fast as it comes: counts bytes and pictures, keeps the events."""

    def __init__(self, sub: Subscription, analyze: bool = True) -> None:
        self.sub = sub
        self.bytes = 0
        self.events: list[tuple[float, RelayEvent]] = []  # (time.time() when taken, event)
        self.last_bytes_at: float | None = None
        self.closed: str | None = None
        self._aligner = PacketAligner() if analyze else None
        self.analyzer = TsAnalyzer()
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def frames(self) -> int:
        return self.analyzer.frames

    async def _run(self) -> None:
        try:
            while True:
                item = await self.sub.get()
                if isinstance(item, bytes):
                    self.bytes += len(item)
                    self.last_bytes_at = time.time()
                    if self._aligner is not None:
                        self.analyzer.feed(self._aligner.feed(item))
                else:
                    self.events.append((time.time(), item))
        except SubscriptionClosed as exc:
            self.closed = exc.reason

    async def stop(self) -> None:
        self.sub.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def stop_process(proc: subprocess.Popen[Any], timeout: float = 5.0) -> None:
    """Kill a process this bench started and reap it (idempotent)."""
    if proc.poll() is None:
        proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
