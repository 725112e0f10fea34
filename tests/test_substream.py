"""A stream's ``sub_url`` (issue 14): the camera's low-resolution substream feeds what tiles show, the main
stream what the expanded view shows; adding, changing or removing it moves the tiles' viewers, against real
GStreamer cameras (one per stream of the "camera": a 640x360 main and a 320x180 substream) and FFmpeg."""

from __future__ import annotations

import asyncio

import pytest

from rtsp_notebook.api.viewer import ViewerConnection
from rtsp_notebook.media.events import EventKind
from rtsp_notebook.media.mpegts import PACKET_SIZE
from rtsp_notebook.media.subscription import CloseReason
from rtsp_notebook.media.transcode import TranscodeRelay

from .harness.helpers import MemoryChannel, Reader, engine_for, ffmpeg_roles, wait_until

pytestmark = pytest.mark.camera


def size_of(reader: Reader) -> tuple[int, int]:
    video = reader.kinds(EventKind.VIDEO_START)[-1].video
    assert video is not None
    return video.width, video.height


async def test_tiles_watch_the_substream_and_the_expanded_view_the_main_stream(camera_factory, tmp_path):
    main = camera_factory(width=640, height=360)
    sub = camera_factory(width=320, height=180)
    async with engine_for(tmp_path) as engine:
        record = await engine.add_stream(main.url, "Door", sub_url=sub.url)
        tile = Reader(await engine.subscribe(record.id, "grid", "h264"))  # a WebCodecs tile
        await tile.wait_event(EventKind.VIDEO_START, timeout=15)
        assert size_of(tile) == (320, 180) and engine.relay(record.id, "sub") is not None
        assert engine.relay(record.id, "source") is None, "a tile alone opens no session on the main stream"
        assert ffmpeg_roles() == {"camera": 1, "stdin": 0}

        jsmpeg = Reader(await engine.subscribe(record.id, "grid"))  # a JSMpeg tile: fed from the substream
        expanded = Reader(await engine.subscribe(record.id, "full", "h264"))
        await asyncio.gather(*(r.wait_event(EventKind.VIDEO_START, timeout=15) for r in (jsmpeg, expanded)))
        assert size_of(expanded) == (640, 360)
        sub_relay, grid = engine.relay(record.id, "sub"), engine.relay(record.id, "grid")
        assert sub_relay is not None and isinstance(grid, TranscodeRelay)
        assert grid.feed is not None and grid.feed in sub_relay.subscriptions
        assert ffmpeg_roles() == {"camera": 2, "stdin": 1}  # two copies (one session each) and a transcode
        assert engine.stream_state(record.id)[1] == 3  # viewers: the feed of the transcode is not one

        # the substream goes: the tiles move to the main stream, the expanded view is left alone
        channel = MemoryChannel()
        viewer = ViewerConnection(engine, record.id, "grid", channel, codec="h264")
        try:
            await viewer.start()
            await wait_until(lambda: channel.of_type("video_start"), 15, "the tile viewer's video_start")
            assert channel.of_type("video_start")[-1]["width"] == 320
            source = engine.relay(record.id, "source")
            await engine.update_stream(record.id, sub_url="")
            # a plain subscription hears why it ended; a viewer subscribes again, to the main stream
            await wait_until(lambda: tile.closed, 5, "the tile's subscription to the substream to end")
            assert tile.closed is CloseReason.REROUTED
            await wait_until(lambda: len(channel.of_type("video_start")) >= 2, 15, "video_start, main stream")
            assert channel.of_type("video_start")[-1]["width"] == 640 and channel.closed is None
            await wait_until(lambda: engine.relay(record.id, "sub") is None, 5, "the sub relay to go")
            bytes_before = channel.binary_bytes
            await wait_until(lambda: channel.binary_bytes > bytes_before + PACKET_SIZE * 20, 10, "video")
            # the grid transcode now reads the main stream, the camera's one session of ours
            await wait_until(lambda: grid.feed is not None, 10, "the transcode to feed again")
            assert source is not None and engine.relay(record.id, "source") is source
            assert grid.feed in source.subscriptions
            await jsmpeg.wait_bytes(PACKET_SIZE * 20, timeout=15)
            await wait_until(lambda: ffmpeg_roles() == {"camera": 1, "stdin": 1}, 5, "the sub FFmpeg to stop")
            assert not expanded.sub.closed and expanded.kinds(EventKind.VIDEO_START)[-1].video is not None

            # and comes back: a new tile watches it (the tiles that play stay where they are)
            await engine.update_stream(record.id, sub_url=sub.url)
            again = Reader(await engine.subscribe(record.id, "grid", "h264"))
            await again.wait_event(EventKind.VIDEO_START, timeout=15)
            assert size_of(again) == (320, 180)
            await again.stop()
        finally:
            await viewer.close()
        for reader in (tile, jsmpeg, expanded):
            await reader.stop()
