"""The prebuffer: the last seconds of a stream's own video, kept for clips (``cam.clip``).

A stream with the option ``prebuffer_s`` (0 to 120 s) has its source relay running all the time (like
``keep_alive``), and the relay hands every segment of its MPEG-TS to a :class:`Prebuffer`: a ring of whole
GOPs (PSI + a keyframe + what followed it up to the next keyframe). It keeps the newest GOPs that cover
``prebuffer_s`` seconds of the video's decode times (so it holds at least that much once filled, at most
one GOP more) and never more than ``max_bytes``. A new FFmpeg run of the relay (the camera reconnected)
starts a new ring: a clip never spans a gap in the video.

:meth:`Prebuffer.feed` is what a clip reads: in one step on the event loop, with no await in between, it
takes the GOPs from the newest keyframe at least ``before`` seconds old and starts following the live
segments, so the kept part and the live part meet without a missing or repeated picture. It yields, as a
stream's chunks do (DESIGN §4 messages as dicts), first a ``duration`` message that tells the recorder how
much to write from that keyframe, then the kept bytes, then the live ones; the relay's errors and state
changes end it with a message the recorder understands.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidInputError
from .events import EventKind, RelayEvent, RelayState
from .mpegts import Segment
from .recorder import TICKS, TimestampUnwrapper, pes_starts

__all__ = ["MAX_FOLLOW_BYTES", "MAX_PREBUFFER_BYTES", "Prebuffer"]

log = logging.getLogger(__name__)

MAX_PREBUFFER_BYTES = 256 << 20  # a ring never holds more (120 s of a 16 Mb/s camera: 240 MB)
MAX_FOLLOW_BYTES = 64 << 20  # live bytes a clip may have waiting before its writer is called too slow
JUMP_TICKS = 5 * TICKS  # a decode time this far ahead of the last (or behind it at all): a new ring


@dataclass
class _Gop:
    start: int  # the keyframe's decode time (90 kHz ticks, unwrapped)
    parts: list[bytes] = field(default_factory=list)
    size: int = 0


class _Follower:
    """The live side of one clip: segments after its snapshot, until an end message."""

    def __init__(self) -> None:
        self.items: collections.deque[bytes | dict[str, Any]] = collections.deque()
        self.size = 0
        self.ended = False
        self.wakeup = asyncio.Event()

    def push(self, data: bytes) -> None:
        if self.ended:
            return
        if self.size + len(data) > MAX_FOLLOW_BYTES:
            self.end("the clip's writer fell behind the camera")
            return
        self.items.append(data)
        self.size += len(data)
        self.wakeup.set()

    def end(self, message: str, code: str = "FFMPEG_EXIT") -> None:
        if not self.ended:
            self.ended = True
            self.items.append({"type": "error", "code": code, "message": message, "fatal": False})
            self.wakeup.set()

    async def get(self) -> bytes | dict[str, Any]:
        while not self.items:
            self.wakeup.clear()
            await self.wakeup.wait()
        item = self.items.popleft()
        if isinstance(item, bytes):
            self.size -= len(item)
        return item


class Prebuffer:
    """The ring of one stream's source relay; fed by the relay (:meth:`add`, :meth:`event`, :meth:`close`)."""

    def __init__(self, seconds: float, max_bytes: int = MAX_PREBUFFER_BYTES) -> None:
        self.seconds = float(seconds)  # what the stream asks to keep
        self.max_bytes = max_bytes
        self._gops: collections.deque[_Gop] = collections.deque()
        self._bytes = 0
        self._psi = b""
        self._pid = -1
        self._newest: int | None = None  # the newest picture's decode time
        self._unwrap = TimestampUnwrapper()
        self._followers: set[_Follower] = set()
        self.closed = False

    # -- figures ------------------------------------------------------------------------------------------
    @property
    def held_bytes(self) -> int:
        """Bytes held (the kept video; the PSI of each GOP included)."""
        return self._bytes

    @property
    def kept_s(self) -> float:
        """Seconds of video kept: from the oldest kept keyframe to the newest picture."""
        if not self._gops or self._newest is None:
            return 0.0
        return round((self._newest - self._gops[0].start) / TICKS, 3)

    # -- the relay's side ---------------------------------------------------------------------------------
    def add(self, segment: Segment, psi: bytes) -> None:
        data = segment.data
        if segment.keyframe:
            self._pid = ((data[1] & 0x1F) << 8) | data[2]  # a keyframe segment starts with its picture
        if self._pid < 0:
            return  # nothing before the first keyframe
        for follower in tuple(self._followers):
            follower.push(data)
        for offset, raw in pes_starts(data, self._pid):
            if raw is None:
                continue
            dts = self._unwrap(raw)
            if self._newest is not None and not 0 <= dts - self._newest <= JUMP_TICKS:
                self.cut("the camera's video was interrupted (its timestamps jumped)")
            if offset == 0 and segment.keyframe:
                self._open(dts, psi)
            self._newest = dts
        if self._gops:
            self._append(data)
            self._trim()

    def _open(self, start: int, psi: bytes) -> None:
        self._psi = psi or self._psi
        gop = _Gop(start, [self._psi], len(self._psi))
        self._gops.append(gop)
        self._bytes += gop.size

    def _append(self, data: bytes) -> None:
        gop = self._gops[-1]
        gop.parts.append(data)
        gop.size += len(data)
        self._bytes += len(data)

    def _trim(self) -> None:
        gops = self._gops
        if self._newest is not None:
            oldest_needed = self._newest - round(self.seconds * TICKS)
            while len(gops) > 1 and gops[1].start <= oldest_needed:
                self._bytes -= gops.popleft().size
        while len(gops) > 1 and self._bytes > self.max_bytes:
            self._bytes -= gops.popleft().size

    def event(self, event: RelayEvent) -> None:
        """The relay's events: a new run (it plays again) starts a new ring; an error or a state other than
        playing ends the clips that follow it (their files keep what was written)."""
        if event.kind is EventKind.STATE and event.state is RelayState.PLAYING:
            self.cut("the camera's video started again")
        elif event.kind is EventKind.ERROR:
            self._end_followers(f"the camera dropped: {event.message}", event.code or "FFMPEG_EXIT")
        elif event.kind is EventKind.STATE:
            self._end_followers(f"the camera's video stopped (the relay is {event.state.value})")

    def cut(self, why: str) -> None:
        """Forget what is kept (the next keyframe starts again); clips that follow end."""
        if self._gops:
            log.info("prebuffer: %s; %.1f s dropped", why, self.kept_s)
        self._gops.clear()
        self._bytes = 0
        self._newest = None
        self._unwrap = TimestampUnwrapper()
        self._end_followers(why)

    def close(self) -> None:
        """The relay stopped for good (or the option was turned off)."""
        self.closed = True
        self.cut("the stream's relay stopped")

    def _end_followers(self, message: str, code: str = "FFMPEG_EXIT") -> None:
        for follower in tuple(self._followers):
            follower.end(message, code)
        self._followers.clear()

    # -- clips --------------------------------------------------------------------------------------------
    def check(self, before: float) -> None:
        """Raise InvalidInputError unless ``before`` seconds are kept now, saying how much is."""
        if not (isinstance(before, (int, float)) and not isinstance(before, bool) and before >= 0):
            raise InvalidInputError(f"before must be a number of seconds of at least 0, got {before!r}")
        kept = self.kept_s
        if before > 0 and not self._gops:
            raise InvalidInputError(
                f"the prebuffer holds nothing yet (prebuffer_s={self.seconds:g}): it starts at the camera's "
                "next keyframe; ask again in a moment, or use before=0 to record from now on"
            )
        if before > kept:
            raise InvalidInputError(
                f"the prebuffer holds {kept:.1f} s of this stream's video (prebuffer_s={self.seconds:g}); "
                f"ask for before={kept:.1f} or less, or raise the stream's prebuffer_s"
            )

    async def feed(self, before: float, after: float) -> AsyncIterator[bytes | dict[str, Any]]:
        """A clip's chunks: ``before`` seconds kept (from a keyframe) and ``after`` live ones."""
        self.check(before)  # no await from here to the follower's registration: nothing missed or repeated
        assert self._newest is not None
        newest = self._newest
        wanted = newest - round(before * TICKS)
        gops = [g for g in self._gops if g.start <= wanted][-1:] or [self._gops[0]]
        first = gops[0]
        kept = [g for g in self._gops if g.start >= first.start]
        follower = _Follower()
        self._followers.add(follower)
        try:
            # from the keyframe to the newest picture, and ``after`` more; the newest picture itself included
            ticks = newest - first.start + round(after * TICKS) + 1
            yield {"type": "duration", "seconds": ticks / TICKS}
            yield b"".join(part for gop in kept for part in gop.parts)
            while True:
                item = await follower.get()
                yield item
                if isinstance(item, dict):
                    return
        finally:
            self._followers.discard(follower)
