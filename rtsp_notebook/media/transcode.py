"""An MPEG-1 profile made from the stream's source relay: no second session to the camera.

A :class:`TranscodeRelay` is a relay whose FFmpeg reads MPEG-TS on stdin instead of opening the camera. Each
run subscribes to the stream's source relay (the camera's own video, copied), so it starts from the source's
keyframe cache (PAT, PMT, SPS/PPS and everything since the latest IDR: the first picture needs no wait for
the camera's next keyframe), writes its bytes to FFmpeg and fans FFmpeg's MPEG-1 out like any relay.

The camera's state is the source relay's: while the source connects, retries or waits for the user (a
wrong password), the transcode's viewers are told the same state and errors, word for word, and its FFmpeg
is stopped until the source plays again. A reconnect asked of the transcode is asked of the source. When the
source relay stops, or the transcoding FFmpeg fails, the run ends and the relay's retry loop starts a new one.
When the transcode goes to sleep or stops and the source is left with nobody to feed, the source goes at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .._compat import cancel_and_wait
from ..errors import FFmpegExitError, SourceError, error_for_code
from .events import EventKind, RelayEvent, RelayState
from .process import FFmpegProcess
from .relay import Relay, RelayConfig
from .subscription import CloseReason, Subscription, SubscriptionClosed

__all__ = ["TranscodeRelay"]

log = logging.getLogger(__name__)

KILL_GRACE = 0.3  # s between SIGTERM and SIGKILL for a transcoding FFmpeg

# Source states the transcode shows as its own while it waits for the source's video.
_MIRRORED = frozenset({RelayState.CONNECTING, RelayState.RECONNECTING, RelayState.ERROR})


def _error_of(event: RelayEvent) -> SourceError:
    """The source relay's error, from its ERROR event."""
    cls = error_for_code(event.code or "")
    message = event.message or "the source relay failed"
    if cls is not None and issubclass(cls, SourceError):
        return cls(message)
    return FFmpegExitError(message)


class TranscodeRelay(Relay):
    """A relay fed by ``await upstream()``, the stream's source relay (looked up at each run: the engine may
    have replaced it, and makes a new one only once the old one has stopped). ``argv`` reads MPEG-TS from
    stdin (:func:`~.ffmpeg.transcode_argv`)."""

    def __init__(
        self,
        stream_id: str,
        profile: str,
        argv: Sequence[str],
        *,
        upstream: Callable[[], Awaitable[Relay]],
        **kw: Any,
    ) -> None:
        config = kw.pop("config", None) or RelayConfig()
        # a transcode holds no camera session and nothing to flush: it gets a short grace before SIGKILL
        # (an FFmpeg blocked on its stdin or stdout may not end at SIGTERM)
        config = dataclasses.replace(config, kill_grace=min(config.kill_grace, KILL_GRACE))
        super().__init__(stream_id, profile, argv, config=config, **kw)
        self.upstream = upstream
        self.source: Relay | None = None  # the source relay it last fed from
        self.feed: Subscription | None = None  # this relay's subscription to the source, while it runs

    def retry_now(self) -> None:
        """Cut a backoff short here and at the source (a reconnect, or Play after a wrong password)."""
        super().retry_now()
        if self.source is not None:  # else the next run looks the source up, and it starts at once
            self.source.retry_now()

    async def sleep(self) -> None:
        try:
            await super().sleep()
        finally:
            self._release_source()

    async def stop(self, reason: CloseReason = CloseReason.STOPPED) -> None:
        try:
            await super().stop(reason)
        finally:  # a cancelled stop too: the feed closed when the run was cancelled
            self._release_source()

    def _release_source(self) -> None:
        """This relay went to sleep or stopped: if that left the source relay with nobody to feed, it goes
        at once instead of counting its own idle timeout down (the camera's session and the place under
        ``max_relays`` are free only once the source's FFmpeg is gone too)."""
        if self.source is not None and self.feed is None:
            self.source.idle_now()

    async def _run_once(self, attempt: int) -> float:
        """One subscription to the source, with as many transcoding FFmpegs as the source's plays."""
        if attempt == 0:
            self._set_state(RelayState.CONNECTING)
        self._keyframes.reset()
        self.playing_since = None
        self._played_from = None
        self.source = source = await self.upstream()
        self.feed = sub = source.subscribe()
        proc: FFmpegProcess | None = None
        pump: asyncio.Task[None] | None = None
        try:
            while True:
                item = await self._next(sub, pump)
                if item is None:  # the transcoding FFmpeg ended: its error is recorded
                    if pump is not None:
                        pump.result()  # a bug in the fan-out is the run loop's to report
                    return self._played_for()
                if isinstance(item, bytes):
                    if proc is None:
                        proc = await self._spawn()
                        if proc is None:
                            return 0.0
                        pump = asyncio.get_running_loop().create_task(self._drain(proc), name=self.name)
                    await proc.write(item)
                elif self._mirror(item) and proc is not None:  # the source stopped playing
                    await self._stop_transcoder(proc, pump)
                    proc, pump = None, None
        except SubscriptionClosed:
            return self._played_for()  # the source relay stopped: try again after the backoff
        except (BrokenPipeError, ConnectionResetError):
            self._fail(FFmpegExitError("the transcoding FFmpeg stopped reading"))
            return self._played_for()
        finally:
            sub.close()
            self.feed = None
            if proc is not None:
                await self._stop_transcoder(proc, pump)

    async def _next(self, sub: Subscription, pump: asyncio.Task[None] | None) -> bytes | RelayEvent | None:
        """The source's next bytes or event; None once the transcoding FFmpeg (``pump``) has ended."""
        getting = asyncio.ensure_future(sub.get())
        waiting: set[asyncio.Future[Any]] = {getting} if pump is None else {getting, pump}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getting.done():
                await cancel_and_wait(getting)  # a cancellation of this run is not swallowed
        if not getting.cancelled():
            return getting.result()  # raises SubscriptionClosed when the source stopped
        return None

    async def _spawn(self) -> FFmpegProcess | None:
        try:
            self.process = proc = await FFmpegProcess.spawn(self.argv, name=self.name, stdin=True)
        except OSError as exc:
            self._fail(FFmpegExitError(f"FFmpeg could not start: {exc.strerror or exc}"))
            return None
        self.spawns += 1
        return proc

    async def _drain(self, proc: FFmpegProcess) -> None:
        """Fan the transcoder's output out until it ends; then record why it ended."""
        try:
            first = await proc.read(self.config.start_timeout)
            await self._pump(proc, first)
            await proc.stop(self.config.kill_grace)
            self._fail(proc.error())
        except SourceError as exc:
            self._fail(exc)

    async def _stop_transcoder(self, proc: FFmpegProcess, pump: asyncio.Task[None] | None) -> None:
        proc.close_stdin()
        try:
            await cancel_and_wait(pump)
        finally:  # on every path, a cancellation of this run included: the FFmpeg is stopped and reaped
            await proc.stop(self.config.kill_grace)

    def _mirror(self, event: RelayEvent) -> bool:
        """Tell this relay's viewers what the source says; True when the source stopped playing."""
        if event.kind is EventKind.ERROR:
            self.last_error = _error_of(event)
            self._emit(self._event(EventKind.ERROR, code=event.code, message=event.message))
            return False
        if event.kind is EventKind.STATE and event.state in _MIRRORED:
            extra = {
                k: v
                for k, v in (("attempt", event.attempt), ("retry_in_s", event.retry_in_s))
                if v is not None
            }
            self._played_from = None
            self.playing_since = None
            self._set_state(event.state, event.message, **extra)
            return True
        return False
