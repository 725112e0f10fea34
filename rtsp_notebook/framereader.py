"""``stream.frames()``: a stream's pictures as numpy arrays, decoded in this process.

The relay's MPEG-TS (in-process subscription, or the server's WebSocket) is piped into a decoding
FFmpeg that writes binary PPM pictures (``fps`` and ``scale`` filters applied there); each picture
becomes a ``uint8`` array of shape (H, W, 3). The work runs on the process's loop thread; the
iterator hands pictures over through a small queue that keeps the newest ones, so a slow consumer
gets recent pictures, not a growing backlog. Closing (or leaving the ``with`` block, or reaching
``count``) stops the FFmpeg and the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, SourceTimeoutError
from .process import FFmpegProcess

if TYPE_CHECKING:
    import numpy as np

    from .runtime import LoopThread

__all__ = ["FrameReader", "decoder_argv", "read_ppm"]

QUEUE_PICTURES = 4
_END = object()


def decoder_argv(ffmpeg: str, fps: float | None, width: int | None) -> list[str]:
    """argv of an FFmpeg that reads MPEG-TS on stdin and writes PPM pictures on stdout."""
    filters = []
    if fps is not None:
        filters.append(f"fps={fps:g}")
    if width is not None:
        filters.append(f"scale={int(width)}:-2")
    # the relay's stream starts with PSI and an I-frame: a short probe is enough (FFmpeg's default
    # waits up to 5 s of input before the first picture)
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-probesize", "65536",
            "-analyzeduration", "200000", "-f", "mpegts", "-i", "pipe:0", "-an"]  # fmt: skip
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


class FrameReader:
    """Iterator of numpy pictures; a context manager that stops its FFmpeg when closed."""

    def __init__(
        self,
        thread: LoopThread,
        chunks: Callable[[], AsyncIterator[bytes]],
        ffmpeg: str,
        *,
        fps: float | None = None,
        width: int | None = None,
        count: int | None = None,
        timeout: float = 15.0,
    ) -> None:
        check_frames_args(fps, width, count)
        self.count = count
        self.timeout = timeout
        self.delivered = 0
        self._thread = thread
        self._chunks = chunks
        self._argv = decoder_argv(ffmpeg, fps, width)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_PICTURES)
        self._closed = False
        self._task: asyncio.Task[None] = thread.run(self._start())

    async def _start(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._run(), name="frame reader")

    def _put(self, item: Any) -> None:
        while True:
            try:
                self._queue.put_nowait(item)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()  # keep the newest pictures

    async def _run(self) -> None:
        import numpy as np

        proc = await FFmpegProcess.spawn(self._argv, name="frame decoder", stdin=True)
        feeder = asyncio.get_running_loop().create_task(self._feed(proc))
        try:
            while True:
                picture = await read_ppm(proc.stdout)
                if picture is None:
                    break
                width, height, rgb = picture
                self._put(np.frombuffer(rgb, dtype=np.uint8).reshape(height, width, 3))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, who raises it
            self._put(exc)
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            await proc.stop(0.5)
            self._put(_END)

    async def _feed(self, proc: FFmpegProcess) -> None:
        try:
            async for chunk in self._chunks():
                await proc.write(chunk)
        except (ConnectionError, BrokenPipeError):
            return  # the decoder went away: _run reports it
        except Exception as exc:  # noqa: BLE001 - the source failed: the consumer raises it
            self._put(exc)
        proc.close_stdin()

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        if self._closed or (self.count is not None and self.delivered >= self.count):
            self.close()
            raise StopIteration
        try:
            item = self._queue.get(timeout=self.timeout)
        except queue.Empty:
            self.close()
            raise SourceTimeoutError(f"no picture for {self.timeout:g} s") from None
        if item is _END:
            self.close()
            raise StopIteration
        if isinstance(item, BaseException):
            self.close()
            raise item
        self.delivered += 1
        if self.count is not None and self.delivered >= self.count:
            self.close()  # the last one: the decoder stops now, not at the next call
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the decoder and the subscription (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._thread.running:
            self._thread.run(self._stop())

    async def _stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FrameReader {self.delivered} pictures{' closed' if self._closed else ''}>"
