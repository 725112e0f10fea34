"""An asyncio loop on its own thread, for code that is not async: notebook cells, scripts, widgets.

One :class:`LoopThread` per process runs the in-process :class:`~rtsp_notebook.api.service.StreamService`
(``rn.connect(local=True)``), the frame readers and the widget's kernel fallback. Cells call into it
with :meth:`LoopThread.run`, which blocks the cell (never a server: there is none in this process).
Everything it started is stopped at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from ..api.service import StreamService
from ..media.process import kill_all

__all__ = ["LoopThread", "local_service", "loop_thread"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_lock = threading.Lock()
_loop_thread: LoopThread | None = None
_services: dict[str, StreamService] = {}


class LoopThread:
    """A daemon thread running one asyncio loop until :meth:`stop`."""

    def __init__(self, name: str = "rtsp-notebook loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; the future can be waited on from any other thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (from any thread but the loop's own)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run() called from its own loop: await the coroutine instead")
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except (KeyboardInterrupt, concurrent.futures.TimeoutError):
            future.cancel()  # an interrupted cell cancels its work on the loop
            raise

    def call(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Call a plain function on the loop's thread (for objects owned by the loop)."""

        async def wrapper() -> T:
            return fn()

        return self.run(wrapper(), timeout)

    def stop(self, cleanup: Callable[[], Awaitable[None]] | None = None, timeout: float = 10.0) -> None:
        """Run ``cleanup`` on the loop, then stop it and join the thread (idempotent)."""
        if not self.running:
            return
        if cleanup is not None:
            try:
                self.run(_as_coroutine(cleanup), timeout)
            except Exception:  # shutting down: log it and go on stopping
                log.exception("rtsp-notebook: cleanup on the loop thread failed")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


async def _as_coroutine(fn: Callable[[], Awaitable[None]]) -> None:
    await fn()


def loop_thread() -> LoopThread:
    """The process's loop thread (started on first use)."""
    global _loop_thread
    with _lock:
        if _loop_thread is None or not _loop_thread.running:
            _loop_thread = LoopThread()
        return _loop_thread


def local_service(store_path: str | Path | None = None, ffmpeg_path: str | None = None) -> StreamService:
    """The in-process service for a store (one per store path in a process), running on
    :func:`loop_thread`."""
    thread = loop_thread()
    key = str(Path(store_path).resolve()) if store_path is not None else ""
    with _lock:
        service = _services.get(key)
        if service is None:
            service = StreamService.open(store_path, ffmpeg_path=ffmpeg_path)
            thread.run(service.engine.start_keep_alive())
            _services[key] = service
        return service


def _shutdown() -> None:
    """At interpreter exit: stop every service (FFmpeg processes included) and the loop."""
    thread = _loop_thread
    services = list(_services.values())
    _services.clear()
    if thread is not None:

        async def close_all() -> None:
            for service in services:
                try:
                    await service.close()
                except RuntimeError:
                    # at exit, the store's executor may already be shut down (concurrent.futures
                    # stops its workers before atexit callbacks run): close the database directly
                    service.engine.store.store.close()

        thread.stop(close_all)
    killed = kill_all()
    if killed:
        log.info("rtsp-notebook: killed %d FFmpeg processes at exit", killed)


atexit.register(_shutdown)
