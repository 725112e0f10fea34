"""``stream.frames()``: a stream's pictures as numpy arrays, decoded in this process.

The relay's MPEG-TS (in-process subscription, or the server's WebSocket) is piped into a decoding
FFmpeg that writes binary PPM pictures; each picture becomes a ``uint8`` array of shape (H, W, 3).
The work runs on the process's loop thread; the iterator takes pictures over from it through a
hand-over that keeps only the newest picture: ``fps=None`` gives every picture to a consumer that
keeps up, and to one that takes longer than a picture interval the newest when it asks (never a
backlog: one that works 200 ms per picture gets pictures at most one interval older than a fast
one). The decoder hands on each picture as soon as its PES is in (no parser waiting for the next
picture, see :func:`decoder_argv`).

``fps=N`` is paced on the wall clock here, not by FFmpeg's ``fps`` filter: a viewer that joins a
relay gets its keyframe cache at once, and the filter turned that burst into pictures a few
milliseconds apart. The decoder keeps pictures at least ``1/(8N)`` s apart in stream time (so it
converts a few times more pictures than asked, not every one), and the iterator hands over the
newest of them every ``1/N`` s: the first once the decoder has caught up with the live stream,
then on a ``1/N`` grid while the consumer keeps up, and from its own pace when it does not.

The stream's messages (DESIGN §4, the same dicts from the WebSocket and from an in-process
subscription) tell the reader what the relay knows: an ``error`` with a persistent code (``AUTH``,
``NOT_FOUND``, ``UNSUPPORTED``: retrying will not fix it) is raised from ``next()`` as soon as the
relay gives up that attempt (its next status is not ``connecting``/``playing``: a 461 refusal that
the relay answers at once over UDP is not final), before or after the first picture. Other errors
(``TIMEOUT``, ``UNREACHABLE``, ``FFMPEG_EXIT``, …) only wait while the relay reconnects, and a
camera that restarts does not end a long ``for`` loop; but when no picture comes for ``timeout``
s, the relay's last error since the last picture is raised (with its code) instead of a bare
``TIMEOUT``. A fatal ``error`` message ends the iteration with that error; ``ended`` (the stream
was removed) ends it quietly.

``timestamps=True`` makes each item a ``(datetime, array)`` pair: the picture's capture time as a UTC-aware
``datetime``, taken from this process's wall clock (``time.time()``) the moment the decoder handed the
picture over, which is the relay's arrival of the picture's last bytes plus the pipe and the decode (a
few ms; about 10-20 ms for 1280x720 on 2 cores). It does not include what happened before the relay: the
camera's encoding and the network (typically 50-300 ms, the camera's own latency), so it is the time
the relay received the picture, late by that latency, never early. Pictures decoded from the relay's
keyframe cache on joining (older than their stamp) are never handed out: the first picture is a live
one (:meth:`_Pictures._settle`). Successive stamps are accurate to each other within the decode jitter.

The FFmpeg and the subscription start on first use (``next()``, ``iter()``, ``with``) and stop on
``close()``, at the end of the ``with`` block, at ``count``, at an error, or when the reader is
garbage-collected (``weakref.finalize``, not ``__del__``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import queue
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .._compat import cancel_and_wait
from ..errors import (
    InvalidInputError,
    LimitError,
    RtspNotebookError,
    SourceTimeoutError,
    StreamNotFoundError,
    source_error_for_code,
)
from ..media.ffmpeg import TRANSCODE_ANALYZE_US
from ..media.process import FFmpegProcess

if TYPE_CHECKING:
    from .runtime import LoopThread

__all__ = ["PERSISTENT_CODES", "FrameReader", "FrameSets", "decoder_argv", "read_ppm", "wire_error"]

PROBE_SIZE = 5000  # bytes the decoder probes: its first picture (at least one PES is read)
OVERSAMPLE = 8  # with fps=N the decoder keeps pictures at least 1/(8N) s apart (stream time)
SETTLE_S = 0.03  # the first picture: the newest once no newer one came for this long (caught up)
_END = object()
_STOP = object()  # the stream ended: stop feeding, hand over the pictures still in the decoder

# a camera error that retrying will not fix: raised as soon as the relay gives up the attempt
PERSISTENT_CODES = frozenset({"AUTH", "NOT_FOUND", "UNSUPPORTED"})
# status phases of a relay still trying its current attempt (anything else: it gave the attempt up)
_TRYING_PHASES = frozenset({"connecting", "playing", "paused"})

# what a stream's chunk source yields: MPEG-TS bytes, or a message of DESIGN §4 as a dict
Chunk = bytes | dict[str, Any]
ChunkSource = Callable[[], AsyncIterator[Chunk]]


def decoder_argv(ffmpeg: str, fps: float | None, width: int | None) -> list[str]:
    """argv of an FFmpeg that reads MPEG-TS on stdin and writes PPM pictures on stdout.

    ``fps``: keep pictures at least ``1/(OVERSAMPLE*fps)`` s apart in stream time (and any after a
    jump back in time, such as a relay's restart), for the reader to pace; ``width``: scale."""
    filters = []
    if fps is not None:
        gap = 1 / (OVERSAMPLE * fps)
        filters.append(
            f"select='isnan(prev_selected_t)+gte(t-prev_selected_t,{gap:.6f})+lt(t,prev_selected_t)'"
        )
    if width is not None:
        filters.append(f"scale={int(width)}:-2")
    # the relay's stream starts with PSI and a keyframe, one picture per PES, each PES as long as it says
    # (the source relay writes video PES lengths): no parser (it held every picture until the next one
    # began: 40 ms at 25 fps), so no frame rate either (passthrough: never a duplicated picture); the probe
    # reads the first picture or two, not 100 kB (30 pictures of a quiet stream without the parser);
    # low_delay: no picture held back by the decoder
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-flags", "low_delay",
            "-fflags", "noparse+nofillin", "-probesize", str(PROBE_SIZE),
            "-analyzeduration", str(TRANSCODE_ANALYZE_US),
            "-f", "mpegts", "-i", "pipe:0", "-an", "-fps_mode", "passthrough"]  # fmt: skip
    if filters:
        argv += ["-vf", ",".join(filters)]
    return [*argv, "-f", "image2pipe", "-c:v", "ppm", "pipe:1"]


async def read_ppm(reader: asyncio.StreamReader) -> tuple[int, int, bytes] | None:
    """One binary PPM picture (width, height, RGB bytes), or None at the end of the stream."""
    try:
        magic = await reader.readuntil(b"\n")
        if magic != b"P6\n":
            raise ValueError(f"not a binary PPM picture: {magic[:8]!r}")
        width, height = (int(v) for v in (await reader.readuntil(b"\n")).split())
        await reader.readuntil(b"\n")  # maxval: 255
        return width, height, await reader.readexactly(width * height * 3)
    except asyncio.IncompleteReadError:
        return None


def wire_error(code: str, message: str, *, fatal: bool = False) -> RtspNotebookError:
    """The exception of an ``error`` message: the camera's error of ``rtsp_notebook.errors`` for its
    code (an unknown code, such as a newer relay's, keeps its code on an ``FFmpegExitError``); a fatal
    ``NOT_FOUND`` is the stream's (removed), not the camera's."""
    if code == "NOT_FOUND" and fatal:
        return StreamNotFoundError(message)
    if code == "LIMIT":
        return LimitError(message)
    if code == "BAD_REQUEST":
        return InvalidInputError(message)
    error = source_error_for_code(code)(message)
    if code and error.code != code:
        error.code = code
    return error


def check_frames_args(fps: float | None, width: int | None, count: int | None) -> None:
    if fps is not None and not (isinstance(fps, (int, float)) and 0 < fps <= 60):
        raise InvalidInputError(
            f"fps must be a number above 0 and at most 60, or None for every picture; got {fps!r}"
        )
    if width is not None and not (isinstance(width, int) and 16 <= width <= 3840):
        raise InvalidInputError(
            f"width must be a whole number from 16 to 3840, or None for the source size; got {width!r}"
        )
    if count is not None and not (isinstance(count, int) and count >= 1):
        raise InvalidInputError(
            f"count must be a whole number of at least 1, or None for no end; got {count!r}"
        )


class _Pictures:
    """The hand-over of pictures from the loop thread to the consumer's thread.

    Only the newest picture is kept: a consumer gets the newest one there is when it asks, never a
    backlog (one that keeps up gets every picture). The first is a live one (:meth:`_settle`).
    ``interval`` None: at once; otherwise :meth:`take` paces the deliveries ``interval`` s apart on
    the wall clock. The end (or an error) comes after the picture that was there before it."""

    def __init__(self, interval: float | None) -> None:
        self.interval = interval
        self._cond = threading.Condition()
        self._items: collections.deque[tuple[float, Any]] = collections.deque(maxlen=1)  # (arrival, picture)
        self._settled = False  # the first delivery waited for the decoder to catch up
        self._end: Any = None  # _END or an exception
        self._due: float | None = None  # the next delivery's time (paced)

    def put(self, picture: Any) -> None:
        with self._cond:
            if isinstance(self._end, BaseException):
                return  # an error was handed over: pictures the decoder still had do not delay it
            self._items.append((time.monotonic(), picture))
            self._cond.notify_all()

    def end(self, item: Any) -> None:
        """The end (``_END``) or an error; the first one counts."""
        with self._cond:
            if self._end is None:
                self._end = item
            self._cond.notify_all()

    def take(self, timeout: float) -> Any:
        """The next picture, or the end or error item; raises ``queue.Empty`` when no picture came
        for ``timeout`` s."""
        with self._cond:
            if self.interval is not None:
                self._wait_until_due()
            if not self._cond.wait_for(lambda: self._items or self._end is not None, timeout):
                raise queue.Empty
            if not self._items:
                return self._end
            if not self._settled:
                self._settle()
                self._settled = True
            if self.interval is None:
                return self._items.pop()[1]
            return self._deliver()

    def _wait_until_due(self) -> None:
        while self._due is not None and self._end is None:
            left = self._due - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)  # pacing: the consumer asked before the next picture is due

    def _settle(self) -> None:
        """Before the first delivery: wait while newer pictures keep coming within ``SETTLE_S``
        (the decoder working through the relay's keyframe cache), so the first is a live one."""
        while self._items and self._end is None:
            left = self._items[-1][0] + SETTLE_S - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def _deliver(self) -> Any:
        assert self.interval is not None
        _, picture = self._items.pop()
        now = time.monotonic()
        due = self._due
        # keep the 1/N grid while deliveries are on time; a late consumer restarts it from now
        on_time = due is not None and now - due < self.interval / 2
        self._due = (due if on_time and due is not None else now) + self.interval
        return picture


class _Decoder:
    """The loop side of a reader: the decoding FFmpeg fed from the stream, handing pictures over
    through ``queue``. It holds no reference to its :class:`FrameReader`, so a reader dropped without
    ``close()`` can be garbage-collected, and its finalizer stops this."""

    def __init__(
        self,
        thread: LoopThread,
        chunks: ChunkSource,
        argv: list[str],
        interval: float | None,
        timestamps: bool = False,
    ) -> None:
        self.thread = thread
        self.timestamps = timestamps
        self.pictures = _Pictures(interval)
        self._chunks = chunks
        self._argv = argv
        self._task: asyncio.Task[None] | None = None
        # the relay's last error since the last picture (raised at the reader's timeout), and a
        # persistent one waiting for the relay to give its attempt up (no bytes since)
        self.last_error: RtspNotebookError | None = None
        self._pending: RtspNotebookError | None = None

    def start(self) -> None:
        self._task = self.thread.run(self._start())

    async def _start(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._run(), name="frame reader")

    def stop(self) -> None:
        """Stop FFmpeg and the subscription and wait for them (from any thread but the loop's)."""
        if self._task is not None and self.thread.running:
            self.thread.run(cancel_and_wait(self._task))

    def stop_soon(self) -> None:
        """Stop without waiting, from any thread (the reader's finalizer: a garbage collection can run
        it on the loop's own thread, or at interpreter exit)."""
        task = self._task
        if task is None or task.done():
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: atexit's kill_all stopped FFmpeg
            self.thread.loop.call_soon_threadsafe(task.cancel)

    async def _run(self) -> None:
        try:
            proc = await FFmpegProcess.spawn(self._argv, name="frame decoder", stdin=True)
            try:
                await self._decode(proc)
            finally:
                proc.close_stdin()  # FFmpeg blocked on reading its input would wait out the grace
                await proc.stop(0.5)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, who raises it
            self.pictures.end(exc)
        finally:
            self.pictures.end(_END)

    async def _decode(self, proc: FFmpegProcess) -> None:
        import numpy as np

        feeder = asyncio.get_running_loop().create_task(self._feed(proc))
        try:
            while (picture := await read_ppm(proc.stdout)) is not None:
                width, height, rgb = picture
                self.last_error = None
                array = np.frombuffer(rgb, dtype=np.uint8).reshape(height, width, 3)
                # the capture time (see the module docstring): the wall clock as the decoder hands it over
                self.pictures.put((datetime.now(timezone.utc), array) if self.timestamps else array)
        finally:
            await cancel_and_wait(feeder)  # its subscription ends with it

    async def _feed(self, proc: FFmpegProcess) -> None:
        chunks = self._chunks()
        try:
            async for item in chunks:
                if isinstance(item, bytes):
                    self._pending = None  # the relay plays again (e.g. over UDP after a 461)
                    await proc.write(item)
                    continue
                outcome = self._message(item)
                if outcome is _STOP:
                    break
                if outcome is not None:
                    self.pictures.end(outcome)
                    break
        except (ConnectionError, BrokenPipeError):
            return  # the decoder went away: _run reports it
        except Exception as exc:  # noqa: BLE001 - the source failed: the consumer raises it
            self.pictures.end(exc)
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()  # the socket or subscription ends now, not when collected
        proc.close_stdin()

    def _message(self, message: dict[str, Any]) -> Any:
        """What a message of the stream means for the reader: an error to raise now, ``_STOP`` (the
        stream ended), or None (go on)."""
        kind = message.get("type")
        if kind == "error":
            code, text = str(message.get("code") or ""), str(message.get("message") or "")
            fatal = bool(message.get("fatal"))
            error = wire_error(code, text, fatal=fatal)
            if fatal:
                return error
            if code != "BAD_REQUEST":  # the answer to a client message, not about the camera
                self.last_error = error
                self._pending = error if code in PERSISTENT_CODES else None
            return None
        if kind == "status":
            phase = message.get("phase")
            if phase == "ended":
                return _STOP
            if phase not in _TRYING_PHASES and self._pending is not None:
                return self._pending  # the relay gave the attempt up: the error is the camera's answer
        return None


class FrameReader:
    """Iterator of numpy pictures; a context manager that stops its FFmpeg when closed.

    Nothing starts before the first use (``next()``, ``iter()`` or ``with``); a reader dropped
    without ``close()`` stops its FFmpeg and subscription when it is garbage-collected."""

    def __init__(
        self,
        thread: LoopThread,
        chunks: ChunkSource,
        ffmpeg: str,
        *,
        fps: float | None = None,
        width: int | None = None,
        count: int | None = None,
        timeout: float = 15.0,
        timestamps: bool = False,
    ) -> None:
        check_frames_args(fps, width, count)
        self.timestamps = timestamps
        self.count = count
        self.timeout = timeout
        self.delivered = 0
        interval = None if fps is None else 1 / fps
        self._decoder = _Decoder(thread, chunks, decoder_argv(ffmpeg, fps, width), interval, timestamps)
        self._started = False
        self._closed = False
        # the callback holds the decoder, never the reader: the reader stays collectable
        self._finalizer = weakref.finalize(self, self._decoder.stop_soon)

    def _start(self) -> None:
        if not (self._started or self._closed):
            self._started = True
            self._decoder.start()

    def __iter__(self) -> Iterator[Any]:
        self._start()
        return self

    def __next__(self) -> Any:
        """The next picture: a numpy array, or ``(datetime, array)`` with ``timestamps=True``."""
        if self._closed or (self.count is not None and self.delivered >= self.count):
            self.close()
            raise StopIteration
        self._start()
        try:
            item = self._decoder.pictures.take(self.timeout)
        except queue.Empty:
            self.close()
            raise self._timeout_error() from None
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        self.delivered += 1
        if self.count is not None and self.delivered >= self.count:
            self.close()  # the last one: the decoder stops now, not at the next call
        return item

    def _timeout_error(self) -> RtspNotebookError:
        """No picture for ``timeout`` s: the relay's last error since the last picture, with its code
        (e.g. the camera is unreachable while the relay retries), else ``TIMEOUT``."""
        waited = f"no picture for {self.timeout:g} s"
        last = self._decoder.last_error
        if last is None:
            return SourceTimeoutError(waited)
        return wire_error(last.code, f"{last.message} ({waited})")

    def close(self) -> None:
        """Stop the decoder and the subscription (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        self._decoder.stop()

    def __enter__(self) -> FrameReader:
        self._start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else "" if self._started else " not started"
        return f"<FrameReader {self.delivered} pictures{state}>"


class FrameSets:
    """``hub.frames([...])``: the newest picture of each of several cameras together, as a dict by label.

    One :class:`FrameReader` per camera, each paced at ``fps`` on the wall clock; a set is made by
    taking the newest picture of each reader in turn, so it holds pictures at most about one picture
    interval apart. Every set has a new picture of every camera: a camera that is merely slow (or
    reconnecting) holds the sets back until it has one (up to its reader's ``timeout``, then its error
    is raised), rather than a set repeating an old picture. A camera that fails raises its error from
    ``next()`` (with the camera's label in :attr:`failed`), and every reader is closed. An iterator and
    a context manager that closes every reader."""

    def __init__(self, readers: Mapping[str, FrameReader], count: int | None = None) -> None:
        if count is not None and not (isinstance(count, int) and count >= 1):
            raise InvalidInputError(
                f"count must be a whole number of at least 1, or None for no end; got {count!r}"
            )
        self.readers = dict(readers)
        self.count = count
        self.delivered = 0
        self.failed: str | None = None  # the label of the camera whose error ended the sets
        self._closed = False

    def __iter__(self) -> FrameSets:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._closed or (self.count is not None and self.delivered >= self.count):
            self.close()
            raise StopIteration
        for reader in self.readers.values():
            iter(reader)  # every decoder starts now (idempotent), not one after another's first picture
        batch: dict[str, Any] = {}
        for label, reader in self.readers.items():
            try:
                batch[label] = next(reader)
            except StopIteration:
                self.close()  # one camera's stream ended (removed): the sets end
                raise
            except Exception as exc:
                self.failed = label
                self.close()
                add_note = getattr(exc, "add_note", None)  # Python 3.11+
                if add_note is not None:
                    add_note(f"(camera {label!r} of hub.frames)")
                raise
        self.delivered += 1
        if self.count is not None and self.delivered >= self.count:
            self.close()
        return batch

    def close(self) -> None:
        """Close every reader (idempotent)."""
        self._closed = True
        for reader in self.readers.values():
            reader.close()

    def __enter__(self) -> FrameSets:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<FrameSets {list(self.readers)} {self.delivered} sets{state}>"
