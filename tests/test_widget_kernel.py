"""The grid's kernel fallback in a real browser: on a Jupyter server without the rtsp_notebook extension (as
in VS Code, Colab or standalone Voilà, where the page cannot reach one), ``rn.connect()`` runs the in-process
service and the grid talks to the kernel over its comm: tiles decode the camera's changing pictures, pause and
resume, the add form adds (and shows the API's errors) and removal works, all through the kernel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from rtsp_notebook.store import StreamStore

from .harness.browser import LabServer
from .harness.grid import frames, grid_cells, picture, received, tile, wait_more_frames, wait_phase
from .harness.helpers import wait_until_sync


@pytest.fixture
def kernel_lab(lab_without_extension: LabServer) -> Iterator[LabServer]:
    """The server without the extension, its kernels' store emptied first: without the extension the server
    does not clear it between tests (the kernels share it through RTSP_NOTEBOOK_DB)."""
    path = Path(lab_without_extension.state / "streams.db")
    if path.exists():
        with StreamStore(path) as store:
            for record in store.list():
                store.delete(record.id)
    yield lab_without_extension


def kernel_streams(nb) -> list[dict]:
    """The streams of the notebook's kernel (its in-process service), read in the kernel."""
    code = "import json as _j\nprint(_j.dumps([{'label': s.label, 'viewers': s.viewers} for s in hub]))"
    return list(json.loads(nb.execute(code)))


def test_the_grid_plays_through_the_kernel_without_the_extension(
    open_notebook_without_extension, kernel_lab, camera_factory
):
    cam_a, cam_b, cam_c = camera_factory(), camera_factory(), camera_factory()
    nb = open_notebook_without_extension(grid_cells(("Cam A", cam_a), ("Cam B", cam_b)))
    nb.run_all_and_wait()
    page = nb.page
    assert "in-process" in nb.execute("print(hub)"), "rn.connect() fell back to the in-process service"
    for label in ("Cam A", "Cam B"):
        locator = tile(page, label)
        wait_phase(locator, "playing")
        wait_more_frames(locator, 3)
        first = picture(locator)
        wait_more_frames(locator, 3)
        second = picture(locator)
        assert locator.get_attribute("data-video-size") == "640x360"
        assert first["width"] <= 640 and abs(first["height"] - first["width"] * 9 / 16) <= 1  # drawn to fit
        assert first["lit"], "the tile shows a picture, not a black canvas"
        assert first["sum"] != second["sum"], "the pictures change"
        assert locator.get_attribute("data-codec") == "h264", "the comm carries the camera's own H.264"
    wait_until_sync(lambda: nb.execute("print(grid.connection)").strip() == "kernel", 10, "connection kernel")
    assert page.locator(".rtsp-notebook .rn-root").get_attribute("data-connection") == "kernel"
    assert [s["viewers"] for s in kernel_streams(nb)] == [1, 1]

    # pause and resume through the kernel: the thumbnail comes from it too
    a, b = tile(page, "Cam A"), tile(page, "Cam B")
    a.get_by_role("button", name="Pause Cam A").click()
    wait_phase(a, "paused")
    thumb = a.locator(".rn-thumb")
    thumb.wait_for(state="visible")
    assert (thumb.get_attribute("src") or "").startswith("data:image/jpeg;base64,")
    frozen, data = frames(a), received(a)
    wait_more_frames(b, 10)  # B plays on: A's picture and data stay still
    assert (frames(a), received(a)) == (frozen, data)
    a.get_by_role("button", name="Play Cam A").click()
    wait_until_sync(lambda: frames(a) > frozen, 10, "a frame after resume")
    wait_phase(a, "playing")

    # the add form, through the kernel: a hostile URL is refused with the API's error, a camera is added
    form = page.get_by_role("form", name="Add a stream")
    form.get_by_label("Stream URL").fill("file:///etc/passwd")
    form.get_by_role("button", name="Add stream").click()
    alert = form.locator(".rn-error[role=alert]")
    wait_until_sync(lambda: "INVALID_URL" in (alert.text_content() or ""), 10, "the INVALID_URL error")
    assert "rtsp://" in alert.text_content()
    form.get_by_label("Stream URL").fill(cam_c.url)
    form.get_by_label("Label").fill("Yard")
    form.get_by_role("button", name="Add stream").click()
    yard = tile(page, "Yard")
    wait_more_frames(yard, 3)
    assert alert.text_content() == ""
    assert [s["label"] for s in kernel_streams(nb)] == ["Cam A", "Cam B", "Yard"]

    # remove, with a confirmation
    yard.get_by_role("button", name="Remove Yard").click()
    page.get_by_role("alertdialog", name="Remove Yard").get_by_role("button", name="Remove").click()
    yard.wait_for(state="detached")
    assert [s["label"] for s in kernel_streams(nb)] == ["Cam A", "Cam B"]
    assert page.locator(".rn-tile").count() == 2

    # closing the widget from Python closes its streams; the kernel's exit stops its FFmpeg processes: one
    # per camera, its source relay (H.264 tiles need no MPEG-1 transcode)
    ffmpeg = kernel_lab.ffmpeg_processes()
    assert len(ffmpeg) == 2, [p.cmdline() for p in ffmpeg]
    nb.execute("grid.close()")
    page.locator(".rn-tile").first.wait_for(state="detached")
    wait_until_sync(lambda: [s["viewers"] for s in kernel_streams(nb)] == [0, 0], 10, "no viewer after close")
    # the page's health check (404: no extension) and the refused URL are logged by the browser itself
    assert nb.errors(ignore=["404 (Not Found)"]) == []
    kernel_lab.shutdown_kernels()
    _, alive = psutil.wait_procs(ffmpeg, timeout=10)
    assert not alive, f"FFmpeg processes outlived their kernel: {alive}"
