"""The main job, end to end: the quickstart notebook, run in a real JupyterLab and in Chromium, shows
its demo cameras live in the grid (no camera needed)."""

from __future__ import annotations

from pathlib import Path

import nbformat

from .harness.helpers import wait_until_sync

QUICKSTART = Path(__file__).parent.parent / "notebooks" / "01_quickstart.ipynb"


def test_the_quickstart_plays_its_demo_cameras_in_jupyterlab(open_notebook, lab):
    nb = nbformat.read(QUICKSTART, as_version=4)
    notebook = open_notebook([c.source for c in nb.cells if c.cell_type == "code"])
    notebook.run_all_and_wait(timeout=120)
    page = notebook.page
    tiles = page.locator(".rn-tile")
    wait_until_sync(lambda: tiles.count() == 3, 30, "three demo tiles")

    for i in range(3):  # a tile starts once it is on screen
        tile = tiles.nth(i)
        tile.scroll_into_view_if_needed()
        wait_until_sync(lambda t=tile: int(t.get_attribute("data-frames") or 0) > 2, 40, f"tile {i} decoding")
    assert sorted(s["label"] for s in lab.api("GET", "streams")) == ["mandelbrot", "smptebars", "testsrc2"]
    assert notebook.errors() == []
