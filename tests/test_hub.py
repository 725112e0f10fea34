"""The Python API in cells (``rn.connect()``) against the real camera, in both modes: REST (a real
``jupyter server`` process found the way a kernel finds it, through JPY_PARENT_PID) and in-process
(``local=True``). Both answer the same; no password in any repr, DataFrame or HTML."""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import socket
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from PIL import Image

import rtsp_notebook as rn
from rtsp_notebook.errors import (
    AmbiguousLabelError,
    ExtensionMissingError,
    ServerError,
    ServerPermissionError,
)
from rtsp_notebook.notebook.hub import LocalFallbackWarning
from rtsp_notebook.notebook.transports import _error

from .harness.helpers import ffmpeg_children, wait_until_sync
from .harness.server import Server

PASSWORD = "s3cret-pw"
HUB_TOKEN = "hub-api-token-for-tests"


class PlainServer(Server):
    """A ``jupyter server`` that may lack the extension or a token: ready when Jupyter's own ``api``
    route (no authentication) answers."""

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "api", timeout=10) as response:
                return response.status == 200
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError):
                raise
            assert self.proc.poll() is None, "the server exited"
            return False


def as_kernel_of(monkeypatch: pytest.MonkeyPatch, server: Server) -> None:
    """What a kernel started by ``server`` sees: its pid and runtime dir, and no hub token."""
    monkeypatch.setenv("JPY_PARENT_PID", str(server.proc.pid))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(server.runtime))
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)


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
        as_kernel_of(monkeypatch, server)
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


def test_labels_are_unique_and_compare_without_case(hub):
    """Issue 15: two streams cannot share a label (trimmed, case-insensitive); a default label is made
    unique; a lookup by label ignores case. No camera is opened: adding a stream starts nothing."""
    yard = hub.add("rtsp://127.0.0.1:9/yard", label="Yard")
    with pytest.raises(rn.ConflictError) as info:
        hub.add("rtsp://127.0.0.1:9/other", label=" yard ")
    assert str(info.value) == f"the label 'yard' is used by stream {yard.id} (written 'Yard'); choose another"
    door = hub.add("rtsp://127.0.0.1:9/door", label="Door")
    with pytest.raises(rn.ConflictError, match=f"^the label 'YARD' is used by stream {yard.id} "):
        door.update(label="YARD")
    assert hub["yard"].id == yard.id and hub[" DOOR "].id == door.id
    assert [hub.add(f"demo://mandelbrot?fps={n}").label for n in (5, 10, 15)] == [
        "mandelbrot", "mandelbrot 2", "mandelbrot 3",
    ]  # fmt: skip


def store_of(hub, server, tmp_path) -> Path:
    """The store file behind ``hub`` (the hub fixture's): the server's, or the in-process one's."""
    return tmp_path / "local.db" if hub.local else server.runtime.parent / "s.db"


def test_a_label_two_old_streams_share_is_refused_by_lookups(hub, server, tmp_path):
    """A store written before labels were unique may hold two "Door"s: both stay listed and usable by id,
    and ``hub["Door"]`` names them instead of picking one."""
    door = hub.add("rtsp://127.0.0.1:9/door", label="Door")
    twin = hub.add("rtsp://127.0.0.1:9/twin", label="Twin")
    with (
        contextlib.closing(sqlite3.connect(store_of(hub, server, tmp_path))) as conn,
        conn,
    ):  # what an older version wrote
        conn.execute("UPDATE streams SET label = 'Door' WHERE id = ?", (twin.id,))
    assert [s.label for s in hub.list()] == ["Door", "Door"]
    with pytest.raises(AmbiguousLabelError) as info:
        hub["door"]
    assert isinstance(info.value, KeyError) and info.value.ids == (door.id, twin.id)
    assert str(info.value) == f"2 streams are labelled 'door'; use an id instead ({door.id}, {twin.id})"
    assert hub[twin.id].update(label="Back door").label == "Back door"
    assert hub["Door"].id == door.id


def test_options_that_do_not_apply_are_not_shown(hub):
    """Issue 15: a demo:// stream has no RTSP transport; one given is ignored (code written for cameras
    keeps working on demos), and the DataFrame shows it as missing."""
    demo = hub.add("demo://smptebars", options={"transport": "tcp"})
    assert demo.options == {"keep_alive": False}
    assert demo.update(transport="udp").options == {"keep_alive": False}  # (keep_alive would start it)
    cam = hub.add("rtsp://127.0.0.1:9/cam")
    assert cam.options == {"transport": "auto", "keep_alive": False}
    table = hub.streams().set_index("label")
    assert pd.isna(table.loc["smptebars", "transport"]) and not table.loc["smptebars", "keep_alive"]
    assert table.loc["127.0.0.1", "transport"] == "auto"


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


def decoders() -> list[psutil.Process]:
    """The frame readers' FFmpeg processes in this process (MPEG-TS on stdin, PPM pictures out)."""
    out = []
    for proc in ffmpeg_children():
        with contextlib.suppress(psutil.Error):
            argv = proc.cmdline()
            if "pipe:0" in argv and "ppm" in argv:
                out.append(proc)
    return out


def test_frames_start_on_first_use(hub, camera):
    """Issue 11: creating a reader starts nothing; only its first use starts FFmpeg and a subscription."""
    cam = hub.add(camera.url, label="Door")
    idle = cam.frames(fps=None, width=320)
    assert "not started" in repr(idle)
    with cam.frames(fps=None, width=320) as used:
        next(used)  # by now a reader started at creation would long have its FFmpeg and viewer
        assert len(decoders()) == 1 and cam.stats()["viewers"] == 1
    idle.close()
    wait_until_sync(lambda: not decoders() and cam.stats()["viewers"] == 0, 10, "the used reader to stop")


def test_a_dropped_reader_stops_its_decoder_and_subscription(hub, camera):
    """Issue 11: ``next(cam.frames())`` without close() leaked an FFmpeg and a subscription until the
    kernel exited; the reader's garbage collection stops both."""
    cam = hub.add(camera.url, label="Door")
    picture = next(cam.frames(fps=None, width=320))
    assert picture.shape == (180, 320, 3)
    gc.collect()
    wait_until_sync(lambda: not decoders(), 10, "the dropped reader's FFmpeg to stop")
    wait_until_sync(lambda: cam.stats()["viewers"] == 0, 10, "the dropped reader's subscription to end")


def test_frames_at_a_rate_come_evenly(hub, camera):
    """Issue 11: ``frames(fps=2)`` delivered at 0.25, 0.64 and 1.66 s (the relay's keyframe cache came as
    a burst through FFmpeg's fps filter): on a 25 fps camera the pictures now come 1/2 s apart."""
    cam = hub.add(camera.url, label="Door")
    times = []
    with cam.frames(fps=None, width=320) as running:  # a running relay: the reader gets its keyframe cache
        next(running)
        with cam.frames(fps=2, width=320, count=6) as frames:
            for picture in frames:
                times.append(time.monotonic())
                assert picture.shape == (180, 320, 3)
    intervals = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    assert len(intervals) == 5 and all(0.35 <= i <= 0.65 for i in intervals), intervals


def test_frames_at_a_rate_give_a_slow_consumer_the_newest_picture(hub, camera):
    """Issue 11: a consumer that spends longer than 1/fps on a picture got the backlog of older ones at
    once; it now gets the newest picture at once, and the pace of 1/fps after it."""
    cam = hub.add(camera.url, label="Door")
    with cam.frames(fps=2, width=320) as frames:
        next(frames)
        time.sleep(1.2)  # not a wait: the consumer's own work on its picture, longer than 1/fps
        times = []
        for _ in range(4):
            next(frames)
            times.append(time.monotonic())
    intervals = [round(b - a, 3) for a, b in itertools.pairwise(times)]
    assert all(0.35 <= i <= 0.65 for i in intervals), intervals


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
    assert list(streams.columns) == ["id", "label", "url", "sub_url", "state", "viewers", "last_error",
                                     "transport", "keep_alive", "created_at", "updated_at"]  # fmt: skip
    assert str(streams["created_at"].dtype) == "datetime64[us, UTC]"
    assert isinstance(streams["state"].dtype, pd.CategoricalDtype)
    assert streams.loc[0, "label"] == "Door" and streams.loc[0, "transport"] == "auto"
    stats = hub.stats()
    assert stats.loc[0, "stream_id"] == cam.id and stats["fps"].dtype == np.float64
    assert stats["last_error_code"].dtype == "string"  # the code beside the message, e.g. AUTH
    events = hub.events()
    assert str(events["time"].dtype) == "datetime64[us, UTC]"
    assert isinstance(events["kind"].dtype, pd.CategoricalDtype)
    assert {"state", "video_start"} <= set(events.loc[events["stream_id"] == cam.id, "kind"])


def test_stats_table_has_the_prebuffer_columns(hub, camera_factory):
    """``hub.stats()`` shows what ``cam.stats()`` reports of the prebuffer: seconds kept (float) and bytes
    held (int), 0 for a stream without one."""
    kept = hub.add(camera_factory().url, label="Kept", options={"prebuffer_s": 2})
    hub.add(camera_factory().url, label="Plain")
    wait_until_sync(lambda: kept.stats()["prebuffer_bytes"] > 0, 20, "the prebuffer holding video")
    stats = hub.stats().set_index("label")
    assert stats["prebuffer_s"].dtype == np.float64 and stats["prebuffer_bytes"].dtype == np.int64
    assert stats.loc["Kept", "prebuffer_bytes"] > 0 and stats.loc["Kept", "prebuffer_s"] > 0
    assert (stats.loc["Plain", "prebuffer_s"], stats.loc["Plain", "prebuffer_bytes"]) == (0.0, 0)


def test_no_password_in_reprs_or_tables(hub, camera):
    secret_url = camera.url_with("admin", PASSWORD)
    cam = hub.add(secret_url, label="Secret", sub_url=secret_url + "?s=1")
    assert cam.sub_url is not None and "admin:***@" in cam.sub_url
    text = "\n".join([
        repr(cam), cam._repr_html_(), repr(hub), hub._repr_html_(), hub.streams().to_csv(),
        hub.stats().to_csv(), hub.events().to_csv(), repr(hub.list()), repr(hub.grid([cam]).get_state()),
    ])  # fmt: skip
    assert PASSWORD not in text
    assert "admin:***@" in repr(cam)


def test_connect_without_a_server_is_local_with_a_warning(monkeypatch, tmp_path):
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    monkeypatch.setenv("RTSP_NOTEBOOK_DB", str(tmp_path / "fallback.db"))
    with pytest.warns(LocalFallbackWarning, match=r"JPY_PARENT_PID is not set\); using an in-process"):
        hub = rn.connect()
    assert hub.local and "fallback.db" in repr(hub)


def test_connect_to_an_unreachable_url_says_so():
    with pytest.raises(rn.ServerUnavailableError, match="does not answer rtsp/api/health"):
        rn.connect(url="http://127.0.0.1:9/", token="x")


# -- issue 11: REST errors by code and status; connect() falls back only when the extension is absent --


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (
            403,
            b'{"error": {"code": "FORBIDDEN", "message": "Forbidden"}}',
            ServerPermissionError,
            "FORBIDDEN",
        ),
        (403, b"<html>403 Forbidden</html>", ServerPermissionError, "FORBIDDEN"),
        (401, b"", ServerPermissionError, "FORBIDDEN"),
        (500, b'{"error": {"code": "INTERNAL", "message": "unexpected"}}', ServerError, "SERVER_ERROR"),
        (502, b"Bad Gateway", ServerError, "SERVER_ERROR"),
        (404, b"<html>404 : Not Found</html>", ExtensionMissingError, "EXTENSION_MISSING"),
        (
            404,
            b'{"error": {"code": "NOT_FOUND", "message": "no stream"}}',
            rn.StreamNotFoundError,
            "NOT_FOUND",
        ),
        (
            422,
            b'{"error": {"code": "NOT_FOUND", "message": "camera 404"}}',
            rn.CameraNotFoundError,
            "NOT_FOUND",
        ),
        (503, b'{"error": {"code": "AUTH", "message": "camera login"}}', rn.AuthError, "AUTH"),
        (429, b'{"error": {"code": "LIMIT", "message": "full"}}', rn.LimitError, "LIMIT"),
        (500, b'{"error": {"code": "STORE", "message": "disk"}}', rn.StoreError, "STORE"),
        (400, b'{"error": {"code": "INVALID_URL", "message": "bad"}}', rn.InvalidURLError, "INVALID_URL"),
        (405, b'{"error": {"code": "HTTP_ERROR", "message": "nope"}}', rn.RtspNotebookError, "HTTP_ERROR"),
    ],
)
def test_rest_errors_map_to_the_tree_by_code_and_status(status, body, expected, code):
    error = _error(status, body, "http://127.0.0.1:1/")
    assert type(error) is expected and error.code == code
    assert not isinstance(error, rn.FFmpegExitError)


def test_a_wrong_token_is_a_permission_error(server):
    with pytest.raises(
        ServerPermissionError, match=r"refused the request \(HTTP 403.*token is missing or wrong"
    ):
        rn.connect(url=server.base, token="wrong-token")


def test_a_server_without_the_extension_falls_back_with_a_warning(tmp_path, monkeypatch):
    server = PlainServer(tmp_path, ["--ServerApp.jpserver_extensions=rtsp_notebook=False"])
    try:
        as_kernel_of(monkeypatch, server)
        monkeypatch.setenv("RTSP_NOTEBOOK_DB", str(tmp_path / "fallback.db"))
        with pytest.warns(
            LocalFallbackWarning, match="has no rtsp-notebook extension \\(HTTP 404\\)"
        ) as info:
            hub = rn.connect()
        assert hub.local and server.base in str(info[0].message)
        with pytest.raises(ExtensionMissingError, match="not installed in the server's environment"):
            rn.connect(url=server.base, token="secret-token")  # an explicit URL never falls back
    finally:
        server.stop()


@pytest.fixture(scope="module")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose runtime file has no token, authenticating JupyterHub's way (see hub_identity.py)."""
    os.environ["JUPYTERHUB_API_TOKEN"] = HUB_TOKEN  # the server's environment, as the hub starts it
    try:
        provider = "--ServerApp.identity_provider_class=tests.hub_identity.HubTokenIdentityProvider"
        srv = PlainServer(tmp_path_factory.mktemp("hub-token-server"), [provider])
    finally:
        del os.environ["JUPYTERHUB_API_TOKEN"]
    try:
        yield srv
    finally:
        srv.stop()


def test_connect_uses_the_hub_token_when_the_runtime_file_has_none(hub_server, monkeypatch):
    info = json.loads(next(hub_server.runtime.glob("jpserver-*.json")).read_text())
    assert info["token"] == ""
    as_kernel_of(monkeypatch, hub_server)
    with pytest.raises(ServerPermissionError, match="HTTP 403"):
        rn.connect()  # no token at all: refused, and no second camera session in the kernel
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", HUB_TOKEN)
    hub = rn.connect()
    assert not hub.local and hub.transport.where == hub_server.base
    assert hub.list() == []


def test_a_server_the_runtime_file_names_that_does_not_answer_is_an_error(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    pid = os.getpid()  # the runtime file of a server that crashed: its port closed
    info = {"url": f"http://127.0.0.1:{port}/", "token": "t", "pid": pid}
    (runtime / f"jpserver-{pid}.json").write_text(json.dumps(info))
    monkeypatch.setenv("JPY_PARENT_PID", str(pid))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    with pytest.raises(rn.ServerUnavailableError, match=f"127.0.0.1:{port}/ does not answer rtsp/api/health"):
        rn.connect()


def test_a_kernel_whose_server_left_no_runtime_file_falls_back_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("JPY_PARENT_PID", "999999")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("RTSP_NOTEBOOK_DB", str(tmp_path / "fallback.db"))
    with pytest.warns(LocalFallbackWarning, match="no Jupyter server runtime file .*jpserver-999999.json"):
        assert rn.connect().local
