"""The relay: one FFmpeg per (stream, profile), fanned out to any number of subscriptions.

A relay follows demand: it starts with its first subscriber, and ``idle_timeout`` seconds after its
last *active* one paused or left it stops its FFmpeg (never, with ``keep_alive``). Paused subscribers
stay attached to a stopped relay; the first to resume starts it again from cold. Every new or resuming
subscriber gets the keyframe cache first, and each segment is offered to every subscription without
waiting for any of them. Running FFmpeg, retrying it and the keyframe cache are the source side, in
``runner`` (:class:`~.runner.SourceRunner`, which a relay is).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Sequence

from .._compat import cancel_and_wait
from .events import EventKind, RelayEvent, RelayState
from .ffmpeg import Profile
from .mpegts import Segment
from .prebuffer import Prebuffer
from .runner import RelayConfig, SourceRunner, backoff_delay
from .stats import RelayStats
from .subscription import CloseReason, Subscription

__all__ = ["Relay", "RelayConfig", "backoff_delay"]

log = logging.getLogger(__name__)


class Relay(SourceRunner):
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
        super().__init__(stream_id, profile, argv, secrets, config, fallback_argv, on_event)
        self.keep_alive = keep_alive
        self._on_idle = on_idle
        self._on_demand = on_demand  # told when the relay's FFmpeg may no longer be needed (capacity)
        self._on_wake = on_wake  # told before a stopped relay starts again for a resuming viewer
        self._on_fallback = on_fallback
        self.subscriptions: set[Subscription] = set()
        self._idle_handle: asyncio.TimerHandle | None = None
        self._gone_out = self._gone_dropped = self._gone_drops = 0  # totals of subscriptions that left
        self.prebuffer: Prebuffer | None = None  # a source relay's last seconds, for clips

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

    def idle_now(self) -> None:
        """Cut a running idle countdown short: nobody watches, so stop (or sleep, with paused viewers) at
        once. A source relay is told this when its last transcode went to sleep or stopped, which already
        waited its own idle timeout (or gave its place up to make room)."""
        if self._idle_handle is not None:
            self._cancel_idle()
            self._idle()

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

    def _join_point(self) -> tuple[bytes, bool]:
        return self.warm_start(), self.state is RelayState.PLAYING

    # -- lifecycle ------------------------------------------------------------------------------
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
        if self.prebuffer is not None:
            self.prebuffer.close()
        task, self._task = self._task, None
        try:
            await cancel_and_wait(task)
        finally:
            if self.process is not None:
                await self.process.stop(self.config.kill_grace)

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

    def _switched_transport(self) -> None:
        if self._on_fallback is not None:
            self._on_fallback(self)

    def _fan_out(self, segment: Segment) -> None:
        super()._fan_out(segment)
        psi = self._psi
        for sub in tuple(self.subscriptions):
            sub.offer(segment, psi)
        if self.prebuffer is not None:
            self.prebuffer.add(segment, psi)

    # -- events and figures ---------------------------------------------------------------------
    def _emit(self, event: RelayEvent) -> None:
        for sub in tuple(self.subscriptions):
            sub.push_event(event)
        if self.prebuffer is not None:
            self.prebuffer.event(event)
        super()._emit(event)

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
