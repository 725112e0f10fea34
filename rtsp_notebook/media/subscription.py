"""A subscriber's side of a relay: a bounded queue of whole TS packets and events.

The relay *offers* data and never waits: over its byte budget, a subscription loses what it had
queued, counts the drop, and resumes at the next I-frame (preceded by PAT/PMT). A consumer (a
WebSocket, a widget comm, a test) *takes* from it at its own pace with :meth:`Subscription.get`.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .mpegts import Segment

if TYPE_CHECKING:
    from .events import RelayEvent

__all__ = ["CloseReason", "Subscription", "SubscriptionClosed"]

# Consumers get data in chunks of at most this size (many small segments are joined).
MAX_CHUNK = 1 << 18


class CloseReason(str, enum.Enum):
    """Why a subscription ended; the value is what a viewer or a log is told (a detail may say more)."""

    CLOSED = "closed"  # its consumer is done with it (the default)
    STOPPED = "stopped"  # the relay stopped: nobody watched it, or its owner dropped it
    ENDED = "ended"  # the stream was removed
    SHUTDOWN = "server shutting down"
    TOO_SLOW = "viewer too slow"  # nothing read for ``stuck_timeout``
    CHANNEL_CLOSED = "channel closed"  # the WebSocket or the comm went away
    BY_VIEWER = "stopped by the viewer"
    REROUTED = "the stream's substream changed"  # its viewers subscribe again, to the relay now in use

    def __str__(self) -> str:  # the text itself, in f-strings too, on every Python
        return self.value


class SubscriptionClosed(Exception):
    """Raised by :meth:`Subscription.get` once the subscription ended and its queue is empty.

    Compare ``reason`` (a :class:`CloseReason`); ``message`` is the text for people: the reason's own,
    or the detail it was closed with (``"viewer too slow: nothing read for 16 s"``)."""

    def __init__(self, reason: CloseReason, detail: str | None = None) -> None:
        self.reason = reason
        self.message = detail or reason.value
        super().__init__(self.message)


class _Mode(enum.Enum):
    LIVE = "live"
    WAIT_KEYFRAME = "wait_keyframe"  # dropped: skip data until the next I-frame
    PAUSED = "paused"


class Subscription:
    """One viewer of one relay. Created by ``Relay.subscribe``; end it with :meth:`close`."""

    def __init__(
        self,
        sid: int,
        budget: int,
        stuck_timeout: float,
        on_close: Callable[[Subscription], None],
        warm: Callable[[], tuple[bytes, bool]],
        on_activity: Callable[[Subscription], None] | None = None,
    ) -> None:
        self.id = sid
        self.budget = budget
        self.stuck_timeout = stuck_timeout
        self._on_close = on_close
        self._warm = warm
        self._on_activity = on_activity  # told when a pause or resume changes what the relay must send
        self._items: collections.deque[bytes | RelayEvent] = collections.deque()
        self._queued = 0
        self.peak_queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._mode = _Mode.LIVE
        self._last_take = time.monotonic()
        self.close_reason: CloseReason | None = None  # why it ended (None: open)
        self._close_detail: str | None = None
        self.bytes_out = 0
        self.dropped_bytes = 0
        self.drops = 0

    # -- consumer side --------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self.close_reason is not None

    @property
    def closed_reason(self) -> str | None:
        """What a person is told about the end (the reason's text or its detail); None while open."""
        return None if self.close_reason is None else self._close_detail or self.close_reason.value

    @property
    def paused(self) -> bool:
        return self._mode is _Mode.PAUSED

    @property
    def queued_bytes(self) -> int:
        return self._queued

    async def get(self) -> bytes | RelayEvent:
        """The next chunk of TS data (whole packets) or event; waits while there is none."""
        while not self._items:
            if self.close_reason is not None:
                raise SubscriptionClosed(self.close_reason, self._close_detail)
            self._wakeup.clear()
            await self._wakeup.wait()
        self._last_take = time.monotonic()
        item = self._items.popleft()
        if isinstance(item, bytes):
            parts = [item]
            size = len(item)
            while self._items and isinstance(self._items[0], bytes) and size < MAX_CHUNK:
                nxt = self._items.popleft()
                assert isinstance(nxt, bytes)
                parts.append(nxt)
                size += len(nxt)
            self._queued -= size
            self.bytes_out += size
            return parts[0] if len(parts) == 1 else b"".join(parts)
        return item

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> bytes | RelayEvent:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def pause(self) -> None:
        """Stop receiving video (events still come); queued video is dropped. A relay whose viewers are
        all paused stops its FFmpeg after its idle timeout (see ``Relay``)."""
        self._clear_data()
        if self._mode is not _Mode.PAUSED and self.close_reason is None:
            self._mode = _Mode.PAUSED
            if self._on_activity is not None:
                self._on_activity(self)

    def resume(self) -> None:
        """Receive video again, at once from the relay's keyframe cache when it has one (a relay that
        stopped meanwhile starts again, and this viewer gets its first keyframe)."""
        if self._mode is _Mode.PAUSED and self.close_reason is None:
            self._mode = _Mode.LIVE
            self.join(*self._warm())
            if self._on_activity is not None:
                self._on_activity(self)

    def join(self, warm: bytes, playing: bool) -> None:
        """Start receiving: from ``warm`` (PSI + keyframe cache) when it fits the budget, else at the
        next I-frame; before the relay plays, from the start of FFmpeg's stream."""
        if self._mode is _Mode.PAUSED or self.close_reason is not None:
            return
        if warm and len(warm) + self._queued <= self.budget:
            self._push(warm)
        elif playing:
            self._mode = _Mode.WAIT_KEYFRAME

    def close(self, reason: CloseReason = CloseReason.CLOSED, detail: str | None = None) -> None:
        """End the subscription (idempotent); queued items can still be taken. ``detail``: the text a
        person is told instead of the reason's own."""
        if self.close_reason is None:
            self.close_reason = reason
            self._close_detail = detail
            self._wakeup.set()
            self._on_close(self)

    # -- relay side ---------------------------------------------------------------------------
    def offer(self, segment: Segment, psi: bytes) -> None:
        """Queue a segment unless over budget; never blocks. Called by the relay only."""
        mode = self._mode
        if mode is _Mode.PAUSED or self.close_reason is not None:
            return
        size = len(segment.data)
        if mode is _Mode.WAIT_KEYFRAME:
            if not segment.keyframe:
                self.dropped_bytes += size
                self._check_stuck()
                return
            if size + len(psi) > self.budget:
                self.dropped_bytes += size
                return
            self._mode = _Mode.LIVE
            if psi:
                self._push(psi)
        elif self._queued + size > self.budget:
            self.drops += 1
            self.dropped_bytes += self._queued + size
            self._clear_data()
            self._mode = _Mode.WAIT_KEYFRAME
            self._check_stuck()
            return
        self._push(segment.data)

    def push_event(self, event: RelayEvent) -> None:
        if self.close_reason is None:
            self._items.append(event)
            self._wakeup.set()

    def _push(self, data: bytes) -> None:
        self._items.append(data)
        self._queued += len(data)
        if self._queued > self.peak_queued_bytes:
            self.peak_queued_bytes = self._queued
        self._wakeup.set()

    def _clear_data(self) -> None:
        if self._queued:
            self._items = collections.deque(i for i in self._items if not isinstance(i, bytes))
            self._queued = 0

    def _check_stuck(self) -> None:
        idle = time.monotonic() - self._last_take
        if idle > self.stuck_timeout:
            self.close(CloseReason.TOO_SLOW, f"{CloseReason.TOO_SLOW}: nothing read for {idle:.0f} s")

    def __repr__(self) -> str:
        state = self.closed_reason or self._mode.value
        return f"<Subscription {self.id} {state} queued={self._queued}>"
