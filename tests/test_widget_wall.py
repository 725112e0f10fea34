"""The grid as a person sees it (issue 15), in a real JupyterLab and Notebook 7 in Chromium, against the
GStreamer camera: every state reached is kept as a screenshot (tests/harness/screens.py), and what a
screenshot showed wrong once is pinned by an assertion: one-line inputs in the Edit dialog, Pause and Stop
that look different, an add form that forgets an out-of-date error, off-screen tiles that say so, a stream
with no picture that is not asked for one at every retry, and an expanded view with a coloured badge,
figures, pause and snapshot."""

from __future__ import annotations

import os
import shutil

import pytest
from PIL import Image

from .harness.grid import frames, grid_cells, tile, wait_more_frames, wait_phase
from .harness.helpers import wait_until_sync
from .harness.screens import (
    REPO,
    assert_height,
    assert_in_viewport,
    assert_inside,
    assert_no_overflow,
    assert_no_overlap,
    box,
)

pytestmark = pytest.mark.usefixtures("lab")

INPUT_HEIGHT = (20, 36)  # px: one line of text


def test_edit_dialog_has_one_line_inputs_and_mentions_a_hidden_password_only_when_there_is_one(
    open_notebook, camera_factory
):
    cam = camera_factory(user="alice", password="s3cret", auth="digest")
    cells = [
        "import rtsp_notebook as rn\nhub = rn.connect()\n"
        f"hub.add({cam.url_with('alice', 's3cret')!r}, label='Door')\n"
        "hub.add('demo://testsrc2', label='Demo')",
        "grid = hub.grid(renderer='canvas2d')\ngrid",
    ]
    nb = open_notebook(cells)
    nb.run_all_and_wait()
    page = nb.page
    door, demo = tile(page, "Door"), tile(page, "Demo")
    wait_more_frames(door, 2)
    wait_more_frames(demo, 2)
    nb.shot("grid")

    door.get_by_role("button", name="Edit Door").click()
    edit = page.get_by_role("dialog", name="Edit Door")
    edit.wait_for()
    nb.shot("edit-with-password")
    for name in ("Label", "URL"):
        assert_height(edit.get_by_label(name), *INPUT_HEIGHT, f"the Edit dialog's {name} input")
        assert_inside(edit.get_by_label(name), edit, f"the {name} input")
    assert_no_overflow(edit, "the Edit dialog")
    shown = edit.get_by_label("URL").input_value()
    assert ":***@" in shown and "s3cret" not in shown, shown
    assert "hidden as ***" in (edit.locator(".rn-hint").text_content() or "")
    edit.get_by_role("button", name="Cancel").click()
    edit.wait_for(state="detached")

    demo.get_by_role("button", name="Edit Demo").click()
    edit = page.get_by_role("dialog", name="Edit Demo")
    edit.wait_for()
    nb.shot("edit-demo")
    assert_height(edit.get_by_label("URL"), *INPUT_HEIGHT, "the Edit dialog's URL input")
    assert edit.locator(".rn-hint").count() == 0, "a demo:// URL has no password to hide"
    page.keyboard.press("Escape")
    edit.wait_for(state="detached")
    assert nb.errors() == []


def test_pause_and_stop_look_different(open_notebook, camera):
    nb = open_notebook(grid_cells(("Cam", camera)))
    nb.run_all_and_wait()
    page = nb.page
    cam = tile(page, "Cam")
    wait_more_frames(cam, 3)
    pause, stop = cam.get_by_role("button", name="Pause Cam"), cam.get_by_role("button", name="Stop Cam")
    colour = "el => getComputedStyle(el.querySelector('svg')).color"
    assert pause.evaluate(colour) != stop.evaluate(colour), "the Stop icon has its own colour"
    assert "keep the camera connected" in (pause.get_attribute("title") or "")
    assert "close the camera connection" in (stop.get_attribute("title") or "")
    overlay = cam.locator(".rn-overlay")
    assert overlay.is_hidden(), "a playing tile shows nothing over its picture"

    pause.click()
    wait_phase(cam, "paused")
    overlay.wait_for(state="visible")
    assert overlay.text_content() == "Paused"
    cam.locator(".rn-thumb").wait_for(state="visible")
    filtered = "el => getComputedStyle(el).filter"
    assert cam.locator(".rn-thumb").evaluate(filtered) == "none", "a paused picture keeps its colours"
    nb.shot("paused")

    stop.click()
    wait_phase(cam, "stopped")
    wait_until_sync(lambda: overlay.text_content() == "Stopped · Play reconnects", 5, "the stopped overlay")
    assert "grayscale" in cam.locator(".rn-thumb").evaluate(filtered), "a stopped picture is greyed"
    assert cam.locator(".rn-badge").text_content() == "stopped"
    nb.shot("stopped")

    cam.get_by_role("button", name="Play Cam").click()
    wait_phase(cam, "playing")
    overlay.wait_for(state="hidden")
    assert nb.errors() == []


def test_the_add_form_forgets_an_error_once_the_situation_changed(open_notebook, lab, camera):
    lab.api("POST", "streams", {"url": camera.url, "label": "Yard"})
    nb = open_notebook(["import rtsp_notebook as rn\nrn.connect().grid(renderer='canvas2d')"])
    nb.run_all_and_wait()
    page = nb.page
    yard = tile(page, "Yard")
    wait_more_frames(yard, 2)
    form = page.get_by_role("form", name="Add a stream")
    alert = form.locator(".rn-error[role=alert]")

    def conflict() -> None:
        form.get_by_label("Stream URL").fill(camera.url)
        form.get_by_role("button", name="Add stream").click()
        wait_until_sync(lambda: "CONFLICT" in (alert.text_content() or ""), 10, "the conflict error")

    # the label is taken too (labels are unique, whatever their case): the form says so
    form.get_by_label("Stream URL").fill("demo://testsrc2")
    form.get_by_label("Label").fill("yard")
    form.get_by_role("button", name="Add stream").click()
    wait_until_sync(lambda: "the label 'yard' is used by stream" in (alert.text_content() or ""), 10, "label")
    assert [s["label"] for s in lab.api("GET", "streams")] == ["Yard"]
    form.get_by_label("Label").fill("")

    conflict()
    nb.shot("conflict")
    form.get_by_label("Label").type("x")  # the user changes what the form holds
    assert alert.text_content() == "" and alert.is_hidden()

    conflict()
    yard.get_by_role("button", name="Remove Yard").click()
    confirm = page.get_by_role("alertdialog", name="Remove Yard")
    assert confirm.locator(".rn-url").text_content() == camera.url, "the removal names the stream's URL too"
    nb.shot("remove-confirm")
    confirm.get_by_role("button", name="Remove").click()
    yard.wait_for(state="detached")
    assert alert.text_content() == "", "the error named a stream that is gone"
    nb.shot("after-remove")
    assert nb.errors(ignore=["409 (Conflict)"]) == []


def test_notebook7_tiles_left_above_after_run_all_say_they_are_off_screen(open_notebook, camera):
    # spacers of 700 px each (Notebook 7 puts one tall output in a scrolled box of its own)
    spacer = "from IPython.display import HTML\nHTML('<div class=spacer style=\"height: 700px\"></div>')"
    nb = open_notebook([*grid_cells(("Cam", camera)), *[spacer] * 5], ui="notebook")
    nb.run_all_and_wait()
    page = nb.page
    page.locator(".spacer").last.evaluate("el => el.scrollIntoView({block: 'end'})")
    nb.shot("scrolled-to-the-end")
    cam = tile(page, "Cam")
    wait_until_sync(lambda: cam.get_attribute("data-paused") == "off screen", 20, "the tile to say so")
    assert cam.get_attribute("data-phase") == "paused"
    assert cam.locator(".rn-badge").text_content() == "paused (off screen)"
    # the last picture stands in for when it comes back into view
    wait_until_sync(lambda: cam.get_attribute("data-thumbnail") in ("fresh", "stale"), 20, "a thumbnail")
    cam.scroll_into_view_if_needed()
    nb.shot("back-on-screen")
    wait_phase(cam, "playing")
    assert cam.get_attribute("data-paused") == ""
    assert nb.errors() == []


def test_a_stream_with_no_picture_is_not_asked_for_one_at_every_retry(open_notebook, camera_factory):
    cam = camera_factory()
    url = cam.url
    cam.stop()  # the camera is offline from the start: there is no picture to show
    nb = open_notebook(grid_cells(("Gone", cam)))
    asked: list[str] = []
    nb.page.on("request", lambda request: asked.append(request.url) if "/thumbnail" in request.url else None)
    nb.run_all_and_wait()
    gone = tile(nb.page, "Gone")
    badge = gone.locator(".rn-badge")
    wait_until_sync(lambda: "attempt 3" in (badge.text_content() or ""), 60, "three reconnect attempts")
    nb.shot("offline")
    assert gone.get_attribute("data-thumbnail") == "none"
    assert len(asked) <= 2, f"the thumbnail was asked {len(asked)} times: {asked}"
    assert url not in str(nb.errors())
    # the browser logs each refused request itself: one or two, not one per retry
    assert len(nb.errors()) <= 2, nb.errors()


def test_the_expanded_view_has_a_coloured_badge_figures_pause_and_snapshot(open_notebook, camera):
    nb = open_notebook(grid_cells(("Cam", camera)))
    nb.run_all_and_wait()
    page = nb.page
    cam = tile(page, "Cam")
    wait_more_frames(cam, 2)
    cam.get_by_role("button", name="Expand Cam").click()
    dialog = page.locator("dialog.rn-expanded")
    dialog.wait_for(state="visible")
    wait_until_sync(lambda: int(dialog.get_attribute("data-frames") or 0) >= 10, 20, "expanded frames")
    badge = dialog.locator(".rn-badge")
    wait_until_sync(lambda: "rn-playing" in (badge.get_attribute("class") or ""), 10, "a green badge")
    detail = dialog.locator(".rn-detail")
    wait_until_sync(lambda: "fps" in (detail.text_content() or ""), 10, "the figures")
    assert (detail.text_content() or "").startswith("640x360 · "), detail.text_content()
    assert cam.get_attribute("data-paused") == "expanded"
    nb.shot("expanded")

    dialog.get_by_role("button", name="Pause Cam").click()
    wait_until_sync(lambda: dialog.get_attribute("data-phase") == "paused", 10, "the view to pause")
    assert "rn-paused" in (badge.get_attribute("class") or "")
    held = int(dialog.get_attribute("data-frames") or 0)
    with pytest.raises(AssertionError):  # no picture comes while paused
        wait_until_sync(lambda: int(dialog.get_attribute("data-frames") or 0) > held + 1, 2, "no frames")
    nb.shot("expanded-paused")

    # the snapshot of the picture shown: a download, and grid.last_snapshot in the kernel
    with page.expect_download() as download:
        dialog.get_by_role("button", name="Snapshot of Cam").click()
    saved = download.value
    assert saved.suggested_filename.startswith("Cam-") and saved.suggested_filename.endswith(".jpg")
    with Image.open(saved.path()) as image:
        assert image.format == "JPEG" and image.width >= 320, image.size
    notice = dialog.locator("footer > .rn-notice")  # the snapshot's (the clips have their own)
    wait_until_sync(lambda: "Saved Cam-" in (notice.text_content() or ""), 5, "notice")
    nb.shot("expanded-snapshot")
    kept = nb.execute(
        "s = grid.last_snapshot\n"
        "print(s.format, s.width, s.info['label'], s.info['stream_id'] == hub['Cam'].id)"
    )
    assert kept.split()[0] == "JPEG" and kept.split()[2:] == ["Cam", "True"], kept

    dialog.get_by_role("button", name="Resume Cam").click()
    wait_until_sync(lambda: int(dialog.get_attribute("data-frames") or 0) > held + 3, 10, "frames again")
    wait_until_sync(lambda: dialog.get_attribute("data-phase") == "playing", 10, "the view to play")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    wait_phase(cam, "playing")
    assert frames(cam) > 0
    assert nb.errors() == []


def _same_camera_streams(lab, camera, count: int) -> list[str]:
    """``count`` streams of one camera (distinct URLs by user name: the camera ignores it), labels Cam 1.."""
    port_path = camera.url.split("://", 1)[1]
    for k in range(1, count + 1):
        lab.api("POST", "streams", {"url": f"rtsp://tile{k}@{port_path}", "label": f"Cam {k}"})
    return [f"Cam {k}" for k in range(1, count + 1)]


def test_the_wall_fills_a_1920x1080_screen_with_nine_cameras(open_notebook, lab, camera_factory):
    camera = camera_factory(width=320, height=180, fps=10, keyint=10)
    labels = _same_camera_streams(lab, camera, 9)
    nb = open_notebook(["import rtsp_notebook as rn\ngrid = rn.connect().grid(renderer='canvas2d')\ngrid"])
    page = nb.page
    page.set_viewport_size({"width": 1920, "height": 1080})
    nb.run_all_and_wait()
    tiles = [tile(page, label) for label in labels]
    for t in tiles:
        wait_until_sync(lambda t=t: frames(t) >= 1, 30, "every tile to show a picture")
    root = page.locator(".rtsp-notebook .rn-root")

    page.get_by_role("button", name="Wall", exact=True).click()
    wait_until_sync(lambda: root.get_attribute("data-wall") == "fullscreen", 10, "the browser's full screen")
    assert root.get_attribute("data-wall-shape") == "3x3"
    assert nb.execute("print(grid.fullscreen)").strip() == "True"
    sizes = set()
    for t in tiles:
        assert_in_viewport(t, "a tile on the wall")
        b = box(t)
        sizes.add((round(b["width"]), round(b["height"])))
    assert len(sizes) == 1, f"the tiles differ in size: {sizes}"
    width, height = sizes.pop()
    assert width >= 620 and height >= 350, (width, height)  # 3 columns of 16:9 in 1920x1080
    nb.shot("wall-1920x1080-pointer")
    foot = tiles[0].locator(".rn-tile-foot")
    opacity = "el => Number(getComputedStyle(el).opacity)"
    # the controls leave once the pointer rests, and come back when it moves
    wait_until_sync(lambda: foot.evaluate(opacity) == 0, 10, "the controls to hide")
    assert tiles[0].locator(".rn-label").is_visible(), "the labels stay"
    nb.shot("wall-1920x1080")
    page.mouse.move(400, 300)
    page.mouse.move(420, 320)
    wait_until_sync(lambda: foot.evaluate(opacity) == 1, 5, "the controls to show")

    page.keyboard.press("Escape")
    wait_until_sync(lambda: root.get_attribute("data-wall") is None, 10, "Escape to leave the wall")
    wait_until_sync(lambda: nb.execute("print(grid.fullscreen)").strip() == "False", 10, "the trait")
    assert page.evaluate("() => document.fullscreenElement") is None

    # from Python: no click allows the browser's full screen, so the wall covers the page
    nb.execute("grid.fullscreen = True")
    wait_until_sync(lambda: root.get_attribute("data-wall") is not None, 10, "the wall from Python")
    assert root.get_attribute("data-wall-shape") == "3x3"
    for t in tiles:
        assert_in_viewport(t, "a tile on the wall (from Python)")
    nb.shot("wall-from-python")
    nb.execute("grid.fullscreen = False")
    wait_until_sync(lambda: root.get_attribute("data-wall") is None, 10, "the wall to go")

    # the keyboard: w in the grid
    tiles[0].focus()
    page.keyboard.press("w")
    wait_until_sync(lambda: root.get_attribute("data-wall") is not None, 10, "w to enter the wall")
    page.keyboard.press("Escape")
    wait_until_sync(lambda: root.get_attribute("data-wall") is None, 10, "Escape to leave")
    assert nb.errors() == []


def test_a_420px_wide_page_keeps_every_control_inside_its_tile(open_notebook, lab, camera_factory):
    camera = camera_factory(width=320, height=180, fps=10, keyint=10)
    labels = _same_camera_streams(lab, camera, 2)
    nb = open_notebook(["import rtsp_notebook as rn\nrn.connect().grid(renderer='canvas2d')"], ui="notebook")
    page = nb.page
    page.set_viewport_size({"width": 420, "height": 900})
    nb.run_all_and_wait()
    first = tile(page, labels[0])
    wait_more_frames(first, 3)
    nb.shot("page-420px")
    root = page.locator(".rtsp-notebook .rn-root")
    assert_no_overflow(root, "the grid on a 420 px page")
    for label in labels:
        t = tile(page, label)
        assert_no_overflow(t, f"tile {label}")
        for part in (".rn-label", ".rn-badge", ".rn-controls", ".rn-figures"):
            assert_inside(t.locator(part), t, f"{part} of {label}")
        assert_no_overlap(t.locator(".rn-controls"), t.locator(".rn-figures"), f"{label}'s buttons, figures")
    form = page.get_by_role("form", name="Add a stream")
    for name in ("Stream URL", "Label"):
        assert_inside(form.get_by_label(name), root, f"the add form's {name} input")
        assert_height(form.get_by_label(name), *INPUT_HEIGHT, f"the add form's {name} input")
    assert nb.errors() == []


def test_focus_drag_and_drop_keys_and_the_info_panel(open_notebook, lab, camera_factory):
    camera = camera_factory(width=320, height=180, fps=10, keyint=10)
    labels = _same_camera_streams(lab, camera, 3)
    ids = {s["label"]: s["id"] for s in lab.api("GET", "streams")}
    cells = ["import rtsp_notebook as rn\nhub = rn.connect()", "grid = hub.grid(renderer='canvas2d')\ngrid"]
    nb = open_notebook(cells)
    nb.run_all_and_wait()
    page = nb.page
    one, two, three = (tile(page, label) for label in labels)
    for t in (one, two, three):
        wait_more_frames(t, 1)
    grid_el = page.locator(".rtsp-notebook .rn-grid")

    def order() -> list[str]:
        by_id = {v: k for k, v in ids.items()}
        return [by_id[i] for i in (grid_el.get_attribute("data-order") or "").split()]

    assert order() == labels

    # focus: Cam 3 large and first
    three.get_by_role("button", name="Focus Cam 3").click()
    wait_until_sync(lambda: order()[0] == "Cam 3", 5, "the large tile first")
    assert "rn-large" in (three.get_attribute("class") or "")
    assert box(three)["width"] > 1.8 * box(one)["width"], (box(three), box(one))
    wait_until_sync(lambda: nb.execute("print(grid.focus)").strip() == ids["Cam 3"], 10, "grid.focus")
    nb.shot("focus")

    # drag Cam 2 by its header onto the left half of Cam 1: it takes Cam 1's place
    two.locator(".rn-tile-head").drag_to(one, target_position={"x": 20, "y": 60})
    wait_until_sync(lambda: order() == ["Cam 3", "Cam 2", "Cam 1"], 5, "the dropped order")
    expected = f"{[ids['Cam 3'], ids['Cam 2'], ids['Cam 1']]}"
    wait_until_sync(lambda: nb.execute("print(grid.order)").strip() == expected, 10, "grid.order")
    nb.shot("dragged")

    # the keyboard: Alt+Right on a tile moves it one place
    two.focus()
    page.keyboard.press("Alt+ArrowRight")
    wait_until_sync(lambda: order() == ["Cam 3", "Cam 1", "Cam 2"], 5, "Alt+Right")

    # the next grid of the hub (a re-run cell) starts from this layout
    kept = nb.execute("g = hub.grid()\nprint(g.order == grid.order, g.focus == grid.focus)")
    assert kept.split() == ["True", "True"], kept

    # from Python: no large tile
    nb.execute("grid.focus = None")
    wait_until_sync(lambda: "rn-large" not in (three.get_attribute("class") or ""), 5, "no large tile")

    # the info panel: figures and the stream's recent events
    one.get_by_role("button", name="Info Cam 1").click()
    panel = one.locator(".rn-infopanel")
    panel.wait_for(state="visible")
    wait_until_sync(lambda: int(panel.get_attribute("data-events") or 0) >= 1, 10, "the stream's events")
    text = panel.text_content() or ""
    assert "uptime" in text and "restarts" in text and "dropped" in text, text
    assert "playing" in (panel.locator(".rn-info-events").text_content() or "")
    assert_inside(panel, one, "the info panel")
    nb.shot("info")
    one.get_by_role("button", name="Info Cam 1").click()
    panel.wait_for(state="hidden")
    assert nb.errors() == []


DOCS = REPO / "docs"


def test_the_pictures_of_the_readme(open_notebook, lab, camera_factory):
    """The README's screenshots: the grid, the expanded view, the info panel, the wall. Kept in the test's
    artifacts; with RN_DOCS=1 also written to docs/. Four cameras with different pictures, and a demo://
    stream whose expanded view must show the tile's moment (one source relay, no FFmpeg of its own)."""
    cams = [
        ("Front door", camera_factory(pattern="ball", width=640, height=360, fps=15)),
        ("Yard", camera_factory(pattern="smpte", width=640, height=360, fps=15, horizontal_speed=2)),
        ("Garage", camera_factory(pattern="pinwheel", width=640, height=360, fps=15)),
    ]
    for label, cam in cams:
        lab.api("POST", "streams", {"url": cam.url, "label": label})
    demo = lab.api("POST", "streams", {"url": "demo://mandelbrot?size=640x360&fps=15", "label": "Lobby"})
    nb = open_notebook(["import rtsp_notebook as rn\nhub = rn.connect()\ngrid = hub.grid(columns=2)\ngrid"])
    page = nb.page
    page.set_viewport_size({"width": 1280, "height": 1000})
    nb.run_all_and_wait()
    labels = [label for label, _ in cams] + ["Lobby"]
    for label in labels:
        t = tile(page, label)
        t.scroll_into_view_if_needed()
        wait_more_frames(t, 10, timeout=30)
    wait_until_sync(
        lambda: "fps" in (tile(page, "Lobby").locator(".rn-detail").text_content() or ""), 20, "rates"
    )
    page.locator(".rtsp-notebook").scroll_into_view_if_needed()
    shots = {"grid": nb.shot("readme-grid")}

    lobby = tile(page, "Lobby")
    lobby.get_by_role("button", name="Expand Lobby").click()
    dialog = page.locator("dialog.rn-expanded")
    wait_until_sync(lambda: int(dialog.get_attribute("data-frames") or 0) >= 10, 20, "expanded frames")
    wait_until_sync(lambda: "fps" in (dialog.locator(".rn-detail").text_content() or ""), 10, "its figures")
    # the expanded view of a demo:// stream watches the same source relay as its tile: one FFmpeg
    stats = lab.api("GET", f"streams/{demo['id']}/stats")
    assert sorted(r["profile"] for r in stats["relays"]) == ["source"], stats["relays"]
    shots["expanded"] = nb.shot("readme-expanded")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    yard = tile(page, "Yard")
    yard.get_by_role("button", name="Info Yard").click()
    wait_until_sync(
        lambda: int(yard.locator(".rn-infopanel").get_attribute("data-events") or 0) >= 1, 10, "events"
    )
    shots["info"] = nb.shot("readme-info")
    yard.get_by_role("button", name="Info Yard").click()

    page.set_viewport_size({"width": 1920, "height": 1080})
    page.get_by_role("button", name="Wall", exact=True).click()
    root = page.locator(".rtsp-notebook .rn-root")
    wait_until_sync(lambda: root.get_attribute("data-wall") == "fullscreen", 10, "the wall")
    assert root.get_attribute("data-wall-shape") == "2x2"  # columns=2
    page.mouse.move(960, 540)
    shots["wall"] = nb.shot("readme-wall")
    page.keyboard.press("Escape")
    if os.environ.get("RN_DOCS") == "1":
        for name, shot in shots.items():
            shutil.copyfile(shot, DOCS / f"{name}.png")
    assert nb.errors() == []


def test_notebook7_wall_expanded_view_and_info(open_notebook, lab, camera_factory):
    camera = camera_factory(width=320, height=180, fps=10, keyint=10)
    labels = _same_camera_streams(lab, camera, 2)
    nb = open_notebook(["import rtsp_notebook as rn\ngrid = rn.connect().grid()\ngrid"], ui="notebook")
    page = nb.page
    nb.run_all_and_wait()
    first = tile(page, labels[0])
    wait_more_frames(first, 3)
    first.get_by_role("button", name=f"Info {labels[0]}").click()
    panel = first.locator(".rn-infopanel")
    wait_until_sync(lambda: int(panel.get_attribute("data-events") or 0) >= 1, 10, "the stream's events")
    nb.shot("nb7-info")
    first.get_by_role("button", name=f"Info {labels[0]}").click()

    first.get_by_role("button", name=f"Expand {labels[0]}").click()
    dialog = page.locator("dialog.rn-expanded")
    wait_until_sync(lambda: int(dialog.get_attribute("data-frames") or 0) >= 3, 20, "expanded frames")
    wait_until_sync(
        lambda: "rn-playing" in (dialog.locator(".rn-badge").get_attribute("class") or ""), 10, "badge"
    )
    nb.shot("nb7-expanded")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")

    root = page.locator(".rtsp-notebook .rn-root")
    page.get_by_role("button", name="Wall", exact=True).click()
    wait_until_sync(lambda: root.get_attribute("data-wall") == "fullscreen", 10, "the wall")
    for label in labels:
        assert_in_viewport(tile(page, label), f"{label} on the wall")
    nb.shot("nb7-wall")
    page.keyboard.press("Escape")
    wait_until_sync(lambda: root.get_attribute("data-wall") is None, 10, "Escape to leave")
    assert nb.errors() == []
