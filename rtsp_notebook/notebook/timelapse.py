"""``cam.timelapse()``: one picture every N seconds into an MP4 or a folder of JPEGs.

The pictures come from one :class:`~rtsp_notebook.notebook.framereader.FrameReader` paced at
``1 / every`` pictures a second (one decoder for the whole run, so each picture is a live one taken on
the wall-clock grid, not a keyframe up to a GOP old). An MP4 is encoded as the pictures come by an
FFmpeg (libx264, ``yuv420p``, ``playback_fps`` pictures a second, faststart) fed raw RGB on its stdin
and written under a hidden ``.part`` name until it is complete; JPEGs are written by Pillow as
``<folder>/<label>-00001.jpg``, …. A stop (``stop()``, an interrupted cell, or the camera failing
after the first picture) ends the run cleanly with the pictures taken, and the result says why.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FFmpegExitError, InvalidInputError, RtspNotebookError
from ..media.ffmpeg import base_args
from ..media.process import FFmpegProcess
from ..media.recorder import OutputExistsError, check_output_path

if TYPE_CHECKING:
    import numpy as np

    from .hub import Stream
    from .runtime import LoopThread

__all__ = ["Timelapse", "TimelapseResult", "mp4_encoder_argv"]

log = logging.getLogger(__name__)

MIN_EVERY_S = 1 / 20  # at most 20 pictures a second: a timelapse, not a recording
FINISH_TIMEOUT_S = 60.0  # the encoder's time to write the file once its input ends


@dataclass(frozen=True)
class TimelapseResult:
    """What a timelapse wrote: ``path`` (the MP4 or the folder; None when no picture was taken),
    ``pictures``, ``seconds`` (from its start to its end, wall clock), ``complete`` (every picture
    asked for) and ``ended`` (``"done"``, ``"stopped"``, ``"interrupted"`` or the camera's error)."""

    path: Path | None
    pictures: int
    seconds: float
    complete: bool
    ended: str


def mp4_encoder_argv(
    ffmpeg: str, width: int, height: int, fps: float, output: str | os.PathLike[str]
) -> list[str]:
    """An FFmpeg that encodes raw RGB pictures of ``width`` x ``height`` on its stdin into an H.264 MP4
    at ``fps`` pictures a second (sizes rounded down to even numbers, as ``yuv420p`` needs)."""
    return [
        *base_args(ffmpeg, "error"),
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", f"{fps:g}",
        "-i", "pipe:0",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
        "-movflags", "+faststart", "-f", "mp4", f"file:{os.fspath(output)}",
    ]  # fmt: skip


def _safe_name(label: str) -> str:
    name = re.sub(r"[^\w.-]+", "_", label, flags=re.ASCII).strip("._")
    return name[:80] or "camera"


def _check_number(name: str, value: Any, minimum: float) -> float:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and minimum <= value < math.inf):
        raise InvalidInputError(f"{name} must be a number of at least {minimum:g}, got {value!r}")
    return float(value)


class _Mp4Writer:
    """The encoding FFmpeg, started at the first picture (its size), owned by the hub's loop thread."""

    def __init__(self, thread: LoopThread, ffmpeg: str, target: Path, fps: float, overwrite: bool) -> None:
        self.thread = thread
        self.ffmpeg = ffmpeg
        self.target = target
        self.temp = target.with_name(f".{target.name}.part")
        self.fps = fps
        self.overwrite = overwrite
        self.proc: FFmpegProcess | None = None
        self.size: tuple[int, int] | None = None

    def add(self, picture: np.ndarray) -> None:
        height, width = picture.shape[:2]
        if self.proc is None:
            self.size = (width, height)
            argv = mp4_encoder_argv(self.ffmpeg, width, height, self.fps, self.temp)
            started = self.thread.submit(FFmpegProcess.spawn(argv, name="timelapse encoder", stdin=True))
            try:
                self.proc = started.result()
            except KeyboardInterrupt:  # never cancel a spawn half-way: the encoder would have no owner
                self.proc = started.result(10)  # finish() stops it
                raise
        elif self.size is not None and (width, height) != self.size:  # a restart with another size
            from PIL import Image

            picture = _as_array(Image.fromarray(picture).resize(self.size))  # keep the first size
        self.thread.run(self.proc.write(picture.tobytes()))

    def finish(self) -> None:
        """End the input, wait for the file, give it its name (nothing when no picture came)."""
        if self.proc is None:
            return
        proc = self.proc

        async def end() -> int:
            proc.close_stdin()
            try:
                return await asyncio.wait_for(proc.wait(), FINISH_TIMEOUT_S)
            finally:
                await proc.stop()

        code = self.thread.run(end())
        if code != 0:
            self.temp.unlink(missing_ok=True)
            raise FFmpegExitError(f"the timelapse encoder failed (exit {code}): {proc.stderr_tail()[-500:]}")
        if not self.overwrite and self.target.exists():
            raise OutputExistsError(
                f"{str(self.target)!r} was created meanwhile; the timelapse is kept as {str(self.temp)!r}"
            )
        self.temp.replace(self.target)

    def abort(self) -> None:
        if self.proc is not None:
            self.thread.run(self.proc.stop(0.5))
        self.temp.unlink(missing_ok=True)


def _as_array(image: Any) -> np.ndarray:
    import numpy as np

    return np.asarray(image, dtype=np.uint8)


class Timelapse:
    """A timelapse of one stream; ``cam.timelapse()`` makes it. :meth:`run` takes the pictures in the
    calling thread; :meth:`start` in a thread of its own (then ``pictures``, ``done``, :meth:`stop`,
    :meth:`result`)."""

    def __init__(
        self,
        stream: Stream,
        path: str | os.PathLike[str],
        *,
        every: float,
        duration: float,
        width: int | None,
        playback_fps: float,
        progress: bool,
        overwrite: bool,
    ) -> None:
        self.every = _check_number("every", every, MIN_EVERY_S)
        self.duration = _check_number("duration", duration, self.every)
        self.playback_fps = _check_number("playback_fps", playback_fps, 1)
        self.total = max(1, math.ceil(self.duration / self.every - 1e-9))
        self.stream = stream
        self.progress = progress
        self.overwrite = overwrite
        self.mp4 = os.fspath(path).lower().endswith(".mp4")
        self.path = check_output_path(path, overwrite) if self.mp4 else self._check_folder(path, overwrite)
        self._name = _safe_name(stream.label)
        self.reader = stream.frames(fps=1 / self.every, width=width, timestamps=True)
        self.pictures = 0
        self._stop = threading.Event()
        self._ended = "done"
        self._thread: threading.Thread | None = None
        self._result: TimelapseResult | None = None
        self._error: BaseException | None = None

    @staticmethod
    def _check_folder(path: str | os.PathLike[str], overwrite: bool) -> Path:
        if not os.fspath(path):
            raise InvalidInputError("path must be a folder name or a file name ending .mp4, got ''")
        folder = Path(path).expanduser().absolute()
        if folder.exists() and not folder.is_dir():
            raise InvalidInputError(
                f"{str(folder)!r} is a file: give a folder for JPEGs, or a name ending .mp4 for a video"
            )
        if folder.is_dir() and any(folder.iterdir()) and not overwrite:
            raise OutputExistsError(
                f"the folder {str(folder)!r} has files in it: pass overwrite=True to write into it anyway"
            )
        return folder

    # -- running -----------------------------------------------------------------------------------
    def run(self) -> TimelapseResult:
        """Take the pictures in this thread; an interrupted cell stops it cleanly (keeping the pictures)."""
        started = time.monotonic()
        writer = (
            _Mp4Writer(
                self._transport().thread,
                self._transport().ffmpeg_path,
                self.path,
                self.playback_fps,
                self.overwrite,
            )
            if self.mp4
            else None
        )
        bar = self._bar()
        try:
            self._take(writer, bar)
        except KeyboardInterrupt:
            self._ended = "interrupted"
            log.info("timelapse of %r interrupted after %d pictures", self.stream.label, self.pictures)
        except RtspNotebookError as exc:
            if self.pictures == 0:
                self._abort(writer)
                raise
            self._ended = f"the camera failed: {exc}"
            log.warning("timelapse of %r ended after %d pictures: %s", self.stream.label, self.pictures, exc)
        except BaseException:
            self._abort(writer)
            raise
        finally:
            self.reader.close()
            if bar is not None:
                bar.close()
        if writer is not None:
            writer.finish()
        self._result = TimelapseResult(
            path=self.path if self.pictures else None,
            pictures=self.pictures,
            seconds=round(time.monotonic() - started, 3),
            complete=self.pictures >= self.total,
            ended=self._ended,
        )
        return self._result

    def _abort(self, writer: _Mp4Writer | None) -> None:
        self.reader.close()
        if writer is not None:
            writer.abort()

    def _transport(self) -> Any:
        return self.stream._hub().transport

    def _bar(self) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=self.total, unit="picture", desc=f"timelapse {self.stream.label}")

    def _take(self, writer: _Mp4Writer | None, bar: Any) -> None:
        if writer is None:
            self.path.mkdir(parents=True, exist_ok=True)
        for _stamp, picture in self.reader:
            if self._stop.is_set():
                break
            if writer is not None:
                writer.add(picture)
            else:
                from PIL import Image

                Image.fromarray(picture).save(
                    self.path / f"{self._name}-{self.pictures + 1:05d}.jpg", quality=90
                )
            self.pictures += 1
            if bar is not None:
                bar.update(1)
            if self.pictures >= self.total:
                break
        if self._stop.is_set() and self.pictures < self.total:
            self._ended = "stopped"

    # -- the non-blocking form ---------------------------------------------------------------------
    def start(self) -> Timelapse:
        """Take the pictures in a thread of its own; returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._background, name="timelapse", daemon=True)
            self._thread.start()
        return self

    def _background(self) -> None:
        try:
            self.run()
        except BaseException as exc:  # noqa: BLE001 - handed to result()
            self._error = exc

    @property
    def done(self) -> bool:
        return self._result is not None or self._error is not None

    def stop(self, timeout: float | None = FINISH_TIMEOUT_S) -> TimelapseResult:
        """Stop taking pictures, finish the file with those taken, and return the result."""
        self._stop.set()
        self.reader.close()  # ends a wait for the next picture
        return self.result(timeout)

    def result(self, timeout: float | None = None) -> TimelapseResult:
        """Wait for the end (``timeout`` s at most) and return the result, or raise the run's error."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the timelapse is still running after {timeout:g} s")
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise RtspNotebookError("the timelapse has not run: call run() or start()")
        return self._result

    def __repr__(self) -> str:
        state = "done" if self.done else "running" if self._thread is not None else "not started"
        return f"<Timelapse {self.stream.label!r} {self.pictures}/{self.total} pictures {state}>"
