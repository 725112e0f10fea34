"""The relay: one FFmpeg per (stream, profile), fanned out to any number of subscriptions.

A relay follows demand: it starts with its first subscriber, and ``idle_timeout`` seconds after its
last *active* one paused or left it stops its FFmpeg (never, with ``keep_alive``). Paused subscribers
stay attached to a stopped relay; the first to resume starts it again from cold. It reads whole TS
packets from FFmpeg, keeps a keyframe cache (PAT, PMT and everything since the latest I-frame) that
every new or resuming subscriber gets first, and offers each segment to every subscription without
waiting for any of them. When FFmpeg fails, exits or stalls, or anything unexpected goes wrong in the
relay itself, the relay records the error and starts FFmpeg again with exponential backoff and jitter
while its subscribers stay. A camera that refuses RTP over TCP (RTSP 461) is tried at once over UDP
when the relay has a fallback argv.
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

from .._compat import cancel_and_wait
from .._compat import timeout as _timeout
from ..errors import FFmpegExitError, SourceError, SourceTimeoutError, TransportRefusedError
from .events import EventKind, RelayEvent, RelayState
from .ffmpeg import Profile
from .keyframes import KeyframeCache
from .mpegts import PacketAligner, Segment, TsAnalyzer, VideoInfo
from .process import READ_CHUNK, FFmpegProcess
from .sources import mask_text
from .stats import RateMeter, RelayStats
from .subscription import CloseReason, Subscription

__all__ = ["Relay", "RelayConfig", "backoff_delay"]

log = logging.getLogger(__name__)

# Errors that retrying soon will not fix: the state shows ``error`` while retries go on slowly.
_PERSISTENT = frozenset({"AUTH", "NOT_FOUND", "UNSUPPORTED"})
# Errors after which the relay does not try again by itself: a wrong password retried in a loop locks the
# camera's account on many models. The user asks again (reconnect, Play) or changes the URL.
_ASK_FIRST = frozenset({"AUTH"})
_WAITING_FOR_USER = "not retrying: correct the user name or password, or press Play to try again"


@dataclass(frozen=True)
class RelayConfig:
    """Every timing and size limit of a relay, with its default."""

    idle_timeout: float = 10.0  # s without active (unpaused) subscribers before FFmpeg is stopped
    start_timeout: float = 10.0  # s for the camera to answer (FFmpeg opened its input) or first bytes
    keyframe_timeout: float = 20.0  # s from the camera's answer to FFmpeg's first bytes (a 10 s GOP plays)
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
        profile: Profile | str,
        argv: Sequence[str],
        *,
        secrets: Sequence[str] = (),
        config: RelayConfig | None = None,
        keep_alive: bool = False,
        on_event: Callable[[RelayEvent], None] | None = None,
        on_idle: Callable[[Relay], None] | None = None,
        on_demand: Callable[[Relay], None] | None = None,
        on_wake: Callable[[Relay], None] | None = None,
        fallback_argv: Sequence[str] | None = None,
        on_fallback: Callable[[Relay], None] | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.profile = Profile.parse(profile)
        self.argv = list(argv)
        self.secrets = tuple(secrets)
        self.config = config or RelayConfig()
        self.keep_alive = keep_alive
        self._on_event = on_event
        self._on_idle = on_idle
        self._on_demand = on_demand  # told when the relay's FFmpeg may no longer be needed (capacity)
        self._on_wake = on_wake  # told before a stopped relay starts again for a resuming viewer
        self.fallback_argv = list(fallback_argv) if fallback_argv is not None else None  # UDP after a 461
        self._on_fallback = on_fallback
        self.name = f"relay {stream_id}/{self.profile.value}"
        self.state = RelayState.IDLE
        self._state_message: str | None = None
        self._state_extra: dict[str, float | int] = {}
        self.subscriptions: set[Subscription] = set()
        self.last_error: SourceError | None = None
        self.video: VideoInfo | None = None
        self.process: FFmpegProcess | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle_handle: asyncio.TimerHandle | None = None
        self._retry = asyncio.Event()  # set: skip the rest of a backoff wait
        self._psi = b""
        self._keyframes = KeyframeCache(self.config.keyframe_cache_limit)
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
            self._activity,
        )
        self.subscriptions.add(sub)
        self._cancel_idle()
        error = self.last_error
        if error is not None and self.state in (RelayState.ERROR, RelayState.RECONNECTING):
            # a viewer joining a failing relay learns why at once (after AUTH the relay waits for the user)
            sub.push_event(self._error_event(error))
        sub.push_event(self._event(EventKind.STATE, message=self._state_message, **self._state_extra))
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
        self._check_demand()

    def _activity(self, _sub: Subscription) -> None:
        """A subscription paused or resumed."""
        self._check_demand()

    @property
    def active_viewers(self) -> int:
        """Subscriptions that want video now (not paused)."""
        return sum(1 for sub in self.subscriptions if not sub.paused)

    @property
    def running(self) -> bool:
        """Whether the relay holds (or is about to start) an FFmpeg and the camera's session."""
        return self._task is not None

    @property
    def stopped(self) -> bool:
        """Stopped for good (the owner dropped it, or its stream was removed)."""
        return self.state is RelayState.STOPPED

    @property
    def needed(self) -> bool:
        """Whether anyone wants this relay's FFmpeg now (an active viewer, or keep-alive)."""
        return self.keep_alive or self.active_viewers > 0

    def _check_demand(self) -> None:
        """Start for an active viewer; count down to a stop when nobody watches (paused viewers stay)."""
        if self.state is RelayState.STOPPED:
            return
        if self.needed:
            self._cancel_idle()
            if not self.running and self._on_wake is not None:
                self._on_wake(self)
            self.start()
            return
        if self._idle_handle is None and (self.running or not self.subscriptions):
            loop = asyncio.get_running_loop()
            self._idle_handle = loop.call_later(self.config.idle_timeout, self._idle)
        if self._on_demand is not None:
            self._on_demand(self)

    def _cancel_idle(self) -> None:
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None

    def _idle(self) -> None:
        self._idle_handle = None
        if self.needed or self.state is RelayState.STOPPED:
            return
        if self.subscriptions:  # all paused: free FFmpeg and the camera, keep the viewers
            log.info("%s: every viewer paused for %g s; stopping FFmpeg", self.name, self.config.idle_timeout)
            asyncio.get_running_loop().create_task(self.sleep(), name=f"sleep {self.name}")
            return
        log.info("%s: no viewers for %g s; stopping", self.name, self.config.idle_timeout)
        if self._on_idle is not None:
            self._on_idle(self)  # the owner forgets this relay, then stops it
        else:
            asyncio.get_running_loop().create_task(self.stop())

    async def sleep(self) -> None:
        """Stop FFmpeg (and the camera's session) but keep the subscriptions: the relay is ``idle`` until
        a viewer resumes or joins, which starts it from cold. Does nothing while someone needs it."""
        if self.needed or self.state is RelayState.STOPPED:
            return
        self._cancel_idle()
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        if self.needed or self.stopped:  # a viewer came back meanwhile, or the relay was stopped
            self._check_demand()
            return
        self._keyframes.reset()
        self.playing_since = None
        self._set_state(RelayState.IDLE)
        if self._on_demand is not None:
            self._on_demand(self)
        if not self.subscriptions:  # the last paused viewer left while FFmpeg stopped
            self._check_demand()

    def warm_start(self) -> bytes:
        """PAT + PMT + everything since the latest I-frame, or nothing before the first I-frame."""
        if self.state is not RelayState.PLAYING:
            return b""
        return self._keyframes.warm_start(self._psi)

    def _join_point(self) -> tuple[bytes, bool]:
        return self.warm_start(), self.state is RelayState.PLAYING

    @property
    def last_keyframe(self) -> bytes:
        """PSI and the latest complete I-frame (kept across restarts, for thumbnails)."""
        return self._keyframes.last_keyframe

    @property
    def last_keyframe_at(self) -> float | None:
        """When the first packet of ``last_keyframe``'s I-frame arrived (epoch seconds)."""
        return self._keyframes.last_keyframe_at

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None and self.state is not RelayState.STOPPED:
            self.started_at = time.time()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
            self._task.add_done_callback(self._run_ended)

    def _run_ended(self, task: asyncio.Task[None]) -> None:
        if self._task is task:
            self._task = None

    async def stop(self, reason: CloseReason = CloseReason.STOPPED) -> None:
        """Stop FFmpeg and close every subscription with ``reason`` (idempotent). ``ENDED``: the stream was
        removed, and the relay's last event says so."""
        self._cancel_idle()
        if self.state is not RelayState.STOPPED:
            self._set_state(RelayState.STOPPED)
            if reason is CloseReason.ENDED:
                self._emit(self._event(EventKind.ENDED))
        for sub in list(self.subscriptions):
            sub.close(reason)
        task, self._task = self._task, None
        try:
            await cancel_and_wait(task)
        finally:
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
        await cancel_and_wait(task)
        if self.state is not RelayState.STOPPED and self.needed:
            self.start()

    async def _run(self) -> None:
        attempt = 0
        # each run stops its own FFmpeg (_run_once), so a cancelled loop leaves none behind
        while True:
            try:
                played_for = await self._run_once(attempt)
            except Exception as exc:  # a bug must not leave a "playing" relay without FFmpeg
                log.exception("%s: unexpected error in the relay; restarting", self.name)
                played_for = 0.0
                text = mask_text(f"{type(exc).__name__}: {exc}", self.secrets)
                self._fail(FFmpegExitError(f"the relay failed unexpectedly ({text})"))
            if self._switch_transport():
                continue  # the camera refused TCP: try its fallback (UDP) at once
            if played_for >= self.config.stable_after:
                attempt = 0
            attempt += 1
            error = self.last_error
            self._retry.clear()
            if error is not None and error.code in _ASK_FIRST:
                # many cameras lock an account after a few failed logins: one attempt, then wait for
                # the user (reconnect / Play: retry_now) or a new URL (restart)
                self._set_state(RelayState.ERROR, attempt=attempt, message=_WAITING_FOR_USER)
                await self._retry.wait()
            else:
                delay = backoff_delay(attempt, self.config.backoff_initial, self.config.backoff_max)
                persistent = error is not None and error.code in _PERSISTENT
                state = RelayState.ERROR if persistent else RelayState.RECONNECTING
                self._set_state(state, attempt=attempt, retry_in_s=round(delay, 3))
                with contextlib.suppress(asyncio.TimeoutError):
                    async with _timeout(delay):
                        await self._retry.wait()
            self.restarts += 1
            self._emit(self._event(EventKind.RESTART, attempt=attempt))

    async def _run_once(self, attempt: int) -> float:
        """One FFmpeg run; returns how long it played. Records the error it ended with."""
        if attempt == 0:
            self._set_state(RelayState.CONNECTING)
        self._keyframes.reset()
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
            timeout = self.config.stall_timeout
            chunk = await self._first_chunk(proc)
            while chunk:
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
                chunk = await proc.read(timeout)
            await proc.stop(self.config.kill_grace)
            self._fail(proc.error())
        except SourceError as exc:  # a start deadline or a stall: tell viewers before the slow stop
            self._fail(exc)
        finally:  # on every path, cancellation and bugs included: this run's FFmpeg is stopped and reaped
            await proc.stop(self.config.kill_grace)
        return 0.0 if played_from is None else time.monotonic() - played_from

    async def _first_chunk(self, proc: FFmpegProcess) -> bytes:
        """FFmpeg's first bytes. The camera must answer (FFmpeg opened its input) within ``start_timeout``;
        then FFmpeg may wait ``keyframe_timeout`` more for the camera's next keyframe (viewers are told)."""
        config = self.config
        reading = asyncio.ensure_future(proc.stdout.read(READ_CHUNK))
        opened = asyncio.ensure_future(proc.opened.wait())
        try:
            done, _ = await asyncio.wait(
                {reading, opened}, timeout=config.start_timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if reading in done:
                return reading.result()
            if opened not in done:
                raise SourceTimeoutError(
                    f"the camera did not answer within {config.start_timeout:g} s (no RTSP session, no video)"
                )
            waiting = "connected; waiting for the camera's next keyframe"
            self._set_state(self.state, message=waiting)
            done, _ = await asyncio.wait({reading}, timeout=config.keyframe_timeout)
            if reading in done:
                return reading.result()
            raise SourceTimeoutError(
                f"the camera answered but sent no keyframe within {config.keyframe_timeout:g} s"
            )
        finally:
            reading.cancel()
            opened.cancel()

    def _switch_transport(self) -> bool:
        """After the camera refused the transport (RTSP 461): swap to the fallback argv, once."""
        if not isinstance(self.last_error, TransportRefusedError) or self.fallback_argv is None:
            return False
        self.argv, self.fallback_argv = self.fallback_argv, None
        log.info("%s: the camera refused RTP over TCP (461); trying UDP", self.name)
        if self._on_fallback is not None:
            self._on_fallback(self)
        return True

    def _on_playing(self, analyzer: TsAnalyzer) -> None:
        self.video = analyzer.video
        self.playing_since = time.time()
        self.last_error = None
        self._set_state(RelayState.PLAYING)
        self._emit(self._event(EventKind.VIDEO_START))

    def _fan_out(self, segment: Segment) -> None:
        psi = self._psi
        self._keyframes.add(segment, psi)
        for sub in tuple(self.subscriptions):
            sub.offer(segment, psi)

    def _fail(self, error: SourceError) -> None:
        self.last_error = error
        log.warning("%s: %s [%s]", self.name, error.message, error.code)
        self._emit(self._error_event(error))

    def _error_event(self, error: SourceError) -> RelayEvent:
        """The ERROR event viewers get (a retried error says so), the same for those who join later."""
        message = error.message
        if error.code not in _ASK_FIRST and self.state is not RelayState.STOPPED:
            message += "; retrying"
        return self._event(EventKind.ERROR, code=error.code, message=message)

    # -- events and figures ---------------------------------------------------------------------
    def _set_state(self, state: RelayState, message: str | None = None, **extra: float | int) -> None:
        self.state = state
        self._state_message = message  # what the relay waits for now, told to viewers who join
        self._state_extra = extra
        self._emit(self._event(EventKind.STATE, message=message, **extra))

    def _event(self, kind: EventKind, **extra: object) -> RelayEvent:
        video = self.video if kind is EventKind.VIDEO_START else None
        return RelayEvent(kind, self.stream_id, self.profile.value, self.state, video=video, **extra)  # type: ignore[arg-type]

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
            profile=self.profile.value,
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
        viewers = len(self.subscriptions)
        return f"<Relay {self.stream_id}/{self.profile.value} {self.state.value} viewers={viewers}>"
