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
