"""Thumbnails against the real GStreamer camera and the real FFmpeg.

Where a test must know which FFmpeg processes a thumbnail started, ``spawns`` wraps
``FFmpegProcess.spawn``: the real processes still run, and the spy records each argv and the most
FFmpeg processes alive at once (``live_processes()`` right after each start, the only moment the
count grows).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from rtsp_notebook.engine import Engine
from rtsp_notebook.errors import (
    AuthError,
    InvalidInputError,
    SourceTimeoutError,
    StreamNotFoundError,
    UnreachableError,
)
from rtsp_notebook.media.events import EventKind
from rtsp_notebook.media.process import FFmpegProcess, live_processes
from rtsp_notebook.thumbnails import Thumbnail, ThumbnailService

from .harness.helpers import Reader, engine_for, ffmpeg_children, wait_until


class SpawnSpy:
    def __init__(self) -> None:
        self.argvs: list[list[str]] = []
        self.peak = 0
        self.before = live_processes()  # not ours: never counted

    def reset(self) -> None:
        self.argvs, self.peak = [], 0


@pytest.fixture
def spawns(monkeypatch: pytest.MonkeyPatch) -> SpawnSpy:
    spy = SpawnSpy()
    real = FFmpegProcess.spawn.__func__  # type: ignore[attr-defined]

    async def spawn(cls: type[FFmpegProcess], argv: list[str], **kwargs: Any) -> FFmpegProcess:
        proc = await real(cls, argv, **kwargs)
        spy.argvs.append(list(argv))
        spy.peak = max(spy.peak, len(live_processes() - spy.before))
        return proc

    monkeypatch.setattr(FFmpegProcess, "spawn", classmethod(spawn))
    return spy


@contextlib.asynccontextmanager
async def service_for(tmp_path: Path, **options: Any) -> AsyncIterator[tuple[Engine, ThumbnailService]]:
    async with engine_for(tmp_path) as engine:
        service = ThumbnailService(engine, **options)
        try:
            yield engine, service
        finally:
            await service.close()


def size_of(thumb: Thumbnail) -> tuple[int, int]:
    with Image.open(io.BytesIO(thumb.jpeg)) as image:
        assert image.format == "JPEG"
        return image.size


async def test_an_idle_camera_is_probed_at_the_requested_width(camera, tmp_path, spawns):
    async with service_for(tmp_path) as (engine, service):
        stream = await engine.add_stream(camera.url)
        thumb = await service.get(stream.id, width=320)
        assert (thumb.source, thumb.stale) == ("probe", False)
        assert size_of(thumb) == (thumb.width, thumb.height) == (320, 180)
        assert len(spawns.argvs) == 1 and camera.url in spawns.argvs[0]
        assert not ffmpeg_children(), "the one-shot FFmpeg is stopped once it answered"
        # other widths come from the same frame while it is fresh; never wider than the camera
        assert size_of(await service.get(stream.id)) == (640, 360)
        wide = await service.get(stream.id, width=1920)
        assert (wide.width, wide.height, wide.source) == (640, 360, "cache")
        assert len(spawns.argvs) == 1


async def test_while_a_relay_plays_its_keyframe_is_decoded_without_a_camera_session(
    camera_factory, tmp_path, spawns
):
    """The source relay's keyframe (the camera's own H.264, issue 14) is decoded from its bytes on stdin:
    camera quality, and no RTSP session besides the source relay's."""
    camera = camera_factory(width=1280, height=720)

    def camera_sessions() -> list[list[str]]:
        return [argv for argv in spawns.argvs if any("rtsp" in arg for arg in argv)]

    async with service_for(tmp_path) as (engine, service):
        stream = await engine.add_stream(camera.url)
        grid = Reader(await engine.subscribe(stream.id, "grid"))  # an MPEG-1 tile: source + transcode
        await grid.wait_event(EventKind.VIDEO_START)
        relay = engine.relay(stream.id, "source")
        assert relay is not None
        assert len(camera_sessions()) == 1, spawns.argvs  # the source relay's, read by the grid's FFmpeg
        await wait_until(lambda: relay.last_keyframe, 5, "the source relay's first keyframe")
        spawns.reset()
        key, arrived = relay.last_keyframe, relay.last_keyframe_at
        thumb = await service.get(stream.id, width=160)
        assert (thumb.source, thumb.stale, size_of(thumb)) == ("live", False, (160, 90))
        if relay.last_keyframe is key:  # captured when its I-frame arrived, not when it was decoded
            assert thumb.captured_at == arrived
        # the only FFmpeg started reads the relay's bytes on stdin: no second RTSP session
        assert len(spawns.argvs) == 1
        assert "pipe:0" in spawns.argvs[0] and not camera_sessions()
        big = await service.get(stream.id)
        assert size_of(big) == (1280, 720), "the camera's own picture, not the grid profile's 640x360"
        # a refresh before the next keyframe reuses the decoded picture; after it, decodes the new one
        again = await service.get(stream.id, width=160, refresh=True)
        assert again.source == "live"
        if relay.last_keyframe is key:  # no keyframe since the first call (GOP is 1 s): nothing decoded
            assert len(spawns.argvs) == 1 and again.captured_at == thumb.captured_at
        await wait_until(lambda: relay.last_keyframe is not key, 5, "the next keyframe")
        newer = await service.get(stream.id, width=160, refresh=True)
        assert newer.source == "live" and newer.captured_at > thumb.captured_at
        # with the full profile playing too, the camera's own keyframe is still the one decoded: the
        # picture arrived with the source relay's latest I-frame, and the camera has one session
        full = Reader(await engine.subscribe(stream.id, "full"))
        await full.wait_event(EventKind.VIDEO_START)
        full_relay = engine.relay(stream.id, "full")
        assert full_relay is not None
        await wait_until(lambda: full_relay.last_keyframe, 5, "the full relay's first keyframe")
        decoded = relay.last_keyframe
        await wait_until(lambda: relay.last_keyframe is not decoded, 5, "a keyframe not decoded yet")
        spawns.reset()
        key, arrived = relay.last_keyframe, relay.last_keyframe_at
        big = await service.get(stream.id, refresh=True)
        assert (big.source, size_of(big)) == ("live", (1280, 720))
        if relay.last_keyframe is key:
            assert big.captured_at == arrived
        assert len(spawns.argvs) == 1 and "pipe:0" in spawns.argvs[0] and not camera_sessions()
        await grid.stop()
        await full.stop()


def bottom_bands(thumb: Thumbnail, count: int = 6) -> list[Image.Image]:
    """The bottom 40 % of a thumbnail in greyscale, cut into ``count`` bands of rows."""
    with Image.open(io.BytesIO(thumb.jpeg)) as image:
        grey = image.convert("L")
    top = round(grey.height * 0.6)
    rows = (grey.height - top) // count
    return [grey.crop((0, top + k * rows, grey.width, top + (k + 1) * rows)) for k in range(count)]


@pytest.mark.parametrize("pattern", ["smpte", "snow"])
async def test_a_busy_camera_thumbnail_holds_the_whole_i_frame(camera_factory, tmp_path, pattern):
    """Issue 11: a 1280x720 I-frame spans several stdout chunks; the thumbnail from the full relay's
    keyframe must hold the whole picture (no grey smear at the bottom), like a one-shot grab."""
    camera = camera_factory(width=1280, height=720, pattern=pattern)
    async with service_for(tmp_path) as (engine, service):
        stream = await engine.add_stream(camera.url)
        shot = await service.get(stream.id)  # no relay yet: a one-shot grab of the camera
        full = Reader(await engine.subscribe(stream.id, "full"))
        await full.wait_event(EventKind.VIDEO_START)
        relay = engine.relay(stream.id, "full")
        assert relay is not None
        await wait_until(lambda: relay.last_keyframe, 10, "the full relay's first keyframe")
        live = await service.get(stream.id, refresh=True)
        await full.stop()
    assert (shot.source, live.source) == ("probe", "live")
    assert size_of(shot) == size_of(live) == (1280, 720)
    for n, (grabbed, decoded) in enumerate(zip(bottom_bands(shot), bottom_bands(live), strict=True)):
        # smpte is still: the pictures match block by block (16x12 px blocks average snow out) ...
        small = (80, 4)
        diff = ImageChops.difference(
            grabbed.resize(small, Image.Resampling.BOX), decoded.resize(small, Image.Resampling.BOX)
        )
        assert ImageStat.Stat(diff).mean[0] < 8, f"band {n} of the bottom 40 % differs from the grab"
        # ... and snow keeps its grain: a smeared band is flat
        ratio = ImageStat.Stat(decoded).stddev[0] / ImageStat.Stat(grabbed).stddev[0]
        assert 0.7 < ratio < 1.4, f"band {n} of the bottom 40 %: contrast {ratio:.2f} of the grab's"


async def test_the_cache_answers_within_the_ttl_and_refresh_bypasses_it(camera, tmp_path, spawns):
    async with service_for(tmp_path, ttl=30) as (engine, service):
        stream = await engine.add_stream(camera.url)
        first = await service.get(stream.id, width=200)
        assert service.stats() == {
            "entries": 1, "bytes": len(first.jpeg), "hits": 0, "misses": 1, "ttl_s": 30,
        }  # fmt: skip
        cached = await service.get(stream.id, width=200)
        assert cached.source == "cache" and cached.etag == first.etag and cached.jpeg == first.jpeg
        assert cached.captured_at == first.captured_at
        assert service.stats()["hits"] == 1
        fresh = await service.get(stream.id, width=200, refresh=True)
        assert fresh.source == "probe" and fresh.captured_at > first.captured_at
        assert len(spawns.argvs) == 2
        assert service.stats() | {"bytes": 0} == {
            "entries": 1, "bytes": 0, "hits": 1, "misses": 1, "ttl_s": 30,
        }  # fmt: skip
        # the refreshed picture is the cached one now
        assert (await service.get(stream.id, width=200)).etag == fresh.etag


async def test_a_thumbnail_older_than_the_ttl_is_taken_again(camera, tmp_path, spawns):
    async with service_for(tmp_path, ttl=0.2) as (engine, service):
        stream = await engine.add_stream(camera.url)
        first = await service.get(stream.id)
        await wait_until(lambda: first.age_s > 0.2, 2, "the thumbnail to age past the ttl")
        second = await service.get(stream.id)
        assert second.source == "probe" and len(spawns.argvs) == 2
        assert service.stats()["misses"] == 2


async def test_twelve_tiles_at_once_run_at_most_max_grabs_ffmpegs(camera, tmp_path, spawns):
    async with service_for(tmp_path, max_grabs=2) as (engine, service):
        streams = [await engine.add_stream(f"{camera.url}?tile={i}") for i in range(12)]
        thumbs = await asyncio.gather(*(service.get(s.id, width=64) for s in streams))
        assert [t.source for t in thumbs] == ["probe"] * 12
        assert {size_of(t) for t in thumbs} == {(64, 36)}
        assert len(spawns.argvs) == 12
        assert spawns.peak == 2


async def test_requests_for_one_stream_share_one_grab(camera, tmp_path, spawns):
    async with service_for(tmp_path) as (engine, service):
        stream = await engine.add_stream(camera.url)
        widths = [None, 32, 100, 320, 640, 1000, 32, 100]
        thumbs = await asyncio.gather(*(service.get(stream.id, width=w, refresh=True) for w in widths))
        assert len(spawns.argvs) == 1
        assert [t.width for t in thumbs] == [640, 32, 100, 320, 640, 640, 32, 100]
        assert {t.source for t in thumbs} == {"probe"}
        assert len({t.captured_at for t in thumbs}) == 1


async def test_an_offline_camera_answers_with_its_last_frame_marked_stale(camera, tmp_path, spawns):
    async with service_for(tmp_path) as (engine, service):
        stream = await engine.add_stream(camera.url)
        first = await service.get(stream.id, width=320)
        camera.stop()
        stale = await service.get(stream.id, width=160, refresh=True)
        assert (stale.stale, stale.source, size_of(stale)) == (True, "cache", (160, 90))
        assert stale.captured_at == first.captured_at
        assert stale.metadata()["stale"] is True
        assert len(spawns.argvs) == 2
        # the failure is remembered for the ttl: no new FFmpeg for the next requests
        assert (await service.get(stream.id, width=320)).source == "cache"
        later = await service.get(stream.id, width=100)
        assert later.stale and len(spawns.argvs) == 2


async def test_a_camera_never_seen_and_offline_raises_its_error(camera, tmp_path, spawns):
    url = camera.url
    camera.stop()
    async with service_for(tmp_path) as (engine, service):
        stream = await engine.add_stream(url)
        with pytest.raises(UnreachableError) as caught:
            await service.get(stream.id)
        assert caught.value.code == "UNREACHABLE"
        assert caught.value.message == "the camera refused the connection: check the host and port"
        assert service.stats()["entries"] == 0
        with pytest.raises(UnreachableError):
            await service.get(stream.id)
        assert len(spawns.argvs) == 1, "a failure is remembered for the ttl"
        with pytest.raises(UnreachableError):
            await service.get(stream.id, refresh=True)
        assert len(spawns.argvs) == 2


async def test_retry_after_is_the_rest_of_a_remembered_failure(camera_factory, tmp_path):
    """Issue 15: the figure of a 503 thumbnail's ``Retry-After``. A failure is remembered for the ttl
    (asking sooner gets the same answer, without FFmpeg); a refused password until the URL changes: no
    figure then."""
    camera = camera_factory(user="admin", password="right-pw")
    async with service_for(tmp_path, ttl=20.0) as (engine, service):
        offline = await engine.add_stream("rtsp://127.0.0.1:9/offline")  # nothing listens on port 9
        refused = await engine.add_stream(camera.url_with("admin", "wrong-pw"))
        assert service.retry_after(offline.id) is None  # nothing asked yet
        with pytest.raises(UnreachableError):
            await service.get(offline.id)
        assert 19 <= (service.retry_after(offline.id) or 0) <= 20
        with pytest.raises(AuthError):
            await service.get(refused.id)
        assert service.retry_after(refused.id) is None
        service.forget(offline.id)
        assert service.retry_after(offline.id) is None


async def test_a_hung_camera_times_out_and_close_stops_a_running_grab(camera, tmp_path):
    async with service_for(tmp_path, grab_timeout=0.5) as (engine, service):
        stream = await engine.add_stream(camera.url)
        camera.pause()
        # the service's own deadline gave up (how soon: bench.server's "thumb_hung" figure)
        # a SIGSTOPped camera: its kernel accepts the connection, the camera never answers RTSP
        with pytest.raises(SourceTimeoutError, match=r"^the camera never answered RTSP within 0.5 s$"):
            await service.get(stream.id)
        assert not ffmpeg_children()
    async with service_for(tmp_path) as (engine, service):
        pending = asyncio.ensure_future(service.get(stream.id, refresh=True))
        await wait_until(ffmpeg_children, 5, "the grab's FFmpeg")
        await service.close()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert not ffmpeg_children()
        with pytest.raises(RuntimeError, match="the thumbnail service is closed"):
            await service.get(stream.id)
    camera.resume()


async def test_stats_clear_and_forget(camera, tmp_path):
    async with service_for(tmp_path) as (engine, service):
        one = await engine.add_stream(f"{camera.url}?one")
        two = await engine.add_stream(f"{camera.url}?two")
        thumbs = [await service.get(one.id, width=w) for w in (None, 64)]
        thumbs.append(await service.get(two.id, width=64))
        stats = service.stats()
        assert stats["entries"] == 3 and stats["bytes"] == sum(len(t.jpeg) for t in thumbs)
        assert service.forget(one.id) == 2
        assert service.stats()["entries"] == 1 and service.stats()["bytes"] == len(thumbs[2].jpeg)
        assert (await service.get(one.id, width=64)).source == "probe", "forgotten: taken again"
        assert service.clear() == 2
        assert service.stats() | {"hits": 0, "misses": 0} == {
            "entries": 0, "bytes": 0, "hits": 0, "misses": 0, "ttl_s": 10.0,
        }  # fmt: skip
        assert (await service.get(two.id, width=64)).source == "probe", "cleared: taken again"
        assert service.clear() == 1 and service.clear() == 0


async def test_a_changed_url_never_shows_the_old_picture(camera, tmp_path):
    async with service_for(tmp_path) as (engine, service):
        stream = await engine.add_stream(camera.url)
        assert size_of(await service.get(stream.id)) == (640, 360)
        await engine.update_stream(stream.id, url="demo://color?size=320x240&fps=5")
        thumb = await service.get(stream.id)
        assert (thumb.source, size_of(thumb)) == ("probe", (320, 240))
        with Image.open(io.BytesIO(thumb.jpeg)) as image:
            r, g, b = image.convert("RGB").getpixel((160, 120))
        assert max(r, g, b) < 16, "FFmpeg's color source is black by default"


async def test_no_cache_key_or_entry_holds_the_password(camera_factory, tmp_path):
    """Issue 11: the cache is keyed by stream id; the URL it came from is kept as a keyed digest."""
    password, wrong = "Thumb-Pw-8Kq2", "Wrong-Pw-3Zr7"
    camera = camera_factory(user="alice", password=password)
    async with service_for(tmp_path) as (engine, service):
        stream = await engine.add_stream(camera.url)
        await service.get(stream.id, width=64)
        refused = await engine.add_stream(camera.url_with("alice", wrong))
        with pytest.raises(AuthError):
            await service.get(refused.id)  # a remembered failure is kept too
        kept = repr(vars(service)) + repr(list(service._cache)) + repr(list(service._frames.values()))
        assert stream.id in kept and refused.id in kept
        assert password not in kept and wrong not in kept
        assert "alice" not in kept, "no URL at all, masked or not"


async def test_unknown_streams_and_the_cache_bound(tmp_path):
    async with service_for(tmp_path, max_entries=2) as (engine, service):
        with pytest.raises(StreamNotFoundError):
            await service.get("0123456789ab")
        stream = await engine.add_stream("demo://testsrc2?size=320x180&fps=5")
        for width in (32, 64, 128):
            await service.get(stream.id, width=width)
        assert service.stats()["entries"] == 2
        assert (await service.get(stream.id, width=128)).source == "cache"
        assert service.stats()["hits"] == 1
        assert service.stats()["misses"] == 3


@pytest.mark.parametrize(
    ("width", "shown"),
    [(5000, "5000"), (31, "31"), (0, "0"), (-64, "-64"), (12.5, "12.5"), ("wide", "'wide'"), (True, "True")],
)
async def test_bad_widths_are_refused_with_a_pinned_message(tmp_path, width, shown):
    async with service_for(tmp_path) as (_, service):
        with pytest.raises(InvalidInputError) as caught:
            await service.get("0123456789ab", width=width)
        assert caught.value.message == f"width must be a whole number from 32 to 1920, got {shown}"
        assert caught.value.code == "BAD_REQUEST"


async def test_a_width_given_as_digits_is_accepted(tmp_path):
    async with service_for(tmp_path) as (engine, service):
        stream = await engine.add_stream("demo://testsrc2?size=320x180&fps=5")
        thumb = await service.get(stream.id, width="160")  # type: ignore[arg-type]
        assert (thumb.width, thumb.height) == (160, 90)


def test_thumbnail_metadata_etag_and_data_url():
    jpeg = b"\xff\xd8 not really a jpeg \xff\xd9"
    thumb = Thumbnail(jpeg, 320, 180, captured_at=1_700_000_000.25, source="probe", stale=False)
    meta = thumb.metadata()
    assert set(meta) == {"width", "height", "captured_at", "age_s", "source", "stale"}
    assert meta["captured_at"] == "2023-11-14T22:13:20.250+00:00"
    assert datetime.fromisoformat(meta["captured_at"]).timestamp() == 1_700_000_000.25
    assert (meta["width"], meta["height"], meta["source"], meta["stale"]) == (320, 180, "probe", False)
    assert meta["age_s"] == pytest.approx(time.time() - 1_700_000_000.25, abs=1)
    assert thumb.etag.startswith('"') and thumb.etag.endswith('"') and len(thumb.etag) == 34
    assert thumb.etag == Thumbnail(jpeg, 1, 1, 0.0, "cache").etag
    assert thumb.etag != Thumbnail(jpeg + b"x", 320, 180, 0.0, "cache").etag
    prefix = "data:image/jpeg;base64,"
    assert thumb.data_url().startswith(prefix)
    assert base64.b64decode(thumb.data_url()[len(prefix) :]) == jpeg
    assert "not really" not in repr(thumb)
