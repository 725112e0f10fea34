"""Latency by flashing the camera: it turns white (then black, then white...) on command, and every pipeline
below decodes its picture to a tiny grey image; the time its first white (black) picture comes out, minus
the time the camera's first white (black) picture left its source, is that pipeline's latency.

    python -m bench.flash [--duration 60] [--variants] [--json bench/results/flash.json]

The camera (GStreamer ``videotestsrc``, 640x360 at 25 fps, x264 zerolatency, a keyframe a second) reports
the wall-clock time its first picture of the new colour left the source (``TestCamera.set_pattern``); the
pipelines run side by side on that one camera, so every flash is measured by all of them at once:

* ``relay_full`` / ``relay_grid``: the relay (in-process engine) for the full / grid profile, its
  subscription's bytes written to a decoding FFmpeg;
* ``argv_alone_full``: the relay's own full-profile FFmpeg argv, its stdout piped straight into the same
  decoding FFmpeg (no relay): ``relay_full - argv_alone_full`` is the relay's own part;
* ``ffmpeg_alone``: one FFmpeg with low-delay flags reading the camera and decoding it (DESIGN §6's
  reference: "FFmpeg alone"): ``relay_full - ffmpeg_alone`` is what the relay path adds (its MPEG-1
  encoding, TS muxing, the relay, and the MPEG-1 decoding a viewer does);
* ``predecessor``: the predecessor's FFmpeg argv piped into the same decoding FFmpeg.

With ``--variants``, also the relay's full-profile argv piped straight into a decoder with changes that
each remove a picture's wait: ``argv_pes_length`` (``-omit_video_pes_length 0``: the muxer writes each video
PES's length, so a demuxer, FFmpeg's or JSMpeg's, can hand a picture on without waiting for the next PES),
``argv_no_fps_filter`` (no ``fps`` filter, which holds a picture until the next one's timestamp is known)
and ``argv_both``.

Every decoder writes ``-vf scale=32:18 -pix_fmt gray`` raw pictures with ``-flush_packets 1``; a picture
counts as white when its mean is over 128. A reader thread per decoder stamps each picture with
``time.time()`` as it arrives. Flashes come every 0.4-0.8 s (random, so they do not lock to the frame
clock) for ``--duration`` seconds; the drift is the trend of the latency over that span.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench._common import median, predecessor_argv, stop_process
from bench._report import report
from rtsp_notebook.media.ffmpeg import Profile, find_ffmpeg, relay_argv, source_argv
from rtsp_notebook.media.sources import parse_source
from rtsp_notebook.media.subscription import Subscription, SubscriptionClosed
from tests.harness.camera import TestCamera
from tests.harness.helpers import engine_for, wait_until

WIDTH, HEIGHT = 32, 18
PICTURE = WIDTH * HEIGHT
THRESHOLD = 128
GAP_S = (0.4, 0.8)
VARIANTS: dict[str, dict[str, bool]] = {
    "argv_pes_length": {"pes_length": True},
    "argv_no_fps_filter": {"fps_filter": False},
    "argv_both": {"pes_length": True, "fps_filter": False},
}
LOW_DELAY = ["-fflags", "nobuffer", "-flags", "low_delay"]
TINY_GREY = [
    "-an", "-vf", f"scale={WIDTH}:{HEIGHT}", "-fps_mode", "passthrough",
    "-f", "rawvideo", "-pix_fmt", "gray", "-flush_packets", "1", "pipe:1",
]  # fmt: skip


def variant(argv: list[str], pes_length: bool = False, fps_filter: bool = True) -> list[str]:
    """The relay's argv with the muxer writing video PES lengths, and/or without its fps filter."""
    out = list(argv)
    if not fps_filter:
        at = out.index("-vf")
        chain = out[at + 1]  # "fps=fps='<expression with commas>'[,scale=...]"
        assert chain.startswith("fps=fps='"), chain
        rest = chain[chain.index("'", len("fps=fps='")) + 1 :].lstrip(",")
        out[at : at + 2] = ["-vf", rest] if rest else []
    if pes_length:
        out[-1:-1] = ["-omit_video_pes_length", "0"]
    return out


def decoder_argv(ffmpeg: str, *, copy: bool = False) -> list[str]:
    """A decoding FFmpeg: MPEG-TS on stdin → tiny grey pictures on stdout, as soon as each is decoded.
    ``copy``: the source relay's copy of the camera's H.264, read as ``frames()`` reads it (no parser: the
    relay writes one access unit per PES with its length, and FFmpeg's H.264 parser would hold each
    picture until the next one begins)."""
    flags = ["-fflags", "nobuffer+noparse+nofillin", "-flags", "low_delay"] if copy else LOW_DELAY
    return [
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        *flags,
        "-f",
        "mpegts",
        "-i",
        "pipe:0",
        *TINY_GREY,
    ]


def alone_argv(ffmpeg: str, url: str) -> list[str]:
    """FFmpeg alone with low-delay flags: the camera → tiny grey pictures."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", *LOW_DELAY,
        "-analyzeduration", "100000", "-i", url, *TINY_GREY,
    ]  # fmt: skip


class Watch:
    """Stamps every picture a decoding FFmpeg writes with ``time.time()`` (in a thread of its own)."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        self.name = name
        self.proc = proc
        self.pictures: list[tuple[float, float]] = []  # (arrival, mean grey)
        self._thread = threading.Thread(target=self._run, name=f"watch {name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        out = self.proc.stdout
        assert out is not None
        with contextlib.suppress(OSError, ValueError):
            while len(data := out.read(PICTURE)) == PICTURE:
                self.pictures.append((time.time(), sum(data) / PICTURE))

    def first(self, white: bool, after: float, start: int) -> float | None:
        """Arrival of the first picture from index ``start`` on, later than ``after``, of that colour."""
        for at, mean in self.pictures[start:]:
            if at > after and (mean > THRESHOLD) == white:
                return at
        return None

    def join(self) -> None:
        self._thread.join(5)


async def pump(sub: Subscription, proc: subprocess.Popen[bytes]) -> None:
    """A relay subscription's bytes → a decoder's stdin, never blocking the loop."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.connect_write_pipe(asyncio.Protocol, proc.stdin)
    try:
        while True:
            item = await sub.get()
            if isinstance(item, bytes) and not transport.is_closing():
                transport.write(item)
    except SubscriptionClosed:
        pass
    finally:
        transport.close()


def trend(records: list[dict[str, Any]], key: str, span: float) -> dict[str, float]:
    """Median of ``key`` over the first and the last ``span`` seconds, and a least-squares slope."""
    points = [(r["at_s"], r[key]) for r in records if r.get(key) is not None]
    end = points[-1][0]
    first = [v for t, v in points if t <= span]
    last = [v for t, v in points if t >= end - span]
    slope = statistics.linear_regression([t / 60 for t, _ in points], [v for _, v in points]).slope
    return {
        "first_window_ms": round(median(first), 1),
        "last_window_ms": round(median(last), 1),
        "change_ms": round(median(last) - median(first), 1),
        "slope_ms_per_min": round(slope, 2),
        "window_s": span,
    }


async def measure(duration: float, tmp: Path, variants: bool = False) -> dict[str, Any]:
    ffmpeg = find_ffmpeg().path
    camera = TestCamera(width=640, height=360, fps=25, pattern="black", keyint=25)
    records: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        stack.enter_context(camera)
        procs: list[subprocess.Popen[bytes]] = []

        def spawn(argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
            kw.setdefault("stdin", subprocess.DEVNULL)
            proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL, start_new_session=True, **kw)
            procs.append(proc)
            stack.callback(stop_process, proc)
            return proc

        def piped(producer: list[str], copy: bool = False) -> subprocess.Popen[bytes]:
            source = spawn(producer, stdout=subprocess.PIPE)
            decoder = spawn(decoder_argv(ffmpeg, copy=copy), stdin=source.stdout, stdout=subprocess.PIPE)
            assert source.stdout is not None
            source.stdout.close()  # the decoder holds it now
            return decoder

        watches: dict[str, Watch] = {}
        async with engine_for(tmp) as engine:
            stream = await engine.add_stream(camera.url)
            pumps = []
            relays = (("relay_full", Profile.FULL, "mpeg1"), ("relay_grid", Profile.GRID, "mpeg1"))
            for name, profile, codec in (*relays, ("relay_h264", Profile.FULL, "h264")):
                argv = decoder_argv(ffmpeg, copy=codec == "h264")
                decoder = spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                sub = await engine.subscribe(stream.id, profile, codec)
                pumps.append(asyncio.create_task(pump(sub, decoder)))
                watches[name] = Watch(name, decoder)
            ours = relay_argv(ffmpeg, parse_source(camera.url), Profile.FULL)
            watches["argv_alone_full"] = Watch("argv_alone_full", piped(ours))
            copy = source_argv(ffmpeg, parse_source(camera.url), transport="tcp")
            watches["argv_alone_copy"] = Watch("argv_alone_copy", piped(copy, copy=True))
            watches["ffmpeg_alone"] = Watch(
                "ffmpeg_alone", spawn(alone_argv(ffmpeg, camera.url), stdout=subprocess.PIPE)
            )
            watches["predecessor"] = Watch("predecessor", piped(predecessor_argv(ffmpeg, camera.url)))
            if variants:
                for name, changes in VARIANTS.items():
                    watches[name] = Watch(name, piped(variant(ours, **changes)))
            try:
                try:
                    await wait_until(
                        lambda: all(len(w.pictures) >= 10 for w in watches.values()), 60, "pictures"
                    )
                except AssertionError:
                    counts = ", ".join(f"{n}: {len(w.pictures)}" for n, w in watches.items())
                    raise AssertionError(f"a pipeline made no pictures in 60 s ({counts})") from None
                began = time.monotonic()
                white = True
                while time.monotonic() - began < duration:
                    marks = {n: len(w.pictures) for n, w in watches.items()}
                    pattern = "white" if white else "black"
                    switched, shown = await asyncio.to_thread(camera.set_pattern, pattern)
                    assert shown is not None, "the camera made no picture"

                    def seen(
                        shown: float = shown, marks: dict[str, int] = marks, white: bool = white
                    ) -> dict[str, float] | None:
                        found = {n: w.first(white, shown, marks[n]) for n, w in watches.items()}
                        return found if all(found.values()) else None  # type: ignore[return-value]

                    arrived = await wait_until(seen, 10, f"every pipeline to show {pattern}")
                    record: dict[str, Any] = {
                        "at_s": round(time.monotonic() - began, 3),
                        "to": pattern,
                        "switch_to_picture_ms": round((shown - switched) * 1000, 1),
                    }
                    record.update({n: round((at - shown) * 1000, 1) for n, at in arrived.items()})
                    record["relay_full_adds"] = round(record["relay_full"] - record["ffmpeg_alone"], 1)
                    record["relay_grid_adds"] = round(record["relay_grid"] - record["ffmpeg_alone"], 1)
                    record["relay_h264_adds"] = round(record["relay_h264"] - record["ffmpeg_alone"], 1)
                    record["relay_own"] = round(record["relay_full"] - record["argv_alone_full"], 1)
                    record["relay_h264_own"] = round(record["relay_h264"] - record["argv_alone_copy"], 1)
                    records.append(record)
                    white = not white
                    await asyncio.sleep(random.uniform(*GAP_S))  # the pace of flashes, not a wait
            finally:
                for task in pumps:
                    task.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        for proc in procs:
            stop_process(proc)
        for watch in watches.values():
            watch.join()
    keys = (*watches, "relay_full_adds", "relay_grid_adds", "relay_h264_adds", "relay_own", "relay_h264_own")
    span = 60.0 if duration >= 180 else max(5.0, duration / 3)
    return {
        "duration_s": duration,
        "flashes": len(records),
        "camera": "GStreamer videotestsrc black/white 640x360@25, x264 zerolatency, keyframe every 25 frames",
        "median_ms": {k: round(median(r[k] for r in records), 1) for k in keys},
        "p90_ms": {k: round(statistics.quantiles([r[k] for r in records], n=10)[-1], 1) for k in keys},
        "drift": {k: trend(records, k, span) for k in ("relay_full", "relay_full_adds", "ffmpeg_alone")},
        "records": records,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of flashes")
    parser.add_argument("--variants", action="store_true", help="also time argv variants (see above)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/flash.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(measure(args.duration, Path(tmp), args.variants))
    rows = {f"median {k}": v for k, v in result["median_ms"].items()}
    rows.update({f"drift {k} (ms/min)": d["slope_ms_per_min"] for k, d in result["drift"].items()})
    report(result, rows, args.json)


if __name__ == "__main__":
    main()
