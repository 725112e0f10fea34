from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .harness.camera import TestCamera
from .harness.helpers import ffmpeg_children
from .harness.require import require_camera

# Every shared fixture is registered here, once; test modules never import fixtures. The order matters:
# tests.harness.loop and tests.harness.jp_server override fixtures of pytest_jupyter.jupyter_server.
pytest_plugins = (
    "pytest_jupyter.jupyter_server",
    "tests.harness.fixtures",
    "tests.harness.loop",
    "tests.harness.jp_server",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that use a camera carry the `camera` marker: `pytest -m "not camera"` runs without GStreamer.
    for item in items:
        if {"camera", "camera_factory"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.camera)


@pytest.fixture(scope="session")
def ffmpeg_path() -> str:
    """The FFmpeg binary the tests run (imageio-ffmpeg's static build)."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@pytest.fixture
def camera_factory() -> Iterator[Callable[..., TestCamera]]:
    """Start cameras with ``TestCamera`` keyword arguments; every one is stopped after the test."""
    require_camera()
    with contextlib.ExitStack() as stack:  # stops every camera, even when one stop() raises

        def make(**kwargs: Any) -> TestCamera:
            cam = TestCamera(**kwargs)
            stack.callback(cam.stop)
            return cam.start()

        yield make


@pytest.fixture
def camera(camera_factory: Callable[..., TestCamera]) -> TestCamera:
    """A started default camera: H.264, 640x360 at 25 fps, ``ball`` pattern, no credentials."""
    return camera_factory()


@pytest.fixture
def hub(tmp_path: Any) -> Iterator[Any]:
    """An in-process hub (``rn.connect(local=True)``) on a fresh store; its streams are removed after the
    test. Modules that test both hubs (test_hub, test_frames_errors) have their own ``hub``."""
    import rtsp_notebook as rn

    hub = rn.connect(local=True, store=str(tmp_path / "local.db"))
    yield hub
    for stream in hub.list():
        stream.remove()


@pytest.fixture(autouse=True)
def _no_ffmpeg_left() -> Iterator[None]:
    """Every test stops every FFmpeg it started: one left behind fails the test (and is killed)."""
    yield
    left = ffmpeg_children()
    for proc in left:
        proc.kill()
    assert not left, f"FFmpeg processes left behind: {left}"


@pytest.fixture(autouse=True)
def jp_server_cleanup(_no_ffmpeg_left: None, jp_server_cleanup: None) -> Iterator[None]:
    """pytest-jupyter's cleanup of the test's server (which stops its relays and their FFmpeg) runs before
    the check that no FFmpeg is left: a transcoding FFmpeg ends when its relay stops it, not by itself
    when the camera goes away, and the server's loop only runs again in this cleanup."""
    yield
