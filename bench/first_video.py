"""First video through the relay, WebSocket-free: subscriber attach → first I-frame bytes.

    python -m bench.first_video [--runs 7] [--json bench/results/first_video.json]

Measures on the GStreamer test camera (640x360 at 25 fps, one camera keyframe per second):

* cold: a fresh relay (FFmpeg started by the first subscriber) → the first bytes holding an I-frame;
* warm: a new subscriber on a running relay → its first bytes (PSI + the keyframe cache);
* reference: the predecessor's FFmpeg argv alone → its first I-frame bytes on stdout;
* ffmpeg alone: the relay's own argv run without the relay → its first I-frame bytes on stdout, so
  that cold - ffmpeg alone is what the relay adds.

Prints a table of medians and writes every sample as JSON.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from bench._report import arguments, report
from rtsp_notebook.media.events import EventKind
from rtsp_notebook.media.ffmpeg import Profile, find_ffmpeg, relay_argv
from rtsp_notebook.media.mpegts import PacketAligner, TsAnalyzer
from rtsp_notebook.media.process import FFmpegProcess
from rtsp_notebook.media.sources import parse_source
from tests.harness.camera import TestCamera
from tests.harness.helpers import Reader, engine_for, wait_until

PREDECESSOR_ARGS = (
    "-rtsp_transport tcp -fflags nobuffer -flags low_delay -probesize 32 -analyzeduration 0 -i {url} "
    "-f mpegts -codec:v mpeg1video -q:v 6 -r 25 -g 50 -bf 0 -an -muxdelay 0 -muxpreload 0 pipe:1"
)


async def first_iframe(argv: list[str]) -> float:
    """Seconds from spawning ``argv`` to the first stdout bytes that complete an I-frame's start."""
    t0 = time.monotonic()
    proc = await FFmpegProcess.spawn(argv, name="bench")
    try:
        aligner, analyzer = PacketAligner(), TsAnalyzer()
        while True:
            chunk = await proc.read(20)
            if not chunk:
                raise RuntimeError(f"FFmpeg ended early: {proc.stderr_tail()}")
            analyzer.feed(aligner.feed(chunk))
            if analyzer.keyframes:
                return time.monotonic() - t0
    finally:
        await proc.stop(1.0)


async def relay_cold_and_warm(url: str, tmp: Path) -> tuple[float, float]:
    async with engine_for(tmp, idle_timeout=0.1) as engine:
        stream = await engine.add_stream(url)
        t0 = time.time()
        first = Reader(await engine.subscribe(stream.id))
        # the relay emits video_start in the same step in which it hands the first I-frame out
        started = await first.wait_event(EventKind.VIDEO_START, timeout=20)
        cold = started.at - t0
        relay = engine.relay(stream.id)
        assert relay is not None
        await wait_until(lambda: relay.warm_start(), 5, "a keyframe cache")
        t1 = time.monotonic()
        second = Reader(await engine.subscribe(stream.id))
        await wait_until(lambda: second.first_bytes_at, 5, "warm bytes")
        warm = (second.first_bytes_at or 0) - t1
        await first.stop()
        await second.stop()
        return cold, warm


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)


async def main(runs: int) -> dict[str, object]:
    ffmpeg = find_ffmpeg().path
    samples: dict[str, list[float]] = {
        "cold": [],
        "warm": [],
        "predecessor_cold": [],
        "ffmpeg_alone": [],
    }
    camera = TestCamera(width=640, height=360, fps=25, pattern="ball", keyint=25)
    camera.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(runs):
                cold, warm = await relay_cold_and_warm(camera.url, Path(tempfile.mkdtemp(dir=tmp)))
                samples["cold"].append(cold)
                samples["warm"].append(warm)
                pred = [ffmpeg, "-hide_banner", *PREDECESSOR_ARGS.format(url=camera.url).split()]
                samples["predecessor_cold"].append(await first_iframe(pred))
                ours = relay_argv(ffmpeg, parse_source(camera.url), Profile.GRID)
                samples["ffmpeg_alone"].append(await first_iframe(ours))
    finally:
        camera.stop()
    table = {name: median_ms(values) for name, values in samples.items()}
    result = {
        "command": f"python -m bench.first_video --runs {runs}",
        "camera": "GStreamer videotestsrc ball 640x360@25, x264 keyframe every 25 frames",
        "median_ms": table,
        "ratio_cold_vs_predecessor": round(table["cold"] / table["predecessor_cold"], 3),
        "samples_s": {k: [round(v, 4) for v in vs] for k, vs in samples.items()},
    }
    return result


def run() -> None:
    args = arguments(__doc__, "first_video", runs=7)
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(main(args.runs))
    rows = {**result["median_ms"], "cold / predecessor": result["ratio_cold_vs_predecessor"]}  # type: ignore[dict-item]
    report(result, rows, args.json)


if __name__ == "__main__":
    run()
