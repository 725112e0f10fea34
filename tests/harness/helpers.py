"""Waiting with deadlines, reading subscriptions, and finding FFmpeg children in tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from rtsp_notebook.engine import Engine, EngineConfig
from rtsp_notebook.media.events import EventKind, RelayEvent
from rtsp_notebook.media.ffmpeg import find_ffmpeg
from rtsp_notebook.media.mpegts import PACKET_SIZE, PacketAligner, TsAnalyzer
from rtsp_notebook.media.relay import RelayConfig
from rtsp_notebook.media.subscription import Subscription, SubscriptionClosed
from rtsp_notebook.store import AsyncStore, StreamStore

POLL = 0.02


def _polls(predicate: Callable[[], Any], timeout: float, what: str) -> Iterator[Any]:
    """Yields None while ``predicate`` is falsy (the caller then waits ``POLL`` s), and fails past the
    deadline; returns the truthy value through StopIteration."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        yield None
    return value


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str = "condition") -> Any:
    """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds."""
    polls = _polls(predicate, timeout, what)
    while True:
        try:
            next(polls)
        except StopIteration as done:
            return done.value
        await asyncio.sleep(POLL)


async def wait_for(check: Callable[[], Awaitable[Any]], timeout: float, what: str = "condition") -> Any:
    """``wait_until`` for an async check (e.g. a REST call); its truthy value."""
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(POLL)  # the poll interval of a deadline wait
    return value


def wait_until_sync(predicate: Callable[[], Any], timeout: float, what: str = "condition") -> Any:
    """``wait_until`` for sync tests that have no event loop."""
    polls = _polls(predicate, timeout, what)
    while True:
        try:
            next(polls)
        except StopIteration as done:
            return done.value
        time.sleep(POLL)  # the poll interval of a deadline wait


def ffmpeg_children() -> list[psutil.Process]:
    """FFmpeg processes that this test process started (they run in their own sessions)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "ffmpeg" in child.name() and child.status() != psutil.STATUS_ZOMBIE:
                out.append(child)
    return out


def ffmpeg_roles() -> dict[str, int]:
    """``ffmpeg_children()`` counted by what they read: ``camera`` (an FFmpeg that opens the camera or the
    demo source itself: a source relay, a probe, a grab) or ``stdin`` (one fed MPEG-TS on ``-i pipe:0``: an
    MPEG-1 transcode reading its source relay's bytes, a decoder of ``frames()``)."""
    roles = {"camera": 0, "stdin": 0}
    for child in ffmpeg_children():
        with contextlib.suppress(psutil.Error):
            roles["stdin" if "pipe:0" in child.cmdline() else "camera"] += 1
    return roles


class Reader:
    """Consumes a subscription in the background, recording bytes, events and times."""

    def __init__(self, sub: Subscription) -> None:
        self.sub = sub
        self.data = bytearray()
        self.events: list[RelayEvent] = []
        self.first_bytes_at: float | None = None
        self.closed: str | None = None
        self.created = time.monotonic()
        self._aligner, self.analyzer = PacketAligner(), TsAnalyzer()  # counts the frames received
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while True:
                item = await self.sub.get()
                if isinstance(item, bytes):
                    if self.first_bytes_at is None:
                        self.first_bytes_at = time.monotonic()
                    self.data += item
                    self.analyzer.feed(self._aligner.feed(item))
                else:
                    self.events.append(item)
        except SubscriptionClosed as exc:
            self.closed = exc.reason

    async def wait_frames(self, n: int, timeout: float = 10.0) -> None:
        start = self.analyzer.frames
        await wait_until(lambda: self.analyzer.frames - start >= n, timeout, f"{n} more frames")

    def kinds(self, kind: EventKind) -> list[RelayEvent]:
        return [e for e in self.events if e.kind is kind]

    async def wait_bytes(self, n: int, timeout: float = 10.0) -> None:
        start = len(self.data)
        await wait_until(lambda: len(self.data) - start >= n, timeout, f"{n} more bytes")

    async def wait_event(
        self, kind: EventKind, count: int = 1, timeout: float = 10.0, **match: Any
    ) -> RelayEvent:
        def found() -> RelayEvent | None:
            hits = [e for e in self.kinds(kind) if all(getattr(e, k) == v for k, v in match.items())]
            return hits[count - 1] if len(hits) >= count else None

        return await wait_until(found, timeout, f"event {kind.value} #{count} {match}")

    async def stop(self) -> None:
        self.sub.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def analyze(data: bytes) -> TsAnalyzer:
    analyzer = TsAnalyzer()
    analyzer.feed(PacketAligner().feed(bytes(data)))
    return analyzer


def pid_of(packet: bytes) -> int:
    return ((packet[1] & 0x1F) << 8) | packet[2]


def packets(data: bytes) -> list[bytes]:
    return [bytes(data[i : i + PACKET_SIZE]) for i in range(0, len(data) - PACKET_SIZE + 1, PACKET_SIZE)]


_FFMPEG = None


def ffmpeg_info() -> Any:
    global _FFMPEG
    if _FFMPEG is None:
        _FFMPEG = find_ffmpeg()
    return _FFMPEG


@contextlib.asynccontextmanager
async def engine_for(tmp_path: Path, **relay: Any) -> AsyncIterator[Engine]:
    """An engine on a fresh store in ``tmp_path``; relay settings override the defaults."""
    limits = {k: relay.pop(k) for k in ("max_relays", "max_transcodes", "max_viewers") if k in relay}
    config = EngineConfig(relay=RelayConfig(**relay), **limits)
    store = AsyncStore(StreamStore(tmp_path / f"streams-{os.getpid()}.db"))
    engine = Engine(store, ffmpeg_info(), config)
    try:
        yield engine
    finally:
        await engine.close()


class MemoryChannel:
    """An in-memory ``viewer.Channel``. The channel is an adapter interface (the WebSocket handler and the
    widget comm implement it); the real WebSocket is tested in tests/test_server.py. Here it records
    what the viewer was sent."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.binary_bytes = 0
        self.closed: tuple[int | None, str | None] | None = None

    async def send_binary(self, data: bytes) -> None:
        self.binary_bytes += len(data)

    async def send_json(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        self.closed = (code, reason)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]
