"""Every figure of DESIGN §6 in one run, with the predecessor's FFmpeg pipeline measured beside it.

    python -m bench            # full: medians of several runs, 10 s windows, 50 viewers, 10 min of flashes
    python -m bench --short    # CI: 1-2 runs, 4 s windows, 20 viewers, 30 s of flashes (a few minutes)
    python -m bench --only flash,cpu --json /tmp/some.json

Prints one table (figure | ours | predecessor reference | ratio | target | met?) and writes one JSON
(``bench/results/all.json``, or ``all-short.json`` with ``--short``, unless ``--json`` says otherwise) with
the table's rows and every section's own samples. The sections are the benches of this package, each also a
command of its own:

* ``first_video`` (bench.first_video): subscribe → first I-frame in process, and the predecessor's argv alone;
* ``server`` (bench.server): a real ``jupyter server``: cold and warm first video over the WebSocket,
  FFmpeg processes for 20 viewers and after, thumbnails;
* ``predecessor`` (bench.predecessor): its wait for the next I-frame when a viewer joins, its one-shot grab;
* ``throughput`` (bench.throughput): fan-out MB/s with no cap, and a viewer that never reads;
* ``outage`` (bench.outage): the camera hangs (SIGSTOP) and is stopped, then comes back;
* ``cpu`` (bench.cpu): server CPU per extra WebSocket viewer, FFmpeg CPU per profile at 720p and 1080p;
* ``flash`` (bench.flash): latency by flashing the camera white/black, and its drift;
* ``frames_latency`` (bench.frames_latency): flash → numpy array, ``frames()`` against ``cv2.VideoCapture``
  (skipped, with a note, without opencv-python-headless: ``pip install '.[bench]'``);
* ``many_relays`` (bench.many_relays): CPU of 64 source relays with one H.264 viewer each;
* ``clips`` (bench.clips): a clip of the last 30 s from a stream's prebuffer (``cam.clip``) against FFmpeg
  alone recording 30 s from now on (go2rtc's way), the prebuffer's memory, a recording's CPU;
* ``browser`` (bench.browser.paths): the widget in Chromium, H.264 tiles (WebCodecs) beside MPEG-1 tiles
  (JSMpeg) of the same test cameras: fps and CPU of 16 and 32 tiles at 360p and 4 at 720p, kb/s, first
  pictures.

Each figure is one row of ``FIGURES`` below: the section whose result holds its value, its unit, its target
and the check of it, its reference and how that reads (the words: ``bench._figures``).

A reference is "measured" when this run measured it (the predecessor's FFmpeg argv, or FFmpeg alone); the
predecessor app itself is not here, so its other figures are DESIGN §6's numbers, marked "DESIGN". The ratio
is ours / the reference. Targets are DESIGN §6's; "met?" compares this run's median with it, on a shared
2-core machine where other jobs run too: read the figures with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from bench import (
    clips,
    cpu,
    first_video,
    flash,
    frames_latency,
    many_relays,
    outage,
    predecessor,
    server,
    throughput,
)
from bench._figures import (
    Each,
    Figure,
    Mode,
    Row,
    Scope,
    Shown,
    Text,
    at,
    at_least,
    at_most,
    equals,
    flag,
    markdown,
    truthy,
    within,
)
from bench.browser.figures import ROWS as BROWSER_ROWS
from bench.browser.paths import path_pages
from rtsp_notebook.media.ffmpeg import find_ffmpeg

MIB = 1 << 20

SHORT = Mode(
    True, 2, 1, 2.0, 30.0, 4.0, 1, 3.0,
    "short mode: 2 runs of first video and thumbnails, one outage, 2-4 s windows, fan-out up to 20 viewers "
    "(not 50), latency drift over 30 s (not 10 min), one browser run with 3 s windows; 3 clips, one 30 s "
    "from-now-on run, a 20 s recording (not 60 s) for its CPU",
)  # fmt: skip
FULL = Mode(
    False, 7, 3, 5.0, 600.0, 12.0, 3, 10.0,
    "full mode: 7 runs of first video and thumbnails, 3 outages, 5-10 s windows, fan-out up to 50 viewers, "
    "latency drift over 10 min, 3 browser runs with 10 s windows; 7 clips, 3 from-now-on runs, 3 recordings "
    "of 60 s for their CPU",
)  # fmt: skip


# -- the sections: what measures, in the order they run ---------------------------------------------------


@dataclass(frozen=True)
class Section:
    name: str
    run: Callable[[Mode, Path], Any]  # (mode, a fresh folder of its own) → its result (JSON and rows)


SECTIONS = {
    s.name: s
    for s in (
        Section("first_video", lambda m, _: asyncio.run(first_video.main(m.runs))),
        Section("server", lambda m, _: asyncio.run(server.measure(m.runs))),
        Section("predecessor", lambda m, _: asyncio.run(predecessor.measure(m.runs, m.join_span))),
        Section("throughput", lambda m, tmp: asyncio.run(throughput.measure(m.window, tmp))),
        Section("outage", lambda m, tmp: asyncio.run(outage.measure(m.outage_runs, tmp))),
        Section("cpu", lambda m, tmp: asyncio.run(cpu.measure(m.short, tmp))),
        Section("flash", lambda m, tmp: asyncio.run(flash.measure(m.flash_s, tmp))),
        Section("frames_latency", lambda m, tmp: frames_latency.measure(15.0 if m.short else 120.0, tmp)),
        Section(  # short (CI): 16 streams; the cameras cannot serve 64 sessions at their rate on 2 cores
            "many_relays",
            lambda m, tmp: asyncio.run(
                many_relays.measure(16 if m.short else 64, 2, 10.0 if m.short else 30.0, tmp)
            ),
        ),
        Section("clips", lambda m, tmp: clips.measure(m.short, tmp)),
        Section("browser", lambda m, _: path_pages(m.browser_runs, m.browser_window)),
    )
}


# -- the figures: a row each, in DESIGN §6's order -------------------------------------------------------

FIRST_VIDEO = "≤ 600 ms + camera keyframe wait"
PREDECESSOR_COLD = at("first_video", "median_ms", "predecessor_cold")
PREDECESSOR_COLD_TEXT = Text("{} (its argv alone → first I-frame, measured)", Shown(PREDECESSOR_COLD, "ms"))
THROUGHPUT_REFERENCE = "0.4 MB/s cap, its sleep per 4 KB (DESIGN, not measured)"
SLOW = ("throughput", "slow_viewer")
NEVER = "never retried (DESIGN)"
BACKOFF = "viewers stay attached; backoff 0.5 s → 30 s"
ATTACHED = flag(at("outage", "viewer_attached"))
PER_VIEWER = "≤ 0.5 % of a core"
GRAB = at("predecessor", "grab_ms", "median")
GRAB_TEXT = Text("{} (one-shot grab with its input flags, measured; DESIGN 1.36 s)", Shown(GRAB, "ms"))
LATENCY = ("flash", "median_ms")
FFMPEG_ALONE = at(*LATENCY, "ffmpeg_alone")
DRIFT = ("flash", "drift", "relay_full_adds")


def drift_span(scope: Scope) -> str:
    return "10 min" if not scope.mode.short else f"{scope.mode.flash_s:g} s (short)"


def others_unaffected(scope: Scope, rate: Any) -> bool | None:
    """The reading viewer beside the slow one kept ≥ 0.9 of its rate alone, and lost nothing."""
    return None if rate is None else rate >= 0.9 and at(*SLOW, "reader_drops")(scope) == 0


def per_viewer_rows(scope: Scope) -> list[Row]:
    """6: one row per number of WebSocket viewers the cpu section measured."""
    per = at("cpu", "fanout", "per_extra_viewer_percent")(scope) or {}
    kbps = ", ".join(str(k) for k in at("cpu", "fanout", "relay_kbps")(scope) or [])
    note = f"stream {kbps} kb/s" + ("; 20 not 50 viewers in short mode" if scope.mode.short else "")
    return [
        Row(
            f"server_cpu_per_viewer_{n}",
            f"6. server CPU per extra viewer, 1 → {n} WebSocket viewers",
            at("cpu", "fanout", "per_extra_viewer_percent", n),
            "% core",
            PER_VIEWER,
            at_most(0.5),
            note=note,
        )
        for n in per
    ]


FFMPEG_TARGETS = {("720p25", "full"): 0.12, ("720p25", "grid"): 0.04}  # core, DESIGN §6
COPY_TARGET = 0.01  # core: the source relay's FFmpeg per H.264 720p25 camera (issue 14), ≥ 10x under MPEG-1


def copy_row(i: int, run: dict[str, Any]) -> Row:
    """7: the source relay's FFmpeg (the camera's H.264 copied) beside the MPEG-1 full profile."""
    full = at("cpu", "ffmpeg", i, "full", "core")
    limit = COPY_TARGET if run["size"] == "720p25" else None
    return Row(
        f"ffmpeg_cpu_{run['size']}_source"
        + ("" if run["pattern"] == cpu.PATTERN[0] else f"_{run['pattern']}"),
        f"7. FFmpeg CPU, {run['input']}, source relay (H.264 copied)",
        at("cpu", "ffmpeg", i, "source", "core"),
        "core",
        f"≤ {limit} core, ≥ 10x under MPEG-1" if limit else "—",
        at_most(limit) if limit else None,
        full,
        Text("{} core (the MPEG-1 full profile, same camera, measured)", full),
        Text(
            "{} fps, {} Mb/s out",
            at("cpu", "ffmpeg", i, "source", "fps"),
            at("cpu", "ffmpeg", i, "source", "mbit_s"),
        ),
    )


def ffmpeg_rows(scope: Scope) -> list[Row]:
    """7: one row per input and profile the cpu section ran FFmpeg with (full mode has more patterns)."""
    rows = []
    for i, run in enumerate(at("cpu", "ffmpeg")(scope) or []):
        size = run["size"]
        extra = "" if run["pattern"] == cpu.PATTERN[0] else f"_{run['pattern']}"
        for profile in ("full", "grid"):
            limit = FFMPEG_TARGETS.get((size, profile))
            theirs = at("cpu", "ffmpeg", i, "predecessor", "core")
            rows.append(
                Row(
                    f"ffmpeg_cpu_{size}_{profile}{extra}",
                    f"7. FFmpeg CPU, {run['input']}, profile {profile}",
                    at("cpu", "ffmpeg", i, profile, "core"),
                    "core",
                    f"≤ {limit} core" if limit else "— (none in DESIGN)",
                    at_most(limit) if limit else None,
                    theirs,
                    Text("{} core (its argv, same input, measured)", theirs),
                    Text(
                        "{} fps, {} Mb/s out; decoding alone {} core",
                        at("cpu", "ffmpeg", i, profile, "fps"),
                        at("cpu", "ffmpeg", i, profile, "mbit_s"),
                        at("cpu", "ffmpeg", i, "decode_only", "core"),
                    ),
                )
            )
        rows.append(copy_row(i, run))
    return rows


def latency_row(profile: str, limit: float = 30) -> Row:
    """9: camera flash → the picture decoded from the relay of ``profile`` (h264: the source relay)."""
    adds = at(*LATENCY, f"relay_{profile}_adds")
    what = "the camera's own H.264 (source relay)" if profile == "h264" else profile
    return Row(
        f"latency_relay_{profile}_ms",
        f"9. latency: camera flashes → first such picture decoded from the relay ({what})",
        at(*LATENCY, f"relay_{profile}"),
        "ms",
        f"relay adds ≤ {limit:g} ms to FFmpeg alone",
        at_most(limit, of=adds),
        FFMPEG_ALONE,
        Text("{} (FFmpeg alone, low-delay flags, measured)", Shown(FFMPEG_ALONE, "ms")),
        Text("adds {} ms; median of {} flashes", adds, at("flash", "flashes")),
    )


def frames_row(kind: str) -> Row:
    """11: camera flash → the numpy array showing it, frames() against cv2.VideoCapture, same camera."""
    ages = ("frames_latency", "median_age_ms")
    opencv = at(*ages, f"opencv_{kind}")
    who = "a fast consumer" if kind == "fast" else "a consumer working 200 ms a picture"
    return Row(
        f"frames_age_{kind}_ms",
        f"11. frames(): camera flash → numpy array, {who} (age of the picture)",
        at(*ages, f"frames_{kind}"),
        "ms",
        "≤ OpenCV + 30 ms",
        at_most(30, of=at("frames_latency", "frames_over_opencv_ms", kind)),
        opencv,
        Text("{} (cv2.VideoCapture, cap.read() loop, same camera, measured)", Shown(opencv, "ms")),
        Text(
            "{}; flash → array {} ms",
            at("frames_latency", "opencv_note", default="1280x720@25"),
            at("frames_latency", "median_flash_ms", f"frames_{kind}"),
        ),
    )


CLIP = ("clips", "clip")
FORWARD = ("clips", "from_now_on")
MEMORY = ("clips", "memory")
RECORDING = ("clips", "recording_cpu")
FORWARD_REFERENCE = at(*FORWARD, "reference_s_for_30s_median")
FORWARD_TEXT = Text(
    "{} to 30 s of video (FFmpeg alone, -t 30 -c copy from now on: go2rtc's stream.mp4?duration=30 way, "
    "go2rtc not installed; measured)",
    Shown(FORWARD_REFERENCE, "s"),
)


def clip_covers(scope: Scope, shortest: Any) -> bool | None:
    """Every clip holds at least the 30 s asked for, and at most one GOP (and a picture) more."""
    longest = at(*CLIP, "video_s_max")(scope)
    if shortest is None or longest is None:
        return None
    return bool(shortest >= clips.BEFORE_S and longest <= clips.BEFORE_S + clips.GOP_S + 2 / clips.FPS)


def record_span(scope: Scope) -> str:
    seconds = at(*RECORDING, "record_s")(scope)
    return "?" if seconds is None else f"{seconds:g} s" + (" (short)" if scope.mode.short else "")


FIGURES: tuple[Row | Each, ...] = (
    # 1. first video
    Row("cold_first_video_ms", "1. first video, cold stream: WebSocket open → first I-frame bytes (server)",
        at("server", "median_ms", "cold"), "ms", FIRST_VIDEO, at_most(600),
        PREDECESSOR_COLD, PREDECESSOR_COLD_TEXT),
    Row("cold_first_video_relay_ms", "1. first video, cold: subscribe → first I-frame (in-process relay)",
        at("first_video", "median_ms", "cold"), "ms", FIRST_VIDEO, at_most(600),
        PREDECESSOR_COLD, PREDECESSOR_COLD_TEXT,
        Text("our FFmpeg argv alone: {}", Shown(at("first_video", "median_ms", "ffmpeg_alone"), "ms"))),
    Row("warm_first_video_ms", "1. first video joining a running stream: WebSocket open → first bytes",
        at("server", "median_ms", "warm"), "ms", "≤ 150 ms (keyframe cache)", at_most(150),
        at("predecessor", "join_wait_ms", "median"),
        Text("{}, max {} (wait for its next I-frame, measured)",
             Shown(at("predecessor", "join_wait_ms", "median"), "ms"),
             Shown(at("predecessor", "join_wait_ms", "max"), "ms"))),
    # 2. FFmpeg processes
    Row("ffmpeg_for_20_viewers", "2. FFmpeg processes for 20 simultaneous viewers of one stream",
        at("server", "counts", "ffmpeg_during_20_viewers"), "", "exactly 1", equals(1),
        None, "5-16, a race (DESIGN)"),
    Row("ffmpeg_after_20_viewers", "2. FFmpeg processes once the 20 viewers left",
        at("server", "counts", "ffmpeg_after_20_viewers_left"), "", "none", equals(0),
        None, "leaked (DESIGN)"),
    # 3. throughput
    Row("throughput_1_mb_s", "3. throughput of one stream, 1 subscriber, no cap",
        at("throughput", "one_reader", "mb_per_s_min"), "MB/s", "≥ 20 MB/s", at_least(20),
        0.4, THROUGHPUT_REFERENCE),
    Row("throughput_10_mb_s", f"3. throughput of one stream, {throughput.FANOUT} subscribers, each",
        at("throughput", "fan_out", "mb_per_s_min"), "MB/s", "≥ 20 MB/s", at_least(20),
        0.4, THROUGHPUT_REFERENCE),
    # 4. slow viewer
    Row("slow_viewer_peak_mib", "4. a viewer that never reads: peak bytes queued for it",
        at(*SLOW, "peak_queued_bytes", then=lambda peak: round(peak / MIB, 3)), "MiB", "≤ 2 MiB",
        at_most(2 * MIB, of=at(*SLOW, "peak_queued_bytes")),
        round(12.5e6 / MIB, 2), "11.92 MiB (12.5 MB in 30 s, unbounded; DESIGN)",
        Text("{} drops in {} s", at(*SLOW, "drops"), at(*SLOW, "window_s"))),
    Row("slow_viewer_resumes_at_keyframe", "4. the slow viewer resumes at PAT, PMT and an I-frame (1 = yes)",
        at(*SLOW, "resumes_at_keyframe", then=int), "", "drops to the next I-frame", truthy),
    Row("slow_viewer_others_rate", "4. a reading viewer beside it: its rate / its rate alone",
        at(*SLOW, "reader_rate_vs_alone"), "", "others unaffected (no drop, ≥ 0.9)", others_unaffected,
        note=Text("{} vs {} MB/s", at(*SLOW, "reader_mb_per_s"), at(*SLOW, "reader_alone_mb_per_s"))),
    # 5. camera drops and returns
    Row("stall_found_s", "5. camera hangs (SIGSTOP) → stall found",
        at("outage", "median_s", "hung_stall_found_after_freeze"), "s", "≤ 5 s", at_most(5.0), None, NEVER,
        Text("{} s after the relay's last picture",
             at("outage", "median_s", "hung_stall_found_after_last_picture"))),
    Row("hung_video_again_s", "5. hung camera resumes → video again, viewer attached",
        at("outage", "median_s", "hung_video_again_after_resume"), "s", BACKOFF, ATTACHED, None, NEVER),
    Row("drop_found_s", "5. camera process stopped → drop found",
        at("outage", "median_s", "gone_drop_found"), "s", "≤ 5 s", at_most(5.0), None, NEVER),
    Row("camera_back_video_again_s", f"5. camera back after {outage.DOWN_S:g} s down → video again",
        at("outage", "median_s", "gone_video_again_after_return"), "s", BACKOFF, ATTACHED, None, NEVER),
    # 6. server CPU per extra viewer
    Each("cpu", per_viewer_rows,
         Figure("server_cpu_per_viewer", "6. server CPU per extra viewer", None, "% core", PER_VIEWER)),
    # 7. FFmpeg CPU per profile
    Each("cpu", ffmpeg_rows,
         Figure("ffmpeg_cpu", "7. FFmpeg CPU per profile", None, "core", "≤ 0.12 / ≤ 0.04 core")),
    # 8. thumbnails
    Row("thumb_hit_ms", "8. thumbnail, cache hit (HTTP GET)",
        at("server", "median_ms", "thumb_hit"), "ms", "≤ 5 ms", at_most(5), 24.0, "24 ms (DESIGN)"),
    Row("thumb_streaming_ms", "8. thumbnail, while streaming (from the relay's I-frame)",
        at("server", "median_ms", "thumb_streaming"), "ms", "≤ 150 ms", at_most(150), GRAB, GRAB_TEXT),
    Row("thumb_idle_ms", "8. thumbnail, idle camera (one-shot grab)",
        at("server", "median_ms", "thumb_idle"), "ms", "≤ 1500 ms", at_most(1500), GRAB, GRAB_TEXT),
    # 9. latency
    latency_row("full"),
    latency_row("grid"),
    latency_row("h264", limit=20),
    Row("latency_relay_full_vs_predecessor_ms", "9. latency: relay (full) against the predecessor's pipeline",
        at(*LATENCY, "relay_full"), "ms", "—", None, at(*LATENCY, "predecessor"),
        Text("{} (its argv → the same decoder, measured)", Shown(at(*LATENCY, "predecessor"), "ms"))),
    Row("latency_relay_own_ms", "9. latency the relay process adds to its own FFmpeg (relay - argv alone)",
        at(*LATENCY, "relay_own"), "ms", "≤ 30 ms", at_most(30)),
    Row("latency_relay_h264_own_ms",
        "9. latency the relay process adds to its copy FFmpeg (relay h264 - copy argv alone)",
        at(*LATENCY, "relay_h264_own"), "ms", "≤ 20 ms", at_most(20)),
    Row("latency_drift_ms",
        Text("9. drift over {}: what the relay adds, last - first {} s", drift_span,
             at(*DRIFT, "window_s", default="?")),
        at(*DRIFT, "change_ms"), "ms", "no drift (change within ±30 ms)", within(30), None,
        Text("relay (full) latency changed {} ms, FFmpeg alone {} ms (measured)",
             at("flash", "drift", "relay_full", "change_ms"),
             at("flash", "drift", "ffmpeg_alone", "change_ms")),
        Text("slope {} ms/min", at(*DRIFT, "slope_ms_per_min"))),
    # 10. browser: H.264 tiles beside MPEG-1 tiles (bench.browser.figures)
    *BROWSER_ROWS,
    # 11. Python: frames() against OpenCV (issue 14)
    frames_row("fast"),
    frames_row("work"),
    Row("frames_work_over_fast_ms", "11. frames(): 200 ms of work a picture, age - a fast consumer's",
        at("frames_latency", "work_over_fast_ms", "frames"), "ms", "≤ 40 ms (one picture interval)",
        at_most(40), None, "—",
        Text("OpenCV's naive cap.read() loop: {} ms older",
             at("frames_latency", "work_over_fast_ms", "opencv"))),
    # 12. 64 cameras (issue 14)
    Row("many_relays_64_cpu_core",
        Text("12. CPU of 64 source relays, one H.264 viewer each (process + FFmpeg): {} measured, at 25 fps",
             at("many_relays", "streams")),
        at("many_relays", "core_for_64_at_source_rate"), "core",
        f"≤ {many_relays.TARGET_CORES:g} core on 2 cores",
        at_most(many_relays.TARGET_CORES), None, "— (MPEG-1: about 16 cameras fill 2 cores)",
        Text("measured {} core at {} fps a relay (mean), scaled to 25; {} core a stream; FFmpeg {} + "
             "process {}; {} Mb/s a viewer (min), relay fps min {}; cameras {} core, not counted",
             at("many_relays", "total_core"), at("many_relays", "relay_fps_mean"),
             at("many_relays", "per_stream_core"), at("many_relays", "ffmpeg_core"),
             at("many_relays", "process_core"), at("many_relays", "viewer_mbit_s_min"),
             at("many_relays", "relay_fps_min"), at("many_relays", "cameras_core"))),
    # 13. clips and the prebuffer (issue 16)
    Row("clip_ready_s", "13. clip of the last 30 s (cam.clip before=30, after=0): call → MP4 on disk",
        at(*CLIP, "ready_s_median"), "s", "≤ 1 s", at_most(clips.READY_TARGET_S),
        FORWARD_REFERENCE, FORWARD_TEXT,
        Text(f"median of {{}} clips, max {{}} s; 720p25 H.264 {{}} Mb/s, {clips.GOP_S:g} s GOP",
             at(*CLIP, "runs"), at(*CLIP, "ready_s_max"), at(*CLIP, "mbit_s"))),
    Row("clip_video_s", "13. clip of the last 30 s: seconds of video in the MP4 (FFmpeg read-back, shortest)",
        at(*CLIP, "video_s_min"), "s", "30 s to 30 s + one GOP (2 s)", clip_covers,
        note=Text("longest {} s; the first decoded whole: plays {} ({} s)", at(*CLIP, "video_s_max"),
                  at(*CLIP, "plays", then=lambda ok: "yes" if ok else "no"), at(*CLIP, "decoded_s"))),
    Row("record_from_now_on_s", "13. cam.record(seconds=30) from now on: call → 30 s MP4 on disk",
        at(*FORWARD, "ours_s_median"), "s", "—", None, FORWARD_REFERENCE, FORWARD_TEXT,
        Text("started together with FFmpeg alone, ours from the relay's cached keyframe; video ours {} s, "
             "FFmpeg alone {} s in {} s", at(*FORWARD, "ours_video_s"), at(*FORWARD, "reference_video_s"),
             at(*FORWARD, "reference_s_median"))),
    Row("prebuffer_memory_percent",
        "13. prebuffer_s=30: bytes held / (stream bitrate x 30 s), largest sample",
        at(*MEMORY, "percent_max"), "%", f"≤ {clips.MEMORY_TARGET * 100:g} % (1.2x)",
        at_most(clips.MEMORY_TARGET * 100),
        note=Text("{} MiB held for {}-{} s kept; bitrate x 30 s = {} MiB at {} kb/s (the relay's); "
                  "process RSS +{} MiB", at(*MEMORY, "held_mib_max"), at(*MEMORY, "kept_s_min"),
                  at(*MEMORY, "kept_s_max"), at(*MEMORY, "bitrate_x_30s_mib"), at(*MEMORY, "kbps"),
                  at(*MEMORY, "rss_growth_mib"))),
    Row("recording_ffmpeg_cpu_core",
        Text("13. recording CPU: cam.record of {}, its FFmpeg (-c copy into MP4), 720p25", record_span),
        at(*RECORDING, "ffmpeg_core_median"), "core", f"≤ {clips.CPU_TARGET:g} core",
        at_most(clips.CPU_TARGET),
        note=Text("median of {}; the recorder in Python {} core", at(*RECORDING, "runs"),
                  at(*RECORDING, "python_core_median"))),
)  # fmt: skip


def figures(scope: Scope, sections: list[str]) -> list[Figure]:
    """The figures of the rows whose section is among ``sections``, in the table's order."""
    return [f for row in FIGURES if row.section in sections for f in row.figures(scope)]


# -- the command -------------------------------------------------------------------------------------------


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", action="store_true", help="for CI: fewer runs, shorter windows")
    parser.add_argument(
        "--json", type=Path, help="default bench/results/all.json (all-short.json with --short)"
    )
    parser.add_argument("--only", help=f"comma-separated sections, of: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    if args.json is None:
        args.json = Path("bench/results/all-short.json" if args.short else "bench/results/all.json")
    args.only = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    return args


@dataclass
class Run:
    """What the sections of one run gave: results, failures (tracebacks) and seconds, by section."""

    results: dict[str, Any]
    errors: dict[str, str]
    seconds: dict[str, float]


def run_sections(names: list[str], mode: Mode, began: float) -> Run:
    """Each section in turn, in a fresh folder; one that fails is reported and the others still run."""
    run = Run({}, {}, {})
    tmp = Path(tempfile.mkdtemp(prefix="rn-bench-"))
    try:
        for name in names:
            print(f"[{time.monotonic() - began:5.0f} s] {name}", flush=True)
            t0 = time.monotonic()
            folder = tmp / name
            folder.mkdir(parents=True, exist_ok=True)
            try:
                run.results[name] = SECTIONS[name].run(mode, folder)
            except Exception:  # noqa: BLE001 - a section that fails is reported, the others still run
                run.errors[name] = traceback.format_exc()
                print(f"  {name} failed:\n{run.errors[name]}", file=sys.stderr, flush=True)
            run.seconds[name] = round(time.monotonic() - t0, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return run


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    mode = SHORT if args.short else FULL
    logging.basicConfig(level=logging.ERROR)
    began = time.monotonic()
    load_before = os.getloadavg()
    print(mode.notes, flush=True)
    run = run_sections(args.only, mode, began)
    rows = figures(Scope(run.results, mode), args.only)
    elapsed = round(time.monotonic() - began, 1)
    text = markdown(rows)
    print()
    print(text)
    missed = [f for f in rows if f.met is False]
    result = {
        "command": "python -m bench" + (" --short" if args.short else "") + (
            f" --only {','.join(args.only)}" if args.only != list(SECTIONS) else ""),
        "mode": "short" if args.short else "full",
        "mode_notes": mode.notes,
        "elapsed_s": elapsed,
        "section_seconds": run.seconds,
        "machine": {
            "cpus": psutil.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "ffmpeg": find_ffmpeg().version,
        },
        "figures": [{**asdict(f), "ratio": f.ratio} for f in rows],
        "missed": [f.key for f in missed],
        "table_markdown": text,
        "errors": run.errors,
        "sections": run.results,
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    print(f"\n{len(rows)} figures, {len(missed)} targets missed"
          + (f" ({', '.join(f.key for f in missed)})" if missed else "")
          + f"; {elapsed:.0f} s; load average {load_before[0]:.1f} → {os.getloadavg()[0]:.1f} on "
          f"{psutil.cpu_count()} cores; JSON: {args.json}")  # fmt: skip
    if run.errors:
        print(f"sections that failed: {', '.join(run.errors)}", file=sys.stderr)
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
