"""Figures of the grid widget in a real headless Chromium (Debian's, driven by Playwright), Canvas2D renderer.

    python -m bench.browser [--runs 3] [--json bench/results/browser.json] [--short] [--screenshot PATH]
    python -m bench.browser --runs 0 --screenshot docs/grid.png      # the screenshot only

One ``jupyter lab`` (``tests.browser.LabServer``) and one Chromium serve every run; each run opens a fresh
notebook in a fresh page (a fresh kernel), and its streams are new: before each run the streams of the last
one are deleted through the API and no FFmpeg is left, so every relay starts cold (FFmpeg not running).

* first frame: 'run all cells' → the first decoded picture of each tile, for a grid of 1 and of 4 tiles
  (GStreamer test cameras, 640x360 at 25 fps, a keyframe every second). The first cell imports
  rtsp_notebook and adds the streams with ``rn.connect()``; the second shows
  ``hub.grid(renderer='canvas2d')``.
  Page times (``performance.now()``): t0 is taken right before ``notebook:run-all-cells``; a
  MutationObserver installed before t0 records when each tile's ``data-frames`` first changes (the tile
  sets it in JSMpeg's ``onVideoDecode``, so the observer's time is the end of the decoding task).
* resume: in the 4-tile grid, click "Pause <label>", wait for data-phase "paused" and the thumbnail, then
  click "Play <label>": the click event (capture listener on the tile) → the next ``data-frames`` change.
* CPU: 4 and 16 tiles of ``demo://<pattern>?size=640x360&fps=15`` sources (FFmpeg-made synthetic cameras,
  one distinct pattern per tile; the grid profile is 15 fps) in a grid of the default tile size on a
  1920x1080 page (side bar closed: 6 columns, every tile wholly on screen, or the bench stops). Once every
  tile decoded 30 pictures, over a fixed window (10 s, 3 s with ``--short``): the CPU of Chromium's whole
  process tree (and by process type), the decoded fps of each tile (``data-frames`` deltas over page
  time), the page's animation frames per second (a requestAnimationFrame counter: JSMpeg decodes at most
  one picture per player per animation frame), the main thread of the busiest renderer (time on a CPU and
  time ready but waiting for one, from ``/proc/<pid>/task/<pid>/schedstat``; JSMpeg decodes and draws on
  that one thread), the relays' own fps (the API's stats), the CPU of the Jupyter server, its FFmpeg
  children and the kernel, and the whole machine's busy CPU.

Chromium's processes: ``sync_playwright()`` starts Playwright's driver (``node ... run-driver``) as a child
of this process, and the driver launches Chromium; the browser process is the driver's child whose
command line has no ``--type=`` and has Playwright's ``--user-data-dir=.../playwright_chromiumdev_profile-*``;
its descendants (zygotes, renderers, GPU and utility processes) are the rest of the tree. Other Chromiums
on the machine (other people's tests) hang under other drivers and are not counted; nor are Chromium's
two crashpad handlers, which detach to init (idle: they only wait for crashes). CPU is user + system time
from ``/proc/<pid>/stat`` (psutil) of each process alive at the window's start and end; a process that
starts during the window counts in full, one that ends during it is lost (counted in the JSON).

The machine is shared and has 2 cores: medians, and read them with the machine's load beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

from bench._report import report
from tests.harness.browser import LabServer, NotebookPage, browser_available, launch_chromium
from tests.harness.camera import TestCamera, camera_available

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, FloatRect, Page, ViewportSize

NAME = "browser"
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


def camera(pattern: str = "ball") -> TestCamera:
    """A GStreamer test camera (not started) of the size, rate and keyframe interval above."""
    return TestCamera(
        width=CAMERA["width"],
        height=CAMERA["height"],
        fps=CAMERA["fps"],
        keyint=CAMERA["keyint"],
        pattern=pattern,
    )


# -- in the page ------------------------------------------------------------------------------------------

_PANEL = """
  const app = window.jupyterapp;
  let panel = null;
  for (const widget of app.shell.widgets('main')) {
    if (widget.context && widget.context.path === path && widget.sessionContext) panel = widget;
  }
"""
# Records, from now on, when each tile appears and when its data-frames first changes (page time).
_RECORDER = """() => {
  const rec = {t0: null, runAll: null, runAllError: null, tiles: {}, raf: 0};
  window.__rnBench = rec;
  const tick = () => { rec.raf += 1; requestAnimationFrame(tick); };  // the page's frame rate
  requestAnimationFrame(tick);
  const entry = (el, now) => {
    const id = el.dataset.streamId;
    if (!rec.tiles[id]) rec.tiles[id] = {created: now, first: null, label: null};
    return rec.tiles[id];
  };
  new MutationObserver((mutations) => {
    const now = performance.now();
    for (const m of mutations) {
      if (m.type === 'childList') {
        for (const node of m.addedNodes) {
          if (node.nodeType !== 1) continue;
          if (node.matches('.rn-tile')) entry(node, now);
          for (const el of node.querySelectorAll('.rn-tile')) entry(el, now);
        }
      } else if (m.target.matches('.rn-tile') && Number(m.target.dataset.frames) > 0) {
        const tile = entry(m.target, now);
        if (tile.first === null) {
          tile.first = now;
          tile.label = m.target.querySelector('.rn-label').textContent;
        }
      }
    }
  }).observe(document.body, {subtree: true, childList: true, attributeFilter: ['data-frames']});
}"""
_RUN_ALL = f"""(path) => {{
  {_PANEL}
  app.shell.activateById(panel.id);
  const rec = window.__rnBench;
  rec.t0 = performance.now();
  app.commands.execute('notebook:run-all-cells').then(
    () => {{ rec.runAll = performance.now(); }}, (err) => {{ rec.runAllError = String(err); }});
}}"""
_FIRST_FRAMES = "(n) => Object.values(window.__rnBench.tiles).filter((t) => t.first !== null).length >= n"
_CELLS_DONE = f"""(path) => {{
  {_PANEL}
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const rec = window.__rnBench;
  return (rec.runAll !== null || rec.runAllError !== null) && !!kernel && kernel.status === 'idle';
}}"""
_CELLS = f"(path) => {{ {_PANEL} return panel.content.model.toJSON().cells; }}"
_CLOSE_LEFT = """() => {
  const app = window.jupyterapp;
  if (!app.shell.leftCollapsed) app.commands.execute('application:toggle-left-area');
}"""
# Every tile: label, phase, decoded pictures, whether it is on screen; and the page time.
_TILES = """() => ({
  now: performance.now(),
  raf: window.__rnBench ? window.__rnBench.raf : null,
  tiles: Array.from(document.querySelectorAll('.rn-tile')).map((el) => {
    const r = el.getBoundingClientRect();
    return {
      label: el.querySelector('.rn-label').textContent,
      phase: el.dataset.phase,
      frames: Number(el.dataset.frames || 0),
      badge: el.querySelector('.rn-badge').textContent,
      onScreen: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth,
    };
  }),
})"""
# Arms one resume measurement on a tile: click on its Play button → its next data-frames change.
_ARM_RESUME = """(label) => {
  const tile = Array.from(document.querySelectorAll('.rn-tile'))
    .find((el) => el.querySelector('.rn-label').textContent === label);
  const play = tile.querySelector(`button[aria-label="Play ${label}"]`);
  const rec = {click: null, frame: null, framesAtClick: null};
  window.__rnResume = rec;
  tile.addEventListener('click', (event) => {
    if (event.target.closest('button') !== play || rec.click !== null) return;
    rec.click = performance.now();
    rec.framesAtClick = Number(tile.dataset.frames || 0);
  }, {capture: true});
  const observer = new MutationObserver(() => {
    if (rec.click !== null && rec.frame === null && Number(tile.dataset.frames) > rec.framesAtClick) {
      rec.frame = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(tile, {attributes: true, attributeFilter: ['data-frames']});
}"""


# -- processes ---------------------------------------------------------------------------------------------


def chromium_tree() -> list[psutil.Process]:
    """This process's Chromium: the browser process under Playwright's driver, and its descendants."""
    out: list[psutil.Process] = []
    for driver in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if "run-driver" not in driver.cmdline():
                continue
            for child in driver.children():
                with contextlib.suppress(psutil.Error):
                    argv = child.cmdline()
                    is_browser = (
                        "chromium" in child.name()
                        and not any(a.startswith("--type=") for a in argv)
                        and any(a.startswith("--user-data-dir=") and "playwright" in a for a in argv)
                    )
                    if is_browser:
                        out += [child, *child.children(recursive=True)]
    return out


Key = tuple[int, float]  # (pid, create time): a pid the kernel reused is another process


def cpu_seconds(procs: Iterable[psutil.Process]) -> dict[Key, float]:
    times: dict[Key, float] = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            times[(proc.pid, proc.create_time())] = t.user + t.system
    return times


def machine_busy() -> float:
    t = psutil.cpu_times()
    return float(sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal")))


@dataclass
class Tracker:
    """Processes worth killing if the server dies before it could stop them (Ctrl-C reaches the whole
    process group: the server and its kernels may exit at once and leave their FFmpeg behind)."""

    seen: dict[Key, psutil.Process] = field(default_factory=dict)

    def note(self, procs: Iterable[psutil.Process]) -> None:
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                self.seen[(proc.pid, proc.create_time())] = proc

    def kill_leftovers(self) -> None:
        alive = [p for p in self.seen.values() if p.is_running()]  # is_running checks the create time
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)


# -- one notebook per run ----------------------------------------------------------------------------------


@dataclass
class Bench:
    server: LabServer
    context: BrowserContext
    tracker: Tracker
    count: int = 0
    errors: list[str] = field(default_factory=list)

    def fresh(self) -> None:
        """No kernel, no stream (their relays stop), no FFmpeg: the next streams start cold."""
        self.tracker.note(self.server.descendants())
        self.server.reset()

    @contextlib.contextmanager
    def notebook(
        self, name: str, adds: str, grid: str, viewport: ViewportSize = VIEWPORT
    ) -> Iterator[NotebookPage]:
        """A fresh page with a fresh notebook, opened and its kernel idle (cells not run yet): its first cell
        connects and runs ``adds``, its second is ``grid``."""
        self.fresh()
        self.count += 1
        cells = [f"import rtsp_notebook as rn\nhub = rn.connect()\n{adds}", grid]
        path = self.server.write_notebook(f"{name}-{self.count}", cells)
        page = self.context.new_page()
        try:
            page.set_viewport_size(viewport)
            nb = NotebookPage(page, self.server, path.relative_to(self.server.root).as_posix()).open()
            self.tracker.note(chromium_tree())
            if viewport != VIEWPORT:
                page.evaluate(_CLOSE_LEFT)
            page.evaluate(_RECORDER)
            yield nb
            self.errors += [f"{name}: {e}" for e in nb.errors()]
        finally:
            page.close()

    def run_all(self, nb: NotebookPage) -> None:
        nb.page.evaluate(_RUN_ALL, nb.path)

    def wait_cells(self, nb: NotebookPage) -> None:
        nb.page.wait_for_function(_CELLS_DONE, arg=nb.path, timeout=60_000, polling=100)
        rec = nb.page.evaluate("() => window.__rnBench")
        assert rec["runAllError"] is None, rec["runAllError"]
        for cell in nb.page.evaluate(_CELLS, nb.path):
            failed = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
            assert not failed, f"a cell raised: {failed[0]['ename']}: {failed[0]['evalue']}"
        self.tracker.note(self.server.descendants())

    # 1. cell run → first frame

    def first_frame(self, cameras: Sequence[TestCamera], resumes: int) -> tuple[dict[str, Any], list[float]]:
        n = len(cameras)
        labels = LABELS[:n]
        adds = "\n".join(
            f"hub.add({cam.url!r}, label={label!r})" for cam, label in zip(cameras, labels, strict=True)
        )
        with self.notebook(f"first-frame-{n}", adds, "hub.grid(renderer='canvas2d')") as nb:
            self.run_all(nb)
            nb.page.wait_for_function(_FIRST_FRAMES, arg=n, timeout=60_000, polling=100)
            self.wait_cells(nb)
            rec = nb.page.evaluate("() => window.__rnBench")
            tiles = sorted(rec["tiles"].values(), key=lambda t: t["first"])
            sample = {
                "first_tile_ms": round(tiles[0]["first"] - rec["t0"], 1),
                "last_tile_ms": round(tiles[-1]["first"] - rec["t0"], 1),
                "tiles_shown_ms": round(max(t["created"] for t in tiles) - rec["t0"], 1),
                # the relay's and the widget's part: all tiles in the page → first / last first picture
                "shown_to_first_ms": round(tiles[0]["first"] - max(t["created"] for t in tiles), 1),
                "shown_to_last_ms": round(tiles[-1]["first"] - max(t["created"] for t in tiles), 1),
                "cells_done_ms": round(rec["runAll"] - rec["t0"], 1),
                "per_tile_ms": {t["label"]: round(t["first"] - rec["t0"], 1) for t in tiles},
            }
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
        page.evaluate(_ARM_RESUME, label)
        tile.get_by_role("button", name=f"Play {label}").click()
        page.wait_for_function("() => window.__rnResume.frame !== null", timeout=20_000, polling=50)
        rec = page.evaluate("() => window.__rnResume")
        return float(rec["frame"] - rec["click"])

    # 3. CPU and decoded fps

    def cpu(self, n: int, window: float) -> dict[str, Any]:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        patterns = DEMO_PATTERNS_ORDER[:n]
        # a loop, not a line per stream: 16 tiles of the default size fit under a short cell
        adds = f"for p in {list(patterns)!r}:\n    hub.add(f'demo://{{p}}?{DEMO_QUERY}', label=p)"
        with self.notebook(f"cpu-{n}", adds, "hub.grid(renderer='canvas2d')", CPU_VIEWPORT) as nb:
            page = nb.page
            self.run_all(nb)
            self.wait_cells(nb)
            page.wait_for_function("(n) => document.querySelectorAll('.rn-tile').length === n", arg=n)
            off = [t["label"] for t in page.evaluate(_TILES)["tiles"] if not t["onScreen"]]
            assert not off, f"tiles not wholly on screen (a tile out of view pauses): {off}"
            warm = f"""() => Array.from(document.querySelectorAll('.rn-tile'))
                .every((el) => Number(el.dataset.frames || 0) >= {WARM_FRAMES})"""
            try:
                page.wait_for_function(warm, timeout=60_000, polling=200)
                warmed = True
            except PlaywrightTimeout:  # a tile that never warms up is a finding: it shows in its fps
                warmed = False
            self.tracker.note(self.server.descendants())
            before, start = Snapshot.take(self.server), page.evaluate(_TILES)
            page.wait_for_timeout(window * 1000)  # the fixed measurement window
            after, end = Snapshot.take(self.server), page.evaluate(_TILES)
            relays = {s["label"]: s for s in self.server.api("GET", "stats")}
            errors = nb.errors()
        wall = after.at - before.at
        page_s = (end["now"] - start["now"]) / 1000
        frames0 = {t["label"]: t["frames"] for t in start["tiles"]}
        fps = {
            t["label"]: round((t["frames"] - frames0.get(t["label"], 0)) / page_s, 2) for t in end["tiles"]
        }
        chromium = percent(before.chromium, after.chromium, wall)
        main = after.busiest_renderer(before, wall)
        if main and sum(fps.values()):  # main-thread time per decoded picture, all tiles together
            main["ms_per_picture"] = round(main["on_cpu_percent"] * 10 / sum(fps.values()), 2)
        return {
            "tiles": n,
            "source": f"demo://<pattern>?{DEMO_QUERY}",
            "patterns": list(patterns),
            "window_s": round(wall, 2),
            "warmed_up": warmed,
            "chromium_cpu_percent": chromium["percent"],
            "chromium_processes": chromium["processes"],
            "chromium_processes_lost": chromium["lost"],
            "chromium_cpu_by_type": after.by_type(before, wall),
            # all decoding runs on this one thread: it caps the grid, whatever the number of cores
            "renderer_main_thread": main,
            "fps": fps,
            "fps_min": min(fps.values()),
            "fps_median": round(statistics.median(fps.values()), 2),
            # JSMpeg decodes at most one picture per player per animation frame: this caps every tile's fps
            "page_frames_per_s": round((end["raf"] - start["raf"]) / page_s, 1),
            "tiles_at_target": sum(v >= FPS_TARGET for v in fps.values()),
            "badges": sorted({t["badge"] for t in end["tiles"]}),
            # a tile that says "playing" and decoded nothing in the window is stuck
            "stuck_tiles": [label for label, value in fps.items() if value == 0],
            "page_errors": len(errors),
            "page_error_kinds": sorted({e.splitlines()[0] for e in errors}),
            # the relay's own output rate (its last 5 s) and what it dropped for a slow viewer
            "relay_fps": {label: r["fps"] for label, r in relays.items()},
            "relay_dropped_bytes_since_start": sum(r["dropped_bytes"] for r in relays.values()),
            "server_cpu_percent": {
                role: percent(before.server.get(role, {}), times, wall)["percent"]
                for role, times in after.server.items()
            },
            "ffmpeg_processes": len(after.server.get("ffmpeg", {})),
            "machine_busy_percent": round((after.busy - before.busy) / wall * 100, 1),
        }


@dataclass
class Snapshot:
    """CPU seconds so far: Chromium's tree (and each process's type), the server's processes by role, the
    main thread of each Chromium renderer (on CPU and waiting for a CPU, from ``/proc/.../schedstat``), and
    the whole machine."""

    at: float
    chromium: dict[Key, float]
    chromium_types: dict[Key, str]
    renderer_main: dict[Key, tuple[float, float]]
    server: dict[str, dict[Key, float]]
    busy: float

    @classmethod
    def take(cls, server: LabServer) -> Snapshot:
        assert server.proc is not None
        roles: dict[str, list[psutil.Process]] = {"jupyter server": [psutil.Process(server.proc.pid)]}
        for proc in server.descendants():
            with contextlib.suppress(psutil.Error):
                if "ffmpeg" in proc.name():
                    role = "ffmpeg"
                elif any("ipykernel" in part for part in proc.cmdline()):
                    role = "kernel"
                else:
                    role = "other"
                roles.setdefault(role, []).append(proc)
        tree = chromium_tree()
        types: dict[Key, str] = {}
        for proc in tree:
            with contextlib.suppress(psutil.Error):
                kind = next((a[7:] for a in proc.cmdline() if a.startswith("--type=")), "browser")
                types[(proc.pid, proc.create_time())] = kind
        at = time.monotonic()
        chromium = cpu_seconds(tree)
        main = {k: sched(k[0]) for k, kind in types.items() if kind == "renderer"}
        by_role = {role: cpu_seconds(procs) for role, procs in roles.items()}
        return cls(at, chromium, types, {k: v for k, v in main.items() if v}, by_role, machine_busy())

    def by_type(self, before: Snapshot, wall: float) -> dict[str, float]:
        """Chromium's CPU by process type (browser, renderer, gpu-process, utility, zygote), % of a core."""
        out: dict[str, float] = {}
        for key, t in self.chromium.items():
            kind = self.chromium_types.get(key, "?")
            out[kind] = out.get(kind, 0.0) + (t - before.chromium.get(key, 0.0)) / wall * 100
        return {k: round(v, 1) for k, v in sorted(out.items())}

    def busiest_renderer(self, before: Snapshot, wall: float) -> dict[str, float]:
        """The main thread of the renderer that worked most (the notebook's page): % of the wall time it
        ran on a CPU, and % it was ready to run but waited for one (the machine's other load)."""
        deltas = [
            (on - before.renderer_main[k][0], wait - before.renderer_main[k][1])
            for k, (on, wait) in self.renderer_main.items()
            if k in before.renderer_main
        ]
        if not deltas:
            return {}
        on, wait = max(deltas)
        return {"on_cpu_percent": round(on / wall * 100, 1), "waiting_percent": round(wait / wall * 100, 1)}


def sched(pid: int) -> tuple[float, float] | None:
    """Seconds the main thread of ``pid`` ran on a CPU, and waited on a run queue (Linux schedstat)."""
    try:
        on, wait, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return None
    return int(on) / 1e9, int(wait) / 1e9


def percent(before: dict[Key, float], after: dict[Key, float], wall: float) -> dict[str, Any]:
    """CPU of a set of processes between two snapshots, as % of one core."""
    used = sum(t - before.get(k, 0.0) for k, t in after.items())
    return {
        "percent": round(used / wall * 100, 1),
        "processes": len(after),
        "lost": len(set(before) - set(after)),
    }


def wait_attr(page: Page, locator: Any, name: str, value: str, timeout: float = 20.0) -> None:
    """Wait with a deadline until the locator's attribute has ``value`` (Playwright works meanwhile)."""
    deadline = time.monotonic() + timeout
    while locator.get_attribute(name) != value:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {name}={value!r}")
        page.wait_for_timeout(20)


# -- the README's screenshot -------------------------------------------------------------------------------


def screenshot(bench: Bench, stack: contextlib.ExitStack, path: Path) -> None:
    """A notebook with a grid of four live cameras (GStreamer, distinct patterns), cropped to the notebook."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

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
    try:
        nb = NotebookPage(page, bench.server, nb_path.name).open()
        page.evaluate(_CLOSE_LEFT)
        nb.run_all_and_wait()
        ready = """(fps) => {
          const tiles = Array.from(document.querySelectorAll('.rn-tile'));
          return tiles.length === 4 && tiles.every((el) => el.dataset.phase === 'playing'
            && Number(el.dataset.frames || 0) >= 45
            && parseFloat(el.querySelector('.rn-detail').textContent) >= fps);
        }"""
        page.wait_for_function(ready, arg=0, timeout=60_000, polling=100)
        with contextlib.suppress(PlaywrightTimeout):  # steady figures in the tiles' footers, if they come
            page.wait_for_function(ready, arg=FPS_TARGET, timeout=20_000, polling=100)
        path.parent.mkdir(parents=True, exist_ok=True)
        # the notebook panel, down to a little below its last cell
        panel = page.locator(".jp-NotebookPanel").filter(visible=True).bounding_box()
        cell = page.locator(".jp-NotebookPanel .jp-Cell").filter(visible=True).last.bounding_box()
        assert panel is not None and cell is not None
        bottom = min(panel["y"] + panel["height"], cell["y"] + cell["height"] + 16)
        clip: FloatRect = {
            "x": panel["x"],
            "y": panel["y"],
            "width": panel["width"],
            "height": bottom - panel["y"],
        }
        page.screenshot(path=str(path), clip=clip)
        badges = [t["badge"] for t in page.evaluate(_TILES)["tiles"]]
        print(f"screenshot: {path} (badges: {', '.join(badges)})")
        bench.errors += [f"screenshot: {e}" for e in nb.errors()]
    finally:
        page.close()
    for cam in cameras:
        cam.stop()


# -- the command -------------------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs of every figure (0: --screenshot only)")
    parser.add_argument("--json", type=Path, default=Path(f"bench/results/{NAME}.json"))
    parser.add_argument("--short", action="store_true", help="for CI: one run, 3 s CPU windows")
    parser.add_argument("--screenshot", type=Path, help="also save a PNG of a notebook with four live tiles")
    args = parser.parse_args(argv)
    if args.short:
        args.runs = 1
    if args.runs < 0 or (args.runs == 0 and not args.screenshot):
        parser.error("--runs 0 only goes with --screenshot")
    return args


def median(values: Iterable[float]) -> float:
    return float(statistics.median(values))


def table(samples: dict[str, list[Any]]) -> dict[str, str]:
    """The printed rows: figure → median, max or notes, target."""

    def row(value: str, notes: str, target: str = "—") -> str:
        return f"{value:>8}   {notes:<50} {target}"

    def times(key: str, field: str) -> tuple[str, str]:
        values = [r[field] for r in samples[key]]
        return f"{median(values):.0f} ms", f"max {max(values):.0f} ms"

    rows = {"figure": row("median", "max / notes", "target (DESIGN §6)")}
    rows["1 tile: run all → first picture"] = row(*times("first_frame_1", "first_tile_ms"))
    rows["1 tile: tile shown → first picture"] = row(*times("first_frame_1", "shown_to_first_ms"))
    rows["4 tiles: run all → first tile's picture"] = row(*times("first_frame_4", "first_tile_ms"))
    rows["4 tiles: run all → last tile's picture"] = row(*times("first_frame_4", "last_tile_ms"))
    rows["4 tiles: tiles shown → last tile's picture"] = row(*times("first_frame_4", "shown_to_last_ms"))
    cells = [r["cells_done_ms"] for r in samples["first_frame_1"] + samples["first_frame_4"]]
    rows["run all → both cells done (fresh kernel)"] = row(
        f"{median(cells):.0f} ms", f"max {max(cells):.0f} ms"
    )
    resume = samples["resume_ms"]
    rows["resume: Play click → next picture"] = row(
        f"{median(resume):.0f} ms", f"max {max(resume):.0f} ms, {len(resume)} samples"
    )
    for n in (4, 16):
        runs = samples[f"cpu_{n}"]
        cpu = [r["chromium_cpu_percent"] for r in runs]
        slowest = [r["fps_min"] for r in runs]
        at_target = min(r["tiles_at_target"] for r in runs)
        server = [sum(r["server_cpu_percent"].values()) for r in runs]
        ffmpeg = [r["server_cpu_percent"].get("ffmpeg", 0.0) for r in runs]
        busy = [r["machine_busy_percent"] for r in runs]
        frames = [r["page_frames_per_s"] for r in runs]
        rows[f"{n} demo tiles: Chromium CPU"] = row(
            f"{median(cpu):.0f} %", f"max {max(cpu):.0f} % (of one core)"
        )
        rows[f"{n} demo tiles: decoded fps, slowest tile"] = row(
            f"{median(slowest):.1f}",
            f"worst {min(slowest):.1f}; {at_target}/{n} tiles >= {FPS_TARGET:g} (worst run)",
            f"all tiles >= {FPS_TARGET:g} fps" if n == 16 else "—",
        )
        main_on = [r["renderer_main_thread"].get("on_cpu_percent", 0.0) for r in runs]
        main_wait = [r["renderer_main_thread"].get("waiting_percent", 0.0) for r in runs]
        rows[f"{n} demo tiles: page's main thread on a CPU"] = row(
            f"{median(main_on):.0f} %", f"+ waiting for a CPU {median(main_wait):.0f} % of the time"
        )
        per_picture = [r["renderer_main_thread"].get("ms_per_picture", 0.0) for r in runs]
        rows[f"{n} demo tiles: main thread per picture"] = row(
            f"{median(per_picture):.1f} ms",
            f"max {max(per_picture):.1f} ms; 16 x 15 fps: {24 * median(per_picture):.0f} % of a core",
        )
        stuck = [len(r["stuck_tiles"]) for r in runs]
        errors = [r["page_errors"] for r in runs]
        rows[f"{n} demo tiles: stuck tiles / page errors"] = row(
            f"{median(stuck):.0f}",
            f"max {max(stuck)} stuck ('playing', no picture); page errors {sum(errors)}",
        )
        rows[f"{n} demo tiles: page animation frames/s"] = row(
            f"{median(frames):.1f}", "JSMpeg: <= 1 picture/tile/frame"
        )
        rows[f"{n} demo tiles: server CPU"] = row(
            f"{median(server):.0f} %", f"of which FFmpeg {median(ffmpeg):.0f} % (the {n} demo sources)"
        )
        rows[f"{n} demo tiles: whole machine busy"] = row(
            f"{median(busy):.0f} %", f"max {max(busy):.0f} % of {psutil.cpu_count()}00 % (others' jobs too)"
        )
    return rows


def measure(bench: Bench, cameras: Sequence[TestCamera], runs: int, window: float) -> dict[str, list[Any]]:
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
            cpu = bench.cpu(n, window)
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


def widget_bundle() -> dict[str, str]:
    """Which widget bundle the kernels serve (the git-ignored build of js/src: it changes with a rebuild)."""
    import rtsp_notebook

    path = Path(rtsp_notebook.__file__).resolve().parent / "static" / "widget.js"
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
    return {"path": str(path), "sha256": digest}


def close_quietly(browser: Browser) -> None:
    """Close Chromium; after Ctrl-C (which reaches Playwright's driver too) it may be gone already."""
    with contextlib.suppress(Exception):
        browser.close()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    for ok, why in (browser_available(), camera_available()):
        if not ok:
            sys.exit(f"bench.browser cannot run here: {why}")
    window = 3.0 if args.short else 10.0
    bundle = widget_bundle()
    print(f"widget bundle: {bundle['path']} (sha256 {bundle['sha256'][:12]})", flush=True)
    from playwright.sync_api import sync_playwright

    tracker = Tracker()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rn-bench-browser-")))
        cameras = [stack.enter_context(camera()) for _ in LABELS] if args.runs else []
        stack.callback(tracker.kill_leftovers)  # after the server stopped (an ExitStack unwinds in reverse)
        server = stack.enter_context(LabServer(tmp))
        playwright = stack.enter_context(sync_playwright())
        browser: Browser = launch_chromium(playwright)
        stack.callback(close_quietly, browser)
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(30_000)
        tracker.note(chromium_tree())
        bench = Bench(server, context, tracker)
        samples = measure(bench, cameras, args.runs, window) if args.runs else None
        for cam in cameras:
            cam.stop()
        if args.screenshot:
            screenshot(bench, stack, args.screenshot)
        bench.fresh()
    if samples is None:
        return
    result = {
        "command": f"python -m bench.browser --runs {args.runs}" + (" --short" if args.short else ""),
        "browser": "Debian chromium, headless, Canvas2D renderer",
        "viewport": VIEWPORT,
        "cpu_viewport": CPU_VIEWPORT,
        "demo_query": DEMO_QUERY,
        "camera": {"source": "GStreamer TestCamera (videotestsrc ball, x264)", **CAMERA},
        "cpu_window_s": window,
        "cpus": psutil.cpu_count(),
        "widget_js": widget_bundle(),
        "page_errors": bench.errors,
        "samples": samples,
    }
    rows = table(samples)
    result["table"] = rows
    report(result, rows, args.json)
    if bench.errors:
        print("page errors:\n  " + "\n  ".join(bench.errors))


if __name__ == "__main__":
    main()
