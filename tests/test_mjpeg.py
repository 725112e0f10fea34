"""A camera whose video MPEG-TS cannot carry (MJPEG, issue 14): no copy relay, its profiles transcode the
camera directly (today's path before the source relay), and viewers that asked for its own video get the
MPEG-1 they can play; against a real GStreamer MJPEG camera (RTP/JPEG) and FFmpeg."""

from __future__ import annotations

import pytest

from rtsp_notebook.api.viewer import ViewerConnection
from rtsp_notebook.media.events import EventKind
from rtsp_notebook.media.mpegts import PACKET_SIZE
from rtsp_notebook.media.transcode import TranscodeRelay

from .harness.helpers import MemoryChannel, Reader, engine_for, ffmpeg_roles, wait_until

pytestmark = pytest.mark.camera


async def test_an_mjpeg_camera_is_transcoded_from_the_camera(camera_factory, tmp_path):
    mjpeg = camera_factory(codec="mjpeg", width=640, height=360)
    async with engine_for(tmp_path) as engine:
        record = await engine.add_stream(mjpeg.url, "Old camera")
        # a WebCodecs tile asks for the camera's own video: it gets the grid profile's MPEG-1
        channel = MemoryChannel()
        tile = ViewerConnection(engine, record.id, "grid", channel, codec="h264")
        try:
            await tile.start()
            await wait_until(
                lambda: any(m["codec"] == "mpeg1video" for m in channel.of_type("video_start")),
                20,
                "an MPEG-1 video_start",
            )
            start = channel.of_type("video_start")[-1]
            assert (start["width"], start["height"]) == (640, 360) and channel.closed is None
            bytes_before = channel.binary_bytes
            await wait_until(lambda: channel.binary_bytes > bytes_before + PACKET_SIZE * 50, 10, "video")
            grid = engine.relay(record.id, "grid")
            assert grid is not None and not isinstance(grid, TranscodeRelay), "it opens the camera itself"
            assert engine.relay(record.id, "source") is None
            assert engine.viewed_relay(record.id, "grid", "h264") is grid
            await wait_until(lambda: ffmpeg_roles() == {"camera": 1, "stdin": 0}, 10, "the copy relay to go")
            # an MPEG-1 viewer of the expanded view, and one more H.264 viewer: straight to the direct path
            full = Reader(await engine.subscribe(record.id, "full"))
            again = Reader(await engine.subscribe(record.id, "grid", "h264"))
            for reader in (full, again):
                started = await reader.wait_event(EventKind.VIDEO_START, timeout=20)
                assert started.video is not None and started.video.codec == "mpeg1video"
            assert engine.relay(record.id, "source") is None
            assert ffmpeg_roles() == {"camera": 2, "stdin": 0}  # one session a profile, as before issue 14
            for reader in (full, again):
                await reader.stop()
            # a new URL may be a camera that can be copied: the direct relays go, the viewer follows
            h264 = camera_factory()
            await engine.update_stream(record.id, url=h264.url)
            await wait_until(
                lambda: any(m["codec"] == "h264" for m in channel.of_type("video_start")), 20, "H.264"
            )
            assert engine.relay(record.id, "source") is not None
        finally:
            await tile.close()


def test_frames_of_an_mjpeg_camera_come_from_its_transcode(camera_factory, tmp_path):
    """frames() asks for the camera's own video; an MJPEG camera's copy relay fails once and the reader is
    moved to the direct path (REROUTED), not stopped by that failure as if the camera had refused it."""
    import rtsp_notebook as rn

    mjpeg = camera_factory(codec="mjpeg", width=640, height=360)
    hub = rn.connect(local=True, store=str(tmp_path / "local.db"))
    try:
        cam = hub.add(mjpeg.url, label="Old camera")
        with cam.frames(fps=None, count=3, timeout=20) as reader:
            shapes = [frame.shape for frame in reader]
        assert shapes == [(360, 640, 3)] * 3
        assert "UNSUPPORTED" in set(hub.events()["code"]), "the event log keeps the copy relay's failure"
    finally:
        for stream in hub.list():
            stream.remove()
