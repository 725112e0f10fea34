"""The stream API as plain async calls: what the REST handlers, the in-process hub and the widget's
kernel fallback all answer with.

Inputs are the JSON values a client sends; outputs are JSON-able dicts (masked URLs only); failures
are :class:`~rtsp_notebook.errors.RtspNotebookError` subclasses. Transports (HTTP, a widget comm, a
Python call) only parse and serialise around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._version import __version__
from ..engine import Engine, EngineConfig
from ..errors import (
    InvalidInputError,
    InvalidURLError,
    ProbeFailedError,
    RtspNotebookError,
    StreamNotFoundError,
)
from ..media.ffmpeg import find_ffmpeg
from ..media.probe import probe
from ..media.sources import parse_source
from ..store import AsyncStore, StreamRecord, StreamStore, default_store_path, is_stream_id, validate_options
from ..thumbnails import Thumbnail, ThumbnailService
from .clips import ClipFile, Clips

__all__ = ["PROBE_TIMEOUT", "STREAM_SOCKET", "ProbeFailedError", "StreamService", "checked_id"]

PROBE_TIMEOUT = 5.0
STREAM_SOCKET = "rtsp/ws/stream"  # the stream WebSocket of DESIGN §4, under the base URL
_FIELDS = ("url", "sub_url", "label", "options")


def checked_id(stream_id: object) -> str:
    """A stream id of the store's shape; any other shape cannot exist (NOT_FOUND)."""
    if not is_stream_id(stream_id):
        raise StreamNotFoundError("no stream with this id")
    return stream_id


@dataclass
class StreamService:
    engine: Engine
    thumbnails: ThumbnailService
    clips: Clips = field(default=None)  # type: ignore[assignment]  # None: clips into the working directory

    def __post_init__(self) -> None:
        if self.clips is None:
            self.clips = Clips(self.engine)

    @classmethod
    def open(
        cls,
        store_path: str | Path | None = None,
        *,
        ffmpeg_path: str | None = None,
        config: EngineConfig | None = None,
        thumbnail_ttl: float = 10.0,
        max_thumbnail_grabs: int = 2,
    ) -> StreamService:
        """A service on its own store and engine. Blocking (FFmpeg discovery, the store's schema):
        call it before serving, or from a thread."""
        ffmpeg = find_ffmpeg(ffmpeg_path)
        store = StreamStore(store_path or default_store_path())
        engine = Engine(AsyncStore(store), ffmpeg, config)
        return cls(engine, ThumbnailService(engine, ttl=thumbnail_ttl, max_grabs=max_thumbnail_grabs))

    async def close(self) -> None:
        """Stop the clips and thumbnail grabs, then every relay, and close the store, whatever fails first."""
        try:
            await self.clips.close()
            await self.thumbnails.close()
        finally:
            await self.engine.close()

    # -- streams -----------------------------------------------------------------------------------
    def stream_dict(self, record: StreamRecord) -> dict[str, Any]:
        return {**self.engine.describe(record), "ws_url": f"{STREAM_SOCKET}?id={record.id}"}

    async def health(self) -> dict[str, Any]:
        streams = await self.engine.store.list()
        ffmpeg = self.engine.ffmpeg
        return {
            "status": "healthy", "version": __version__,
            "ffmpeg": {"path": ffmpeg.path, "version": ffmpeg.version},
            "streams": len(streams), "relays": len(self.engine.relays),
        }  # fmt: skip

    async def list_streams(self) -> list[dict[str, Any]]:
        return [self.stream_dict(r) for r in await self.engine.store.list()]

    async def get_stream(self, stream_id: object) -> dict[str, Any]:
        return self.stream_dict(await self.engine.store.get(checked_id(stream_id)))

    async def add_stream(self, body: dict[str, Any], *, check: bool = False) -> dict[str, Any]:
        """Store ``{"url", "sub_url"?, "label"?, "options"?}``; with ``check``, read the camera first (up to
        5 s), raising :class:`ProbeFailedError` when it cannot be read."""
        url, label, options = body.get("url"), body.get("label"), body.get("options")
        if url is None:
            raise InvalidURLError('the body needs a "url", as in {"url": "rtsp://camera/stream1"}')
        probed = None
        if check:
            source = parse_source(url)
            checked = validate_options(options)
            try:
                async with self.engine.probe_slots:  # at most max_probes FFmpegs; others wait their turn
                    probed = await probe(
                        self.engine.ffmpeg.path, source, transport=checked["transport"], timeout=PROBE_TIMEOUT
                    )
            except RtspNotebookError as exc:
                raise ProbeFailedError(exc) from exc
        sub_url = body.get("sub_url")
        answer = self.stream_dict(await self.engine.add_stream(url, label, options, sub_url=sub_url))
        if probed is not None:
            answer["probe"] = probed.as_dict()
        return answer

    async def update_stream(self, stream_id: object, body: dict[str, Any]) -> dict[str, Any]:
        sid = checked_id(stream_id)
        unknown = sorted(set(body) - set(_FIELDS))
        if unknown:
            raise InvalidInputError(
                f"unknown field {unknown[0]!r}; a stream has url, sub_url, label and options"
            )
        if "url" in body and body["url"] is None:
            parse_source(None)  # an explicit null is a bad URL (the pinned message), not "unchanged"
        sub_url = body.get("sub_url")
        if "sub_url" in body and sub_url is None:
            sub_url = ""  # an explicit null removes the substream
        record = await self.engine.update_stream(
            sid,
            url=body.get("url"),
            label=body.get("label"),
            options=body.get("options"),
            sub_url=sub_url,
        )
        if "url" in body:
            self.thumbnails.forget(sid)
        return self.stream_dict(record)

    async def remove_stream(self, stream_id: object) -> None:
        sid = checked_id(stream_id)
        await self.engine.remove_stream(sid)
        self.thumbnails.forget(sid)

    # -- pictures ----------------------------------------------------------------------------------
    async def thumbnail(self, stream_id: object, *, width: Any = None, refresh: bool = False) -> Thumbnail:
        return await self.thumbnails.get(checked_id(stream_id), width=width, refresh=refresh)

    def cache_stats(self) -> dict[str, Any]:
        return self.thumbnails.stats()

    def cache_clear(self) -> dict[str, Any]:
        return {"cleared": self.thumbnails.clear()}

    # -- clips -------------------------------------------------------------------------------------------
    async def add_clip(self, stream_id: object, body: dict[str, Any]) -> dict[str, Any]:
        """Start a clip ``{"before", "after"}`` of the stream (a job: follow it with :meth:`get_clip`)."""
        return await self.clips.start(checked_id(stream_id), body)

    async def get_clip(self, clip_id: object) -> dict[str, Any]:
        return await self.clips.get(str(clip_id))

    async def list_clips(self) -> list[dict[str, Any]]:
        return await self.clips.list()

    async def stop_clip(self, clip_id: object) -> dict[str, Any]:
        """End a recording clip with what it wrote; its state once the file is written."""
        return await self.clips.stop(str(clip_id))

    async def delete_clip(self, clip_id: object) -> None:
        """Forget a clip and remove its file (a recording one is cancelled, its partial file removed)."""
        await self.clips.delete(str(clip_id))

    async def clip_file(self, clip_id: object) -> ClipFile:
        """A finished clip's file; ConflictError while it records or when it failed."""
        return self.clips.file(str(clip_id))

    # -- figures -----------------------------------------------------------------------------------
    async def stats(self) -> list[dict[str, Any]]:
        records = await self.engine.store.list()
        return [{**self.engine.stream_stats(r.id), "label": r.label} for r in records]

    async def stream_stats(self, stream_id: object) -> dict[str, Any]:
        record = await self.engine.store.get(checked_id(stream_id))
        return {**self.engine.stream_stats(record.id), "label": record.label}

    def events(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.engine.events()]
