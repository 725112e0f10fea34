"""Recordings (issue 16): ``cam.record()`` copies the camera's own video from the stream's relay into an MP4,
and ``cam.clip()`` writes the prebuffer's last seconds and the next ones as one file. Real camera, real
FFmpeg; the files are read back with FFmpeg (``showinfo``: every decoded picture's time and type, and
``framecrc``: every packet in the file)."""

from __future__ import annotations

import concurrent.futures
import re

import pytest

import rtsp_notebook as rn
from rtsp_notebook.errors import InvalidInputError
from rtsp_notebook.media.prebuffer import Prebuffer
from rtsp_notebook.media.recorder import OutputExistsError, Recording, RecordingResult
from rtsp_notebook.notebook.transports import RestTransport

from .harness.helpers import ffmpeg_children, wait_until_sync
from .harness.mp4 import check_mp4, duration
from .harness.server import Server

KEYINT = 10  # the camera's GOP: 10 pictures at 25 fps, 0.4 s
FPS = 25
GOP_S = KEYINT / FPS


def test_record_writes_the_requested_seconds_from_a_keyframe(hub, camera_factory, ffmpeg_path, tmp_path):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door")
    result = cam.record(tmp_path / "door.mp4", seconds=3)
    assert isinstance(result, RecordingResult)
    assert (result.complete, result.ended, result.codec) == (True, "complete", "h264")
    assert not result.transcoded
    assert result.path == tmp_path / "door.mp4" and result.bytes == result.path.stat().st_size
    pics = check_mp4(ffmpeg_path, result.path)
    assert abs(duration(pics) - 3) <= GOP_S, duration(pics)
    assert abs(result.seconds - duration(pics)) <= 1 / FPS and result.frames == len(pics)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "a temporary file is left"


def test_a_recording_while_three_viewers_watch_opens_no_session(hub, camera_factory, ffmpeg_path, tmp_path):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door")
    readers = [cam.frames(fps=2, width=160) for _ in range(3)]
    try:
        for reader in readers:
            next(reader)
        assert camera.clients() == 1
        handle = cam.record(tmp_path / "door.mp4", seconds=2, wait=False)
        assert isinstance(handle, Recording)
        result = handle.result(timeout=60)
        assert handle.done and result.complete
        for reader in readers:
            next(reader)  # the viewers still watch
        assert camera.peak_clients() == 1, "the recording opened a session of its own"
        assert abs(duration(check_mp4(ffmpeg_path, result.path)) - 2) <= GOP_S
    finally:
        for reader in readers:
            reader.close()


def test_a_recording_stopped_early_keeps_what_was_written(hub, camera_factory, ffmpeg_path, tmp_path):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door")
    handle = cam.record(tmp_path / "door.mp4", wait=False)  # until stopped
    wait_until_sync(lambda: handle.seconds >= 1.5, 30, "1.5 s recorded")
    assert handle.bytes > 0 and handle.frames >= 1.5 * FPS and not handle.done
    result = handle.stop()
    assert (result.complete, result.ended, result.requested_s) == (False, "stopped", None)
    pics = check_mp4(ffmpeg_path, result.path)
    assert abs(duration(pics) - result.seconds) <= 1 / FPS and result.seconds >= 1.5


def test_a_camera_that_stops_mid_recording_gives_a_shorter_valid_file(
    hub, camera_factory, ffmpeg_path, tmp_path
):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door")
    handle = cam.record(tmp_path / "door.mp4", seconds=30, wait=False)
    wait_until_sync(lambda: handle.seconds >= 1.5, 30, "1.5 s recorded")
    camera.stop()
    result = handle.result(timeout=30)
    assert not result.complete and result.ended.startswith("the camera"), result.ended
    assert 1.5 <= result.seconds < 30
    pics = check_mp4(ffmpeg_path, result.path)
    assert abs(duration(pics) - result.seconds) <= 1 / FPS


def test_files_are_never_overwritten_unless_asked(hub, camera_factory, ffmpeg_path, tmp_path):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door")
    taken = tmp_path / "door.mp4"
    taken.write_bytes(b"mine")
    with pytest.raises(OutputExistsError) as info:
        cam.record(taken, seconds=1)
    assert str(info.value) == f"{str(taken)!r} exists: pass overwrite=True to replace it"
    assert isinstance(info.value, FileExistsError) and isinstance(info.value, rn.InvalidInputError)
    assert taken.read_bytes() == b"mine"
    with pytest.raises(InvalidInputError, match=r"^the folder '.*/nowhere' does not exist: create it first$"):
        cam.record(tmp_path / "nowhere" / "door.mp4", seconds=1)
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(InvalidInputError, match="is a folder"):
        cam.record(tmp_path, seconds=1)
    with pytest.raises(InvalidInputError, match="seconds must be a number above 0"):
        cam.record(tmp_path / "x.mp4", seconds=0)
    result = cam.record(taken, seconds=1, overwrite=True)
    assert result.complete and check_mp4(ffmpeg_path, taken)


def test_a_cancelled_recording_leaves_no_ffmpeg_and_no_file(hub, camera_factory, tmp_path):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door")
    handle = cam.record(tmp_path / "door.mp4", seconds=60, wait=False)
    wait_until_sync(lambda: handle.frames > 0, 30, "the recording to start")
    writers = [p for p in ffmpeg_children() if "mp4" in p.cmdline()]
    assert len(writers) == 1
    handle.cancel()
    wait_until_sync(lambda: not any(p.is_running() for p in writers), 10, "the recording's FFmpeg to end")
    wait_until_sync(lambda: not list(tmp_path.glob("*door*")), 10, "the partial file to go")
    with pytest.raises(concurrent.futures.CancelledError):
        handle.result(timeout=10)


def test_h265_is_tagged_hvc1(hub, camera_factory, ffmpeg_path, tmp_path):
    camera = camera_factory(codec="h265", keyint=KEYINT)
    cam = hub.add(camera.url, label="Door")
    result = cam.record(tmp_path / "door.mp4", seconds=2)
    assert (result.complete, result.codec) == (True, "hevc")
    assert b"hvc1" in result.path.read_bytes()[:100_000] or b"hvc1" in result.path.read_bytes()
    assert abs(duration(check_mp4(ffmpeg_path, result.path)) - 2) <= GOP_S


def test_an_mjpeg_camera_records_its_mpeg1_transcode(hub, camera_factory, ffmpeg_path, tmp_path):
    camera = camera_factory(codec="mjpeg")
    cam = hub.add(camera.url, label="Door")
    result = cam.record(tmp_path / "door.mp4", seconds=2)
    assert (result.complete, result.codec, result.transcoded) == (True, "mpeg1video", True)
    assert "MPEG-1 transcode" in repr(result)
    pics = check_mp4(ffmpeg_path, result.path)
    assert abs(pics[-1].pts_time - pics[0].pts_time - 2) <= 1.0  # the transcode's GOP: 1 s


def test_record_through_the_servers_hub(camera_factory, ffmpeg_path, tmp_path):
    """The REST hub: the recording reads the stream's WebSocket (the server's relay: one camera session)
    and writes the file in this process."""
    camera = camera_factory(keyint=KEYINT)
    (tmp_path / "server").mkdir()
    server = Server(tmp_path / "server")
    try:
        hub = rn.connect(url=server.base, token="secret-token")
        assert not hub.local
        cam = hub.add(camera.url, label="Door")
        result = cam.record(tmp_path / "door.mp4", seconds=2)
        assert (result.complete, result.codec) == (True, "h264")
        assert abs(duration(check_mp4(ffmpeg_path, result.path)) - 2) <= GOP_S
        assert camera.peak_clients() == 1
        cam.remove()
    finally:
        server.stop()


def kept(cam: rn.Stream, seconds: float) -> dict:
    """Wait until the stream's prebuffer holds ``seconds``; its stats."""
    return wait_until_sync(
        lambda: (s := cam.stats())["prebuffer_s"] >= seconds and s, 30, f"{seconds} s in the prebuffer"
    )


def test_a_clip_joins_the_prebuffer_and_the_next_seconds_without_a_seam(
    hub, camera_factory, ffmpeg_path, tmp_path
):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door", options={"prebuffer_s": 3})
    kept(cam, 3)
    assert camera.clients() == 1, "a prebuffer keeps the camera's session without a viewer"
    result = cam.clip(tmp_path / "clip.mp4", before=2, after=1.5)
    assert (result.complete, result.codec) == (True, "h264")
    assert 3.5 <= result.requested_s <= 3.5 + GOP_S + 1 / FPS
    pics = check_mp4(ffmpeg_path, result.path)  # times strictly increasing, no gap over 2.5 intervals
    assert abs(duration(pics) - 3.5) <= GOP_S + 1 / FPS, duration(pics)
    assert abs(duration(pics) - result.seconds) <= 1 / FPS and len(pics) == result.frames
    assert camera.peak_clients() == 1


def test_a_clip_of_the_last_seconds_only_is_ready_at_once(hub, camera_factory, ffmpeg_path, tmp_path):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door", options={"prebuffer_s": 2})
    kept(cam, 2)
    result = cam.clip(tmp_path / "clip.mp4", before=2, after=0)
    assert result.complete
    assert abs(duration(check_mp4(ffmpeg_path, result.path)) - 2) <= GOP_S + 1 / FPS


def test_before_beyond_the_prebuffer_is_refused_with_what_is_kept(hub, camera_factory, tmp_path):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door")
    with pytest.raises(InvalidInputError, match=r"^stream 'Door' keeps no prebuffer: set its prebuffer_s"):
        cam.clip(tmp_path / "clip.mp4", before=1)
    cam = cam.update(prebuffer_s=1)
    kept(cam, 1)
    with pytest.raises(InvalidInputError) as info:
        cam.clip(tmp_path / "clip.mp4", before=5)
    assert re.fullmatch(
        r"the prebuffer holds 1\.\d s of this stream's video \(prebuffer_s=1\); ask for before=1\.\d or "
        r"less, or raise the stream's prebuffer_s",
        str(info.value),
    ), str(info.value)
    with pytest.raises(InvalidInputError, match="after must be a number of seconds of at least 0"):
        cam.clip(tmp_path / "clip.mp4", before=1, after=-1)
    assert not list(tmp_path.glob("*clip*"))


def test_a_prebuffer_before_its_first_keyframe_says_it_holds_nothing_yet():
    ring = Prebuffer(3)  # a source relay's, before the camera's first keyframe came
    nothing = r"^the prebuffer holds nothing yet \(prebuffer_s=3\): it starts at the camera's next keyframe"
    with pytest.raises(InvalidInputError, match=nothing):
        ring.check(0.5)
    ring.check(0)  # before 0 needs nothing kept


def test_the_prebuffer_reports_its_memory_and_stays_bounded(hub, camera_factory):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door", options={"prebuffer_s": 2})
    stats = kept(cam, 2)
    samples = [stats]
    for _ in range(3):  # another 1.5 s of video: the ring drops its oldest GOPs
        done = samples[-1]["prebuffer_bytes"]
        samples.append(
            wait_until_sync(lambda d=done: (s := cam.stats())["prebuffer_bytes"] != d and s, 10, "more")
        )
    wait_until_sync(lambda: cam.stats()["uptime_s"] >= stats["uptime_s"] + 1.5, 10, "1.5 s more")
    samples.append(cam.stats())
    for sample in samples:
        assert 0 < sample["prebuffer_s"] <= 2 + GOP_S + 1 / FPS, sample["prebuffer_s"]
        bitrate = sample["kbps"] * 1000 / 8  # bytes a second of the source relay, the only relay running
        assert sample["prebuffer_bytes"] <= bitrate * (2 + GOP_S) * 1.5 + 64_000, sample
    cam.update(prebuffer_s=0)  # no prebuffer, no viewer: the camera's session ends
    wait_until_sync(lambda: camera.clients() == 0, 15, "the camera's session to end")
    assert cam.stats()["prebuffer_bytes"] == 0


def test_a_clip_whose_camera_stops_keeps_what_was_written(hub, camera_factory, ffmpeg_path, tmp_path):
    camera = camera_factory(keyint=KEYINT)
    cam = hub.add(camera.url, label="Door", options={"prebuffer_s": 1})
    kept(cam, 1)
    handle = cam.clip(tmp_path / "clip.mp4", before=1, after=30, wait=False)
    wait_until_sync(lambda: handle.seconds >= 2, 30, "2 s written")
    camera.stop()
    result = handle.result(timeout=30)
    assert not result.complete and result.ended.startswith("the camera"), result.ended
    assert abs(duration(check_mp4(ffmpeg_path, result.path)) - result.seconds) <= 1 / FPS


def test_a_clip_through_an_unreachable_server_says_so_and_leaves_no_file(tmp_path):
    # the REST hub's clip is the server's job (tests/test_clips_api.py); no server answers on port 9
    hub = rn.Hub(RestTransport("http://127.0.0.1:9/"))
    cam = rn.Stream("0123456789ab", "Door", "rtsp://127.0.0.1/cam", "idle", 0, None, hub=hub)
    with pytest.raises(rn.ServerUnavailableError, match=r"^cannot reach the Jupyter server at http://127"):
        cam.clip(tmp_path / "clip.mp4", before=1)
    assert not list(tmp_path.iterdir())
