"""Issue 16: ``cam.frames(..., timestamps=True)`` gives each picture its capture time, and
``hub.frames([...])`` gives the newest picture of several cameras together. Real cameras, real FFmpeg,
the in-process hub."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest

from rtsp_notebook.errors import InvalidInputError, RtspNotebookError
from rtsp_notebook.notebook.framereader import FrameSets

from .harness.helpers import ffmpeg_children, wait_until_sync


def test_timestamps_are_utc_capture_times_in_order(hub, camera):
    cam = hub.add(camera.url, label="Door")
    before = datetime.now(timezone.utc)
    with cam.frames(fps=5, width=160, count=6, timestamps=True) as frames:
        items = list(frames)
    after = datetime.now(timezone.utc)
    assert len(items) == 6
    for stamp, picture in items:
        assert isinstance(stamp, datetime) and stamp.utcoffset() == timedelta(0)
        assert isinstance(picture, np.ndarray) and picture.shape == (90, 160, 3)
        assert before <= stamp <= after
    stamps = [s for s, _ in items]
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert all(0.05 <= s <= 1.0 for s in steps), steps  # 5 a second on the wall clock (grid slack, load)
    assert (stamps[-1] - stamps[0]).total_seconds() >= 5 * 0.2 * 0.8


def test_a_timestamp_is_never_before_the_camera_made_the_picture_and_soon_after(hub, camera):
    """The camera turns white: the first white picture's stamp is after the moment the camera's first
    white picture left its encoder, and late only by the relay's and the decoder's latency."""
    cam = hub.add(camera.url, label="Door")
    camera.set_pattern("black")
    times: dict[str, Any] = {}
    with cam.frames(fps=None, width=160, timestamps=True, timeout=10) as frames:
        next(frames)  # a live picture: the reader has caught up
        flasher = threading.Thread(target=lambda: times.update(white=camera.set_pattern("white")))
        flasher.start()
        try:
            deadline = time.monotonic() + 10
            for stamp, picture in frames:
                if picture[40:50, 75:85].mean() > 200:
                    times["stamp"] = stamp
                    break
                assert time.monotonic() < deadline, "no white picture"
        finally:
            flasher.join(15)
    _switched, left = times["white"]
    assert left is not None
    lateness = times["stamp"].timestamp() - left
    assert 0 <= lateness <= 1.5, lateness  # encode, RTSP, relay, decode


def test_frames_without_timestamps_are_arrays(hub, camera):
    cam = hub.add(camera.url, label="Door")
    picture = next(iter(cam.frames(fps=None, width=160, count=1)))
    assert isinstance(picture, np.ndarray)


def test_hub_frames_gives_the_newest_picture_of_each_camera_together(hub, camera_factory):
    door = hub.add(camera_factory(width=320, height=180).url, label="Door")
    hub.add(camera_factory(width=480, height=270, pattern="smpte").url, label="Yard")
    began = time.monotonic()
    with hub.frames([door, "Yard"], fps=4, count=5, timestamps=True) as sets:
        assert isinstance(sets, FrameSets)
        batches = list(sets)
    took = time.monotonic() - began
    assert len(batches) == 5
    for batch in batches:
        assert list(batch) == ["Door", "Yard"]
        (t_door, p_door), (t_yard, p_yard) = batch["Door"], batch["Yard"]
        assert p_door.shape == (180, 320, 3) and p_yard.shape == (270, 480, 3)
        assert abs((t_door - t_yard).total_seconds()) <= 0.6, "the pictures of a set are not together"
    firsts = [b["Door"][0] for b in batches]
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(firsts)]
    assert all(s >= 0.08 for s in steps), steps  # at most 4 sets a second (with the grid's slack)
    assert (firsts[-1] - firsts[0]).total_seconds() >= 4 * 0.25 * 0.8
    assert took < 15
    decoders = lambda: [p for p in ffmpeg_children() if "image2pipe" in p.cmdline()]  # noqa: E731
    wait_until_sync(lambda: not decoders(), 10, "the decoders gone")


def test_hub_frames_by_id_without_timestamps(hub, camera_factory):
    a = hub.add(camera_factory().url, label="A")
    b = hub.add(camera_factory().url, label="B")
    sets = hub.frames([a.id, b.id], fps=5, width=160, count=2)
    batches = list(sets)
    assert [sorted(x) for x in batches] == [["A", "B"], ["A", "B"]]
    assert all(isinstance(p, np.ndarray) and p.shape[1] == 160 for x in batches for p in x.values())
    assert "closed" in repr(sets)


def test_one_camera_failing_raises_its_error_and_closes_every_reader(hub, camera_factory):
    good = hub.add(camera_factory().url, label="Good")
    bad_camera = camera_factory()
    bad = hub.add(bad_camera.url, label="Bad")
    sets = hub.frames([good, bad], fps=5, width=160, timeout=3)
    try:
        assert sorted(next(sets)) == ["Bad", "Good"]
        bad_camera.stop()  # the relay retries; after the reader's timeout its error is raised
        with pytest.raises(RtspNotebookError):
            while True:
                next(sets)
        assert sets.failed == "Bad"
        assert all(r._closed for r in sets.readers.values())
    finally:
        sets.close()


def test_hub_frames_refuses_no_stream_and_a_stream_twice(hub, camera):
    cam = hub.add(camera.url, label="Door")
    with pytest.raises(InvalidInputError, match="at least one stream"):
        hub.frames([])
    with pytest.raises(InvalidInputError, match="twice"):
        hub.frames([cam, "door"])
