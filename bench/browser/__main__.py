"""Figures of the grid widget in a real headless Chromium (Debian's, driven by Playwright), Canvas2D renderer.

    python -m bench.browser [--runs 3] [--json bench/results/browser.json] [--short] [--screenshot PATH]
    python -m bench.browser --runs 0 --screenshot docs/grid.png      # the screenshot only

One ``jupyter lab`` (``tests.harness.browser.LabServer``) and one Chromium serve every run; each run opens a
fresh notebook in a fresh page (a fresh kernel), and its streams are new: before each run the streams of the
last one are deleted through the API and no FFmpeg is left, so every relay starts cold (FFmpeg not running).

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
  children and the kernel, and the whole machine's busy CPU (which processes count: see
  ``bench.browser.processes``).

The machine is shared and has 2 cores: medians, and read them with the machine's load beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from bench._report import report
from bench.browser import report as browser_report
from bench.browser.runs import LABELS, camera, measure, screenshot, session
from tests.harness.browser import browser_available
from tests.harness.camera import camera_available

NAME = "browser"


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.browser",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    for ok, why in (browser_available(), camera_available()):
        if not ok:
            sys.exit(f"bench.browser cannot run here: {why}")
    window = 3.0 if args.short else 10.0
    bundle = browser_report.widget_bundle()
    print(f"widget bundle: {bundle['path']} (sha256 {bundle['sha256'][:12]})", flush=True)
    with contextlib.ExitStack() as stack:
        cameras = [stack.enter_context(camera()) for _ in LABELS] if args.runs else []
        bench = stack.enter_context(session())
        samples = measure(bench, cameras, args.runs, window) if args.runs else None
        for cam in cameras:
            cam.stop()
        if args.screenshot:
            screenshot(bench, args.screenshot)
    if samples is None:
        return
    result = browser_report.result(args, window, samples, bench.errors)
    report(result, result["table"], args.json)
    if bench.errors:
        print("page errors:\n  " + "\n  ".join(bench.errors))


if __name__ == "__main__":
    main()
