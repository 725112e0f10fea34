"""``stream.frames()``: a stream's pictures as numpy arrays, decoded in this process.

The relay's MPEG-TS (in-process subscription, or the server's WebSocket) is piped into a decoding
FFmpeg that writes binary PPM pictures (``fps`` and ``scale`` filters applied there); each picture
becomes a ``uint8`` array of shape (H, W, 3). The work runs on the process's loop thread; the
iterator hands pictures over through a small queue that keeps the newest ones, so a slow consumer
gets recent pictures, not a growing backlog. The FFmpeg and the subscription start on first use
(``next()``, ``iter()``, ``with``) and stop on ``close()``, at the end of the ``with`` block, at
``count``, or when the reader is garbage-collected (``weakref.finalize``, not ``__del__``).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._compat import cancel_and_wait
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


class _Decoder:
    """The loop side of a reader: the decoding FFmpeg fed from the stream, handing pictures over
    through ``queue``. It holds no reference to its :class:`FrameReader`, so a reader dropped without
    ``close()`` can be garbage-collected, and its finalizer stops this."""

    def __init__(
        self, thread: LoopThread, chunks: Callable[[], AsyncIterator[bytes]], argv: list[str]
    ) -> None:
        self.thread = thread
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_PICTURES)
        self._chunks = chunks
        self._argv = argv
        self._task: asyncio.Task[None] | None = None

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

    def _put(self, item: Any) -> None:
        while True:
            try:
                self.queue.put_nowait(item)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.queue.get_nowait()  # keep the newest pictures

    async def _run(self) -> None:
        try:
            proc = await FFmpegProcess.spawn(self._argv, name="frame decoder", stdin=True)
            try:
                await self._decode(proc)
            finally:
                await proc.stop(0.5)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, who raises it
            self._put(exc)
        finally:
            self._put(_END)

    async def _decode(self, proc: FFmpegProcess) -> None:
        import numpy as np

        feeder = asyncio.get_running_loop().create_task(self._feed(proc))
        try:
            while (picture := await read_ppm(proc.stdout)) is not None:
                width, height, rgb = picture
                self._put(np.frombuffer(rgb, dtype=np.uint8).reshape(height, width, 3))
        finally:
            await cancel_and_wait(feeder)  # its subscription ends with it

    async def _feed(self, proc: FFmpegProcess) -> None:
        try:
            async for chunk in self._chunks():
                await proc.write(chunk)
        except (ConnectionError, BrokenPipeError):
            return  # the decoder went away: _run reports it
        except Exception as exc:  # noqa: BLE001 - the source failed: the consumer raises it
            self._put(exc)
        proc.close_stdin()


class FrameReader:
    """Iterator of numpy pictures; a context manager that stops its FFmpeg when closed.

    Nothing starts before the first use (``next()``, ``iter()`` or ``with``); a reader dropped
    without ``close()`` stops its FFmpeg and subscription when it is garbage-collected."""

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
        self._decoder = _Decoder(thread, chunks, decoder_argv(ffmpeg, fps, width))
        self._started = False
        self._closed = False
        # the callback holds the decoder, never the reader: the reader stays collectable
        self._finalizer = weakref.finalize(self, self._decoder.stop_soon)

    def _start(self) -> None:
        if not (self._started or self._closed):
            self._started = True
            self._decoder.start()

    def __iter__(self) -> Iterator[np.ndarray]:
        self._start()
        return self

    def __next__(self) -> np.ndarray:
        if self._closed or (self.count is not None and self.delivered >= self.count):
            self.close()
            raise StopIteration
        self._start()
        try:
            item = self._decoder.queue.get(timeout=self.timeout)
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
