"""Issue 16: ``cam.timelapse()`` takes one picture every N seconds into an MP4 or a folder of JPEGs, with
a progress bar and a clean stop that keeps what was taken. Real camera, real FFmpeg; the MP4 is read
back with FFmpeg."""

from __future__ import annotations

import _thread
import re
import threading
from pathlib import Path

import pytest
from PIL import Image

from rtsp_notebook.errors import InvalidInputError
from rtsp_notebook.media.recorder import OutputExistsError
from rtsp_notebook.notebook.timelapse import Timelapse, TimelapseResult, mp4_encoder_argv

from .harness.helpers import wait_until_sync
from .harness.mp4 import showinfo


def mp4_pictures(ffmpeg: str, path: Path) -> tuple[int, tuple[int, int], str]:
    """(pictures decoded, (width, height), codec) of an MP4; fails on a decoding error."""
    log = showinfo(ffmpeg, path)
    size = re.search(r"Video: (\w+).*?, (\d+)x(\d+)", log)
    assert size is not None
    return len(re.findall(r"n:\s*\d+ pts:", log)), (int(size[2]), int(size[3])), size[1]


def test_encoder_argv():
    argv = mp4_encoder_argv("ffmpeg", 640, 360, 10, "/tmp/x.mp4")
    assert argv[argv.index("-s") + 1] == "640x360" and argv[argv.index("-framerate") + 1] == "10"
    assert argv[-1] == "file:/tmp/x.mp4" and "libx264" in argv and "+faststart" in argv


def test_a_short_timelapse_into_an_mp4(hub, camera, ffmpeg_path, tmp_path):
    cam = hub.add(camera.url, label="Door")
    result = cam.timelapse(tmp_path / "door.mp4", every=0.2, duration=1.5, progress=False)
    assert isinstance(result, TimelapseResult)
    assert (result.path, result.pictures, result.complete, result.ended) == (
        tmp_path / "door.mp4", 8, True, "done"
    )  # fmt: skip
    assert 1.0 <= result.seconds <= 10
    count, size, codec = mp4_pictures(ffmpeg_path, result.path)
    assert (count, size, codec) == (8, (camera.width, camera.height), "h264")
    assert result.path.read_bytes()[4:8] == b"ftyp"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "a .part file is left"


def test_a_short_timelapse_into_jpegs_with_a_progress_bar(hub, camera, tmp_path, capsys):
    cam = hub.add(camera.url, label="Front door")
    result = cam.timelapse(tmp_path / "shots", every=0.2, duration=1.5, width=320)
    assert (result.pictures, result.complete) == (8, True)
    names = sorted(p.name for p in (tmp_path / "shots").iterdir())
    assert names == [f"Front_door-{n:05d}.jpg" for n in range(1, 9)]
    with Image.open(tmp_path / "shots" / names[0]) as image:
        assert image.format == "JPEG" and image.size == (320, 180)
    assert "8/8" in capsys.readouterr().err  # tqdm's bar (a widget in notebooks)


def test_stop_of_a_running_timelapse_keeps_the_pictures_taken(hub, camera, ffmpeg_path, tmp_path):
    cam = hub.add(camera.url, label="Door")
    lapse = cam.timelapse(tmp_path / "door.mp4", every=0.2, duration=60, progress=False, wait=False)
    assert isinstance(lapse, Timelapse)
    wait_until_sync(lambda: lapse.pictures >= 3, 20, "3 pictures")
    result = lapse.stop()
    assert lapse.done and (result.complete, result.ended) == (False, "stopped")
    assert result.pictures >= 3
    assert mp4_pictures(ffmpeg_path, result.path)[0] == result.pictures


def test_existing_output_is_refused_unless_overwrite(hub, camera, tmp_path):
    cam = hub.add(camera.url, label="Door")
    (tmp_path / "door.mp4").write_bytes(b"old")
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        cam.timelapse(tmp_path / "door.mp4", every=0.2, duration=0.2, progress=False)
    (tmp_path / "shots").mkdir()
    (tmp_path / "shots" / "keep.txt").write_text("x")
    with pytest.raises(OutputExistsError, match="has files in it"):
        cam.timelapse(tmp_path / "shots", every=0.2, duration=0.2, progress=False)
    result = cam.timelapse(tmp_path / "door.mp4", every=0.2, duration=0.2, progress=False, overwrite=True)
    assert result.pictures == 1 and result.path.stat().st_size > 100
    with pytest.raises(InvalidInputError, match=r"every must be a number of at least 0\.05"):
        cam.timelapse(tmp_path / "x.mp4", every=0, duration=1)
    with pytest.raises(InvalidInputError, match="duration must be a number of at least 1"):
        cam.timelapse(tmp_path / "x.mp4", every=1, duration=0.5)


def test_an_interrupted_cell_ends_the_timelapse_with_the_pictures_taken(hub, camera, ffmpeg_path, tmp_path):
    """KeyboardInterrupt (the notebook's interrupt button) while the blocking form runs."""
    cam = hub.add(camera.url, label="Door")
    lapse = Timelapse(
        cam, tmp_path / "door.mp4", every=0.2, duration=60, width=None, playback_fps=10, progress=False,
        overwrite=False,
    )  # fmt: skip

    def interrupt() -> None:
        wait_until_sync(lambda: lapse.pictures >= 2, 20, "2 pictures")
        _thread.interrupt_main()

    interrupter = threading.Thread(target=interrupt)
    interrupter.start()
    try:
        result = lapse.run()
    finally:
        interrupter.join(30)
    assert (result.complete, result.ended) == (False, "interrupted") and result.pictures >= 2
    assert mp4_pictures(ffmpeg_path, result.path)[0] in (result.pictures, result.pictures + 1)
