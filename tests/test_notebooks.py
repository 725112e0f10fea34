"""Every notebook in notebooks/ runs top to bottom in a real kernel, with no camera and no Jupyter server
(so `rn.connect()` runs its in-process service)."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    env_db = os.environ.get("RTSP_NOTEBOOK_DB")
    os.environ["RTSP_NOTEBOOK_DB"] = str(tmp_path / "streams.db")  # the kernel inherits it
    try:
        NotebookClient(
            nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        if env_db is None:
            del os.environ["RTSP_NOTEBOOK_DB"]
        else:
            os.environ["RTSP_NOTEBOOK_DB"] = env_db
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # each shows a picture: a snapshot (quickstart), a plot (stats), a plot and a frame (frames)
    assert any("image/png" in o.get("data", {}) for o in outputs), "no picture in the outputs"
    if path.name == "01_quickstart.ipynb":
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_a_saved_notebook_holds_no_password(camera, tmp_path, monkeypatch):
    """Every public output of a stream with a password: reprs, HTML, tables, the grid's widget state
    (nbclient stores it in the notebook's metadata), an error message, a log line; then the saved file.
    The URL comes from the environment, as a notebook should take it (its source would hold it else)."""
    password = "n0tebook-pw"
    monkeypatch.setenv("CAMERA_URL", camera.url_with("admin", password))  # the kernel inherits it
    cells = [
        "import logging, os, rtsp_notebook as rn\nlogging.basicConfig(level=logging.DEBUG)\n"
        f"hub = rn.connect(local=True, store={str(tmp_path / 's.db')!r})",
        "cam = hub.add(os.environ['CAMERA_URL'], label='Door', probe=True)\ncam",
        "hub",
        "hub.streams()",
        "print(hub.list(), cam.stats())",
        "try:\n    hub.add(os.environ['CAMERA_URL'])\nexcept rn.ConflictError as exc:\n    print(exc)",
        "next(iter(cam.frames(fps=None, width=160, count=1))).shape",
        "hub.stats()",
        "hub.events()",
        "hub.grid([cam])",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    saved = tmp_path / "saved.ipynb"
    nbformat.write(nb, saved)
    text = saved.read_text()
    assert "admin:***@" in text  # the masked URL is there
    assert "application/vnd.jupyter.widget-state+json" in text  # with the grid's state
    assert password not in text
