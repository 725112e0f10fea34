"""FFmpeg's own start-up with different input flags: spawn → first I-frame on stdout.

    python -m bench.ffmpeg_flags [--runs 5] [--json bench/results/ffmpeg_flags.json]

The camera sends a keyframe every 0.2 s, so the figures are mostly FFmpeg's probing and buffering.
Each variant is the relay's grid argv with one input flag changed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

from bench.first_video import first_iframe
from rtsp_notebook.ffmpeg import Profile, find_ffmpeg, relay_argv
from rtsp_notebook.sources import parse_source
from tests.camera import TestCamera

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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("bench/results/ffmpeg_flags.json"))
    args = parser.parse_args()
    table = asyncio.run(main(args.runs))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"median_ms": table, "runs": args.runs}, indent=2))
    for name, ms in table.items():
        sys.stdout.write(f"{name:45s} {ms:8.1f} ms\n")
