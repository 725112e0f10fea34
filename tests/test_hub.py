"""The Python API in cells (``rn.connect()``) against the real camera, in both modes: REST (a real
``jupyter server`` process found the way a kernel finds it, through JPY_PARENT_PID) and in-process
(``local=True``). Both answer the same; no password in any repr, DataFrame or HTML."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import rtsp_notebook as rn

from .helpers import wait_until_sync
from .test_server_process import Server

PASSWORD = "s3cret-pw"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("hub-server"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["rest", "local"])
def hub(request, server, tmp_path, monkeypatch) -> Iterator[rn.Hub]:
    if request.param == "rest":
        # what a kernel started by this server sees
        monkeypatch.setenv("JPY_PARENT_PID", str(server.proc.pid))
        monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(server.runtime))
        hub = rn.connect()
        assert not hub.local
    else:
        hub = rn.connect(local=True, store=str(tmp_path / "local.db"))
        assert hub.local
    yield hub
    for stream in hub.list():
        stream.remove()


def test_add_lookup_update_remove(hub, camera):
    cam = hub.add(camera.url, label="Door")
    assert (cam.label, cam.url, cam.state) == ("Door", camera.url, "idle")
    assert hub["Door"].id == cam.id and hub[cam.id].label == "Door"
    renamed = cam.update(label="Front door")
    assert renamed.label == "Front door" and hub[cam.id].label == "Front door"
    with pytest.raises(rn.ConflictError):
        hub.add(camera.url)
    with pytest.raises(rn.InvalidURLError, match="rtsp://"):
        hub.add("file:///etc/passwd")
    with pytest.raises(rn.StreamNotFoundError):
        hub["nope"]
    renamed.remove()
    assert hub.list() == []


def test_probe_checks_the_camera_first(hub, camera):
    cam = hub.add(camera.url, probe=True)
    assert cam.state == "idle"
    camera.stop()
    with pytest.raises(rn.SourceError) as info:
        hub.add(camera.url + "x", probe=True)
    assert info.value.code in ("UNREACHABLE", "TIMEOUT")
    assert [s.id for s in hub.list()] == [cam.id]


def test_snapshot_is_a_pil_image(hub, camera):
    cam = hub.add(camera.url, label="Door")
    image = cam.snapshot()
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (640, 360)
    small = cam.snapshot(width=320, refresh=True)
    assert small.size == (320, 180)
    assert max(image.getextrema()[0]) > 40  # a picture, not black


def test_frames_are_numpy_pictures_that_change(hub, camera):
    cam = hub.add(camera.url, label="Door")
    with cam.frames(fps=5, width=320, count=4) as frames:
        pictures = list(frames)
    assert len(pictures) == 4
    assert all(p.shape == (180, 320, 3) and p.dtype == np.uint8 for p in pictures)
    assert any(not np.array_equal(pictures[0], p) for p in pictures[1:])
    full = next(iter(cam.frames(fps=None, count=1)))
    assert full.shape == (360, 640, 3)


def test_closing_frames_stops_its_decoder_and_subscription(hub, camera):
    cam = hub.add(camera.url, label="Door")
    frames = cam.frames(fps=None, width=320)
    next(frames)
    assert cam.stats()["viewers"] == 1
    frames.close()
    wait_until_sync(lambda: cam.stats()["viewers"] == 0, 10, "the reader's subscription to end")
    with pytest.raises(StopIteration):
        next(frames)


def test_frames_arguments_are_checked(hub, camera):
    cam = hub.add(camera.url)
    with pytest.raises(rn.InvalidInputError, match="fps must be a number above 0 and at most 60"):
        cam.frames(fps=0)
    with pytest.raises(rn.InvalidInputError, match="width must be a whole number from 16 to 3840"):
        cam.frames(width=5)
    with pytest.raises(rn.InvalidInputError, match="count must be a whole number of at least 1"):
        cam.frames(count=0)


def test_tables_have_explicit_dtypes(hub, camera):
    cam = hub.add(camera.url, label="Door")
    next(iter(cam.frames(fps=None, width=320, count=1)))
    streams = hub.streams()
    assert list(streams.columns) == ["id", "label", "url", "state", "viewers", "last_error", "transport",
                                     "keep_alive", "created_at", "updated_at"]  # fmt: skip
    assert str(streams["created_at"].dtype) == "datetime64[us, UTC]"
    assert isinstance(streams["state"].dtype, pd.CategoricalDtype)
    assert streams.loc[0, "label"] == "Door" and streams.loc[0, "transport"] == "tcp"
    stats = hub.stats()
    assert stats.loc[0, "stream_id"] == cam.id and stats["fps"].dtype == np.float64
    events = hub.events()
    assert str(events["time"].dtype) == "datetime64[us, UTC]"
    assert isinstance(events["kind"].dtype, pd.CategoricalDtype)
    assert {"state", "video_start"} <= set(events.loc[events["stream_id"] == cam.id, "kind"])


def test_no_password_in_reprs_or_tables(hub, camera):
    cam = hub.add(camera.url_with("admin", PASSWORD), label="Secret")
    text = "\n".join([
        repr(cam), cam._repr_html_(), repr(hub), hub._repr_html_(), hub.streams().to_csv(),
        hub.stats().to_csv(), hub.events().to_csv(), repr(hub.list()), repr(hub.grid([cam]).get_state()),
    ])  # fmt: skip
    assert PASSWORD not in text
    assert "admin:***@" in repr(cam)


def test_connect_without_a_server_is_local(monkeypatch, tmp_path):
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    monkeypatch.setenv("RTSP_NOTEBOOK_DB", str(tmp_path / "fallback.db"))
    hub = rn.connect()
    assert hub.local and "fallback.db" in repr(hub)


def test_connect_to_an_unreachable_url_says_so():
    with pytest.raises(rn.ServerUnavailableError, match="does not answer rtsp/api/health"):
        rn.connect(url="http://127.0.0.1:9/", token="x")
