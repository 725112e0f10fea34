"""``frames()`` latency against OpenCV: flash the camera, time the numpy array that shows it.

    python -m bench.frames_latency [--duration 60] [--json bench/results/frames_latency.json]

One GStreamer test camera (1280x720 at 25 fps, x264 zerolatency, a keyframe a second) flashes black/white
(``TestCamera.set_pattern`` reports the wall-clock time its first picture of the new colour left the
source). Four consumers read it in threads of this process, two at a time so that a busy 2-core
machine still decodes every picture: first the fast ones, then the working ones, ``frames()`` and OpenCV
side by side in each half of ``--duration``, so each of their flashes is measured by both at once:

* ``frames_fast`` / ``frames_work``: ``cam.frames(fps=None)`` of an in-process hub
  (``rn.connect(local=True)``: the camera's H.264 from the stream's source relay, decoded by FFmpeg
  into numpy), the first taking the next picture as soon as it has one, the second doing 200 ms of
  "work" (a wait) per picture;
* ``opencv_fast`` / ``opencv_work``: ``cv2.VideoCapture(url)`` and ``cap.read()`` in a loop, the naive
  way, with the same two consumers (its own RTSP session each). Skipped, with a note, when ``cv2`` is
  not importable (``pip install 'rtsp-notebook[bench]'`` brings opencv-python-headless).

Each consumer stamps every array it gets with ``time.time()`` and whether its centre is white. Its n-th
change of colour answers the camera's n-th flash (a consumer that reads buffered pictures late still
sees them in order), so a flash is timed even when a consumer is seconds behind:

* ``flash → array``: the time the array showing the flash was handed over, minus the time the flash
  left the camera. For a fast consumer this is the age of the picture it got (the flash's first one);
* ``age``: for a consumer that works 200 ms per picture the first white array may be a later picture
  than the flash's first, and the flash fell at a random moment of its work: the array's age is that
  time minus half the gap since its previous array (the flash fell anywhere in that gap). For a fast
  consumer the age is its ``flash → array``.

Targets (issue 14): ``frames()`` ≤ OpenCV + 30 ms, fast and working consumer alike; and a consumer
working 200 ms per picture gets pictures at most one picture interval (40 ms) older than a fast one.
OpenCV's working consumer reads the pictures buffered since its last read, so its lag grows with time:
its figures are reported over the flashes it saw before the end of the run.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import rtsp_notebook as rn
from bench._common import median
from bench._report import report
from tests.harness.camera import TestCamera
from tests.harness.helpers import wait_until_sync

log = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 1280, 720, 25
INTERVAL_MS = 1000 / FPS
WORK_S = 0.2  # the working consumer's time per picture
GAP_S = (0.5, 0.9)  # between flashes: random, so they do not lock to the frame clock or the work
START_S = 60.0
SEEN_S = 10.0
LAGGING = "opencv_work"  # reads every buffered picture in turn: its n-th change of colour is the n-th flash
NO_OPENCV = "cv2 is not importable (pip install 'rtsp-notebook[bench]' brings opencv-python-headless)"


def white(picture: Any) -> bool:
    """Whether the centre of an (H, W, 3) picture is white (the time overlay is in a corner)."""
    h, w = picture.shape[:2]
    return bool(picture[h // 4 : 3 * h // 4 : 8, w // 4 : 3 * w // 4 : 8].mean() > 128)


class Consumer:
    """A thread that takes pictures from ``pictures()`` and stamps each: (handed over, white)."""

    def __init__(self, name: str, pictures: Callable[[], Iterator[Any]], work_s: float) -> None:
        self.name = name
        self.work_s = work_s
        self.stamps: list[tuple[float, bool]] = []
        self.error: str | None = None
        self._pictures = pictures
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"consumer {name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            for picture in self._pictures():
                self.stamps.append((time.time(), white(picture)))
                if self._stop.is_set():
                    break
                if self.work_s:
                    self._stop.wait(self.work_s)  # the consumer's work on this picture, not a wait for it
        except Exception as exc:  # noqa: BLE001 - a consumer that fails is reported with the figures
            self.error = repr(exc)
            log.warning("consumer %s failed: %r", self.name, exc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(20)
        if self._thread.is_alive():
            log.warning("consumer %s did not stop within 20 s", self.name)

    def changes(self) -> list[tuple[float, float, bool]]:
        """Every change of colour: (handed over, the previous array's time, new colour is white)."""
        out = []
        stamps = list(self.stamps)  # the consumer's thread appends meanwhile
        for (before, was), (at, now) in itertools.pairwise(stamps):
            if now != was:
                out.append((at, before, now))
        return out

    def first(self, is_white: bool, after: float, start: int) -> tuple[float, float] | None:
        """(handed over, the previous array's time) of the first array from index ``start`` on, later
        than ``after``, of that colour."""
        stamps = self.stamps[max(start - 1, 0) :]
        for (before, _), (at, now) in itertools.pairwise(stamps):
            if at > after and now == is_white:
                return at, before
        return None


def frames_pictures(cam: rn.Stream) -> Callable[[], Iterator[Any]]:
    def pictures() -> Iterator[Any]:
        with cam.frames(fps=None) as frames:
            yield from frames

    return pictures


def opencv_pictures(url: str) -> Callable[[], Iterator[Any]]:
    def pictures() -> Iterator[Any]:
        import cv2

        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        try:
            if not cap.isOpened():
                raise RuntimeError(f"cv2.VideoCapture could not open {url}")
            while True:
                ok, picture = cap.read()
                if not ok:
                    raise RuntimeError("cv2.VideoCapture.read() returned no picture")
                yield picture
        finally:
            cap.release()

    return pictures


def opencv_version() -> str | None:
    try:
        import cv2
    except ImportError:
        return None
    return str(cv2.__version__)


Flash = tuple[float, bool, dict[str, int]]  # (its first picture left the camera, white, arrays so far)


def timings(consumer: Consumer, flashes: list[Flash]) -> list[dict[str, float] | None]:
    """Per flash: ``flash_ms`` and ``age_ms`` of the array that showed it, or None. A consumer that
    keeps up: its first array of the flash's colour after the flash; OpenCV's working one, which reads
    pictures seconds late: its n-th change of colour."""
    out: list[dict[str, float] | None] = []
    changes = consumer.changes()
    for i, (shown, is_white, marks) in enumerate(flashes):
        if consumer.name == LAGGING:
            found = changes[i][:2] if i < len(changes) and changes[i][2] == is_white else None
        else:
            found = consumer.first(is_white, shown, marks[consumer.name])
        if found is None or found[0] < shown:
            out.append(None)
            continue
        at, before = found
        flash = (at - shown) * 1000
        gap = (at - max(before, shown)) * 1000  # the flash left the camera in this gap (or before it)
        age = flash if not consumer.work_s else flash - gap / 2
        out.append({"flash_ms": round(flash, 1), "age_ms": round(age, 1)})
    return out


def summary(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None, "max": None}
    p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
    return {"median": round(median(values), 1), "p90": round(p90, 1), "max": round(max(values), 1)}


def flash_phase(camera: TestCamera, consumers: list[Consumer], duration: float) -> list[Flash]:
    """Start ``consumers`` on the black camera, flash it for ``duration`` s, stop them."""
    flashes: list[Flash] = []
    try:
        for consumer in consumers:
            consumer.start()

        def started() -> bool:
            failed = [f"{c.name}: {c.error}" for c in consumers if c.error]
            if failed:
                raise RuntimeError(f"a consumer failed: {'; '.join(failed)}")
            return all(len(c.stamps) >= 3 for c in consumers)

        wait_until_sync(started, START_S, "every consumer's first pictures")
        # the flashes are waited for by the consumers that keep up (not by OpenCV's working one)
        timed = [c for c in consumers if c.name != LAGGING]
        began = time.monotonic()
        while time.monotonic() - began < duration:
            is_white = not (flashes and flashes[-1][1])
            marks = {c.name: len(c.stamps) for c in consumers}
            _, shown = camera.set_pattern("white" if is_white else "black")
            if shown is None:
                raise RuntimeError("the camera made no picture after a flash")
            flashes.append((shown, is_white, marks))

            def seen(shown: float = shown, is_white: bool = is_white, marks: dict[str, int] = marks) -> bool:
                return all(c.error or c.first(is_white, shown, marks[c.name]) for c in timed)

            try:
                wait_until_sync(seen, SEEN_S, f"every consumer to show flash {len(flashes)}")
            except AssertionError:
                missed = [c.name for c in timed if not seen()]
                log.warning("flash %d: not shown within %g s by %s", len(flashes), SEEN_S, missed)
            time.sleep(random.uniform(*GAP_S))  # the pace of flashes, not a wait for anything
    finally:
        for consumer in consumers:
            consumer.stop()
        if flashes and flashes[-1][1]:
            camera.set_pattern("black")  # the next phase starts on black
    return flashes


def measure(duration: float, tmp: Path) -> dict[str, Any]:
    """Two phases of ``duration / 2`` s on one camera: the fast consumers (``frames()`` and OpenCV side by
    side), then the working ones (four 720p decoders at once starve a busy 2-core machine)."""
    cv2_version = opencv_version()
    if cv2_version is None:
        log.warning("frames_latency: no OpenCV reference: %s", NO_OPENCV)
    camera = TestCamera(width=WIDTH, height=HEIGHT, fps=FPS, pattern="black", keyint=FPS)
    per: dict[str, list[dict[str, float] | None]] = {}
    pictures: dict[str, int] = {}
    errors: dict[str, str] = {}
    flashes = 0
    with camera:
        hub = rn.connect(local=True, store=str(tmp / "frames_latency.db"))
        cam = hub.add(camera.url, label="flash")
        try:
            for kind, work in (("fast", 0.0), ("work", WORK_S)):
                consumers = [Consumer(f"frames_{kind}", frames_pictures(cam), work)]
                if cv2_version is not None:
                    consumers.append(Consumer(f"opencv_{kind}", opencv_pictures(camera.url), work))
                phase = flash_phase(camera, consumers, duration / 2)
                flashes += len(phase)
                for c in consumers:
                    per[c.name] = timings(c, phase)
                    pictures[c.name] = len(c.stamps)
                    if c.error:
                        errors[c.name] = c.error
        finally:
            cam.remove()
    figures: dict[str, Any] = {}
    for name, records in per.items():
        seen = [r for r in records if r is not None]
        figures[name] = {
            "flashes_seen": len(seen),
            "flashes": len(records),
            "flash_ms": summary([r["flash_ms"] for r in seen]),
            "age_ms": summary([r["age_ms"] for r in seen]),
            "pictures": pictures[name],
        }
    age = {name: f["age_ms"]["median"] for name, f in figures.items()}
    result: dict[str, Any] = {
        "duration_s": duration,
        "flashes": flashes,
        "camera": f"GStreamer videotestsrc black/white {WIDTH}x{HEIGHT}@{FPS}, x264 zerolatency, "
        f"keyframe every {FPS} frames",
        "work_ms": WORK_S * 1000,
        "opencv": cv2_version,
        "opencv_note": None if cv2_version else NO_OPENCV,
        "errors": errors,
        "consumers": figures,
        "median_age_ms": age,
        "median_flash_ms": {name: f["flash_ms"]["median"] for name, f in figures.items()},
        "records": {name: records for name, records in per.items()},
    }
    result["frames_over_opencv_ms"] = {
        kind: _minus(age.get(f"frames_{kind}"), age.get(f"opencv_{kind}")) for kind in ("fast", "work")
    }
    result["work_over_fast_ms"] = {
        "frames": _minus(age.get("frames_work"), age.get("frames_fast")),
        "opencv": _minus(age.get("opencv_work"), age.get("opencv_fast")),
    }
    return result


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of flashes")
    parser.add_argument("--json", type=Path, default=Path("bench/results/frames_latency.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.duration, Path(tmp))
    rows: dict[str, Any] = {f"age {k} (ms)": v for k, v in result["median_age_ms"].items()}
    rows.update({f"flash -> array {k} (ms)": v for k, v in result["median_flash_ms"].items()})
    rows.update({f"frames - opencv, {k} (ms)": v for k, v in result["frames_over_opencv_ms"].items()})
    rows.update({f"work - fast, {k} (ms)": v for k, v in result["work_over_fast_ms"].items()})
    report(result, rows, args.json)


if __name__ == "__main__":
    main()
