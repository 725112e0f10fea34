"""FFmpeg's own start-up with different input flags: spawn → first I-frame on stdout.

    python -m bench.ffmpeg_flags [--runs 5] [--json bench/results/ffmpeg_flags.json]

The camera sends a keyframe every 0.2 s, so the figures are mostly FFmpeg's probing and buffering.
Each variant is the relay's grid argv with one input flag changed.
"""

from __future__ import annotations

import asyncio
import statistics

from bench._report import arguments, report
from bench.first_video import first_iframe
from rtsp_notebook.media.ffmpeg import Profile, find_ffmpeg, relay_argv
from rtsp_notebook.media.sources import parse_source
from tests.harness.camera import TestCamera

# name → (flag to set or None to remove, value)
VARIANTS: dict[str, list[tuple[str, str | None]]] = {
    "chosen: -analyzeduration 100000": [],
    "-analyzeduration 50000": [("-analyzeduration", "50000")],
    "-analyzeduration 200000": [("-analyzeduration", "200000")],
    "-analyzeduration 200000 -fflags nobuffer": [("-analyzeduration", "200000"), ("-fflags", "nobuffer")],
    "-analyzeduration 0": [("-analyzeduration", "0")],
    "default probing": [("-analyzeduration", "5000000"), ("-probesize", "5000000")],
}


def variant(argv: list[str], changes: list[tuple[str, str | None]]) -> list[str]:
    out = list(argv)
    for flag, value in changes:
        if flag in out:
            out[out.index(flag) + 1] = value or ""
        else:
            out[out.index("-i") : out.index("-i")] = [flag, value or ""]
    return out


async def main(runs: int) -> dict[str, float]:
    ffmpeg = find_ffmpeg().path
    camera = TestCamera(keyint=5).start()
    try:
        base = relay_argv(ffmpeg, parse_source(camera.url), Profile.GRID)
        return {
            name: round(
                statistics.median([await first_iframe(variant(base, ch)) for _ in range(runs)]) * 1000, 1
            )
            for name, ch in VARIANTS.items()
        }
    finally:
        camera.stop()


if __name__ == "__main__":
    args = arguments(__doc__, "ffmpeg_flags", runs=5)
    table = asyncio.run(main(args.runs))
    report({"median_ms": table, "runs": args.runs}, table, args.json, unit=" ms")
