"""The relay: one FFmpeg per (stream, profile), fanned out to any number of subscriptions.

A relay starts with its first subscriber and stops ``idle_timeout`` seconds after its last one left
(never, with ``keep_alive``). It reads whole TS packets from FFmpeg, keeps a keyframe cache (PAT,
PMT and everything since the latest I-frame) that every new or resuming subscriber gets first, and
offers each segment to every subscription without waiting for any of them. When FFmpeg fails, exits
or stalls, the relay starts it again with exponential backoff and jitter while its subscribers stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ._compat import timeout as _timeout
from .errors import FFmpegExitError, SourceError
from .events import EventKind, RelayEvent, RelayState
from .mpegts import PacketAligner, Segment, TsAnalyzer, VideoInfo
from .process import FFmpegProcess
from .stats import RateMeter, RelayStats
from .subscription import Subscription

__all__ = ["Relay", "RelayConfig", "backoff_delay"]

log = logging.getLogger(__name__)

# Errors that retrying soon will not fix: the state shows ``error`` while retries go on slowly.
_PERSISTENT = frozenset({"AUTH", "NOT_FOUND", "UNSUPPORTED"})


@dataclass(frozen=True)
class RelayConfig:
    """Every timing and size limit of a relay, with its default."""

    idle_timeout: float = 10.0  # s without subscribers before FFmpeg is stopped
    start_timeout: float = 10.0  # s for FFmpeg's first bytes
    stall_timeout: float = 5.0  # s without bytes once it played
    backoff_initial: float = 0.5  # s before the first retry
    backoff_max: float = 30.0  # s, the longest wait between retries
    stable_after: float = 10.0  # s of playing after which the backoff starts again from the beginning
    subscriber_budget: int = 2 << 20  # bytes a subscription may hold before it drops to the next I-frame
    stuck_timeout: float = 15.0  # s a dropping subscription may go without reading before it is closed
    keyframe_cache_limit: int = 8 << 20  # bytes; a longer GOP is not cached
    kill_grace: float = 2.0  # s between SIGTERM and SIGKILL


def backoff_delay(
    attempt: int, initial: float, maximum: float, rand: Callable[[], float] = random.random
) -> float:
    """Exponential backoff with jitter: ``initial * 2**(attempt-1)`` capped at ``maximum``, ±20 %."""
    base = min(maximum, initial * 2.0 ** max(0, attempt - 1))
    return min(maximum, base * (0.8 + 0.4 * rand()))


class Relay:
    """Relays one source for one profile. Owned by the engine; see :meth:`subscribe`."""

    _ids = itertools.count(1)

    def __init__(
        self,
        stream_id: str,
        profile: str,
        argv: Sequence[str],
        *,
        secrets: Sequence[str] = (),
        config: RelayConfig | None = None,
        keep_alive: bool = False,
        on_event: Callable[[RelayEvent], None] | None = None,
        on_idle: Callable[[Relay], None] | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.profile = profile
        self.argv = list(argv)
        self.secrets = tuple(secrets)
        self.config = config or RelayConfig()
        self.keep_alive = keep_alive
        self._on_event = on_event
        self._on_idle = on_idle
        self.name = f"relay {stream_id}/{profile}"
        self.state = RelayState.IDLE
        self.subscriptions: set[Subscription] = set()
        self.last_error: SourceError | None = None
        self.video: VideoInfo | None = None
        self.process: FFmpegProcess | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        self._retry = asyncio.Event()  # set: skip the rest of a backoff wait
        self._psi = b""
        self._cache: list[bytes] = []
        self._cache_bytes = 0
        self._last_keyframe = b""  # PSI + the latest whole I-frame's segment, for thumbnails
        self.last_keyframe_at: float | None = None  # epoch seconds when it arrived
        self._meter = RateMeter()
        self.restarts = 0
        self.bytes_in = 0
        self._gone_out = self._gone_dropped = self._gone_drops = 0  # totals of subscriptions that left
        self.spawns = 0
        self.started_at: float | None = None
        self.playing_since: float | None = None
        self.last_frame_at: float | None = None

    # -- subscribers ----------------------------------------------------------------------------
    def subscribe(self) -> Subscription:
        """A new subscription; starts the relay if needed. Synchronous, so joins cannot race."""
        if self.state is RelayState.STOPPED:
            raise RuntimeError(f"{self.name} is stopped")
        sub = Subscription(
            next(self._ids),
            self.config.subscriber_budget,
            self.config.stuck_timeout,
            self._unsubscribe,
            self._join_point,
        )
        self.subscriptions.add(sub)
        self._cancel_idle()
        sub.push_event(self._event(EventKind.STATE))
        if self.state is RelayState.PLAYING and self.video is not None:
            sub.push_event(self._event(EventKind.VIDEO_START))
        sub.join(*self._join_point())
        self.start()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscriptions:
            self.subscriptions.discard(sub)
            self._gone_out += sub.bytes_out
            self._gone_dropped += sub.dropped_bytes
            self._gone_drops += sub.drops
        if not self.subscriptions and not self.keep_alive and self.state is not RelayState.STOPPED:
            self._cancel_idle()
            loop = asyncio.get_running_loop()
            self._idle_handle = loop.call_later(self.config.idle_timeout, self._idle)

    def _cancel_idle(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None

    def _idle(self) -> None:
        self._idle_handle = None
        if self.subscriptions or self.keep_alive:
            return
        log.info("%s: no viewers for %g s; stopping", self.name, self.config.idle_timeout)
        if self._on_idle is not None:
            self._on_idle(self)  # the owner forgets this relay, then stops it
        else:
            asyncio.get_running_loop().create_task(self.stop())

    def warm_start(self) -> bytes:
        """PAT + PMT + everything since the latest I-frame, or nothing before the first I-frame."""
        if self.state is not RelayState.PLAYING or not self._cache or not self._psi:
            return b""
        return self._psi + b"".join(self._cache)

    def _join_point(self) -> tuple[bytes, bool]:
        return self.warm_start(), self.state is RelayState.PLAYING

    @property
    def last_keyframe(self) -> bytes:
        """PSI and the latest complete I-frame (kept across restarts, for thumbnails)."""
        return self._last_keyframe

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None and self.state is not RelayState.STOPPED:
            self.started_at = time.time()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    async def stop(self, reason: str = "stopped", *, ended: bool = False) -> None:
        """Stop FFmpeg and close every subscription (idempotent). ``ended``: the stream was removed."""
        self._cancel_idle()
        if self.state is not RelayState.STOPPED:
            self._set_state(RelayState.STOPPED)
            if ended:
                self._emit(self._event(EventKind.ENDED))
        for sub in list(self.subscriptions):
            sub.close(reason)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.process is not None:
            await self.process.stop(self.config.kill_grace)

    def retry_now(self) -> None:
        """Cut a backoff wait short: the next attempt starts at once."""
        self._retry.set()

    async def restart(self, argv: Sequence[str] | None = None, secrets: Sequence[str] | None = None) -> None:
        """Start FFmpeg again (with a new argv after a URL change); subscribers stay."""
        if argv is not None:
            self.argv = list(argv)
        if secrets is not None:
            self.secrets = tuple(secrets)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.state is not RelayState.STOPPED and (self.subscriptions or self.keep_alive):
            self.start()

    async def _run(self) -> None:
        attempt = 0
        try:
            while True:
                played_for = await self._run_once(attempt)
                if played_for >= self.config.stable_after:
                    attempt = 0
                attempt += 1
                delay = backoff_delay(attempt, self.config.backoff_initial, self.config.backoff_max)
                error = self.last_error
                persistent = error is not None and error.code in _PERSISTENT
                state = RelayState.ERROR if persistent else RelayState.RECONNECTING
                self._set_state(state, attempt=attempt, retry_in_s=round(delay, 3))
                self._retry.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    async with _timeout(delay):
                        await self._retry.wait()
                self.restarts += 1
                self._emit(self._event(EventKind.RESTART, attempt=attempt))
        finally:
            if self.process is not None:
                await self.process.stop(self.config.kill_grace)  # shielded: runs to the end

    async def _run_once(self, attempt: int) -> float:
        """One FFmpeg run; returns how long it played. Records the error it ended with."""
        if attempt == 0:
            self._set_state(RelayState.CONNECTING)
        self._cache, self._cache_bytes = [], 0
        self.playing_since = None
        try:
            self.process = proc = await FFmpegProcess.spawn(self.argv, name=self.name, secrets=self.secrets)
        except OSError as exc:
            self._fail(FFmpegExitError(f"FFmpeg could not start: {exc.strerror or exc}"))
            return 0.0
        self.spawns += 1
        played_from: float | None = None
        try:
            aligner, analyzer = PacketAligner(), TsAnalyzer()
            timeout = self.config.start_timeout
            while chunk := await proc.read(timeout):
                self.bytes_in += len(chunk)
                frames = analyzer.frames
                segments = analyzer.feed(aligner.feed(chunk))
                if analyzer.frames != frames:
                    self.last_frame_at = time.time()
                if played_from is None and analyzer.keyframes:
                    played_from = time.monotonic()
                    timeout = self.config.stall_timeout
                    self._on_playing(analyzer)
                self._meter.add(len(chunk), analyzer.frames - frames)
                self._psi = analyzer.psi or self._psi
                for segment in segments:
                    self._fan_out(segment)
            await proc.stop(self.config.kill_grace)
            self._fail(proc.error())
        except SourceError as exc:  # a start deadline or a stall: tell viewers before the slow stop
            self._fail(exc)
            await proc.stop(self.config.kill_grace)
        return 0.0 if played_from is None else time.monotonic() - played_from

    def _on_playing(self, analyzer: TsAnalyzer) -> None:
        self.video = analyzer.video
        self.playing_since = time.time()
        self.last_error = None
        self._set_state(RelayState.PLAYING)
        self._emit(self._event(EventKind.VIDEO_START))

    def _fan_out(self, segment: Segment) -> None:
        if segment.keyframe:
            self._cache, self._cache_bytes = [segment.data], len(segment.data)
            self._last_keyframe = self._psi + segment.data
            self.last_keyframe_at = time.time()
        elif self._cache:
            self._cache_bytes += len(segment.data)
            if self._cache_bytes > self.config.keyframe_cache_limit:
                self._cache, self._cache_bytes = [], 0
            else:
                self._cache.append(segment.data)
        psi = self._psi
        for sub in tuple(self.subscriptions):
            sub.offer(segment, psi)

    def _fail(self, error: SourceError) -> None:
        self.last_error = error
        log.warning("%s: %s [%s]", self.name, error.message, error.code)
        self._emit(self._event(EventKind.ERROR, code=error.code, message=error.message))

    # -- events and figures ---------------------------------------------------------------------
    def _set_state(self, state: RelayState, **extra: float | int) -> None:
        self.state = state
        self._emit(self._event(EventKind.STATE, **extra))

    def _event(self, kind: EventKind, **extra: object) -> RelayEvent:
        video = self.video if kind is EventKind.VIDEO_START else None
        return RelayEvent(kind, self.stream_id, self.profile, self.state, video=video, **extra)  # type: ignore[arg-type]

    def _emit(self, event: RelayEvent) -> None:
        for sub in tuple(self.subscriptions):
            sub.push_event(event)
        if self._on_event is not None:
            self._on_event(event)

    def stats(self) -> RelayStats:
        now = time.time()
        subs = self.subscriptions
        fps, kbps = self._meter.rates()
        return RelayStats(
            stream_id=self.stream_id,
            profile=self.profile,
            state=self.state,
            viewers=len(subs),
            uptime_s=round(now - self.playing_since, 3) if self.playing_since else 0.0,
            restarts=self.restarts,
            fps=fps,
            kbps=kbps,
            bytes_in=self.bytes_in,
            bytes_out=self._gone_out + sum(s.bytes_out for s in subs),
            dropped_bytes=self._gone_dropped + sum(s.dropped_bytes for s in subs),
            drops=self._gone_drops + sum(s.drops for s in subs),
            last_frame_age_s=round(now - self.last_frame_at, 3) if self.last_frame_at else None,
            last_error=self.last_error.message if self.last_error else None,
            last_error_code=self.last_error.code if self.last_error else None,
            pid=self.process.pid if self.process and self.process.returncode is None else None,
        )

    def __repr__(self) -> str:
        return f"<Relay {self.stream_id}/{self.profile} {self.state.value} viewers={len(self.subscriptions)}>"
