"""The grid widget in a real JupyterLab (under ``/user/test/``) and Notebook 7, in Debian's Chromium,
against the GStreamer camera: tiles decode changing pictures; pause, resume, stop, expand, edit, remove and
the add form work; a camera that drops shows reconnecting and plays again; views leave nothing behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness.browser import LabServer
from .harness.grid import frames, grid_cells, picture, received, tile, wait_more_frames, wait_phase
from .harness.helpers import wait_until_sync

IDLE_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def _lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    # relays stop 1 s after their last viewer, so "no FFmpeg once the idle timeout has passed" is quick
    extra = [f"--RtspNotebookApp.idle_timeout={IDLE_TIMEOUT_S}"]
    with LabServer(tmp_path_factory.mktemp("lab"), extra_args=extra) as server:
        yield server


RESUME = """(tile) => new Promise((resolve) => {
  const before = tile.dataset.frames;
  let started = 0;
  const observer = new MutationObserver(() => {
    if (tile.dataset.frames !== before) { observer.disconnect(); resolve(performance.now() - started); }
  });
  observer.observe(tile, {attributes: true, attributeFilter: ['data-frames']});
  setTimeout(() => { observer.disconnect(); resolve(null); }, 5000);
  started = performance.now();
  tile.querySelector('button.rn-play').click();
})"""


def stream_ids(lab: LabServer) -> dict[str, str]:
    return {s["label"]: s["id"] for s in lab.api("GET", "streams")}


def viewers(lab: LabServer, stream_id: str) -> int:
    """The stream's viewers over its relays: an H.264 tile or expanded view watches the source relay, an
    MPEG-1 one its grid or full transcode (whose feed from the source relay is not a viewer)."""
    return int(lab.api("GET", f"streams/{stream_id}/stats")["viewers"])


def relays(lab: LabServer, stream_id: str) -> list[str]:
    """The profiles of the stream's relays, an FFmpeg each: ``["source"]`` when every view plays H.264."""
    return sorted(r["profile"] for r in lab.api("GET", f"streams/{stream_id}/stats")["relays"])


def test_grid_plays_two_cameras_with_changing_pictures(open_notebook, lab, camera_factory):
    cam_a, cam_b = camera_factory(), camera_factory()
    nb = open_notebook(grid_cells(("Cam A", cam_a), ("Cam B", cam_b)))
    nb.run_all_and_wait()
    page = nb.page
    for label in ("Cam A", "Cam B"):
        locator = tile(page, label)
        wait_phase(locator, "playing")
        wait_more_frames(locator, 3)
        first = picture(locator)
        wait_more_frames(locator, 3)
        second = picture(locator)
        assert locator.get_attribute("data-video-size") == "640x360"  # the camera's own 640x360
        assert first["width"] <= 640 and abs(first["height"] - first["width"] * 9 / 16) <= 1  # drawn to fit
        assert first["lit"], "the tile shows a picture, not a black canvas"
        assert first["sum"] != second["sum"], "the pictures change"
        assert locator.locator(".rn-badge").text_content() == "playing"
        assert locator.get_attribute("data-codec") == "h264", "tiles play the camera's own H.264"
    # one FFmpeg per stream (its source relay, the camera's one session), one viewer each
    ids = stream_ids(lab)
    assert [viewers(lab, ids[label]) for label in ("Cam A", "Cam B")] == [1, 1]
    assert [relays(lab, ids[label]) for label in ("Cam A", "Cam B")] == [["source"], ["source"]]
    assert nb.errors() == []


def test_pause_resume_stop_play(open_notebook, lab, camera_factory):
    cam_a, cam_b = camera_factory(), camera_factory()
    nb = open_notebook(grid_cells(("Cam A", cam_a), ("Cam B", cam_b)))
    nb.run_all_and_wait()
    page = nb.page
    a, b = tile(page, "Cam A"), tile(page, "Cam B")
    wait_more_frames(a, 3)
    wait_more_frames(b, 3)

    a.get_by_role("button", name="Pause Cam A").click()
    wait_phase(a, "paused")
    thumb = a.locator(".rn-thumb")
    thumb.wait_for(state="visible")
    assert (thumb.get_attribute("src") or "").startswith("data:image/jpeg;base64,")
    frozen, data = frames(a), received(a)
    assert viewers(lab, stream_ids(lab)["Cam A"]) == 1, "the paused tile keeps its subscription"
    wait_more_frames(b, 15)  # B plays on for a second: A's picture and data stay still
    assert (frames(a), received(a)) == (frozen, data)
    assert a.get_by_role("button", name="Play Cam A").is_enabled()
    nb.shot("a-paused")

    # resume: the next decoded picture comes (from the keyframe cache); how fast is bench.browser's figure
    # (the 0.5 s target), not this test's, which runs on a loaded machine (2.2 s seen once under CI load)
    resumed_ms = a.evaluate(RESUME)
    assert resumed_ms is not None, "no picture within 5 s of Play"
    assert frames(a) > frozen
    wait_phase(a, "playing")
    thumb.wait_for(state="hidden")

    # the keyboard: Space on the focused tile pauses and plays
    a.focus()
    page.keyboard.press(" ")
    wait_phase(a, "paused")
    paused = frames(a)
    page.keyboard.press(" ")
    wait_until_sync(lambda: frames(a) > paused, 5, "a frame after Space")

    a.get_by_role("button", name="Stop Cam A").click()
    wait_phase(a, "stopped")
    nb.shot("a-stopped")
    ids = stream_ids(lab)
    wait_until_sync(lambda: viewers(lab, ids["Cam A"]) == 0, 10, "the stopped tile to unsubscribe")
    stopped = frames(a)
    a.get_by_role("button", name="Play Cam A").click()
    wait_until_sync(lambda: frames(a) > stopped, 10, "frames after play")
    wait_phase(a, "playing")
    assert nb.errors() == []


def test_expand_edit_remove(open_notebook, lab, camera_factory):
    cam_a, cam_b = camera_factory(), camera_factory()
    nb = open_notebook(grid_cells(("Cam A", cam_a), ("Cam B", cam_b)))
    nb.run_all_and_wait()
    page = nb.page
    a = tile(page, "Cam A")
    wait_more_frames(a, 2)
    ids = stream_ids(lab)

    # expand (from the keyboard: Enter on the focused button): a full-profile view in a dialog; the
    # tile pauses meanwhile
    a.get_by_role("button", name="Expand Cam A").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.rn-expanded")
    dialog.wait_for(state="visible")
    wait_until_sync(lambda: int(dialog.get_attribute("data-frames") or 0) >= 3, 20, "expanded frames")
    assert dialog.get_attribute("data-codec") == "h264", "the expanded view plays H.264 like the tile"
    wait_phase(a, "paused")
    nb.shot("expanded")
    # the expanded view and the paused tile both watch the source relay: no MPEG-1 transcode
    assert (viewers(lab, ids["Cam A"]), relays(lab, ids["Cam A"])) == (2, ["source"])
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    wait_until_sync(lambda: viewers(lab, ids["Cam A"]) == 1, 10, "the expanded view to close")
    wait_phase(a, "playing")

    # edit the label; the masked URL is left alone
    a.get_by_role("button", name="Edit Cam A").click()
    edit = page.get_by_role("dialog", name="Edit Cam A")
    edit.get_by_label("Label").fill("Front door")
    nb.shot("edit")
    edit.get_by_role("button", name="Save").click()
    edit.wait_for(state="detached")
    door = tile(page, "Front door")
    door.get_by_role("button", name="Pause Front door").wait_for()
    stored = lab.api("GET", f"streams/{ids['Cam A']}")
    assert (stored["label"], stored["url"]) == ("Front door", cam_a.url)

    # remove, with a confirmation
    door.get_by_role("button", name="Remove Front door").click()
    confirm = page.get_by_role("alertdialog", name="Remove Front door")
    nb.shot("remove-confirm")
    confirm.get_by_role("button", name="Remove").click()
    door.wait_for(state="detached")
    assert [s["label"] for s in lab.api("GET", "streams")] == ["Cam B"]
    assert page.locator(".rn-tile").count() == 1
    assert nb.errors() == []


def test_a_blocked_page_skips_to_the_newest_iframe(open_notebook, camera):
    nb = open_notebook(grid_cells(("Cam", camera)))
    nb.run_all_and_wait()
    page = nb.page
    cam = tile(page, "Cam")
    wait_more_frames(cam, 5)
    assert int(cam.get_attribute("data-dropped") or 0) == 0
    # 3 s of video arrive at once after the page was busy: the tile drops them at the newest I-frame
    # instead of playing them late, so latency does not grow
    page.evaluate("() => { const end = performance.now() + 3000; while (performance.now() < end) {} }")
    wait_until_sync(lambda: int(cam.get_attribute("data-dropped") or 0) > 0, 10, "late pictures dropped")
    wait_until_sync(lambda: int(cam.get_attribute("data-lag") or 99) <= 2, 10, "lag back to <= 2 pictures")
    wait_more_frames(cam, 5)
    assert nb.errors() == []


def test_add_form_adds_and_shows_api_errors(open_notebook, lab, camera):
    nb = open_notebook(["import rtsp_notebook as rn\nrn.connect().grid(renderer='canvas2d')"])
    nb.run_all_and_wait()
    page = nb.page
    form = page.get_by_role("form", name="Add a stream")
    form.get_by_label("Stream URL").fill("file:///etc/passwd")
    form.get_by_role("button", name="Add stream").click()
    alert = form.locator(".rn-error[role=alert]")
    alert.wait_for()
    assert "INVALID_URL" in alert.text_content() and "rtsp://" in alert.text_content()
    nb.shot("invalid-url")
    assert lab.api("GET", "streams") == []

    form.get_by_label("Stream URL").fill(camera.url)
    form.get_by_label("Label").fill("Yard")
    form.get_by_role("button", name="Add stream").click()
    yard = tile(page, "Yard")
    wait_more_frames(yard, 3)
    assert alert.text_content() == ""
    assert [s["label"] for s in lab.api("GET", "streams")] == ["Yard"]

    # the same camera again: the API's CONFLICT, inline
    form.get_by_label("Stream URL").fill(camera.url)
    form.get_by_role("button", name="Add stream").click()
    wait_until_sync(lambda: "CONFLICT" in (alert.text_content() or ""), 10, "the conflict error")
    # the browser logs the two refused requests themselves
    assert nb.errors(ignore=["400 (Bad Request)", "409 (Conflict)"]) == []


def test_label_is_text_never_html(open_notebook, lab, camera):
    label = '<img src=x onerror="window.__rnInjected = 1">'
    lab.api("POST", "streams", {"url": camera.url, "label": label})
    nb = open_notebook(["import rtsp_notebook as rn\nrn.connect().grid(renderer='canvas2d')"])
    nb.run_all_and_wait()
    page = nb.page
    shown = page.locator(".rn-tile .rn-label")
    shown.wait_for()
    assert shown.text_content() == label
    assert page.locator(".rn-tile img:not(.rn-thumb)").count() == 0
    assert page.evaluate("() => window.__rnInjected") is None


def test_camera_drop_shows_reconnecting_then_plays(open_notebook, lab, camera):
    nb = open_notebook(grid_cells(("Cam", camera)))
    nb.run_all_and_wait()
    cam = tile(nb.page, "Cam")
    wait_more_frames(cam, 3)
    camera.stop()
    wait_phase(cam, "reconnecting", timeout=20)
    assert "reconnecting" in cam.locator(".rn-badge").text_content()
    nb.shot("reconnecting")
    camera.start()
    wait_phase(cam, "playing", timeout=40)
    wait_more_frames(cam, 5, timeout=20)


def test_scrolled_out_of_view_pauses_and_resumes(open_notebook, lab, camera):
    cells = [
        *grid_cells(("Cam", camera)),
        'from IPython.display import HTML\nHTML(\'<div id="spacer" style="height: 4000px">spacer</div>\')',
    ]
    nb = open_notebook(cells)
    nb.run_all_and_wait()
    page = nb.page
    cam = tile(page, "Cam")
    cam.scroll_into_view_if_needed()
    wait_more_frames(cam, 3)
    ids = stream_ids(lab)
    page.locator("#spacer").evaluate("el => el.scrollIntoView({block: 'end'})")
    wait_phase(cam, "paused")
    assert cam.locator(".rn-badge").text_content() == "paused (off screen)"
    data = received(cam)
    # paused on the server: no data, the relay keeps its viewer
    assert viewers(lab, ids["Cam"]) == 1
    cam.scroll_into_view_if_needed()
    wait_phase(cam, "playing")
    wait_until_sync(lambda: received(cam) > data, 10, "data after scrolling back")


def test_rerun_and_close_leave_no_player_or_ffmpeg(open_notebook, lab, camera):
    lab.api("POST", "streams", {"url": camera.url, "label": "Cam"})
    nb = open_notebook(["import rtsp_notebook as rn\nrn.connect().grid(renderer='canvas2d')"])
    nb.run_all_and_wait()
    page = nb.page
    wait_more_frames(tile(page, "Cam"), 3)
    sid = stream_ids(lab)["Cam"]
    for _ in range(3):  # re-running the cell replaces the view: its player and socket go
        nb.run_all_and_wait()
        wait_more_frames(tile(page, "Cam"), 3)
    wait_until_sync(lambda: viewers(lab, sid) == 1, 10, "one viewer after re-runs")
    assert page.locator(".rn-tile").count() == 1
    # closing the notebook destroys the view; the relay stops after its idle timeout
    page.evaluate("() => { window.jupyterapp.commands.execute('application:close-all'); }")
    page.get_by_role("button", name="Discard").click()  # "Save your work?": the cells' outputs changed
    page.locator(".rn-tile").wait_for(state="detached")
    wait_until_sync(lambda: viewers(lab, sid) == 0, 10, "no viewer once the notebook is closed")
    wait_until_sync(lambda: not lab.ffmpeg_processes(), 10 + IDLE_TIMEOUT_S, "no FFmpeg after idle timeout")


def test_notebook7_renders_the_grid(open_notebook, camera):
    nb = open_notebook(grid_cells(("Cam", camera)), ui="notebook")
    nb.run_all_and_wait()
    cam = tile(nb.page, "Cam")
    wait_more_frames(cam, 5)
    assert picture(cam)["lit"]
    assert nb.errors() == []


def test_without_the_extension_the_grid_talks_to_the_kernel(open_notebook_without_extension):
    nb = open_notebook_without_extension(["import rtsp_notebook as rn\ngrid = rn.Grid()\ngrid"])
    nb.run_all_and_wait()
    message = nb.page.locator(".rtsp-notebook .rn-message")
    wait_until_sync(lambda: "No streams yet" in (message.text_content() or ""), 20, "the kernel's empty list")
    wait_until_sync(lambda: nb.execute("print(grid.connection)").strip() == "kernel", 10, "connection")
    assert nb.page.get_by_role("form", name="Add a stream").is_visible()
    # test_widget_kernel.py plays cameras this way


def test_when_neither_the_extension_nor_the_kernel_answers_the_grid_says_so(open_notebook_without_extension):
    # a kernel side that does not answer the page (as an rtsp-notebook without the fallback would not)
    cells = ["import rtsp_notebook as rn\ngrid = rn.Grid()\ngrid.on_msg(grid._from_page, remove=True)\ngrid"]
    nb = open_notebook_without_extension(cells)
    nb.run_all_and_wait()
    alert = nb.page.locator(".rtsp-notebook .rn-message[role=alert]")
    alert.wait_for(timeout=20_000)  # after the grid's few seconds of waiting for the kernel
    assert "server extension is not reachable" in alert.text_content()
    assert "kernel does not answer" in alert.text_content()
    wait_until_sync(lambda: nb.execute("print(grid.connection)").strip() == "unreachable", 10, "connection")
    assert nb.page.get_by_role("form", name="Add a stream").is_hidden()


def test_a_wrong_password_says_so_and_waits_for_play(open_notebook, lab, camera_factory, tmp_path):
    """A camera that refuses the password: the tile shows the error and that nothing is retried (many
    cameras lock an account after a few failed logins); Play makes exactly one more login."""
    log = tmp_path / "requests.log"
    cam = camera_factory(user="alice", password="s3cret", auth="digest", request_log=log)
    wrong = cam.url_with("alice", "wrong-pass")
    cells = [
        f"import rtsp_notebook as rn\nhub = rn.connect()\nhub.add({wrong!r}, label='Door')",
        "hub.grid(renderer='canvas2d')",
    ]
    nb = open_notebook(cells)
    nb.run_all_and_wait()
    page = nb.page
    door = tile(page, "Door")
    wait_phase(door, "error")
    detail = door.locator(".rn-detail")
    wait_until_sync(lambda: "not retrying" in (detail.text_content() or ""), 10, "the 'not retrying' detail")
    text = detail.text_content() or ""
    assert text.startswith("the camera refused the user name or password (RTSP 401 Unauthorized)"), text
    assert "wrong-pass" not in text and door.locator(".rn-badge").text_content() == "error"
    page.screenshot(path=str(tmp_path / "wrong-password.png"), full_page=True)
    # one login by the grid relay, at most one by the thumbnail's one-shot grab, then none: the relay waits
    # for the user and the thumbnail service remembers the refusal until the URL changes
    with pytest.raises(AssertionError):
        wait_until_sync(lambda: cam.logins() > 2, 3, "no login after the first two")
    logins = cam.logins()
    assert 1 <= logins <= 2, cam.describes()
    door.get_by_role("button", name="Play Door").click()
    wait_until_sync(lambda: cam.logins() == logins + 1, 10, "one more login after Play")
    wait_phase(door, "error")
    with pytest.raises(AssertionError):  # and nothing more on its own (the old backoff retried within 2 s)
        wait_until_sync(lambda: cam.logins() > logins + 1, 3, "no further login")
    page.screenshot(path=str(tmp_path / "wrong-password-after-play.png"), full_page=True)
