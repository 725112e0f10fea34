"""Recordings (issue 16): ``cam.record()`` copies the camera's own video from the stream's relay into an MP4,
and ``cam.clip()`` writes the prebuffer's last seconds and the next ones as one file. Real camera, real
FFmpeg; the files are read back with FFmpeg (``showinfo``: every decoded picture's time and type, and
``framecrc``: every packet in the file)."""

from __future__ import annotations

import concurrent.futures
import itertools
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import rtsp_notebook as rn
from rtsp_notebook.errors import InvalidInputError
from rtsp_notebook.media.recorder import OutputExistsError, Recording, RecordingResult

from .harness.helpers import ffmpeg_children, wait_until_sync
from .harness.server import Server

KEYINT = 10  # the camera's GOP: 10 pictures at 25 fps, 0.4 s
FPS = 25
GOP_S = KEYINT / FPS
_SHOWINFO = re.compile(r"n:\s*(\d+) pts:\s*(-?\d+) pts_time:(-?[\d.]+) .*iskey:(\d) type:(\w)")


@dataclass(frozen=True)
class Picture:
    n: int
    pts_time: float
    key: bool
    type: str


def pictures(ffmpeg: str, path: Path) -> list[Picture]:
    """Every picture FFmpeg decodes from ``path``, in order; fails on a decoding error."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "info", "-i", str(path), "-map", "0:v:0",
         "-vf", "showinfo", "-f", "null", "-"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    bad = re.compile(r"error|non-existing|missing", re.I)
    errors = [line for line in out.stderr.splitlines() if bad.search(line)]
    assert not errors, errors[:5]
    return [Picture(int(m[1]), float(m[3]), m[4] == "1", m[5]) for m in _SHOWINFO.finditer(out.stderr)]


def packets(ffmpeg: str, path: Path) -> int:
    """How many video packets the file holds (``framecrc``: one line a packet)."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
         "-c", "copy", "-f", "framecrc", "-"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return sum(1 for line in out.stdout.splitlines() if line and not line.startswith("#"))


def check_mp4(ffmpeg: str, path: Path) -> list[Picture]:
    """The file plays from its first picture: a keyframe, every packet decoded, times strictly increasing
    with no gap over two picture intervals."""
    assert path.read_bytes()[4:8] == b"ftyp"
    pics = pictures(ffmpeg, path)
    assert pics and pics[0].key and pics[0].type == "I", pics[:3]
    assert len(pics) == packets(ffmpeg, path), "a packet that did not decode"
    times = [p.pts_time for p in pics]
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0 < s <= 2.5 / FPS for s in steps), max(steps, default=0)
    return pics


def duration(pics: list[Picture]) -> float:
    return pics[-1].pts_time - pics[0].pts_time + 1 / FPS


@pytest.fixture
def hub(tmp_path) -> Iterator[rn.Hub]:
    hub = rn.connect(local=True, store=str(tmp_path / "local.db"))
    yield hub
    for stream in hub.list():
        stream.remove()


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
