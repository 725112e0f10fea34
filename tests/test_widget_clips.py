"""The grid's clip buttons (issue 16) in a real JupyterLab in Chromium, against the GStreamer camera: the
expanded view's "Record N s" and "Save last N s" make the server write an MP4 of the camera's own video,
the page downloads it, and Chromium plays it in a <video> element; "Record" is "Stop recording" while it
records; the info panel has the same buttons."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from .harness.grid import tile, wait_more_frames
from .harness.helpers import wait_until_sync
from .harness.mp4 import check_mp4, duration

pytestmark = pytest.mark.usefixtures("lab")

PLAY_CLIP = """async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const video = document.createElement('video');
  video.muted = true;
  video.src = URL.createObjectURL(new Blob([bytes], {type: 'video/mp4'}));
  document.body.append(video);
  await new Promise((resolve, reject) => {
    video.onloadeddata = resolve;
    video.onerror = () => reject(new Error(`the <video> refused the clip: ${video.error?.message}`));
  });
  await video.play();
  await new Promise((resolve) => {
    const tick = () => (video.currentTime > 0.3 ? resolve() : requestAnimationFrame(tick));
    tick();
  });
  const size = [video.videoWidth, video.videoHeight];
  video.remove();
  return size;
}"""


def test_record_and_save_last_seconds_download_clips_that_chromium_plays(
    open_notebook, lab, camera_factory, ffmpeg_path
):
    camera = camera_factory(width=320, height=180, fps=25, keyint=10)
    lab.api("POST", "streams", {"url": camera.url, "label": "Door", "options": {"prebuffer_s": 3}})
    nb = open_notebook(["import rtsp_notebook as rn\ngrid = rn.Grid(clip_seconds=60)\ngrid"])
    nb.run_all_and_wait()
    page = nb.page
    door = tile(page, "Door")
    wait_more_frames(door, 3)
    door.get_by_role("button", name="Expand Door").click()
    dialog = page.locator("dialog.rn-expanded")
    wait_until_sync(lambda: int(dialog.get_attribute("data-frames") or 0) >= 3, 20, "expanded frames")
    notice = dialog.locator(".rn-clips .rn-notice")

    record = dialog.get_by_role("button", name="Record 60 s of Door")
    with page.expect_download(timeout=40_000) as recorded:
        record.click()

        def recorded_s() -> int:  # the notice says "Recording Door-….mp4… 3 s"
            found = re.search(r"^Recording .*… (\d+) s$", notice.text_content() or "")
            return int(found.group(1)) if found else 0

        wait_until_sync(lambda: recorded_s() >= 2, 20, "2 s recorded")
        nb.shot("recording")
        stop = dialog.get_by_role("button", name="Stop recording Door")
        assert stop.is_enabled() and stop.get_attribute("data-recording") == "true"
        stop.click()  # the clip ends now with what it has, and downloads
    path = Path(recorded.value.path())
    name = recorded.value.suggested_filename
    assert name.startswith("Door-") and name.endswith(".mp4"), name
    assert 2 <= duration(check_mp4(ffmpeg_path, path)) <= 15, "the seconds before Stop, not 60"
    record.wait_for()  # "Record 60 s" again
    assert lab.api("GET", "clips")[0]["status"] == "done"
    wait_until_sync(lambda: f"Saved {name}" in (notice.text_content() or ""), 5, "the saved notice")
    nb.shot("recorded")
    # Chromium plays the downloaded clip in a <video> element
    assert page.evaluate(PLAY_CLIP, base64.b64encode(path.read_bytes()).decode()) == [320, 180]

    # the last 3 s the prebuffer keeps
    with page.expect_download(timeout=40_000) as saved:
        dialog.get_by_role("button", name="Save last 3 s of Door").click()
    kept = duration(check_mp4(ffmpeg_path, Path(saved.value.path())))
    assert 2.5 <= kept <= 3.5 + 0.4, kept
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    # the info panel has the same buttons
    door.get_by_role("button", name="Info Door").click()
    door.locator(".rn-infopanel").get_by_role("button", name="Save last 3 s of Door").wait_for()
    nb.shot("info-clips")
    assert nb.errors() == []
