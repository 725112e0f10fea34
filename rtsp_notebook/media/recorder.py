"""Recordings: the camera's own video, copied from its relay into an MP4 file (``cam.record``, ``cam.clip``).

A :class:`Recorder` reads a stream's MPEG-TS and messages (DESIGN §4, the same dicts ``frames()`` reads: an
in-process subscription or the server's WebSocket, or a prebuffer's feed for a clip) and pipes them into an
FFmpeg that copies the video into an MP4 (:func:`mp4_argv`: ``-c copy``, ``+faststart``, ``hvc1`` for
H.265). It begins at the first keyframe it gets (a relay's subscription starts with its keyframe cache: the
cached GOP's IDR), counts time by the video's decode timestamps, and ends

- when ``seconds`` of video are written (the first picture at or past the limit is not: the file holds
  ``seconds`` of pictures, give or take one picture);
- when :meth:`Recorder.request_stop` asks (the handle's ``stop()``);
- when the camera drops (an error or a status that is not ``playing``, a jump in the timestamps, or no
  bytes for ``stall_timeout`` s): with what was recorded, and the result says why.

In every case FFmpeg's stdin is closed so that it writes the MP4's index; the file is written under a hidden
temporary name beside ``path`` and only then takes its name (never over an existing file unless asked). A
recording that never got a picture raises the camera's error and leaves no file. A cancelled recording stops
its FFmpeg and removes the temporary file.

:class:`Recording` is the handle a notebook thread holds while the recorder runs on the loop thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from .._compat import cancel_and_wait
from .._compat import timeout as _timeout
from ..errors import (
    FFmpegExitError,
    InvalidInputError,
    RtspNotebookError,
    SourceTimeoutError,
    StreamNotFoundError,
    error_for_code,
    source_error_for_code,
)
from .ffmpeg import base_args
from .mpegts import PACKET_SIZE, PacketAligner, TsAnalyzer
from .process import FFmpegProcess

__all__ = [
    "TICKS",
    "OutputExistsError",
    "Recorder",
    "Recording",
    "RecordingResult",
    "TimestampUnwrapper",
    "check_output_path",
    "mp4_argv",
    "pes_starts",
]

log = logging.getLogger(__name__)

TICKS: Final = 90_000  # MPEG-TS timestamps: 90 kHz
START_TIMEOUT = 30.0  # s for the first keyframe (a cold camera: its session, then its next keyframe)
STALL_TIMEOUT = 10.0  # s without bytes once recording: the camera dropped
FINISH_TIMEOUT = 30.0  # s for FFmpeg to write the MP4's index after its input ended
JUMP_S = 5.0  # a decode time this far ahead of the last (or behind it at all): the relay restarted
ANALYZE_US = 1_000_000  # FFmpeg's probe of the TS it is fed (it begins with PSI and an IDR with its SPS)
PROBE_BYTES = 5_000_000
KILL_GRACE = 2.0
# phases of a status message while the relay still sends this run's video (anything else ends a recording)
_PLAYING: Final = frozenset({"playing"})
_PERSISTENT: Final = frozenset({"AUTH", "NOT_FOUND", "UNSUPPORTED"})  # errors that waiting will not fix
# phases after which a persistent error is not final yet: the relay still tries its attempt, or it stopped
# (an MJPEG camera's copy relay fails UNSUPPORTED and stops, and its viewers move to the camera's transcode;
# a stream that really stopped ends the feed, and the error is raised then)
_TRYING: Final = frozenset({"connecting", "playing", "paused", "stopped"})

Chunk = bytes | dict[str, Any]
ChunkSource = Callable[[], AsyncIterator[Chunk]]


class OutputExistsError(InvalidInputError, FileExistsError):
    """The recording's file exists and ``overwrite`` was not asked for."""

    def __init__(self, message: str) -> None:
        InvalidInputError.__init__(self, message)


# -- MPEG-TS timing --------------------------------------------------------------------------------------
_UNIT_START: Final = bytes(1 if b & 0x40 else 0 for b in range(256))


def _pes_time(data: bytes, i: int) -> int | None:
    """The decode time (DTS, else PTS) of the PES that starts in the packet at ``i``, in 90 kHz ticks."""
    control = (data[i + 3] >> 4) & 0x3
    if control == 1:
        p = i + 4
    elif control == 3:
        p = i + 5 + data[i + 4]
    else:
        return None
    if p + 19 > i + PACKET_SIZE or data[p : p + 3] != b"\x00\x00\x01":
        return None
    flags = data[p + 7] >> 6
    if not flags & 0x2:
        return None
    at = p + (14 if flags == 0x3 else 9)  # the DTS follows the PTS
    b = data[at : at + 5]
    return ((b[0] >> 1) & 0x7) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1


def pes_starts(data: bytes, pid: int) -> Iterator[tuple[int, int | None]]:
    """(offset, decode time or None) of each packet of whole-packet ``data`` that starts a PES of ``pid``."""
    starts = data[1 : len(data) : PACKET_SIZE].translate(_UNIT_START)
    k = starts.find(1)
    while k != -1:
        i = k * PACKET_SIZE
        if ((data[i + 1] & 0x1F) << 8) | data[i + 2] == pid:
            yield i, _pes_time(data, i)
        k = starts.find(1, k + 1)


class TimestampUnwrapper:
    """33-bit MPEG-TS timestamps made monotonic across their wrap (every 26.5 hours)."""

    def __init__(self) -> None:
        self._last: int | None = None
        self._base = 0

    def __call__(self, raw: int) -> int:
        if self._last is not None and raw - self._last < -(1 << 32):
            self._base += 1 << 33
        elif self._last is not None and raw - self._last > 1 << 32:
            self._base -= 1 << 33
        self._last = raw
        return raw + self._base


# -- files and argv ----------------------------------------------------------------------------------------
def check_output_path(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """The file a recording may write: its folder exists (none is made), it is not a folder, and it does not
    exist unless ``overwrite``. Raises InvalidInputError (``OutputExistsError``) saying what to do."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise InvalidInputError(f"path must be a file name such as 'door.mp4', got {path!r}")
    target = Path(path).expanduser().absolute()
    if not target.parent.is_dir():
        raise InvalidInputError(f"the folder {str(target.parent)!r} does not exist: create it first")
    if target.is_dir():
        raise InvalidInputError(f"{str(target)!r} is a folder: give a file name such as 'door.mp4'")
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{str(target)!r} exists: pass overwrite=True to replace it")
    return target


def mp4_argv(ffmpeg: str, output: str | os.PathLike[str], codec: str | None) -> list[str]:
    """An FFmpeg that copies the video of the MPEG-TS on its stdin into an MP4 at ``output`` (a local file:
    FFmpeg is told ``file:``, so no name is read as another protocol or an option). H.265 is tagged
    ``hvc1`` (QuickTime, Safari and Chromium's MP4 player want it; FFmpeg writes ``hev1`` by default)."""
    tag = ["-tag:v", "hvc1"] if codec == "hevc" else []
    return [
        *base_args(ffmpeg, "warning"),
        "-analyzeduration", str(ANALYZE_US), "-probesize", str(PROBE_BYTES),
        "-f", "mpegts", "-i", "pipe:0",
        "-map", "0:v:0", "-c", "copy", *tag,
        "-movflags", "+faststart",
        "-f", "mp4", f"file:{os.fspath(output)}",
    ]  # fmt: skip


def _place(temp: Path, target: Path, overwrite: bool) -> int:
    """Give the finished file its name (never over another file unless ``overwrite``); its size."""
    size = temp.stat().st_size
    if overwrite:
        temp.replace(target)
        return size
    try:
        os.link(temp, target)  # fails if the name was taken meanwhile: no file is ever replaced
    except FileExistsError:
        raise OutputExistsError(
            f"{str(target)!r} was created while recording; the recording is kept as {str(temp)!r}"
        ) from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise OutputExistsError(
                f"{str(target)!r} was created while recording; the recording is kept as {str(temp)!r}"
            ) from None
        temp.replace(target)
        return size
    temp.unlink()
    return size


def _error_of(message: dict[str, Any]) -> RtspNotebookError:
    code, text = str(message.get("code") or ""), str(message.get("message") or "the stream failed")
    if code == "NOT_FOUND" and message.get("fatal"):
        return StreamNotFoundError(text)
    cls = error_for_code(code)
    return cls(text) if cls is not None else source_error_for_code(code)(text)


# -- the result and the recorder ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordingResult:
    """A finished recording. ``seconds``: video in the file (first picture to last, plus one picture);
    ``complete``: all that was asked for was written; ``ended``: why it ended (``"complete"``,
    ``"stopped"``, or what interrupted it, e.g. the camera's error); ``transcoded``: the camera's video
    cannot be copied (MJPEG), so its MPEG-1 transcode was recorded."""

    path: Path
    seconds: float
    bytes: int
    frames: int
    codec: str
    complete: bool
    ended: str
    requested_s: float | None = None
    transcoded: bool = False

    def __repr__(self) -> str:
        what = "complete" if self.complete else f"ended early: {self.ended}"
        extra = ", MPEG-1 transcode" if self.transcoded else ""
        return (
            f"<RecordingResult {str(self.path)!r} {self.seconds:.2f} s, {self.frames} pictures, "
            f"{self.bytes} bytes, {self.codec}{extra}; {what}>"
        )


class Recorder:
    """One recording, run on the event loop by :meth:`run`. ``seconds`` None: until stopped."""

    def __init__(
        self,
        ffmpeg: str,
        path: Path,
        chunks: ChunkSource,
        *,
        seconds: float | None,
        overwrite: bool = False,
        name: str = "recording",
        start_timeout: float = START_TIMEOUT,
        stall_timeout: float = STALL_TIMEOUT,
    ) -> None:
        if seconds is not None and not (
            isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 < seconds < math.inf
        ):
            raise InvalidInputError(
                f"seconds must be a number above 0 (None: until stopped), got {seconds!r}"
            )
        self.ffmpeg = ffmpeg
        self.path = path
        self.temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        self.overwrite = overwrite
        self.name = name
        self.requested_s = None if seconds is None else float(seconds)
        self._limit = None if seconds is None else round(seconds * TICKS)
        self._chunks = chunks
        self.start_timeout = start_timeout
        self.stall_timeout = stall_timeout
        # progress, read from other threads
        self.seconds = 0.0
        self.frames = 0
        self.codec: str | None = None
        self.started = False
        self.finished = False
        self.process: FFmpegProcess | None = None
        self._stop: asyncio.Event | None = None
        self._stop_asked = False
        self._t0: int | None = None
        self._last: int | None = None
        self._interval = 0  # ticks between the last two pictures
        self._unwrap = TimestampUnwrapper()
        self._error: RtspNotebookError | None = None  # the stream's last error before the first picture
        self._pending: RtspNotebookError | None = None  # a persistent one, final if the relay gives up

    @property
    def output(self) -> Path:
        """The file being written now (its temporary name until it is finished)."""
        return self.path if self.finished else self.temp

    def request_stop(self) -> None:
        """End the recording with what was written (call on the loop)."""
        self._stop_asked = True
        if self._stop is not None:
            self._stop.set()

    async def run(self) -> RecordingResult:
        self._stop = asyncio.Event()
        if self._stop_asked:
            self._stop.set()
        feeding = asyncio.get_running_loop().create_task(self._feed(), name=self.name)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({feeding, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if feeding.done():
                ended = feeding.result()  # an error before the first picture is raised here
            else:
                await cancel_and_wait(feeding)
                if feeding.done() and not feeding.cancelled() and feeding.exception() is not None:
                    raise feeding.exception()  # type: ignore[misc]
                ended = "stopped"
            if not self.started:
                raise SourceTimeoutError("the recording was stopped before the camera's first picture")
            return await self._finish(ended)
        finally:
            stopping.cancel()
            if not feeding.done():
                await cancel_and_wait(feeding)
            proc = self.process
            if proc is not None and proc.returncode is None:  # cancelled or failed: no FFmpeg is left
                await proc.stop(KILL_GRACE)
            if not self.finished:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(self.temp.unlink, True)

    async def _finish(self, ended: str) -> RecordingResult:
        proc = self.process
        assert proc is not None
        proc.close_stdin()  # FFmpeg writes the MP4's index at the end of its input
        try:
            code = await asyncio.wait_for(proc.wait(), FINISH_TIMEOUT)
        except asyncio.TimeoutError:
            code = await proc.stop(KILL_GRACE)
        if code != 0:
            tail = proc.stderr_tail().splitlines()
            detail = tail[-1] if tail else f"exit status {code}"
            raise FFmpegExitError(f"FFmpeg could not write the MP4 ({detail})", detail=proc.stderr_tail())
        size = await asyncio.to_thread(_place, self.temp, self.path, self.overwrite)
        self.finished = True
        complete = ended == "complete"
        log.info("%s: %s, %.2f s, %d bytes (%s)", self.name, self.path, self.seconds, size, ended)
        return RecordingResult(
            self.path, round(self.seconds, 3), size, self.frames, self.codec or "", complete, ended,
            self.requested_s, self.codec == "mpeg1video",
        )  # fmt: skip

    async def _feed(self) -> str:
        """Feed FFmpeg until the recording ends by itself; returns why."""
        chunks = self._chunks()
        aligner, analyzer = PacketAligner(), TsAnalyzer()
        try:
            while True:
                timeout = self.stall_timeout if self.started else self.start_timeout
                try:
                    async with _timeout(timeout):  # no task a chunk, as wait_for would make
                        item = await anext(chunks)
                except StopAsyncIteration:
                    return self._end("the stream ended")
                except asyncio.TimeoutError:
                    if self.started:
                        return f"no video from the camera for {timeout:g} s"
                    waited = f"no picture from the camera within {timeout:g} s"
                    raise self._error or SourceTimeoutError(waited) from None
                if isinstance(item, dict):
                    ended = self._message(item)
                    if ended is not None:
                        return ended
                    continue
                self._pending = None  # video again (e.g. the transcode after an MJPEG camera's refusal)
                for segment in analyzer.feed(aligner.feed(item)):
                    if not self.started:
                        if not segment.keyframe or analyzer.video_pid is None:
                            continue
                        await self._start(analyzer)
                    ended = await self._write(segment.data, analyzer.video_pid)  # type: ignore[arg-type]
                    if ended is not None:
                        return ended
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()  # the subscription or socket ends now

    def _end(self, why: str) -> str:
        if not self.started:
            raise self._error or StreamNotFoundError(f"{why} before its first picture")
        return why

    def _message(self, message: dict[str, Any]) -> str | None:
        """What a stream message means: why the recording ends, or None (go on)."""
        kind = message.get("type")
        if kind == "duration":  # a clip's feed: how much to write from its first keyframe
            self._limit = round(float(message["seconds"]) * TICKS)
            self.requested_s = float(message["seconds"])
            return None
        if kind == "video_start":
            self.codec = self.codec or str(message.get("codec") or "") or None
            return None
        if kind == "error":
            error = _error_of(message)
            if self.started:
                return f"the camera dropped: {error.message}"
            if message.get("fatal"):
                raise error
            self._error = error  # the relay retries: wait for it (until start_timeout)
            self._pending = error if error.code in _PERSISTENT else None
            return None
        if kind == "status":
            phase = message.get("phase")
            if phase == "ended":
                return self._end("the stream was removed")
            if self.started and phase not in _PLAYING:
                return f"the camera's video stopped (the relay is {phase})"
            if self._pending is not None and phase not in _TRYING:
                raise self._pending  # the relay gave the attempt up: retrying will not fix it
        return None

    async def _start(self, analyzer: TsAnalyzer) -> None:
        self.codec = self.codec or analyzer.codec  # video_start names MPEG-1 (its PMT says MPEG-2 video)
        argv = mp4_argv(self.ffmpeg, self.temp, self.codec)
        self.process = await FFmpegProcess.spawn(argv, name=self.name, stdin=True)
        self.started = True
        log.info("%s: recording %s into %s", self.name, self.codec, self.path)
        await self.process.write(analyzer.psi)

    async def _write(self, data: bytes, pid: int) -> str | None:
        """Write a segment, up to the first picture past the limit; why the recording ends, or None."""
        proc = self.process
        assert proc is not None
        for offset, raw in pes_starts(data, pid):
            if raw is None:
                continue
            dts = self._unwrap(raw)
            if self._t0 is None:
                self._t0 = dts
            elif self._last is not None and not 0 <= dts - self._last <= JUMP_S * TICKS:
                await self._send(proc, data[:offset])
                return "the camera's video was interrupted (its timestamps jumped: the relay restarted)"
            if self._limit is not None and dts - self._t0 >= self._limit:
                await self._send(proc, data[:offset])
                return "complete"
            if self._last is not None and dts > self._last:
                self._interval = dts - self._last
            self._last = dts
            self.frames += 1
            self.seconds = (dts - self._t0 + self._interval) / TICKS
        await self._send(proc, data)
        return None

    async def _send(self, proc: FFmpegProcess, data: bytes) -> None:
        if not data:
            return
        try:
            await proc.write(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            await proc.stop(KILL_GRACE)
            raise FFmpegExitError(
                f"FFmpeg stopped writing the MP4 ({proc.stderr_tail() or 'no message'})"
            ) from exc


class Recording:
    """A recording running on the loop thread (``cam.record(..., wait=False)``): its progress, ``stop()``
    and ``result()``. Nothing here blocks but ``stop()`` and ``result()``, which wait for the file."""

    def __init__(
        self,
        recorder: Recorder,
        future: concurrent.futures.Future[RecordingResult],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._recorder = recorder
        self._future = future
        self._loop = loop

    @property
    def path(self) -> Path:
        return self._recorder.path

    @property
    def done(self) -> bool:
        """Whether the recording has ended (its file written, or failed)."""
        return self._future.done()

    @property
    def seconds(self) -> float:
        """Seconds of video written so far."""
        return self._recorder.seconds

    @property
    def frames(self) -> int:
        """Pictures written so far."""
        return self._recorder.frames

    @property
    def bytes(self) -> int:
        """Size of the file so far."""
        try:
            return self._recorder.output.stat().st_size
        except OSError:
            return 0

    def stop(self, timeout: float | None = FINISH_TIMEOUT + 10) -> RecordingResult:
        """End the recording now with what was written, and return its result once the file is written."""
        if not self._future.done():
            with contextlib.suppress(RuntimeError):  # the loop is gone: the future says what happened
                self._loop.call_soon_threadsafe(self._recorder.request_stop)
        return self.result(timeout)

    def cancel(self) -> None:
        """Stop at once without keeping the file (``result()`` then raises ``CancelledError``)."""
        self._future.cancel()

    def result(self, timeout: float | None = None) -> RecordingResult:
        """Wait for the recording to end (at most ``timeout`` s); its result, or the error that prevented
        it (e.g. the camera never sent a picture)."""
        return self._future.result(timeout)

    def wait(self) -> RecordingResult:
        """``result()`` for a cell: an interrupt (the stop button) stops the recording, keeps the file
        written so far, and is raised again."""
        try:
            return self._future.result()
        except KeyboardInterrupt:
            self.stop()
            raise

    def __repr__(self) -> str:
        state = "done" if self.done else "recording"
        return (
            f"<Recording {str(self.path)!r} {state}: {self.seconds:.1f} s, {self.frames} pictures, "
            f"{self.bytes} bytes>"
        )
