"""The grid's two ways of playing, in a real JupyterLab (under ``/user/test/``) in Debian's Chromium: the
camera's own H.264 decoded by WebCodecs in a Worker (``data-codec="h264"``, tag "H.264") when the page is a
secure context, else MPEG-1 decoded by JSMpeg (``data-codec="mpeg1"``, tag "MPEG-1"), and the fallback from
H.264 to MPEG-1 when the stream is something the page cannot decode (an H.265 camera).

The page is on ``http://127.0.0.1`` (a secure context), or on ``http://lab.test`` (Chromium maps the name to
127.0.0.1; not a secure context, so no WebCodecs). An H.264 tile's canvas belongs to its Worker (an
OffscreenCanvas): its pixels are read from element screenshots, for both paths alike. Page-side facts come
from the page: the stream sockets Playwright sees (their ``codec`` and ``profile``, open or closed) and the
Workers it sees (an H264Player's Worker runs from a ``blob:`` URL). Screenshots of every state go to the
test's tmp_path.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from rtsp_notebook.store import StreamStore

from .harness.browser import LabServer, NotebookPage, launch_chromium
from .harness.grid import frames, grid_cells, tile, wait_more_frames, wait_phase
from .harness.require import require_browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, WebSocket

IDLE_TIMEOUT_S = 1.0
INSECURE_HOST = "lab.test"  # resolved to 127.0.0.1 by Chromium: plain HTTP on a name that is not localhost


@pytest.fixture(scope="module")
def _lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    # relays stop 1 s after their last viewer; remote access lets the page come as http://lab.test
    extra = [f"--RtspNotebookApp.idle_timeout={IDLE_TIMEOUT_S}", "--ServerApp.allow_remote_access=True"]
    with LabServer(tmp_path_factory.mktemp("lab"), extra_args=extra) as server:
        yield server


@pytest.fixture
def browser() -> Iterator[Browser]:
    """The harness's Chromium, which also resolves lab.test to 127.0.0.1."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1")
        try:
            yield chromium
        finally:
            chromium.close()


class InsecureNotebookPage(NotebookPage):
    """A notebook opened as ``http://lab.test:PORT/...``: the same server, not a secure context."""

    @property
    def url(self) -> str:
        parts = urlsplit(super().url)
        return parts._replace(netloc=f"{INSECURE_HOST}:{parts.port}").geturl()


class Sockets:
    """The page's stream sockets as Playwright sees them (register before the page loads)."""

    def __init__(self, page: Page) -> None:
        self.seen: list[WebSocket] = []
        page.on("websocket", self._on_socket)

    def _on_socket(self, socket: WebSocket) -> None:
        if "/rtsp/ws/stream" in socket.url:
            self.seen.append(socket)

    @staticmethod
    def describe(socket: WebSocket) -> tuple[str, str]:
        """(profile, codec) of a stream socket."""
        query = parse_qs(urlsplit(socket.url).query)
        return query["profile"][0], query["codec"][0]

    def opened(self) -> list[tuple[str, str]]:
        return [self.describe(s) for s in self.seen]

    def open(self) -> list[tuple[str, str]]:
        return [self.describe(s) for s in self.seen if not s.is_closed()]


def blob_workers(page: Page) -> int:
    """The H264Players' Workers running in the page (each starts from a Blob URL)."""
    return sum(1 for worker in page.workers if worker.url.startswith("blob:"))


def pixels(locator: Locator) -> np.ndarray:
    """What the tile's (or the dialog's) canvas shows, from an element screenshot: height x width x RGB."""
    png = locator.locator("canvas").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def changed(first: np.ndarray, second: np.ndarray) -> float:
    """The share of the pixels that changed visibly between two screenshots of the same element."""
    assert first.shape == second.shape
    return float((np.abs(first - second).max(axis=2) > 24).mean())


def assert_plays(nb: NotebookPage, locator: Locator, shot: Path) -> None:
    """Pictures keep coming, are not black, and change; a screenshot of the page goes to ``shot``."""
    wait_more_frames(locator, 5)
    first = pixels(locator)
    wait_more_frames(locator, 10)
    second = pixels(locator)
    assert first.max() > 40, "the canvas shows a picture, not black"
    assert changed(first, second) > 0.0005, "the pictures change"
    nb.screenshot(shot)


def expand(nb: NotebookPage, page: Page, locator: Locator, label: str) -> Locator:
    """Open a tile's expanded view and wait for its first 10 pictures; the dialog."""
    locator.get_by_role("button", name=f"Expand {label}").click()
    dialog = page.locator("dialog.rn-expanded")
    dialog.wait_for(state="visible")
    nb.wait_until(lambda: int(dialog.get_attribute("data-frames") or 0) >= 10, 20, "expanded frames")
    return dialog


def assert_expanded_plays(nb: NotebookPage, dialog: Locator) -> None:
    """The expanded view's pictures are not black and change over 15 more pictures."""
    first = pixels(dialog)
    nb.wait_until(lambda: int(dialog.get_attribute("data-frames") or 0) >= 25, 20, "more expanded frames")
    assert first.max() > 40 and changed(first, pixels(dialog)) > 0.0005, "the expanded view plays"


# the figures line as it reads: the tag, the separator the stylesheet puts before the detail, the detail
FIGURES = """(el) => {
  const tag = el.querySelector('.rn-codec'), detail = el.querySelector('.rn-detail');
  const before = getComputedStyle(detail, '::before').content;
  const separator = before && before !== 'none' ? JSON.parse(before) : '';
  return `${tag.textContent} ${separator}${detail.textContent}`;
}"""


def wait_figures(nb: NotebookPage, locator: Locator) -> str:
    """The figures line once it shows a rate, as the page shows it: "<tag> · <fps> fps · <kb/s> kb/s"."""
    detail = locator.locator(".rn-detail")
    nb.wait_until(lambda: "fps" in (detail.text_content() or ""), 20, "the fps figure")
    return str(locator.locator(".rn-figures").evaluate(FIGURES))


def test_h264_tiles_play_pause_resume_stop_expand_and_close(
    open_notebook, page: Page, lab: LabServer, camera_factory, tmp_path: Path
) -> None:
    sockets = Sockets(page)
    cam_a, cam_b = camera_factory(), camera_factory()
    nb = open_notebook(grid_cells(("Cam A", cam_a), ("Cam B", cam_b)))
    assert page.evaluate("window.isSecureContext") is True
    nb.run_all_and_wait()
    a, b = tile(page, "Cam A"), tile(page, "Cam B")
    for locator in (a, b):
        wait_phase(locator, "playing")
        wait_more_frames(locator, 3)
        assert locator.get_attribute("data-codec") == "h264"
        assert locator.locator(".rn-codec").text_content() == "H.264"
        assert locator.get_attribute("data-video-size") == "640x360"
        # drawn no larger than the tile shows it (the Worker scales each 640x360 picture to the box)
        drawn = locator.locator("canvas").evaluate(
            "c => [c.width, c.height, Math.round(c.clientWidth * devicePixelRatio)]"
        )
        assert drawn[0] == min(640, drawn[2]) and drawn[0] < 640, drawn
        assert abs(drawn[1] - drawn[0] * 9 / 16) <= 1, drawn
    assert_plays(nb, a, tmp_path / "h264-grid.png")
    figures = wait_figures(nb, a)
    assert figures.startswith("H.264 · ") and figures.endswith(" kb/s"), figures
    assert sorted(sockets.open()) == [("grid", "h264"), ("grid", "h264")]
    assert sockets.opened() == sockets.open(), "no socket was replaced"
    assert blob_workers(page) == 2

    # pause and play, stop and play: the same player and socket; nothing new is opened
    a.get_by_role("button", name="Pause Cam A").click()
    wait_phase(a, "paused")
    frozen = frames(a)
    wait_more_frames(b, 15)  # B plays on for a second; A stays still
    assert frames(a) == frozen
    nb.screenshot(tmp_path / "h264-paused.png")
    a.get_by_role("button", name="Play Cam A").click()
    nb.wait_until(lambda: frames(a) > frozen, 5, "a picture after Play")
    wait_phase(a, "playing")
    a.get_by_role("button", name="Stop Cam A").click()
    wait_phase(a, "stopped")
    stopped = frames(a)
    wait_more_frames(b, 15)
    assert frames(a) == stopped
    a.get_by_role("button", name="Play Cam A").click()
    nb.wait_until(lambda: frames(a) > stopped, 10, "pictures after Stop and Play")
    wait_phase(a, "playing")
    assert len(sockets.opened()) == 2 and blob_workers(page) == 2
    assert a.get_attribute("data-codec") == "h264"

    # the expanded view: the full profile on the same path, with the same figures; A pauses meanwhile
    dialog = expand(nb, page, a, "Cam A")
    assert dialog.get_attribute("data-codec") == "h264"
    assert ("full", "h264") in sockets.open()
    assert blob_workers(page) == 3
    wait_phase(a, "paused")
    figures = wait_figures(nb, dialog)
    assert figures.startswith("H.264 · "), figures
    assert_expanded_plays(nb, dialog)
    nb.screenshot(tmp_path / "h264-expanded.png")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    nb.wait_until(lambda: ("full", "h264") not in sockets.open(), 10, "the full view's socket to close")
    nb.wait_until(lambda: blob_workers(page) == 2, 10, "the full view's Worker to end")
    wait_phase(a, "playing")
    wait_more_frames(a, 3)

    # closing the notebook ends every Worker and every socket
    page.evaluate("() => { window.jupyterapp.commands.execute('application:close-all'); }")
    page.get_by_role("button", name="Discard").click()
    page.locator(".rn-tile").first.wait_for(state="detached")
    nb.wait_until(lambda: not sockets.open(), 10, "every stream socket to close")
    nb.wait_until(lambda: blob_workers(page) == 0, 10, "every decoder Worker to end")
    nb.wait_until(lambda: not lab.ffmpeg_processes(), 10 + IDLE_TIMEOUT_S, "no FFmpeg after the idle timeout")
    assert nb.errors() == []


def test_tiles_show_the_substream_and_the_expanded_view_the_main_stream(
    open_notebook, page: Page, lab: LabServer, camera_factory, tmp_path: Path
) -> None:
    """A stream with a ``sub_url``: its tile plays the small substream, its expanded view the main stream
    (an odd size, 854x480: 854 is not a multiple of 16, so the SPS crops the coded 864x480)."""
    main, sub = camera_factory(width=854, height=480), camera_factory(width=320, height=180)
    cells = [
        "import rtsp_notebook as rn\nhub = rn.connect()\n"
        f"hub.add({main.url!r}, label='Door', sub_url={sub.url!r})",
        "grid = hub.grid(renderer='canvas2d')\ngrid",
    ]
    nb = open_notebook(cells)
    nb.run_all_and_wait()
    door = tile(page, "Door")
    wait_phase(door, "playing")
    assert_plays(nb, door, tmp_path / "substream-tile.png")
    assert door.get_attribute("data-codec") == "h264"
    assert door.get_attribute("data-video-size") == "320x180"
    dialog = expand(nb, page, door, "Door")
    assert dialog.get_attribute("data-video-size") == "854x480"
    assert dialog.get_attribute("data-codec") == "h264"
    assert_expanded_plays(nb, dialog)
    nb.screenshot(tmp_path / "substream-expanded.png")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert nb.errors() == []


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_demo_stream_plays_h264(open_notebook, page: Page, lab: LabServer, tmp_path: Path, ui: str) -> None:
    sockets = Sockets(page)
    lab.api("POST", "streams", {"url": "demo://testsrc2?size=640x360&fps=25", "label": "Demo"})
    nb = open_notebook(["import rtsp_notebook as rn\nrn.connect().grid(renderer='canvas2d')"], ui=ui)
    nb.run_all_and_wait()
    demo = tile(page, "Demo")
    wait_phase(demo, "playing")
    assert_plays(nb, demo, tmp_path / f"h264-demo-{ui}.png")
    assert demo.get_attribute("data-codec") == "h264"
    assert wait_figures(nb, demo).startswith("H.264 · ")
    assert sockets.opened() == [("grid", "h264")]
    assert nb.errors() == []


def test_through_the_kernel_the_tiles_play_h264_too(
    open_notebook_without_extension, lab_without_extension: LabServer, camera, tmp_path: Path
) -> None:
    """Without the extension the grid talks to the kernel over its comm: the same H.264, the same Worker."""
    store = Path(lab_without_extension.state / "streams.db")  # the kernels' store outlives their tests
    if store.exists():
        with StreamStore(store) as streams:
            for record in streams.list():
                streams.delete(record.id)
    nb = open_notebook_without_extension(grid_cells(("Cam", camera)))
    nb.run_all_and_wait()
    page = nb.page
    cam = tile(page, "Cam")
    wait_phase(cam, "playing")
    assert_plays(nb, cam, tmp_path / "h264-kernel.png")
    assert page.locator(".rtsp-notebook .rn-root").get_attribute("data-connection") == "kernel"
    assert cam.get_attribute("data-codec") == "h264"
    assert blob_workers(page) == 1
    nb.execute("grid.close()")
    cam.wait_for(state="detached")
    nb.wait_until(lambda: blob_workers(page) == 0, 10, "the decoder Worker to end")
    assert nb.errors(ignore=["404 (Not Found)"]) == []  # the page's health check: no extension


def test_not_a_secure_context_plays_mpeg1(browser: Browser, lab: LabServer, camera, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    try:
        page = context.new_page()
        sockets = Sockets(page)
        path = lab.write_notebook("insecure", grid_cells(("Cam", camera)))
        nb = InsecureNotebookPage(page, lab, path.relative_to(lab.root).as_posix()).open()
        assert urlsplit(page.url).hostname == INSECURE_HOST
        assert page.evaluate("window.isSecureContext") is False
        nb.run_all_and_wait()
        cam = tile(page, "Cam")
        wait_phase(cam, "playing")
        assert_plays(nb, cam, tmp_path / "insecure-mpeg1.png")
        assert cam.get_attribute("data-codec") == "mpeg1"
        tag = cam.locator(".rn-codec")
        assert tag.text_content() == "MPEG-1"
        assert "secure context" in (tag.get_attribute("title") or "")
        assert wait_figures(nb, cam).startswith("MPEG-1 · ")
        assert sockets.opened() == [("grid", "mpeg1")], "H.264 is never tried"
        assert blob_workers(page) == 0
        # the expanded view on MPEG-1 (JSMpeg on Canvas2D) takes a snapshot of the picture shown too
        cam.get_by_role("button", name="Expand Cam").click()
        dialog = page.locator("dialog.rn-expanded")
        nb.wait_until(lambda: int(dialog.get_attribute("data-frames") or 0) >= 5, 20, "expanded frames")
        assert dialog.get_attribute("data-codec") == "mpeg1"
        with page.expect_download() as download:
            dialog.get_by_role("button", name="Snapshot of Cam").click()
        with Image.open(download.value.path()) as shot:
            size = tuple(int(n) for n in (dialog.get_attribute("data-video-size") or "0x0").split("x"))
            assert shot.format == "JPEG" and shot.size == size, (shot.size, size)  # the picture as decoded
            assert max(shot.convert("L").getextrema()) > 40, "the snapshot is not black"
        nb.screenshot(tmp_path / "insecure-expanded.png")
        page.keyboard.press("Escape")
        assert nb.errors() == []
    finally:
        context.close()


def plays_mpeg1(nb: NotebookPage, page: Page, label: str, shot: Path, why: str) -> Locator:
    """The tile of ``label`` ends on the MPEG-1 path, plays, and its tag's tooltip says ``why``."""
    locator = tile(page, label)
    nb.wait_until(lambda: locator.get_attribute("data-codec") == "mpeg1", 20, "the MPEG-1 path")
    wait_phase(locator, "playing")
    assert_plays(nb, locator, shot)
    tag = locator.locator(".rn-codec")
    assert tag.text_content() == "MPEG-1"
    assert why in (tag.get_attribute("title") or ""), tag.get_attribute("title")
    return locator


def test_an_h265_camera_falls_back_to_mpeg1(
    open_notebook, page: Page, lab: LabServer, camera_factory, tmp_path: Path
) -> None:
    sockets = Sockets(page)
    cam = camera_factory(codec="h265")
    nb = open_notebook(grid_cells(("HEVC", cam)))
    nb.run_all_and_wait()
    hevc = plays_mpeg1(nb, page, "HEVC", tmp_path / "h265-fallback.png", "H.265")
    figures = wait_figures(nb, hevc)
    # with the grid transcode's bitrate ceiling after the rate
    assert figures.startswith("MPEG-1 · ") and figures.endswith(" kb/s (max 1500)"), figures
    # H.264 was tried once: its socket closed and its Worker ended
    assert sockets.opened() == [("grid", "h264"), ("grid", "mpeg1")]
    assert sockets.open() == [("grid", "mpeg1")]
    nb.wait_until(lambda: blob_workers(page) == 0, 10, "the H.264 Worker to end")

    # the expanded view (the full profile) falls back too, once: opened again, it goes to MPEG-1 at once
    dialog = page.locator("dialog.rn-expanded")
    for _ in range(2):
        hevc.get_by_role("button", name="Expand HEVC").click()
        dialog.wait_for(state="visible")
        nb.wait_until(lambda: int(dialog.get_attribute("data-frames") or 0) >= 5, 20, "expanded frames")
        assert dialog.get_attribute("data-codec") == "mpeg1"
        nb.screenshot(tmp_path / "h265-expanded.png")
        page.keyboard.press("Escape")
        dialog.wait_for(state="detached")
    full = [codec for profile, codec in sockets.opened() if profile == "full"]
    assert full == ["h264", "mpeg1", "mpeg1"]
    nb.wait_until(lambda: sockets.open() == [("grid", "mpeg1")], 10, "the full views' sockets to close")
    assert blob_workers(page) == 0
    assert nb.errors() == []


def test_an_mjpeg_camera_plays_mpeg1(
    open_notebook, page: Page, lab: LabServer, camera_factory, tmp_path: Path
) -> None:
    """MJPEG cannot be copied into MPEG-TS: the server transcodes the camera directly, and the tile that
    asked for H.264 is told the stream is MPEG-1 and plays it with JSMpeg."""
    sockets = Sockets(page)
    cam = camera_factory(codec="mjpeg")
    nb = open_notebook(grid_cells(("MJPEG", cam)))
    nb.run_all_and_wait()
    plays_mpeg1(nb, page, "MJPEG", tmp_path / "mjpeg-mpeg1.png", "the server sends MPEG-1 only")
    assert sockets.open() == [("grid", "mpeg1")]
    nb.wait_until(lambda: blob_workers(page) == 0, 10, "the H.264 Worker to end")
    assert nb.errors() == []
