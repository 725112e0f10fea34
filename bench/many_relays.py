"""64 cameras: the CPU of 64 source relays (the camera's own H.264 copied), one H.264 viewer each.

    python -m bench.many_relays [--streams 64] [--cameras 2] [--size 360p] [--window 30] [--json PATH]

``--cameras`` GStreamer test cameras (``--size`` 640x360 or 1280x720 at 25 fps, ``smpte`` scrolling 4 px a
frame: the busy picture ``bench.cpu`` measures; x264 zerolatency, a keyframe a second) each serve
``streams / cameras`` streams: the same camera added again and again under distinct URLs (the store keeps
one stream per URL: the query string differs, ``?n=7``, and the camera serves every one of them from its
one shared encoder). Each stream gets one ``codec="h264"`` viewer, ``engine.subscribe(id, "grid",
codec="h264")``, that takes its subscription's bytes as they come (a viewer such as a WebSocket: no
parsing), so each stream runs exactly its source relay: one FFmpeg copying the camera's H.264 into
MPEG-TS, and the relay fanning it out. The engine's ``max_relays`` is raised to the number of streams.

Once every viewer is getting bytes, the CPU of this process (the engine, the relays, the viewers) and of
every FFmpeg it started is read over ``--window`` seconds (psutil), the cameras' own CPU apart (they are
the cameras, not us). Target (issue 14): 64 cameras in at most 1 core on the 2-core machine. What the
Jupyter server adds per WebSocket viewer is ``bench.cpu``'s figure 6.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench._common import Sink, cpu_seconds
from bench._report import report
from rtsp_notebook.engine import Engine
from rtsp_notebook.media.ffmpeg import Profile
from tests.harness.camera import TestCamera
from tests.harness.helpers import engine_for, ffmpeg_children, wait_until

log = logging.getLogger(__name__)

SIZES = {"360p": (640, 360), "720p": (1280, 720)}
FPS = 25
PATTERN = ("smpte", 4)  # as bench.cpu: a busy picture, scrolling (about 2 Mb/s at 720p25)
TARGET_CORES = 1.0
START_S = 60.0  # a batch of relays' first bytes
BATCH = 8


async def started(engine: Engine, sinks: list[Sink]) -> None:
    """Wait until every viewer has had bytes; else fail naming the relays' states."""
    try:
        await wait_until(lambda: all(s.bytes for s in sinks), START_S, f"bytes for {len(sinks)} viewers")
    except AssertionError:
        states = collections.Counter(str(r.state) for r in engine.stats())
        waiting = sum(1 for s in sinks if not s.bytes)
        raise AssertionError(
            f"{waiting} of {len(sinks)} viewers had no bytes in {START_S:g} s; relays: {dict(states)}"
        ) from None


def with_query(url: str, n: int) -> str:
    return f"{url}?n={n}"


def cores(pids: list[int], window: dict[int, float], wall: float) -> float:
    """Cores used over the window by ``pids`` (CPU seconds since ``window`` was read, per wall second)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += cpu_seconds(pid) - window[pid]
    return round(total / wall, 4)


async def measure(streams: int, cameras: int, window: float, tmp: Path, size: str = "360p") -> dict[str, Any]:
    name, speed = PATTERN
    width, height = SIZES[size]
    cams = [
        TestCamera(width=width, height=height, fps=FPS, pattern=name, horizontal_speed=speed, keyint=FPS)
        for _ in range(cameras)
    ]
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        for camera in cams:
            stack.enter_context(camera)
        async with engine_for(tmp, max_relays=streams) as engine:
            sinks: list[Sink] = []
            try:
                began = time.monotonic()
                for n in range(streams):
                    camera = cams[n % cameras]
                    stream = await engine.add_stream(with_query(camera.url, n), label=f"cam {n}")
                    sub = await engine.subscribe(stream.id, Profile.GRID, "h264")
                    sinks.append(Sink(sub, analyze=False))
                    if len(sinks) % BATCH == 0 or n == streams - 1:
                        # a batch at a time: 64 FFmpeg probing their camera at once on 2 cores time out
                        await started(engine, sinks)
                started_s = time.monotonic() - began
                await asyncio.sleep(2.0)  # past the start-up bursts (keyframe caches, probes)
                ffmpegs = [p.pid for p in ffmpeg_children()]
                ours = [os.getpid()]
                camera_pids = [c.pid for c in cams if c.pid is not None]
                every = ffmpegs + ours + camera_pids
                c0 = {pid: cpu_seconds(pid) for pid in every}
                b0, t0 = [s.bytes for s in sinks], time.monotonic()
                await asyncio.sleep(window)  # the measurement window
                wall = time.monotonic() - t0
                got = [s.bytes - b for s, b in zip(sinks, b0, strict=True)]
                ffmpeg_core = cores(ffmpegs, c0, wall)
                ours_core = cores(ours, c0, wall)
                camera_core = cores(camera_pids, c0, wall)
                stats = engine.stats()
                running = engine.running_relays
            finally:
                for sink in sinks:
                    await sink.stop()
    total = round(ffmpeg_core + ours_core, 3)
    fps = sorted(s.fps for s in stats if s.profile == Profile.SOURCE.value)
    # cameras that cannot serve every session at their rate make every relay cheaper: scale the figure to
    # the source rate (a copy relay's cost follows its packets), and check the target against that
    mean_fps = sum(fps) / len(fps) if fps else 0.0
    scaled = round(total * FPS / mean_fps, 3) if mean_fps > 0 else None
    result = {
        "streams": streams,
        "cameras": cameras,
        "camera": f"GStreamer videotestsrc {name} scrolling {speed} px/frame {width}x{height}@{FPS}, "
        f"x264 zerolatency, keyframe every {FPS} frames; each camera serves {streams // cameras} streams",
        "window_s": round(wall, 2),
        "started_s": round(started_s, 1),
        "ffmpeg_processes": len(ffmpegs),
        "running_relays": running,
        "total_core": total,
        "per_stream_core": round(total / streams, 4),
        "relay_fps_mean": round(mean_fps, 1),
        "total_core_at_source_rate": scaled,
        "core_for_64_at_source_rate": None if scaled is None else round(scaled * 64 / streams, 3),
        "ffmpeg_core": round(ffmpeg_core, 3),
        "process_core": round(ours_core, 3),
        "cameras_core": round(camera_core, 3),
        "target_core": TARGET_CORES,
        "viewer_mbit_s_min": round(min(got) * 8 / wall / 1e6, 2),
        "viewer_mbit_s_total": round(sum(got) * 8 / wall / 1e6, 1),
        "viewers_without_bytes": sum(1 for g in got if g == 0),
        "relay_fps_min": fps[0] if fps else None,
        "relay_fps_median": fps[len(fps) // 2] if fps else None,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": psutil.cpu_count(),
    }
    log.info("many_relays: %s", result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--window", type=float, default=30.0, help="seconds of CPU measurement")
    parser.add_argument("--size", choices=SIZES, default="360p", help="the cameras' picture size")
    parser.add_argument("--json", type=Path, default=Path("bench/results/many_relays.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(args.streams, args.cameras, args.window, Path(tmp), args.size))
    keys = (
        "total_core", "total_core_at_source_rate", "core_for_64_at_source_rate", "relay_fps_mean",
        "per_stream_core", "ffmpeg_core", "process_core", "cameras_core", "ffmpeg_processes",
        "viewer_mbit_s_min", "relay_fps_min", "started_s",
    )  # fmt: skip
    report(result, {k: result[k] for k in keys}, args.json)


if __name__ == "__main__":
    main()
