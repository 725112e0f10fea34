"""Issue 12: ``frames()`` raises the camera's own error as soon as the relay knows it (a wrong digest or
basic password, a wrong mount, a camera that refuses the forced transport), through both hubs: REST (a
real ``jupyter server``, the WebSocket) and in-process (a subscription). Errors the relay recovers from
(a camera that restarts, a 461 answered over UDP) do not end a ``frames()`` loop.

The deadlines are not timed assertions of speed: each ``next()`` runs in a thread that must end well
before the reader's own timeout (15 s), which is what the reader did before (a bare ``TIMEOUT``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import rtsp_notebook as rn
from rtsp_notebook.errors import (
    AuthError,
    CameraNotFoundError,
    RtspNotebookError,
    SourceTimeoutError,
    UnsupportedError,
)
from rtsp_notebook.notebook.framereader import FrameReader

from .harness.camera import TestCamera
from .harness.helpers import wait_until_sync
from .harness.server import Server
from .upstreams import stop_mid_stream

PASSWORD = "s3cret"
WRONG = "wrong-pw-9f3"
DEADLINE_S = 6.0  # the join deadline of a next(): the relay knows within about 0.1 s; the reader waits 15


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("frames-errors-server"))
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(params=["rest", "local"])
def hub(request: pytest.FixtureRequest, server: Server, tmp_path: Any) -> Iterator[rn.Hub]:
    if request.param == "rest":
        hub = rn.connect(url=server.base, token="secret-token")
        assert not hub.local
    else:
        hub = rn.connect(local=True, store=str(tmp_path / "local.db"))
        assert hub.local
    try:
        yield hub
    finally:
        for stream in hub.list():
            stream.remove()  # its relays stop: no FFmpeg left (conftest checks)


def first_picture(reader: FrameReader) -> tuple[Any, float]:
    """``next(reader)`` in a thread joined with ``DEADLINE_S``: (the picture or the exception, seconds)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        began = time.monotonic()
        try:
            outcome["value"] = next(reader)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["value"] = exc
        outcome["seconds"] = time.monotonic() - began

    thread = threading.Thread(target=run, name="next(frames)", daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    if thread.is_alive():
        reader.close()  # ends the wait (and the decoder) so the thread and its FFmpeg do not outlive the test
        thread.join(30)
        pytest.fail(f"next(frames()) neither returned nor raised within {DEADLINE_S} s: {outcome}")
    return outcome["value"], outcome["seconds"]


def no_viewer_left(cam: rn.Stream) -> None:
    """The reader closed its subscription when it raised."""
    wait_until_sync(lambda: cam.stats()["viewers"] == 0, 10, "the reader's subscription to end")


def error_events(hub: rn.Hub, stream_id: str) -> int:
    events = hub.events()
    return int(((events["stream_id"] == stream_id) & (events["kind"] == "error")).sum())


def other_mount(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/no-such-mount"


CASES: dict[str, tuple[dict[str, Any], Callable[[TestCamera], str], dict[str, Any], type[Exception]]] = {
    # name: (camera, the stream's URL, the stream's options, the error frames() raises)
    "digest-password": (
        {"user": "alice", "password": PASSWORD, "auth": "digest"},
        lambda c: c.url_with("alice", WRONG),
        {},
        AuthError,
    ),
    "basic-password": (
        {"user": "alice", "password": PASSWORD, "auth": "basic"},
        lambda c: c.url_with("alice", WRONG),
        {},
        AuthError,
    ),
    "wrong-mount": ({}, lambda c: other_mount(c.url), {}, CameraNotFoundError),
    "udp-only-tcp-forced": ({"protocols": "udp"}, lambda c: c.url, {"transport": "tcp"}, UnsupportedError),
}


@pytest.mark.parametrize("case", list(CASES))
def test_frames_raises_the_cameras_error(
    hub: rn.Hub, camera_factory: Callable[..., TestCamera], case: str
) -> None:
    camera_kwargs, url_of, options, expected = CASES[case]
    camera = camera_factory(**camera_kwargs)
    cam = hub.add(url_of(camera), label=case, options=options)
    reader = cam.frames(fps=2, width=320, timeout=15)
    error, seconds = first_picture(reader)
    assert isinstance(error, expected), f"{case}: expected {expected.__name__}, got {error!r}"
    assert not isinstance(error, SourceTimeoutError)
    assert isinstance(error, RtspNotebookError) and error.code == expected.code  # type: ignore[attr-defined]
    assert error.message and WRONG not in str(error) and PASSWORD not in str(error)
    print(f"{case} ({'local' if hub.local else 'rest'}): {error.code} after {seconds:.2f} s: {error}")
    no_viewer_left(cam)
    with pytest.raises(StopIteration):
        next(reader)  # closed: the iteration is over


@pytest.mark.parametrize("case", ["wrong-mount", "digest-password"])
def test_a_second_reader_after_the_error_raises_it_too(
    hub: rn.Hub, camera_factory: Callable[..., TestCamera], case: str
) -> None:
    """A wrong mount: the relay keeps retrying (slowly); a wrong password: the relay waits for the user
    without trying again. Either way a new reader is told the relay's error at once and raises it."""
    camera_kwargs, url_of, options, expected = CASES[case]
    camera = camera_factory(**camera_kwargs)
    cam = hub.add(url_of(camera), label=case, options=options)
    for _ in range(2):
        error, _seconds = first_picture(cam.frames(fps=2, width=320, timeout=15))
        assert isinstance(error, expected), repr(error)


def test_a_refused_transport_answered_over_udp_is_not_an_error(
    hub: rn.Hub, camera_factory: Callable[..., TestCamera]
) -> None:
    """Transport ``auto`` on a UDP-only camera: the relay's UNSUPPORTED (461) is followed at once by a
    UDP attempt that plays, so frames() gives pictures."""
    camera = camera_factory(protocols="udp")
    cam = hub.add(camera.url, label="udp only")
    with cam.frames(fps=2, width=320, timeout=15) as reader:
        picture, _seconds = first_picture(reader)
        assert isinstance(picture, np.ndarray), repr(picture)
        assert picture.shape == (180, 320, 3)


def test_a_camera_that_restarts_does_not_end_the_loop(
    hub: rn.Hub, camera_factory: Callable[..., TestCamera]
) -> None:
    camera = camera_factory()
    cam = hub.add(camera.url, label="restarts")
    with cam.frames(fps=5, width=320, timeout=15) as reader:
        for _ in range(3):
            assert next(reader).shape == (180, 320, 3)
        stop_mid_stream(camera)
        wait_until_sync(
            lambda: error_events(hub, cam.id),
            15,
            "the relay to report the camera's end",
        )
        camera.start()  # the same port
        # the camera was away: these pictures come from the relay's new session (at most one older
        # picture waits in the reader, the newest)
        after = [next(reader) for _ in range(10)]
    assert all(p.shape == (180, 320, 3) for p in after)
    no_viewer_left(cam)


def test_no_picture_before_the_timeout_raises_the_relays_last_error(
    hub: rn.Hub, camera_factory: Callable[..., TestCamera]
) -> None:
    """A camera that is gone: the relay retries (UNREACHABLE is not persistent), and the reader's own
    timeout raises the relay's last error with its code, not a bare TIMEOUT."""
    camera = camera_factory()
    url = camera.url
    camera.stop()
    cam = hub.add(url, label="gone")
    reader = cam.frames(fps=2, width=320, timeout=2)
    error, seconds = first_picture(reader)
    assert isinstance(error, rn.SourceError) and not isinstance(error, SourceTimeoutError), repr(error)
    assert error.code == "UNREACHABLE" and "no picture for 2 s" in error.message, repr(error)
    assert seconds >= 1.9  # it kept waiting while the relay retried
    no_viewer_left(cam)
