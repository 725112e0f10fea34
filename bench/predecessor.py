"""The predecessor's figures that can be measured without its app: its FFmpeg argv on the same test camera.

    python -m bench.predecessor [--runs 5] [--json bench/results/predecessor.json]

On the GStreamer test camera (640x360 at 25 fps, a keyframe a second):

* join: the predecessor kept no keyframe cache, so a viewer joining its running pipe waits for the next
  I-frame of its output (``-g 50`` at 25 fps). Its FFmpeg runs for a while and the arrival time of every
  I-frame on its stdout is taken; the wait of a viewer joining at an instant is the time to the next one,
  over join instants every 10 ms: median and maximum.
* grab: a one-shot picture with the predecessor's input flags (``-probesize 32 -analyzeduration 0`` ...):
  spawn → the JPEG on stdout and the process gone, as a thumbnail of an idle camera would take.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

from bench._common import median, predecessor_argv, rounded
from bench._report import arguments, report
from rtsp_notebook.media.ffmpeg import find_ffmpeg
from rtsp_notebook.media.mpegts import PacketAligner, TsAnalyzer
from rtsp_notebook.media.process import FFmpegProcess
from tests.harness.camera import TestCamera

GRAB_INPUT = "-rtsp_transport tcp -fflags nobuffer -flags low_delay -probesize 32 -analyzeduration 0"


async def keyframe_times(argv: list[str], span: float) -> list[float]:
    """Arrival times (monotonic) of the I-frames FFmpeg writes over ``span`` seconds after its first."""
    proc = await FFmpegProcess.spawn(argv, name="predecessor")
    try:
        aligner, analyzer = PacketAligner(), TsAnalyzer()
        times: list[float] = []
        while not times or time.monotonic() - times[0] < span:
            chunk = await proc.read(20)
            if not chunk:
                raise RuntimeError(f"FFmpeg ended early: {proc.stderr_tail()}")
            before = analyzer.keyframes
            analyzer.feed(aligner.feed(chunk))
            if analyzer.keyframes > before:
                times.append(time.monotonic())
        return times
    finally:
        await proc.stop(1.0)


def join_waits(keyframes: list[float], step: float = 0.01) -> list[float]:
    """For join instants every ``step`` s between the first and the last I-frame: the wait to the next one."""
    waits = []
    t = keyframes[0]
    for nxt in keyframes[1:]:
        while t < nxt:
            waits.append(nxt - t)
            t += step
    return waits


async def grab(ffmpeg: str, url: str) -> float:
    argv = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", *GRAB_INPUT.split(), "-i", url]
    argv += ["-frames:v", "1", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"]
    t0 = time.monotonic()
    proc = await FFmpegProcess.spawn(argv, name="predecessor grab")
    try:
        data = b""
        while chunk := await proc.read(20):
            data += chunk
        await proc.wait()
        if not data.startswith(b"\xff\xd8"):
            raise RuntimeError(f"no JPEG from the grab: {proc.stderr_tail()}")
        return time.monotonic() - t0
    finally:
        await proc.stop(1.0)


async def measure(runs: int, span: float) -> dict[str, Any]:
    ffmpeg = find_ffmpeg().path
    with TestCamera(width=640, height=360, fps=25, pattern="ball", keyint=25) as camera:
        keyframes = await keyframe_times(predecessor_argv(ffmpeg, camera.url), span)
        grabs = [await grab(ffmpeg, camera.url) for _ in range(runs)]
    waits = join_waits(keyframes)
    gaps = [b - a for a, b in itertools.pairwise(keyframes)]
    return {
        "camera": "GStreamer videotestsrc ball 640x360@25, keyframe every 25 frames",
        "join_wait_ms": {
            "median": round(median(waits) * 1000, 1),
            "max": round(max(waits) * 1000, 1),
            "joins": len(waits),
            "keyframe_gaps_s": rounded(gaps, 3),
        },
        "grab_ms": {
            "median": round(median(grabs) * 1000, 1),
            "samples": rounded([g * 1000 for g in grabs], 1),
        },
        "grab_input": GRAB_INPUT,
    }


def run() -> None:
    args = arguments(__doc__, "predecessor", runs=5)
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(measure(args.runs, span=10.0))
    rows = {
        "join: wait for its next I-frame, median (ms)": result["join_wait_ms"]["median"],
        "join: max (ms)": result["join_wait_ms"]["max"],
        "one-shot grab (ms)": result["grab_ms"]["median"],
    }
    report(result, rows, args.json)


if __name__ == "__main__":
    run()
