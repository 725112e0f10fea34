"""Fixtures for the widget's browser tests: a JupyterLab server per module, Chromium and a page per test, and
``open_notebook`` to write, open and get ready one notebook::

    def test_label(open_notebook):
        nb = open_notebook(["import ipywidgets", "ipywidgets.Label('hi')"])  # JupyterLab; ui="notebook": NB7
        nb.run_all_and_wait()
        nb.page.locator(".widget-label", has_text="hi").wait_for()
        assert nb.errors() == []

The server is shared by the tests of one module (it takes about 5 s to start); after each test it is reset:
no kernel, no stream in its store, no FFmpeg. Playwright (the driver and Chromium, about 1.2 s) starts and
stops with each test: while started, its sync API marks its event loop as running in the main thread, and
pytest-jupyter's autouse fixtures (``jp_asyncio_loop``, ``jp_server_cleanup``) of the next test would take
that loop for theirs and close it (``loop.py`` switches them off in every test that uses ``browser``). For
the same reason a test with a page runs async clients in a thread. Tests using these fixtures get the
``browser`` marker (``pytest -m "not browser"`` skips them). A pytest plugin, registered by tests/conftest.py.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from .browser import LabServer, NotebookPage, launch_chromium
from .require import require_browser
from .screens import screen_path

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

BROWSER_FIXTURES = {"browser", "page", "lab", "lab_without_extension"}  # every other one uses one of these
_CALL_REPORT = pytest.StashKey[pytest.TestReport]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: needs Chromium and a JupyterLab server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report  # the page fixture screenshots a failed test
    return report


@pytest.fixture(scope="module")
def _lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with LabServer(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def _lab_server_without_extension(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with LabServer(tmp_path_factory.mktemp("lab-no-ext"), extension=False) as server:
        yield server


@pytest.fixture
def lab(_lab_server: LabServer) -> Iterator[LabServer]:
    """The module's ``jupyter lab`` with the extension (``/user/test/``, a token, a fresh store); reset after
    the test: no kernel, no stream, no FFmpeg."""
    yield _lab_server
    _lab_server.reset()


@pytest.fixture
def lab_without_extension(_lab_server_without_extension: LabServer) -> Iterator[LabServer]:
    """The module's ``jupyter lab`` with the rtsp_notebook server extension disabled (as in Voilà or VS
    Code: the widget falls back to comms); reset after the test."""
    yield _lab_server_without_extension
    _lab_server_without_extension.reset()


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium driven by Playwright, for one test (see the module's docstring)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A page in a fresh browser context (own cookies and storage), closed after the test. Its last state
    is kept as a screenshot in the test's artifacts (screens.py): ``NN-final.png``, or ``NN-failed.png``
    (also in its tmp_path) when the test failed."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        yield page
        report = request.node.stash.get(_CALL_REPORT, None)
        failed = report is not None and report.failed
        if not page.is_closed():
            shot = screen_path("failed" if failed else "final")
            page.screenshot(path=str(shot), full_page=True)
            if failed:
                shutil.copyfile(shot, tmp_path / "failed.png")
                print(f"screenshot of the failed test: {shot}")
    finally:
        context.close()


def _opener(server: LabServer, page: Page, request: pytest.FixtureRequest) -> Callable[..., NotebookPage]:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name).strip("-")[:80]
    count = 0

    def make(
        cells: Sequence[str],
        ui: Literal["lab", "notebook"] = "lab",
        *,
        name: str | None = None,
        kernelspec: bool = True,
    ) -> NotebookPage:
        nonlocal count
        count += 1
        path = server.write_notebook(name or f"{stem}-{count}", cells, kernelspec=kernelspec)
        return NotebookPage(page, server, path.relative_to(server.root).as_posix(), ui).open()

    return make


@pytest.fixture
def open_notebook(lab: LabServer, page: Page, request: pytest.FixtureRequest) -> Callable[..., NotebookPage]:
    """``open_notebook(cells, ui="lab", *, name=None, kernelspec=True)``: writes a notebook of code cells
    into ``lab``'s root dir, opens it in the test's page (``ui="notebook"``: Notebook 7) and waits until its
    kernel is idle. The cells are not run yet: ``nb.run_all_and_wait()``."""
    return _opener(lab, page, request)


@pytest.fixture
def open_notebook_without_extension(
    lab_without_extension: LabServer, page: Page, request: pytest.FixtureRequest
) -> Callable[..., NotebookPage]:
    """``open_notebook`` on the server without the rtsp_notebook extension."""
    return _opener(lab_without_extension, page, request)
