"""``timeout``: a deadline for awaits that never swallows a cancellation; ``cancel_and_wait``.

``asyncio.wait_for`` before Python 3.12 can lose a ``cancel()`` that arrives just as the awaited
operation finishes (CPython gh-86296): a relay being stopped would then keep running. On 3.11+
``asyncio.timeout`` counts cancellations and re-raises an outside one; 3.10 gets a close equivalent.
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType

__all__ = ["cancel_and_wait", "timeout"]


async def cancel_and_wait(task: asyncio.Task[object] | None) -> None:
    """Cancel ``task`` and wait until it has finished.

    Unlike ``task.cancel(); with suppress(CancelledError): await task``, a cancellation of the *caller*
    while it waits is not swallowed: it propagates (the task goes on being cancelled). The task's own
    outcome is not raised here: its owner records errors where they happen.
    """
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait({task})


if sys.version_info >= (3, 11):
    from asyncio import timeout
else:  # pragma: no cover - exercised on Python 3.10 only

    class timeout:
        def __init__(self, delay: float | None) -> None:
            self._delay = delay
            self._handle: asyncio.TimerHandle | None = None
            self._expired = False

        async def __aenter__(self) -> timeout:
            task = asyncio.current_task()
            if self._delay is not None and task is not None:
                self._handle = asyncio.get_running_loop().call_later(self._delay, self._expire, task)
            return self

        def _expire(self, task: asyncio.Task[object]) -> None:
            self._expired = True
            task.cancel()

        async def __aexit__(
            self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
        ) -> None:
            if self._handle is not None:
                self._handle.cancel()
            if self._expired and exc_type is asyncio.CancelledError:
                raise asyncio.TimeoutError from exc
