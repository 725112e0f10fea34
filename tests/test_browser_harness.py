"""The browser harness itself: JupyterLab and Notebook 7 under a base URL run a notebook and render an
ipywidget in Chromium; the extension can be switched off; no kernel or FFmpeg outlives a test or a server."""

from __future__ import annotations

import psutil
import pytest

from .harness.browser import BASE_URL, ApiError, LabServer, NotebookPage
from .harness.helpers import wait_until_sync

CELLS = ["6 * 7", "import ipywidgets\nipywidgets.Label('hello widget')"]


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_notebook_runs_and_renders_an_ipywidget(open_notebook, lab, ui):
    # no kernelspec in the notebook: only the harness's settings spare the "Select Kernel" dialog
    nb = open_notebook(CELLS, ui, kernelspec=False)
    assert lab.base.endswith(BASE_URL)
    route = {"lab": "lab/tree/", "notebook": "notebooks/"}[ui]
    assert nb.page.url.startswith(lab.base + route), nb.page.url

    cells = nb.run_all_and_wait()

    assert cells[0]["outputs"][0]["data"]["text/plain"] == "42"
    nb.page.locator(".jp-OutputArea-output", has_text="42").first.wait_for()
    nb.page.locator(".widget-label", has_text="hello widget").wait_for()  # rendered by the widget manager
    # the kernel runs with the server's environment: the same stream store
    db = nb.execute("import os; print(os.environ['RTSP_NOTEBOOK_DB'])").strip()
    assert db == str(lab.state / "streams.db")
    assert nb.errors() == []


def test_the_extension_can_be_disabled(lab, lab_without_extension):
    assert lab.api("GET", "health")["status"] == "healthy"
    assert lab_without_extension.request("GET", "api/status").status == 200  # the server itself answers
    with pytest.raises(ApiError) as missing:
        lab_without_extension.api("GET", "health")
    assert missing.value.status == 404


def test_page_errors_are_collected_and_the_known_one_filtered(page, lab):
    nb = NotebookPage(page, lab, "unused.ipynb")
    page.set_content("<p>empty</p>")
    page.evaluate("console.error(\"Cannot read properties of undefined (reading 'schema')\")")
    page.evaluate("console.error('widget: no socket')")
    page.evaluate("setTimeout(() => { throw new Error('boom in the widget') })")
    nb.wait_until(lambda: nb.page_errors, 10, "the page error")  # time.sleep would not let it arrive
    assert len(nb.console_errors) == 2
    errors = nb.errors()
    assert errors[0].startswith("Error: boom in the widget"), errors
    assert errors[1:] == ["widget: no socket"]
    assert nb.errors(ignore=["boom", "socket"]) == []


def test_reset_shuts_the_kernels_down(open_notebook, lab):
    nb = open_notebook(["1 + 1"])
    nb.run_all_and_wait()
    kernels = lab.kernel_processes()
    assert len(kernels) == 1
    assert len(lab.checked("GET", "api/kernels")) == 1

    lab.reset()

    assert lab.checked("GET", "api/kernels") == []
    assert lab.checked("GET", "api/sessions") == []
    assert lab.kernel_processes() == []
    assert not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE for k in kernels)


def test_stop_leaves_no_kernel_and_no_ffmpeg(tmp_path):
    server = LabServer(tmp_path).start()
    try:
        server.checked("POST", "api/kernels", {"name": "python3"})
        demo = {"url": "demo://smptebars?size=320x180&fps=10", "options": {"keep_alive": True}}
        server.api("POST", "streams", demo)  # a relay that runs with no viewer
        kernels = wait_until_sync(server.kernel_processes, 60, "a kernel process")
        ffmpegs = wait_until_sync(server.ffmpeg_processes, 30, "an FFmpeg relay")
        tree = server.descendants()
        assert {*kernels, *ffmpegs} <= set(tree)
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode is not None
    _, alive = psutil.wait_procs(tree, timeout=0)
    assert alive == []
    assert "Shutting down 1 kernel" in server.log_tail(100_000)  # the graceful path ran, not only kill
