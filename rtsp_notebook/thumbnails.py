"""Thumbnails: a stream's latest picture as a JPEG, for paused and offline tiles and the REST API.

``ThumbnailService.get`` answers from the first of these that has a picture:

1. **cache**: a thumbnail of (stream, width) taken less than ``ttl`` s ago, or the stream's last frame
   of that window encoded at this width (``refresh=True`` skips this step);
2. **live**: a relay of the stream plays (its ``source`` relay, the camera's own video, preferred; then
   ``sub``, ``full``, ``grid``): its latest I-frame is decoded by an FFmpeg reading the relay's bytes on
   stdin, with no second session to the camera. A copy relay that is still connecting is waited for,
   up to ``grab_timeout``: its first picture, else its error;
3. **probe**: no relay holds the camera's session: a one-shot FFmpeg grabs one picture from it; at most
   ``max_grabs`` run at once, and concurrent requests for one stream share one grab (live or probe);
4. **stale**: the grab failed: the last frame with ``stale=True``, else the grab's ``SourceError``. A
   failure is remembered for ``ttl`` s (``AUTH``: until the URL changes): requests without ``refresh``
   get it without a new FFmpeg.

``width`` is 32 to 1920 px, aspect kept, never scaled up: a larger width (or ``None``) gives the
frame's own size; frames are at most 1920 wide. Pillow runs in worker threads, never on the loop.
Everything kept is keyed by stream id; the URL a picture came from is kept only as a keyed digest
(``origin``), so no cache, key or repr ever holds a URL or its password.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import dataclasses
import hashlib
import io
import logging
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from .errors import FFmpegExitError, InvalidInputError, SourceError, SourceTimeoutError
from .media.events import RelayState
from .media.ffmpeg import SNAPSHOT_MAX_WIDTH, Profile, snapshot_argv
from .media.frames import decode_keyframe_ppm
from .media.process import FFmpegProcess
from .media.sources import parse_source

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from .engine import Engine
    from .media.relay import Relay
    from .store import StreamRecord

__all__ = ["MAX_WIDTH", "MIN_WIDTH", "Thumbnail", "ThumbnailService", "validate_width"]

log = logging.getLogger(__name__)

MIN_WIDTH = 32
MAX_WIDTH = SNAPSHOT_MAX_WIDTH
JPEG_QUALITY = 80  # thumbnails
FRAME_QUALITY = 92  # the last frame kept per stream, re-encoded for other widths and stale answers
MAX_PICTURE_BYTES = 32 << 20  # a PPM from FFmpeg larger than this is refused
KILL_GRACE = 1.0

Origin = Literal["live", "probe", "cache"]
_DIGITS = re.compile(r"[0-9]{1,6}")


def validate_width(width: object) -> int | None:
    """``None`` or a whole number of pixels from 32 to 1920 (a string of digits is read as one)."""
    if width is None:
        return None
    value = int(width) if isinstance(width, str) and _DIGITS.fullmatch(width) else width
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_WIDTH <= value <= MAX_WIDTH:
        shown = repr(width) if len(repr(width)) <= 40 else repr(width)[:39] + "…"
        raise InvalidInputError(f"width must be a whole number from {MIN_WIDTH} to {MAX_WIDTH}, got {shown}")
    return value


@dataclass(frozen=True)
class Thumbnail:
    """One JPEG picture of a stream and where it came from."""

    jpeg: bytes = field(repr=False)
    width: int
    height: int
    captured_at: float  # epoch seconds when the picture was taken (live: when its I-frame arrived)
    source: Origin
    stale: bool = False  # the camera could not be reached: this is an older picture

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.captured_at)

    @property
    def etag(self) -> str:
        return '"' + hashlib.blake2b(self.jpeg, digest_size=16).hexdigest() + '"'

    def metadata(self) -> dict[str, Any]:
        """JSON-ready figures (no picture): ``captured_at`` in ISO 8601 UTC."""
        moment = datetime.fromtimestamp(self.captured_at, timezone.utc)
        return {
            "width": self.width,
            "height": self.height,
            "captured_at": moment.isoformat(timespec="milliseconds"),
            "age_s": round(self.age_s, 3),
            "source": self.source,
            "stale": self.stale,
        }

    def data_url(self) -> str:
        return "data:image/jpeg;base64," + base64.b64encode(self.jpeg).decode("ascii")


@dataclass(frozen=True)
class _Frame:
    """The last picture of a stream, full size (at most 1920 wide), as a high-quality JPEG."""

    jpeg: bytes = field(repr=False)
    width: int
    height: int
    captured_at: float
    mono: float  # time.monotonic() of captured_at, for the ttl
    source: Literal["live", "probe"]
    origin: str  # digest of the (url, transport) it came from: a changed URL never shows an old picture
    key: bytes = b""  # digest of the relay keyframe it was decoded from


_Grabbed: TypeAlias = "tuple[_Frame, PILImage | None]"  # a grab's frame, and its image if it has one


class ThumbnailService:
    """Thumbnails of an engine's streams, with a bounded cache. Stop it with :meth:`close`."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = 10.0,
        max_grabs: int = 2,
        grab_timeout: float = 5.0,
        max_entries: int = 256,
    ) -> None:
        if ttl < 0 or max_grabs < 1 or grab_timeout <= 0 or max_entries < 1:
            raise ValueError("ttl must be >= 0, grab_timeout > 0, max_grabs and max_entries >= 1")
        self.engine = engine
        self.ttl = ttl
        self.grab_timeout = grab_timeout
        self.max_entries = max_entries
        self.hits = self.misses = 0
        # (stream, width) -> (thumbnail, the frame it was made from)
        self._cache: collections.OrderedDict[tuple[str, int | None], tuple[Thumbnail, _Frame]] = (
            collections.OrderedDict()
        )
        self._bytes = 0
        self._frames: collections.OrderedDict[str, _Frame] = collections.OrderedDict()
        self._failures: dict[str, tuple[float, str, SourceError]] = {}
        self._origin_key = secrets.token_bytes(16)  # origins compare within this service only
        self._grabs: dict[str, asyncio.Task[_Grabbed]] = {}
        self._tasks: set[asyncio.Task[_Grabbed]] = set()
        self._slots = asyncio.Semaphore(max_grabs)
        self._closed = False

    async def get(self, stream_id: str, *, width: int | None = None, refresh: bool = False) -> Thumbnail:
        """A thumbnail of ``stream_id`` at ``width`` (see the module docstring for where it comes from).

        Raises InvalidInputError for a bad width, StreamNotFoundError for an unknown stream, and the
        camera's SourceError when there is no picture at all.
        """
        width = validate_width(width)
        if self._closed:
            raise RuntimeError("the thumbnail service is closed")
        record = await self.engine.store.get(stream_id)
        origin = self._origin(record)
        last = self._frames.get(stream_id)
        if last is not None and last.origin != origin:
            self.forget(stream_id)  # the URL changed: its pictures are of another camera
            last = None
        now = time.monotonic()
        failed = None if refresh else self._recent_failure(stream_id, origin, now)
        if not refresh:
            entry = self._cache.get((stream_id, width))
            fresh = last is not None and now - last.mono < self.ttl and failed is None
            if fresh and entry is not None and entry[1] is last:
                self.hits += 1
                return dataclasses.replace(entry[0], source="cache")
            self.misses += 1
            if fresh and last is not None:
                return await self._answer(stream_id, (last, None), width, "cache")
        try:
            if failed is not None:  # the camera failed within the ttl: not asked again before
                raise type(failed)(failed.message, detail=failed.detail)
            grabbed = await self._grab(record, origin)
        except SourceError as exc:
            if last is None:
                raise
            log.info("stream %s: no new picture (%s); answering with the last one", stream_id, exc.code)
            return await self._answer(stream_id, (last, None), width, "cache", stale=True)
        return await self._answer(stream_id, grabbed, width, grabbed[0].source)

    def retry_after(self, stream_id: str) -> int | None:
        """Whole seconds until a request (without ``refresh``) may get another answer than the failure
        remembered for the stream (the rest of its ``ttl``): what an HTTP ``Retry-After`` says. None when
        no failure is remembered, or when it is kept until the URL changes (``AUTH``)."""
        failed = self._failures.get(stream_id)
        if failed is None or failed[2].code == "AUTH":
            return None
        left = self.ttl - (time.monotonic() - failed[0])
        return max(1, math.ceil(left)) if left > 0 else None

    def _origin(self, record: StreamRecord) -> str:
        """A keyed digest of the stream's URL and transport: equal while neither changes."""
        text = f"{record.url}\0{record.options.get('transport', 'auto')}".encode()
        return hashlib.blake2b(text, key=self._origin_key, digest_size=16).hexdigest()

    # -- grabbing -------------------------------------------------------------------------------
    def _recent_failure(self, stream_id: str, origin: str, now: float) -> SourceError | None:
        """The error of the camera's last grab, if it failed within ``ttl`` and no relay plays now. A
        refused password is kept until the URL changes or a refresh asks again: many cameras lock an
        account after a few failed logins."""
        failed = self._failures.get(stream_id)
        if failed is None or failed[1] != origin:
            return None
        if now - failed[0] >= self.ttl and failed[2].code != "AUTH":
            return None
        return failed[2] if self._live_keyframe(stream_id) is None else None

    def _live_keyframe(self, stream_id: str) -> tuple[bytes, float] | None:
        """The newest I-frame of a playing relay of the stream (source first), with when it arrived."""
        for profile in (Profile.SOURCE, Profile.SUB, Profile.FULL, Profile.GRID):
            relay = self.engine.relay(stream_id, profile)
            if relay is not None and relay.state is RelayState.PLAYING and relay.last_keyframe:
                return relay.last_keyframe, relay.last_keyframe_at or time.time()
        return None

    async def _grab(self, record: StreamRecord, origin: str) -> _Grabbed:
        """One grab per stream at a time: later requests wait for the running one."""
        task = self._grabs.get(record.id)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._run_grab(record, origin), name=f"thumbnail {record.id}"
            )
            self._grabs[record.id] = task
            self._tasks.add(task)
            task.add_done_callback(self._grab_done)
        return await asyncio.shield(task)  # a request that goes away does not stop the others' grab

    def _grab_done(self, task: asyncio.Task[_Grabbed]) -> None:
        self._tasks.discard(task)
        for stream_id, running in list(self._grabs.items()):
            if running is task:
                del self._grabs[stream_id]
        if not task.cancelled():
            task.exception()  # retrieved here: every waiter may have gone

    def _starting(self, stream_id: str) -> Relay | None:
        """A copy relay of the stream that is opening the camera's session (its first attempt: a relay that
        reconnects has failed, and a grab says why at once)."""
        for profile in (Profile.SOURCE, Profile.SUB):
            relay = self.engine.relay(stream_id, profile)
            if relay is not None and relay.running and relay.state is RelayState.CONNECTING:
                return relay
        return None

    async def _from_starting(self, relay: Relay) -> tuple[bytes, float]:
        """The first keyframe of a relay that is connecting: no second session to the camera; its error
        (its first attempt failed), or a timeout, when it has no picture within ``grab_timeout``."""
        keyframe = await relay.next_keyframe(self.grab_timeout)
        if not keyframe:
            raise relay.last_error or SourceTimeoutError(
                f"the camera sent no picture within {self.grab_timeout:g} s"
            )
        return keyframe, relay.last_keyframe_at or time.time()

    async def _run_grab(self, record: StreamRecord, origin: str) -> _Grabbed:
        live = self._live_keyframe(record.id)
        starting = self._starting(record.id) if live is None else None
        if starting is not None:
            try:
                live = await self._from_starting(starting)
            except SourceError as exc:
                if self._grabs.get(record.id) is asyncio.current_task():
                    self._failures[record.id] = (time.monotonic(), origin, exc)
                raise
        result: _Grabbed | None = None
        if live:
            try:
                result = await self._decode_live(record.id, live, origin)
            except SourceError as exc:
                log.warning("stream %s: the relay's picture did not decode: %s", record.id, exc.message)
        if result is None:
            try:
                result = await self._probe(record, origin)
            except SourceError as exc:
                if self._grabs.get(record.id) is asyncio.current_task():
                    self._failures[record.id] = (time.monotonic(), origin, exc)
                raise
        if self._grabs.get(record.id) is asyncio.current_task():  # not forgotten meanwhile
            self._failures.pop(record.id, None)
            self._frames[record.id] = result[0]
            self._frames.move_to_end(record.id)
            while len(self._frames) > self.max_entries:
                self._frames.popitem(last=False)
        return result

    async def _decode_live(self, stream_id: str, live: tuple[bytes, float], origin: str) -> _Grabbed:
        ts, arrived = live
        key = hashlib.blake2b(ts, digest_size=16).digest()
        last = self._frames.get(stream_id)
        if last is not None and last.key == key and last.origin == origin:
            return last, None  # no keyframe since the last picture: it is still the newest
        ppm = await decode_keyframe_ppm(self.engine.ffmpeg.path, ts, timeout=self.grab_timeout)
        return await self._ingest(ppm, "live", origin, key, captured_at=arrived)

    async def _probe(self, record: StreamRecord, origin: str) -> _Grabbed:
        source = parse_source(record.url)
        argv = snapshot_argv(self.engine.ffmpeg.path, source, self.engine.transport_for(record))
        async with self._slots:
            try:
                proc = await FFmpegProcess.spawn(argv, name=f"thumbnail {record.id}", secrets=source.secrets)
            except OSError as exc:
                raise FFmpegExitError(f"FFmpeg could not start: {exc.strerror or exc}") from exc
            try:
                ppm = await self._read_picture(proc)
            finally:
                await proc.stop(KILL_GRACE)
        if not ppm:
            raise proc.error()
        return await self._ingest(ppm, "probe", origin)

    async def _read_picture(self, proc: FFmpegProcess) -> bytes:
        data = bytearray()
        deadline = time.monotonic() + self.grab_timeout
        try:
            while chunk := await proc.read(max(0.0, deadline - time.monotonic())):
                data += chunk
                if len(data) > MAX_PICTURE_BYTES:
                    raise FFmpegExitError(f"the picture is larger than {MAX_PICTURE_BYTES >> 20} MiB")
        except SourceTimeoutError:
            if not proc.opened.is_set():
                raise SourceTimeoutError(
                    f"the camera never answered RTSP within {self.grab_timeout:g} s"
                ) from None
            raise SourceTimeoutError(
                f"the camera answered but sent no picture within {self.grab_timeout:g} s"
            ) from None
        return bytes(data)

    async def _ingest(
        self,
        ppm: bytes,
        source: Literal["live", "probe"],
        origin: str,
        key: bytes = b"",
        captured_at: float | None = None,
    ) -> _Grabbed:
        """Load a decoded picture; ``captured_at``: when its I-frame arrived (default: now)."""
        try:
            image, jpeg = await asyncio.to_thread(_load, ppm)
        except (OSError, ValueError) as exc:
            raise FFmpegExitError(f"FFmpeg wrote a picture that cannot be read: {exc}") from exc
        now, mono = time.time(), time.monotonic()
        taken = min(now, captured_at) if captured_at is not None else now
        frame = _Frame(jpeg, image.width, image.height, taken, mono - (now - taken), source, origin, key)
        return frame, image

    # -- answers and the cache ------------------------------------------------------------------
    async def _answer(
        self, stream_id: str, grabbed: _Grabbed, width: int | None, source: Origin, stale: bool = False
    ) -> Thumbnail:
        frame = grabbed[0]
        jpeg, w, h = await asyncio.to_thread(_encode, *grabbed, width)
        thumb = Thumbnail(jpeg, w, h, frame.captured_at, source, stale)
        if not stale and self._frames.get(stream_id) is frame:  # not forgotten or replaced meanwhile
            old = self._cache.pop((stream_id, width), None)
            self._bytes += len(jpeg) - (len(old[0].jpeg) if old else 0)
            self._cache[(stream_id, width)] = (thumb, frame)
            while len(self._cache) > self.max_entries:
                self._bytes -= len(self._cache.popitem(last=False)[1][0].jpeg)
        return thumb

    def stats(self) -> dict[str, Any]:
        """Cache figures: encoded thumbnails held, their bytes, hits, misses and the ttl."""
        return {
            "entries": len(self._cache),
            "bytes": self._bytes,
            "hits": self.hits,
            "misses": self.misses,
            "ttl_s": self.ttl,
        }

    def forget(self, stream_id: str) -> int:
        """Drop everything kept for a stream (removed, or its URL changed); returns the entries dropped."""
        keys = [k for k in self._cache if k[0] == stream_id]
        for key in keys:
            self._bytes -= len(self._cache.pop(key)[0].jpeg)
        self._frames.pop(stream_id, None)
        self._failures.pop(stream_id, None)
        self._grabs.pop(stream_id, None)  # a running grab finishes for its waiters but keeps nothing
        return len(keys)

    def clear(self) -> int:
        """Empty the cache (thumbnails, last frames, remembered failures); returns the entries removed."""
        removed = len(self._cache)
        self._cache.clear()
        self._bytes = 0
        self._frames.clear()
        self._failures.clear()
        self._grabs.clear()
        return removed

    async def close(self) -> None:
        """Stop every running grab and its FFmpeg, and empty the cache (idempotent)."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.clear()


# -- Pillow, in worker threads --------------------------------------------------------------------
def _load(ppm: bytes) -> tuple[PILImage, bytes]:
    """FFmpeg's picture as an RGB image at most MAX_WIDTH wide, and that image as the kept JPEG."""
    from PIL import Image

    image = _rgb(Image.open(io.BytesIO(ppm)))
    if image.width > MAX_WIDTH:
        height = max(1, round(image.height * MAX_WIDTH / image.width))
        image = image.resize((MAX_WIDTH, height), Image.Resampling.LANCZOS)
    return image, _jpeg(image, FRAME_QUALITY)


def _encode(frame: _Frame, image: PILImage | None, width: int | None) -> tuple[bytes, int, int]:
    """The frame as a thumbnail JPEG ``width`` wide (never wider than the frame); (jpeg, w, h)."""
    from PIL import Image

    w = min(width or frame.width, frame.width)
    h = max(1, round(frame.height * w / frame.width))
    if image is None:
        opened = Image.open(io.BytesIO(frame.jpeg))
        opened.draft("RGB", (w, h))  # JPEG decodes at 1/2, 1/4 or 1/8 scale when that suffices
        image = _rgb(opened)
    if image.size != (w, h):
        image = image.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _jpeg(image, JPEG_QUALITY), w, h


def _rgb(image: PILImage) -> PILImage:
    image.load()  # decoded from memory: no file stays open
    return image if image.mode == "RGB" else image.convert("RGB")


def _jpeg(image: PILImage, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()
