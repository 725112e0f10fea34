"""Figures of the grid widget in a real headless Chromium (Debian's, driven by Playwright).

A page on ``http://127.0.0.1`` is a secure context: its tiles play the camera's own H.264 with WebCodecs,
a Worker per tile. The same lab opened as ``http://lab.test:PORT`` (Chromium maps the name to 127.0.0.1)
is not: its tiles play the MPEG-1 ``grid`` transcode with JSMpeg (Canvas2D renderer).

    python -m bench.browser [--runs 3] [--json bench/results/browser.json] [--short] [--screenshot PATH]
    python -m bench.browser --runs 0 --screenshot docs/grid.png      # the screenshot only
    python -m bench.browser --short --only paths --shots /tmp/pages  # the path pages, a PNG of each CPU page

One ``jupyter lab`` (``tests.harness.browser.LabServer``) and one Chromium serve every run; each run opens a
fresh notebook in a fresh page (a fresh kernel), and its streams are new: before each run the streams of the
last one are deleted through the API and no FFmpeg is left, so every relay starts cold (FFmpeg not running).

* paths (``bench.browser.paths``, also ``python -m bench``'s browser section): H.264 beside MPEG-1 on
  camera-fed streams: cold and warm first pictures, and CPU pages of 16 tiles 640x360@25 on each path,
  4 H.264 tiles 1280x720@25 and 32 H.264 tiles 640x360@25: every tile's drawn fps, kb/s a tile, Chromium's
  CPU (and its renderer's threads by name), the server's and the cameras'.
* first frame (H.264): 'run all cells' → the first decoded picture of each tile, for grids of 1 and 4 tiles
  (GStreamer test cameras, 640x360 at 25 fps, a keyframe every second). The first cell imports
  rtsp_notebook and adds the streams with ``rn.connect()``; the second shows
  ``hub.grid(renderer='canvas2d')``.
  Page times (``performance.now()``): t0 is taken right before ``notebook:run-all-cells``; a
  MutationObserver installed before t0 records when each tile's ``data-frames`` first changes (the tile
  sets it in JSMpeg's ``onVideoDecode``, so the observer's time is the end of the decoding task).
* resume: in the 4-tile grid, click "Pause <label>", wait for data-phase "paused" and the thumbnail, then
  click "Play <label>": the click event (capture listener on the tile) → the next ``data-frames`` change.
* demo CPU (H.264 tiles): 4 and 16 tiles of ``demo://<pattern>?size=640x360&fps=15`` sources (FFmpeg-made
  synthetic cameras, one distinct pattern per tile, each encoded by x264 in the server's FFmpeg: its CPU
  is the server's FFmpeg figure) in a grid of the default tile size on a
  1920x1080 page (side bar closed: 6 columns, every tile wholly on screen, or the bench stops). Once every
  tile decoded 30 pictures, over a fixed window (10 s, 3 s with ``--short``): the CPU of Chromium's whole
  process tree (and by process type), the decoded fps of each tile (``data-frames`` deltas over page
  time) and, for an H.264 tile, the pictures its Worker drew (``js/instrument.js`` reads the Workers'
  counters), the page's animation frames per second (a requestAnimationFrame counter: a tile draws at most
  one picture per animation frame), the main thread of the busiest renderer (time on a CPU and
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
from typing import Any

from bench._report import report
from bench.browser import paths
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
    parser.add_argument("--shots", type=Path, help="a folder: save a PNG of each CPU page")
    parser.add_argument(
        "--only", choices=("paths", "demo"), help="paths: the path pages only; demo: the others only"
    )
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
    samples: dict[str, list[Any]] | None = None
    with contextlib.ExitStack() as stack:
        bench = stack.enter_context(session())
        bench.shots = args.shots
        if args.runs:
            samples = {}
            if args.only != "demo":
                with paths.cameras() as cams:
                    samples.update(paths.measure_paths(bench, cams, args.runs, window))
            if args.only != "paths":
                with contextlib.ExitStack() as own:
                    cameras = [own.enter_context(camera()) for _ in LABELS]
                    samples.update(measure(bench, cameras, args.runs, window))
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
