"""A relay's source side: one FFmpeg run after another for one (stream, profile).

A :class:`SourceRunner` starts FFmpeg, waits for the camera to answer and for its first bytes, reads whole
TS packets, keeps the keyframe cache (PAT, PMT and everything since the latest I-frame) and hands every
segment to :meth:`SourceRunner._fan_out`. When FFmpeg fails, exits or stalls, or anything unexpected goes
wrong in the run loop itself, it records the error and starts FFmpeg again with exponential backoff and
jitter (after a wrong password only when asked: :meth:`SourceRunner.retry_now`). A camera that refuses RTP
over TCP (RTSP 461) is tried at once over UDP when there is a fallback argv. :class:`~.relay.Relay` adds
the subscribers, the fan-out and the demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._compat import timeout as _timeout
from ..errors import (
    FFmpegExitError,
    NotCarriedError,
    SourceError,
    SourceTimeoutError,
    TransportRefusedError,
)
from .events import EventKind, RelayEvent, RelayState
from .ffmpeg import Profile
from .keyframes import KeyframeCache
from .mpegts import PacketAligner, Segment, TsAnalyzer, VideoInfo
from .process import READ_CHUNK, FFmpegProcess
from .sources import mask_text
from .stats import RateMeter

__all__ = ["RelayConfig", "SourceRunner", "backoff_delay"]

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


class SourceRunner:
    """Runs the FFmpeg of one (stream, profile) again and again; the base of :class:`~.relay.Relay`."""

    def __init__(  # only Relay calls it (with the defaults)
        self,
        stream_id: str,
        profile: Profile | str,
        argv: Sequence[str],
        secrets: Sequence[str],
        config: RelayConfig | None,
        fallback_argv: Sequence[str] | None,
        on_event: Callable[[RelayEvent], None] | None,
    ) -> None:
        self.stream_id = stream_id
        self.profile = Profile(profile)
        self.argv = list(argv)
        self.secrets = tuple(secrets)
        self.config = config or RelayConfig()
        self._on_event = on_event
        self.fallback_argv = list(fallback_argv) if fallback_argv is not None else None  # UDP after a 461
        self.name = f"relay {stream_id}/{self.profile.value}"
        self.state = RelayState.IDLE
        self._state_message: str | None = None
        self._state_extra: dict[str, float | int] = {}
        self.last_error: SourceError | None = None
        self.video: VideoInfo | None = None
        self.process: FFmpegProcess | None = None
        self._task: asyncio.Task[None] | None = None
        self._retry = asyncio.Event()  # set: skip the rest of a backoff wait
        self._changed: asyncio.Event | None = None  # set (and dropped) at a state change or a keyframe
        self._psi = b""
        self._keyframes = KeyframeCache(self.config.keyframe_cache_limit)
        self._meter = RateMeter()
        self.restarts = 0
        self.bytes_in = 0
        self.spawns = 0
        self.started_at: float | None = None
        self._played_from: float | None = None  # monotonic time of this run's first keyframe
        self.playing_since: float | None = None
        self.last_frame_at: float | None = None

    @property
    def running(self) -> bool:
        """Whether the relay holds (or is about to start) an FFmpeg and the camera's session."""
        return self._task is not None

    @property
    def stopped(self) -> bool:
        """Stopped for good (the owner dropped it, or its stream was removed)."""
        return self.state is RelayState.STOPPED

    def warm_start(self) -> bytes:
        """PAT + PMT + everything since the latest I-frame, or nothing before the first I-frame."""
        if self.state is not RelayState.PLAYING:
            return b""
        return self._keyframes.warm_start(self._psi)

    async def next_keyframe(self, timeout: float) -> bytes:
        """:attr:`last_keyframe` once the relay plays: at once when it does, else after waiting (at most
        ``timeout`` s) while it connects; ``b""`` when it fails, stops or time runs out.
        A thumbnail asked as the camera's session starts waits for it instead of opening another."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self.state is RelayState.PLAYING and self._played_from is not None and self.last_keyframe):
            remaining = deadline - loop.time()
            waiting = self.state in (RelayState.CONNECTING, RelayState.PLAYING)  # not after a failure
            if remaining <= 0 or not self.running or not waiting:
                return b""
            if self._changed is None:
                self._changed = asyncio.Event()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return b""
        return self.last_keyframe

    def _poke(self) -> None:
        """Wake :meth:`next_keyframe` waiters to look again."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    @property
    def last_keyframe(self) -> bytes:
        """PSI and the latest complete I-frame (kept across restarts, for thumbnails)."""
        return self._keyframes.last_keyframe

    @property
    def last_keyframe_at(self) -> float | None:
        """When the first packet of ``last_keyframe``'s I-frame arrived (epoch seconds)."""
        return self._keyframes.last_keyframe_at

    # -- the run loop ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None and self.state is not RelayState.STOPPED:
            self.started_at = time.time()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
            self._task.add_done_callback(self._run_ended)

    def _run_ended(self, task: asyncio.Task[None]) -> None:
        if self._task is task:
            self._task = None

    def retry_now(self) -> None:
        """Cut a backoff wait short: the next attempt starts at once."""
        self._retry.set()

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
        self._played_from = None
        try:
            await self._pump(proc, await self._first_chunk(proc))
            await proc.stop(self.config.kill_grace)
            self._fail(proc.error())
        except SourceError as exc:  # a start deadline or a stall: tell viewers before the slow stop
            self._fail(exc)
        finally:  # on every path, cancellation and bugs included: this run's FFmpeg is stopped and reaped
            await proc.stop(self.config.kill_grace)
        return self._played_for()

    def _played_for(self) -> float:
        return 0.0 if self._played_from is None else time.monotonic() - self._played_from

    async def _pump(self, proc: FFmpegProcess, chunk: bytes) -> None:
        """Cut FFmpeg's stdout into segments and fan them out until it ends (an empty read); a stall
        raises :class:`~rtsp_notebook.errors.SourceTimeoutError`."""
        aligner, analyzer = PacketAligner(), TsAnalyzer()
        timeout = self.config.stall_timeout
        while chunk:
            self.bytes_in += len(chunk)
            frames = analyzer.frames
            segments = analyzer.feed(aligner.feed(chunk))
            if analyzer.frames != frames:
                self.last_frame_at = time.time()
            if analyzer.pmt and analyzer.video_pid is None:
                types = ", ".join(f"0x{t:02x}" for t in analyzer.stream_types) or "none"
                raise NotCarriedError(
                    f"the camera's video cannot be copied into MPEG-TS (stream types {types}; MJPEG is "
                    "muxed as private data): it is transcoded from the camera directly"
                )
            if self._played_from is None and analyzer.keyframes:
                self._played_from = time.monotonic()
                self._on_playing(analyzer)
            self._meter.add(len(chunk), analyzer.frames - frames)
            self._psi = analyzer.psi or self._psi
            for segment in segments:
                self._fan_out(segment)
            chunk = await proc.read(timeout)

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
        self._switched_transport()
        return True

    def _switched_transport(self) -> None:
        """Told after the switch to the fallback argv (the relay tells its owner)."""

    def _on_playing(self, analyzer: TsAnalyzer) -> None:
        self.video = analyzer.video
        self.playing_since = time.time()
        self.last_error = None
        self._set_state(RelayState.PLAYING)
        self._emit(self._event(EventKind.VIDEO_START))

    def _fan_out(self, segment: Segment) -> None:
        """Keep a new segment in the keyframe cache (the relay also offers it to its subscriptions)."""
        self._keyframes.add(segment, self._psi)
        if self._changed is not None and self.last_keyframe:
            self._poke()

    def _fail(self, error: SourceError) -> None:
        self.last_error = error
        log.warning("%s: %s [%s]", self.name, error.message, error.code)
        if isinstance(error, NotCarriedError):
            # not the camera's answer: the owner moves the viewers to relays that transcode the camera
            # (they see REROUTED, not an error a frames() reader would take for the camera's refusal)
            SourceRunner._emit(self, self._error_event(error))
            return
        self._emit(self._error_event(error))

    def _error_event(self, error: SourceError) -> RelayEvent:
        """The ERROR event viewers get (a retried error says so), the same for those who join later."""
        message = error.message
        if error.code not in _ASK_FIRST and self.state is not RelayState.STOPPED:
            message += "; retrying"
        return self._event(EventKind.ERROR, code=error.code, message=message)

    # -- events ---------------------------------------------------------------------------------
    def _set_state(self, state: RelayState, message: str | None = None, **extra: float | int) -> None:
        self.state = state
        self._poke()
        self._state_message = message  # what the relay waits for now, told to viewers who join
        self._state_extra = extra
        self._emit(self._event(EventKind.STATE, message=message, **extra))

    def _event(self, kind: EventKind, **extra: object) -> RelayEvent:
        video = self.video if kind is EventKind.VIDEO_START else None
        return RelayEvent(kind, self.stream_id, self.profile.value, self.state, video=video, **extra)  # type: ignore[arg-type]

    def _emit(self, event: RelayEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)
