"""The runs: each drives a fresh notebook in a fresh Chromium page of one ``jupyter lab``, and returns its
samples (the figures are described in ``bench.browser``'s command, ``bench/browser/__main__.py``).

The in-page JavaScript lives in ``bench/browser/js/``, one page function a file (``script``).
"""

from __future__ import annotations

import contextlib
import functools
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bench.browser.processes import Snapshot, Tracker, chromium_tree
from tests.harness.browser import LabServer, NotebookPage, launch_chromium
from tests.harness.camera import TestCamera

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, FloatRect, Page, ViewportSize

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
# the CPU pages: a 1080p screen, left side bar closed, so that 16 tiles of the default size fit (6 columns)
CPU_VIEWPORT: ViewportSize = {"width": 1920, "height": 1080}
CAMERA = {"width": 640, "height": 360, "fps": 25, "keyint": 25}
LABELS = ("Front door", "Yard", "Garage", "Lobby")
# the screenshot's cameras: videotestsrc patterns that move and read well at tile size
SCREENSHOT_PATTERNS = ("ball", "smpte", "pinwheel", "spokes")
# 16 distinct demo patterns (every one but perlin, whose lavfi source alone costs FFmpeg ≈ 0.2 core at
# 640x360@15); the 4-tile case takes the first four: two moving, one still, one scrolling
DEMO_PATTERNS_ORDER = (
    "testsrc2", "smptebars", "gradients", "cellauto", "testsrc", "zoneplate", "life", "mandelbrot",
    "sierpinski", "colorspectrum", "rgbtestsrc", "yuvtestsrc", "pal75bars", "pal100bars", "smptehdbars",
    "color",
)  # fmt: skip
DEMO_QUERY = "size=640x360&fps=15"
FPS_TARGET = 14.0  # DESIGN §6: all 16 tiles ≥ 14 fps on 2 cores, Canvas2D
GRID_FPS = 15  # the grid profile's rate
WARM_FRAMES = 30  # every tile decoded this many pictures (2 s at 15 fps) before a CPU window opens
JS = Path(__file__).resolve().parent / "js"
INSECURE_HOST = "lab.test"  # Chromium maps it to 127.0.0.1: plain HTTP on a name that is not localhost


@functools.cache
def script(name: str) -> str:
    """The page function in ``bench/browser/js/<name>.js`` (for ``evaluate`` and ``wait_for_function``)."""
    return (JS / f"{name}.js").read_text()


def camera(pattern: str = "ball") -> TestCamera:
    """A GStreamer test camera (not started) of the size, rate and keyframe interval above."""
    return TestCamera(
        width=CAMERA["width"],
        height=CAMERA["height"],
        fps=CAMERA["fps"],
        keyint=CAMERA["keyint"],
        pattern=pattern,
    )


def close_quietly(browser: Browser) -> None:
    """Close Chromium; after Ctrl-C (which reaches Playwright's driver too) it may be gone already."""
    with contextlib.suppress(Exception):
        browser.close()


@contextlib.contextmanager
def session() -> Iterator[Bench]:
    """One ``jupyter lab`` and one headless Chromium for every run; on the way out no stream is left, and
    any process the server could not stop is killed. Chromium resolves ``lab.test`` to 127.0.0.1, and the
    server takes that Host: a page opened as ``http://lab.test:PORT`` is not a secure context (no WebCodecs:
    the tiles play MPEG-1 with JSMpeg). Every page runs ``js/instrument.js`` before its own scripts."""
    from playwright.sync_api import sync_playwright

    tracker = Tracker()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rn-bench-browser-")))
        stack.callback(tracker.kill_leftovers)  # after the server stopped (an ExitStack unwinds in reverse)
        server = stack.enter_context(LabServer(tmp, extra_args=["--ServerApp.allow_remote_access=True"]))
        playwright = stack.enter_context(sync_playwright())
        browser = launch_chromium(playwright, f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1")
        stack.callback(close_quietly, browser)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(30_000)
        context.add_init_script(script=script("instrument"))
        tracker.note(chromium_tree())
        bench = Bench(server, context, tracker)
        yield bench
        bench.fresh()


class InsecureNotebookPage(NotebookPage):
    """A notebook opened as ``http://lab.test:PORT/...``: the same server, not a secure context."""

    @property
    def url(self) -> str:
        parts = urlsplit(super().url)
        return parts._replace(netloc=f"{INSECURE_HOST}:{parts.port}").geturl()


def wait_attr(page: Page, locator: Any, name: str, value: str, timeout: float = 20.0) -> None:
    """Wait with a deadline until the locator's attribute has ``value`` (Playwright works meanwhile)."""
    deadline = time.monotonic() + timeout
    while locator.get_attribute(name) != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {name}={value!r}")
        page.wait_for_timeout(20)


@dataclass
class Bench:
    server: LabServer
    context: BrowserContext
    tracker: Tracker
    count: int = 0
    errors: list[str] = field(default_factory=list)
    shots: Path | None = None  # a folder: each CPU page saves a PNG of itself at the end of its window

    def fresh(self) -> None:
        """No kernel, no stream (their relays stop), no FFmpeg: the next streams start cold."""
        self.tracker.note(self.server.descendants())
        self.server.reset()

    @contextlib.contextmanager
    def notebook(
        self,
        name: str,
        adds: str,
        grid: str,
        viewport: ViewportSize = VIEWPORT,
        *,
        secure: bool = True,
        more: Sequence[str] = (),
    ) -> Iterator[NotebookPage]:
        """A fresh page with a fresh notebook, opened and its kernel idle (cells not run yet): its first cell
        connects and runs ``adds``, its second is ``grid``, then ``more`` cells. Not ``secure``: the page
        comes as ``http://lab.test:PORT`` (the tiles play MPEG-1)."""
        self.fresh()
        self.count += 1
        cells = [f"import rtsp_notebook as rn\nhub = rn.connect()\n{adds}", grid, *more]
        path = self.server.write_notebook(f"{name}-{self.count}", cells)
        page = self.context.new_page()
        try:
            page.set_viewport_size(viewport)
            kind = NotebookPage if secure else InsecureNotebookPage
            nb = kind(page, self.server, path.relative_to(self.server.root).as_posix()).open()
            assert page.evaluate("window.isSecureContext") is secure, "the page's secure context"
            self.tracker.note(chromium_tree())
            if viewport != VIEWPORT:
                page.evaluate(script("close_left"))
            page.evaluate(script("recorder"))
            yield nb
            self.errors += [f"{name}: {e}" for e in nb.errors()]
        finally:
            page.close()

    def run_all(self, nb: NotebookPage) -> None:
        nb.page.evaluate(script("run_all"), nb.path)

    def wait_cells(self, nb: NotebookPage) -> dict[str, Any]:
        """Wait until every cell ran and the kernel is idle; fail on a cell's error. Returns the recording."""
        done = nb.page.wait_for_function(script("cells_done"), arg=nb.path, timeout=60_000, polling=100)
        rec: dict[str, Any] = done.json_value()
        assert rec["runAllError"] is None, rec["runAllError"]
        for cell in nb.cells():
            failed = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
            assert not failed, f"a cell raised: {failed[0]['ename']}: {failed[0]['evalue']}"
        self.tracker.note(self.server.descendants())
        return rec

    # 1. cell run → first frame

    def first_frame(self, cameras: Sequence[TestCamera], resumes: int) -> tuple[dict[str, Any], list[float]]:
        n = len(cameras)
        labels = LABELS[:n]
        adds = "\n".join(
            f"hub.add({cam.url!r}, label={label!r})" for cam, label in zip(cameras, labels, strict=True)
        )
        with self.notebook(f"first-frame-{n}", adds, "hub.grid(renderer='canvas2d')") as nb:
            self.run_all(nb)
            nb.page.wait_for_function(script("first_frames"), arg=n, timeout=60_000, polling=100)
            sample = first_frame_sample(self.wait_cells(nb))
            resumed = [self.resume(nb, label) for label in labels[:resumes]]
        return sample, resumed

    # 2. resume

    def resume(self, nb: NotebookPage, label: str) -> float:
        page = nb.page
        tile = page.locator(".rn-tile").filter(has=page.locator(".rn-label", has_text=label))
        wait_attr(page, tile, "data-phase", "playing")
        tile.get_by_role("button", name=f"Pause {label}").click()
        wait_attr(page, tile, "data-phase", "paused")
        tile.locator(".rn-thumb").wait_for(state="visible", timeout=20_000)
        page.evaluate(script("arm_resume"), label)
        tile.get_by_role("button", name=f"Play {label}").click()
        rec = page.wait_for_function(script("resumed"), timeout=20_000, polling=50).json_value()
        return float(rec["frame"] - rec["click"])

    # 3. CPU and decoded fps

    def cpu(self, spec: TilesPage, window: float) -> dict[str, Any]:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        n = spec.count
        grid = "hub.grid(renderer='canvas2d'" + (f", columns={spec.columns})" if spec.columns else ")")
        with self.notebook(spec.name, spec.adds, grid, spec.viewport, secure=spec.secure) as nb:
            page = nb.page
            self.run_all(nb)
            self.wait_cells(nb)
            page.wait_for_function(script("tiles_ready"), arg={"count": n, "frames": 0})
            off = [t["label"] for t in page.evaluate(script("tiles"))["tiles"] if not t["onScreen"]]
            assert not off, f"tiles not wholly on screen (a tile out of view pauses): {off}"
            try:
                ready = {"count": n, "frames": spec.warm_frames}
                timeout = spec.warm_timeout * 1000
                page.wait_for_function(script("tiles_ready"), arg=ready, timeout=timeout, polling=200)
                warmed = True
            except PlaywrightTimeout:  # a tile that never warms up is a finding: it shows in its fps
                warmed = False
            self.tracker.note(self.server.descendants())
            before, start = Snapshot.take(self.server, spec.cameras), page.evaluate(script("tiles"))
            page.wait_for_timeout(window * 1000)  # the fixed measurement window
            after, end = Snapshot.take(self.server, spec.cameras), page.evaluate(script("tiles"))
            relays = {s["label"]: s for s in self.server.api("GET", "stats")}
            if self.shots is not None:
                self.shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(self.shots / f"{spec.name}-{self.count}.png"))
            errors = nb.errors()
        chromium = after.chromium_since(before)
        return {
            "tiles": n,
            "source": spec.source,
            "secure_context": spec.secure,
            "window_s": chromium["window_s"],
            "warmed_up": warmed,
            **chromium,
            **page_figures(start, end, chromium["renderer_main_thread"], errors, spec.fps_target),
            # the relay's own output rate (its last 5 s) and what it dropped for a slow viewer
            "relay_fps": {label: r["fps"] for label, r in relays.items()},
            # each relay's output kb/s, median over the streams, by profile: "source" is the camera's own
            # video (what an H.264 tile receives), "grid" the MPEG-1 transcode
            "relay_kbps_by_profile": relay_kbps(relays.values()),
            "relay_dropped_bytes_since_start": sum(r["dropped_bytes"] for r in relays.values()),
            **after.server_since(before),
        }


@dataclass(frozen=True)
class TilesPage:
    """A CPU page: ``count`` tiles of the streams its first cell adds (``adds``), on ``viewport``."""

    name: str
    adds: str
    count: int
    source: str  # what the streams are, for the JSON
    fps_target: float  # the rate a tile should hold (the source's, or the grid profile's for MPEG-1)
    secure: bool = True  # False: http://lab.test, the tiles play MPEG-1
    columns: int | None = None
    viewport: ViewportSize = field(default_factory=lambda: CPU_VIEWPORT)
    warm_frames: int = WARM_FRAMES
    warm_timeout: float = (
        60.0  # s for every tile to decode warm_frames pictures; then the window opens anyway
    )
    cameras: tuple[TestCamera, ...] = ()  # their processes' CPU is counted too


def demo_page(n: int) -> TilesPage:
    """``n`` tiles of ``demo://`` sources (an FFmpeg each on the server: lavfi, then x264, for H.264)."""
    patterns = DEMO_PATTERNS_ORDER[:n]
    # a loop, not a line per stream: 16 tiles of the default size fit under a short cell
    adds = f"for p in {list(patterns)!r}:\n    hub.add(f'demo://{{p}}?{DEMO_QUERY}', label=p)"
    return TilesPage(f"cpu-{n}", adds, n, f"demo://<pattern>?{DEMO_QUERY}: {', '.join(patterns)}", FPS_TARGET)


def relay_kbps(streams: Iterable[dict[str, Any]]) -> dict[str, float]:
    """The median output kb/s of the streams' relays, by profile (the API's stats of each stream)."""
    by: dict[str, list[float]] = {}
    for stream in streams:
        for relay in stream["relays"]:
            by.setdefault(relay["profile"], []).append(relay["kbps"])
    return {profile: round(statistics.median(values), 1) for profile, values in sorted(by.items())}


def first_frame_sample(rec: dict[str, Any]) -> dict[str, Any]:
    """The first-frame figures of one recording (recorder.js), in ms from t0 (right before 'run all')."""
    tiles = sorted(rec["tiles"].values(), key=lambda t: t["first"])
    shown = max(t["created"] for t in tiles)
    return {
        "first_tile_ms": round(tiles[0]["first"] - rec["t0"], 1),
        "last_tile_ms": round(tiles[-1]["first"] - rec["t0"], 1),
        "tiles_shown_ms": round(shown - rec["t0"], 1),
        # the relay's and the widget's part: all tiles in the page → first / last first picture
        "shown_to_first_ms": round(tiles[0]["first"] - shown, 1),
        "shown_to_last_ms": round(tiles[-1]["first"] - shown, 1),
        "cells_done_ms": round(rec["runAll"] - rec["t0"], 1),
        "per_tile_ms": {t["label"]: round(t["first"] - rec["t0"], 1) for t in tiles},
    }


def page_figures(
    start: dict[str, Any], end: dict[str, Any], main: dict[str, float], errors: list[str], target: float
) -> dict[str, Any]:
    """What the page did in a CPU window, from two readings of tiles.js: each tile's decoded fps (and drawn
    fps: an H.264 tile's Worker draws at most one picture per animation frame), kb/s received, the page's
    animation frames per second; and the main thread's time per decoded picture (added to ``main``)."""
    page_s = (end["now"] - start["now"]) / 1000
    first = {t["label"]: t for t in start["tiles"]}

    def rate(field: str, scale: float = 1.0) -> dict[str, float]:
        out = {}
        for t in end["tiles"]:
            was = first.get(t["label"], {}).get(field)
            if t[field] is not None and was is not None:
                out[t["label"]] = round((t[field] - was) * scale / page_s, 2)
        return out

    fps = rate("frames")
    workers0 = {t["label"]: t["worker"] for t in start["tiles"] if t.get("worker")}
    workers = [
        (workers0[t["label"]], t["worker"])
        for t in end["tiles"]
        if t.get("worker") and t["label"] in workers0
    ]
    drawn = rate("drawn")
    kbps = rate("bytes", 8 / 1000)
    if main and sum(fps.values()):  # main-thread time per decoded picture, all tiles together
        main["ms_per_picture"] = round(main["on_cpu_percent"] * 10 / sum(fps.values()), 2)
    shown = drawn if len(drawn) == len(fps) else fps  # JSMpeg draws every picture it decodes
    return {
        "codecs": sorted({str(t["codec"]) for t in end["tiles"]}),
        "h264_workers": end["workers"],
        "fps": fps,
        "fps_min": min(fps.values()),
        "fps_median": round(statistics.median(fps.values()), 2),
        "drawn_fps": drawn,
        "drawn_fps_min": min(shown.values()),
        "drawn_fps_median": round(statistics.median(shown.values()), 2),
        "kbps": kbps,
        # H.264 tiles' Workers in the window: access units dropped to stay live, jumps to the next IDR
        "h264_dropped": sum(b["dropped"] - a["dropped"] for a, b in workers),
        "h264_jumps": sum(b["jumps"] - a["jumps"] for a, b in workers),
        "h264_lag_ms_max": max((b["lagMs"] for _, b in workers), default=None),
        "kbps_median": round(statistics.median(kbps.values()), 1),
        # JSMpeg decodes at most one picture per player per animation frame: this caps every tile's fps
        "page_frames_per_s": round((end["raf"] - start["raf"]) / page_s, 1),
        "fps_target": target,
        "tiles_at_target": sum(v >= target for v in shown.values()),
        "badges": sorted({t["badge"] for t in end["tiles"]}),
        "figures_lines": sorted({t["figures"] for t in end["tiles"]})[:4],
        # a tile that says "playing" and decoded nothing in the window is stuck
        "stuck_tiles": [label for label, value in fps.items() if value == 0],
        "page_errors": len(errors),
        "page_error_kinds": sorted({e.splitlines()[0] for e in errors}),
    }


# -- the runs of the command and of python -m bench ---------------------------------------------------------


def measure(bench: Bench, cameras: Sequence[TestCamera], runs: int, window: float) -> dict[str, list[Any]]:
    """Every figure of ``python -m bench.browser``, ``runs`` times."""
    keys = ("first_frame_1", "first_frame_4", "resume_ms", "cpu_4", "cpu_16")
    samples: dict[str, list[Any]] = {k: [] for k in keys}
    for run in range(runs):
        print(f"run {run + 1}/{runs}", flush=True)
        one, _ = bench.first_frame(cameras[:1], resumes=0)
        four, resumed = bench.first_frame(cameras, resumes=4)
        samples["first_frame_1"].append(one)
        samples["first_frame_4"].append(four)
        samples["resume_ms"] += [round(x, 1) for x in resumed]
        for n, sample in ((1, one), (4, four)):
            print(
                f"  {n} camera(s): run all -> tiles shown {sample['tiles_shown_ms']:.0f} ms -> first picture "
                f"{sample['first_tile_ms']:.0f} ms, last {sample['last_tile_ms']:.0f} ms "
                f"(cells done {sample['cells_done_ms']:.0f} ms)",
                flush=True,
            )
        print(f"  resume: {', '.join(f'{x:.0f}' for x in resumed)} ms", flush=True)
        for n in (4, 16):
            cpu = bench.cpu(demo_page(n), window)
            samples[f"cpu_{n}"].append(cpu)
            print(
                f"  {n} demo tiles: Chromium {cpu['chromium_cpu_percent']} %; fps min {cpu['fps_min']}, "
                f"median {cpu['fps_median']}; page frames/s {cpu['page_frames_per_s']}; main thread "
                f"{cpu['renderer_main_thread']}; by type {cpu['chromium_cpu_by_type']}; relay fps min "
                f"{min(cpu['relay_fps'].values())}; server {cpu['server_cpu_percent']}; "
                f"machine {cpu['machine_busy_percent']} %",
                flush=True,
            )
    return samples


# -- the README's screenshot -------------------------------------------------------------------------------


def screenshot(bench: Bench, path: Path) -> None:
    """A notebook with a grid of four live cameras (GStreamer, distinct patterns), cropped to the notebook."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.ExitStack() as stack:
        cameras = [stack.enter_context(camera(p)) for p in SCREENSHOT_PATTERNS]
        bench.fresh()
        for cam, label in zip(cameras, LABELS, strict=True):
            bench.server.api("POST", "streams", {"url": cam.url, "label": label})
        cells = [
            "import rtsp_notebook as rn\nhub = rn.connect()\n[stream.label for stream in hub]",
            "hub.grid(columns=4)",
        ]
        nb_path = bench.server.write_notebook("cameras", cells)
        page = bench.context.new_page()
        stack.callback(page.close)
        nb = NotebookPage(page, bench.server, nb_path.name).open()
        page.evaluate(script("close_left"))
        nb.run_all_and_wait()
        page.wait_for_function(script("screenshot_ready"), arg=0, timeout=60_000, polling=100)
        with contextlib.suppress(PlaywrightTimeout):  # steady figures in the tiles' footers, if they come
            page.wait_for_function(script("screenshot_ready"), arg=FPS_TARGET, timeout=20_000, polling=100)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), clip=notebook_clip(page))
        badges = [t["badge"] for t in page.evaluate(script("tiles"))["tiles"]]
        print(f"screenshot: {path} (badges: {', '.join(badges)})")
        bench.errors += [f"screenshot: {e}" for e in nb.errors()]


def notebook_clip(page: Page) -> FloatRect:
    """The notebook panel, down to a little below its last cell."""
    panel = page.locator(".jp-NotebookPanel").filter(visible=True).bounding_box()
    cell = page.locator(".jp-NotebookPanel .jp-Cell").filter(visible=True).last.bounding_box()
    assert panel is not None and cell is not None
    bottom = min(panel["y"] + panel["height"], cell["y"] + cell["height"] + 16)
    return {"x": panel["x"], "y": panel["y"], "width": panel["width"], "height": bottom - panel["y"]}
