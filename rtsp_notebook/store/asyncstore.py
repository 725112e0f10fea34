"""``AsyncStore``: the stream store for asyncio; every call runs on one dedicated worker thread, so an
event loop never waits on SQLite."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import functools
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from .sqlite import StreamRecord, StreamStore

__all__ = ["AsyncStore"]

_T = TypeVar("_T")
_Options = Mapping[str, Any] | None


class AsyncStore:
    """A ``StreamStore`` for asyncio: every call runs on one dedicated worker thread.

    A cancelled call still finishes on the worker thread; its result is then dropped.
    """

    def __init__(self, store: StreamStore) -> None:
        self.store = store
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="rtsp-notebook-store")
        self._closed = False

    @classmethod
    async def open(cls, path: str | os.PathLike[str]) -> AsyncStore:
        """Open (and migrate) the store at ``path`` off the event loop."""
        loop = asyncio.get_running_loop()
        return cls(await loop.run_in_executor(None, StreamStore, path))

    async def _run(self, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(func, *args, **kwargs))

    @property
    def schema_version(self) -> int:
        return self.store.schema_version

    async def add(
        self, url: str, label: str | None = None, options: _Options = None, *, sub_url: str | None = None
    ) -> StreamRecord:
        return await self._run(self.store.add, url, label, options, sub_url=sub_url)

    async def get(self, stream_id: str) -> StreamRecord:
        return await self._run(self.store.get, stream_id)

    async def find(self, key: str) -> StreamRecord:
        return await self._run(self.store.find, key)

    async def list(self) -> builtins.list[StreamRecord]:
        return await self._run(self.store.list)

    async def update(
        self,
        stream_id: str,
        *,
        url: str | None = None,
        label: str | None = None,
        options: _Options = None,
        sub_url: str | None = None,
    ) -> StreamRecord:
        return await self._run(
            self.store.update, stream_id, url=url, label=label, options=options, sub_url=sub_url
        )

    async def delete(self, stream_id: str) -> None:
        await self._run(self.store.delete, stream_id)

    async def aclose(self) -> None:
        """Close the store on the worker thread, then let the thread go (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._run(self.store.close)
        finally:
            self._executor.shutdown(wait=False)

    async def __aenter__(self) -> AsyncStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
