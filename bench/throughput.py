"""Throughput of one stream and a slow viewer: the relay's fan-out with no cap, in process.

    python -m bench.throughput [--window 3] [--json bench/results/throughput.json]

The relay (``rtsp_notebook.media.relay.Relay`` with its default limits, as the engine builds it) runs an
FFmpeg that
copies a looping MPEG-1 MPEG-TS file (1280x720, ``-q:v 2``, a keyframe a second; FFmpeg makes it from
``testsrc2`` first) to stdout with ``-c copy`` and no rate limit, so the bytes a second its subscribers take
are what the relay can push (FFmpeg alone copies that file at several hundred MB/s). Over a fixed window:

* one subscriber that reads as fast as it can: MB/s delivered to it (1 MB = 10^6 bytes);
* N subscribers (10): MB/s delivered to each, and in all;
* a slow viewer: one subscriber that never reads, beside one that does: the never-reading one's peak
  queued bytes (its budget is 2 MiB), its drops, and whether what it gets when it reads again starts
  with PAT, PMT and an I-frame; the reading one's rate beside it, against its rate alone.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import MB, Sink
from bench._report import report
from rtsp_notebook.media.ffmpeg import find_ffmpeg
from rtsp_notebook.media.mpegts import PACKET_SIZE, TsAnalyzer
from rtsp_notebook.media.relay import Relay, RelayConfig
from rtsp_notebook.media.subscription import Subscription
from tests.harness.helpers import pid_of, wait_until

FANOUT = 10


def make_source(ffmpeg: str, path: Path) -> None:
    """4 s of 1280x720 MPEG-1 at quantiser 2 (≈ 1.4 MB/s at 25 fps) in MPEG-TS."""
    subprocess.run(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi",
         "-i", "testsrc2=size=1280x720:rate=25", "-t", "4", "-c:v", "mpeg1video", "-q:v", "2",
         "-g", "25", "-bf", "0", "-f", "mpegts", "-y", str(path)],
        check=True, timeout=120,
    )  # fmt: skip


def loop_argv(ffmpeg: str, path: Path) -> list[str]:
    return [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-stream_loop", "-1", "-i", str(path),
        "-c", "copy", "-f", "mpegts", "pipe:1",
    ]  # fmt: skip


def starts_at_keyframe(data: bytes) -> bool:
    """Whether ``data`` starts with a PAT packet and its first picture is an I-frame."""
    if len(data) < PACKET_SIZE or pid_of(data[:PACKET_SIZE]) != 0:
        return False
    analyzer = TsAnalyzer()
    for at in range(0, len(data) - PACKET_SIZE + 1, PACKET_SIZE):
        analyzer.feed(data[at : at + PACKET_SIZE])
        if analyzer.frames:
            return analyzer.keyframes == 1
    return False


async def first_bytes(sub: Subscription, timeout: float = 10.0) -> bytes:
    """What a subscription hands out first when it is read again (events skipped), up to one picture."""
    data = b""
    deadline = time.monotonic() + timeout
    while len(data) < 64 * 1024:
        item = await asyncio.wait_for(sub.get(), max(0.01, deadline - time.monotonic()))
        if isinstance(item, bytes):
            data += item
    return data


async def rates(argv: list[str], readers: int, window: float, stuck: bool = False) -> dict[str, Any]:
    """Bytes a second each reading subscriber got over ``window``; with ``stuck``, one more never reads."""
    relay = Relay("bench", "grid", argv, config=RelayConfig(idle_timeout=0.1))
    stuck_sub = relay.subscribe() if stuck else None
    sinks = [Sink(relay.subscribe(), analyze=False) for _ in range(readers)]
    try:
        await wait_until(lambda: all(s.bytes > 4 * MB for s in sinks), 30, "the relay's first megabytes")
        before, t0, bytes_in = [s.bytes for s in sinks], time.monotonic(), relay.bytes_in
        await asyncio.sleep(window)  # the measurement window
        wall = time.monotonic() - t0
        each = [(s.bytes - b) / wall / MB for s, b in zip(sinks, before, strict=True)]
        result: dict[str, Any] = {
            "readers": readers,
            "window_s": round(wall, 2),
            "mb_per_s_each": [round(x, 1) for x in each],
            "mb_per_s_min": round(min(each), 1),
            "mb_per_s_total": round(sum(each), 1),
            "relay_in_mb_per_s": round((relay.bytes_in - bytes_in) / wall / MB, 1),
            "reader_drops": sum(s.sub.drops for s in sinks),
        }
        if stuck_sub is not None:
            result["stuck"] = {
                "budget_bytes": stuck_sub.budget,
                "peak_queued_bytes": stuck_sub.peak_queued_bytes,
                "drops": stuck_sub.drops,
                "dropped_mb": round(stuck_sub.dropped_bytes / MB, 1),
                "closed": stuck_sub.closed_reason,
            }
            data = await first_bytes(stuck_sub)
            result["stuck"]["resumes_at_keyframe"] = starts_at_keyframe(data)
        return result
    finally:
        for sink in sinks:
            await sink.stop()
        await relay.stop()


async def measure(window: float, tmp: Path) -> dict[str, Any]:
    ffmpeg = find_ffmpeg().path
    source = tmp / "source.ts"
    await asyncio.to_thread(make_source, ffmpeg, source)
    argv = loop_argv(ffmpeg, source)
    one = await rates(argv, 1, window)
    many = await rates(argv, FANOUT, window)
    slow = await rates(argv, 1, window, stuck=True)
    return {
        "source": "FFmpeg -stream_loop -1 -c copy of a 4 s 1280x720 MPEG-1 q2 TS file (no rate limit)",
        "one_reader": one,
        "fan_out": many,
        "slow_viewer": {
            **slow["stuck"],
            "reader_mb_per_s": slow["mb_per_s_min"],
            "reader_alone_mb_per_s": one["mb_per_s_min"],
            "reader_rate_vs_alone": round(slow["mb_per_s_min"] / one["mb_per_s_min"], 3),
            "reader_drops": slow["reader_drops"],
            "window_s": slow["window_s"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument("--json", type=Path, default=Path("bench/results/throughput.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(args.window, Path(tmp)))
    slow = result["slow_viewer"]
    rows = {
        "1 subscriber (MB/s)": result["one_reader"]["mb_per_s_min"],
        f"{FANOUT} subscribers, each (MB/s)": result["fan_out"]["mb_per_s_min"],
        "slow viewer peak queued (bytes)": slow["peak_queued_bytes"],
        "slow viewer drops": slow["drops"],
        "slow viewer resumes at an I-frame": slow["resumes_at_keyframe"],
        "reader beside it / alone": slow["reader_rate_vs_alone"],
    }
    report(result, rows, args.json)


if __name__ == "__main__":
    main()
