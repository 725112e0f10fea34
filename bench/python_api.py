"""The Python API in cells (in-process mode): snapshot time and the picture rate frames() sustains.

    python -m bench.python_api [--runs 5] [--json bench/results/python_api.json]

On the GStreamer test camera at 1280x720, 25 fps (one keyframe a second), through
``rn.connect(local=True)``:

* snapshot, idle camera: no relay running (a one-shot grab);
* snapshot, relay running: from the running relay's newest I-frame (``refresh=True`` skips the cache);
* frames() at 640 px (grid profile, at most 15 pictures a second) and at full size (full profile,
  1280x720 at 25): pictures a second over 4 s with ``fps=None`` (every picture), after the first;
* first picture of frames() on an idle camera.

Prints a table of medians and writes every sample as JSON.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

import rtsp_notebook as rn
from bench._report import arguments, report
from tests.harness.camera import TestCamera

WINDOW_S = 4.0


def rate(cam: rn.Stream, width: int | None) -> tuple[float, float, tuple[int, ...]]:
    """(seconds to the first picture, pictures a second after it, picture shape)."""
    t0 = time.monotonic()
    with cam.frames(fps=None, width=width) as frames:
        first = next(frames)
        t1 = time.monotonic()
        count = 0
        for _ in frames:
            count += 1
            if time.monotonic() - t1 >= WINDOW_S:
                break
        return t1 - t0, count / (time.monotonic() - t1), first.shape


def main(runs: int, tmp: Path) -> dict[str, object]:
    samples: dict[str, list[float]] = {k: [] for k in (
        "snapshot_idle_ms", "snapshot_running_ms", "frames_first_ms", "frames_640_fps", "frames_full_fps",
    )}  # fmt: skip
    shapes: dict[str, list[int]] = {}
    camera = TestCamera(width=1280, height=720, fps=25, pattern="ball", keyint=25).start()
    try:
        for run in range(runs):
            hub = rn.connect(local=True, store=str(tmp / f"run{run}.db"))
            cam = hub.add(camera.url, label="bench")
            t0 = time.monotonic()
            cam.snapshot(refresh=True)
            samples["snapshot_idle_ms"].append((time.monotonic() - t0) * 1000)
            first, fps_640, shape = rate(cam, 640)
            samples["frames_first_ms"].append(first * 1000)
            samples["frames_640_fps"].append(fps_640)
            shapes["640"] = list(shape)
            with cam.frames(fps=None, width=640) as running:  # keeps the grid relay up
                next(running)
                t0 = time.monotonic()
                cam.snapshot(refresh=True)
                samples["snapshot_running_ms"].append((time.monotonic() - t0) * 1000)
            _, fps_full, shape = rate(cam, None)
            samples["frames_full_fps"].append(fps_full)
            shapes["full"] = list(shape)
            cam.remove()
    finally:
        camera.stop()
    medians = {k: round(statistics.median(v), 1) for k, v in samples.items()}
    return {
        "command": f"python -m bench.python_api --runs {runs}",
        "camera": "GStreamer videotestsrc ball 1280x720@25, x264 keyframe every 25 frames",
        "mode": "rn.connect(local=True): in-process service on the kernel's loop thread",
        "median": medians,
        "shapes": shapes,
        "samples": {k: [round(x, 2) for x in v] for k, v in samples.items()},
    }


def run() -> None:
    args = arguments(__doc__, "python_api", runs=5)
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        result = main(args.runs, Path(tmp))
    report(result, result["median"], args.json)  # type: ignore[arg-type]


if __name__ == "__main__":
    run()
