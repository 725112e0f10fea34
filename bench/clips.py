"""Clips and the prebuffer (issue 16): a clip of the last 30 s, its memory, and a recording's CPU.

    python -m bench.clips [--short] [--json bench/results/clips.json]

One GStreamer test camera: 1280x720 at 25 fps, ``smpte`` scrolling 4 px a frame (busy and moving: about
2 Mb/s), x264 zerolatency, a keyframe every 50 pictures (a 2 s GOP, a common camera setting). An in-process
hub (``rn.connect(local=True)``) adds it with the option ``prebuffer_s=30``: its source relay runs from then
on and keeps the last 30 s (whole GOPs: 30 to 32 s) of the camera's own H.264. In order:

1. **from now on** (while the prebuffer fills): FFmpeg alone, ``ffmpeg -rtsp_transport tcp -i URL -t 30
   -c copy -movflags +faststart out.mp4``, the way go2rtc records (its ``stream.mp4?duration=30`` can only
   record forward; go2rtc itself is not installed here), and our ``cam.record(path, seconds=30)`` beside it
   (from the relay's newest keyframe, which it has cached): each one's time from its start to a 30 s
   file written, and the seconds of video in the file (FFmpeg's ``-t`` counts from the first packet it
   reads, but its copy starts at the first keyframe: its file is short by that wait, which the figure
   "to 30 s of video" adds back). They start together once the relay has played 3 s (the camera's
   encoder runs, so FFmpeg alone waits for its next keyframe as with a real camera); the full run does it
   again twice once the prebuffer is full;
2. **clip ready time**: ``cam.clip(path, before=30, after=0)``, the call until it returns (the MP4 is then
   complete under its name), several runs; each file is read back with FFmpeg (``-c copy -f framecrc``:
   its packets and their times) for the seconds of video it holds, and the first one also decoded whole
   (``tests.harness.mp4.check_mp4``: it plays from a keyframe, no picture missing). Target ≤ 1 s; the
   ratio is ours / FFmpeg alone's time to a 30 s file (which cannot hold the 30 s before it started);
3. **prebuffer memory**: ``cam.stats()``'s ``prebuffer_bytes`` once ``prebuffer_s`` (seconds kept) is
   ≥ 30, sampled every 0.37 s (out of step with the GOP, so the ring is seen just before and just after
   it drops its oldest GOP), against the stream's bitrate x 30 s; the bitrate is the relay's own
   (``kbps``, the MPEG-TS bytes the ring holds: the median of the samples taken once a second from 6 s
   after the stream was added). Target: the largest sample ≤ 1.2 x bitrate x 30 s. Also this process's
   RSS growth from before the stream was added to the prebuffer full (it includes the relay's and the
   from-now-on recording's own allocations);
4. **recording CPU**: ``cam.record(path, seconds=60)`` (12 s with ``--short``), runs one after another:
   its FFmpeg's CPU (``-f mpegts -i pipe:0 -c copy -movflags +faststart -f mp4``, psutil) over the window
   from its first picture written to 4 s before its end, in cores (target ≤ 0.01 core); and this process's
   CPU over that window less its CPU over the seconds before the recording (the same relay and prebuffer
   without it): the recorder in Python (its subscription, ``TsAnalyzer``, PES times, pipe writes). The
   source relay is not counted: the prebuffer runs it anyway, and the recording opens no session.

``--short`` (``python -m bench --short``): 3 clips, one from-now-on run, one recording of 12 s (about 60 s);
the full run: 7 clips, 3 from-now-on runs, 3 recordings of 60 s (about 5.5 min).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

import rtsp_notebook as rn
from bench._common import cpu_seconds, stop_process
from bench._report import report
from rtsp_notebook.media.ffmpeg import find_ffmpeg
from rtsp_notebook.media.recorder import Recording
from tests.harness.camera import TestCamera
from tests.harness.helpers import ffmpeg_children, wait_until_sync
from tests.harness.mp4 import check_mp4, duration

log = logging.getLogger(__name__)

WIDTH, HEIGHT, FPS = 1280, 720, 25
KEYINT = 50  # pictures: a 2 s GOP
GOP_S = KEYINT / FPS
PATTERN = ("smpte", 4)  # as bench.cpu: a busy picture, scrolling (about 2 Mb/s at 720p25)
PREBUFFER_S = 30.0  # the stream's option: the ring keeps whole GOPs covering at least this
BEFORE_S = 30.0  # the clip's seconds back
FORWARD_S = 30  # the from-now-on recordings' length
READY_TARGET_S = 1.0
MEMORY_TARGET = 1.2  # x bitrate x 30 s
CPU_TARGET = 0.01  # core, the recording's FFmpeg
MIB = 1 << 20
FILL_TIMEOUT_S = 120.0
BITRATE_AFTER_S = 6.0  # the relay's rate meter (a 5 s window) is read from this long after the stream's add
MARGIN_S = 4.0  # the CPU window ends this long before the recording's requested end
MEMORY_EVERY_S = 0.37  # s between the memory samples: not a divisor of the GOP's 2 s
WARM_S = 3.0  # s the relay has played before the first from-now-on run starts


@dataclass(frozen=True)
class Plan:
    clips: int
    forward_runs: int  # from-now-on runs (FFmpeg alone, cam.record beside it)
    record_s: float  # the CPU recording's length
    record_runs: int
    baseline_s: float  # this process's CPU before each recording
    memory_samples: int  # every MEMORY_EVERY_S, after the prebuffer is full


SHORT = Plan(clips=3, forward_runs=1, record_s=12.0, record_runs=1, baseline_s=4.0, memory_samples=16)
FULL = Plan(clips=7, forward_runs=3, record_s=60.0, record_runs=3, baseline_s=10.0, memory_samples=40)


def reference_argv(ffmpeg: str, url: str, out: Path) -> list[str]:
    """FFmpeg alone recording ``FORWARD_S`` s from now on, the way go2rtc's ``stream.mp4?duration=`` does."""
    return [
        ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error",
        "-rtsp_transport", "tcp", "-i", url,
        "-t", str(FORWARD_S), "-c", "copy", "-movflags", "+faststart", "-y", str(out),
    ]  # fmt: skip


def mp4_video(ffmpeg: str, path: Path) -> dict[str, Any]:
    """The video an MP4 holds, read back without decoding (``framecrc``: a line a packet): its seconds
    (first packet's time to the last one's end) and its packets."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:v:0",
         "-c", "copy", "-f", "framecrc", "-"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    base = 1.0
    spans: list[tuple[int, int]] = []
    for line in out.stdout.splitlines():
        if line.startswith("#tb 0:"):
            num, den = line.split(":", 1)[1].strip().split("/")
            base = int(num) / int(den)
        elif line and not line.startswith("#"):
            fields = [f.strip() for f in line.split(",")]
            spans.append((int(fields[2]), int(fields[3])))  # (pts, duration)
    if not spans:
        return {"seconds": 0.0, "packets": 0}
    first = min(pts for pts, _ in spans)
    end = max(pts + dur for pts, dur in spans)
    return {"seconds": round((end - first) * base, 3), "packets": len(spans)}


def stats_sample(cam: rn.Stream, since: float) -> dict[str, Any]:
    s = cam.stats()
    return {
        "t_s": round(time.monotonic() - since, 2),
        "kbps": s["kbps"],
        "prebuffer_s": s["prebuffer_s"],
        "prebuffer_bytes": s["prebuffer_bytes"],
    }


def warm(cam: rn.Stream, added: float, samples: list[Any]) -> None:
    """Wait until the relay has played ``WARM_S`` s (the camera's encoder runs: a client joining it now
    waits for its next keyframe, as with a real camera), sampling ``cam.stats()`` once a second."""
    deadline = added + FILL_TIMEOUT_S
    while True:
        samples.append(stats_sample(cam, added))
        if samples[-1]["prebuffer_s"] >= WARM_S:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the stream's relay kept no {WARM_S:g} s in {FILL_TIMEOUT_S:g} s: {samples[-1]}"
            )
        time.sleep(1.0)


def forward_run(
    ffmpeg: str, camera: TestCamera, cam: rn.Stream, tmp: Path, n: int, added: float, samples: list[Any]
) -> dict[str, Any]:
    """FFmpeg alone and ``cam.record`` recording ``FORWARD_S`` s from now on, at the same time; each one's
    time to its file. Meanwhile ``cam.stats()`` once a second into ``samples``; until the prebuffer is full
    too."""
    ref_path, ours_path = tmp / f"reference-{n}.mp4", tmp / f"from-now-on-{n}.mp4"
    proc: subprocess.Popen[bytes] | None = None
    handle: Recording | None = None
    log_path = tmp / f"reference-{n}.log"
    try:
        t_ref = time.monotonic()
        with log_path.open("wb") as log_file:  # a file, not a pipe: nothing to read while it runs
            proc = subprocess.Popen(
                reference_argv(ffmpeg, camera.url, ref_path),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log_file,
            )  # fmt: skip
        t_ours = time.monotonic()
        recording = cam.record(ours_path, seconds=FORWARD_S, wait=False)
        handle = recording
        ref_s = ours_s = None
        next_sample = time.monotonic()
        deadline = time.monotonic() + FORWARD_S + FILL_TIMEOUT_S
        while True:
            now = time.monotonic()
            if ref_s is None and proc.poll() is not None:
                ref_s = now - t_ref
            if ours_s is None and recording.done:
                ours_s = now - t_ours
            if now >= next_sample:
                samples.append(stats_sample(cam, added))
                next_sample += 1.0
            full = samples and samples[-1]["prebuffer_s"] >= BEFORE_S
            if ref_s is not None and ours_s is not None and full:
                break
            if now > deadline:
                raise TimeoutError(
                    f"from now on: FFmpeg alone {'done' if ref_s else 'running'}, ours "
                    f"{'done' if ours_s else 'running'}, prebuffer {samples[-1]['prebuffer_s']} s kept"
                )
            time.sleep(0.02)
        if proc.wait(timeout=10) != 0:
            err = log_path.read_text(errors="replace")[-500:]
            raise RuntimeError(f"FFmpeg alone failed ({proc.returncode}): {err}")
        result = recording.result(timeout=10)
    finally:
        if proc is not None:
            stop_process(proc)
        if handle is not None and not handle.done:
            handle.cancel()
    ref_video, ours_video = mp4_video(ffmpeg, ref_path), mp4_video(ffmpeg, ours_path)
    run = {
        "reference_s": round(ref_s, 3),
        "reference_video": ref_video,
        # FFmpeg's -t counts from the first packet it read, but a copy starts at the first keyframe: its
        # file is short by its wait for that keyframe. The time to 30 s of video adds the missing part
        "reference_s_for_30s": round(ref_s + max(0.0, FORWARD_S - ref_video["seconds"]), 3),
        "ours_s": round(ours_s, 3),
        "ours_video": ours_video,
        "ours_result_s": result.seconds,
        "ours_complete": result.complete,
    }
    for path in (ref_path, ours_path):
        path.unlink(missing_ok=True)
    log.info("clips: from now on %d: %s", n, run)
    return run


def clip_run(ffmpeg: str, cam: rn.Stream, tmp: Path, n: int) -> dict[str, Any]:
    """One ``cam.clip(before=30, after=0)``: the call's time, and the file read back (decoded: the first)."""
    path = tmp / f"clip-{n}.mp4"
    kept = cam.stats()["prebuffer_s"]
    t0 = time.monotonic()
    result = cam.clip(path, before=BEFORE_S, after=0)
    ready = time.monotonic() - t0
    run: dict[str, Any] = {
        "ready_s": round(ready, 3),
        "kept_s_before": kept,
        "result_s": result.seconds,
        "bytes": result.bytes,
        "frames": result.frames,
        "complete": result.complete,
        "file": mp4_video(ffmpeg, path),
    }
    if n == 0:
        try:
            run["decoded_s"] = round(duration(check_mp4(ffmpeg, path)), 3)
            run["plays"] = True
        except AssertionError as exc:
            run["plays"] = False
            run["plays_error"] = str(exc)[:500]
    path.unlink(missing_ok=True)
    log.info("clips: clip %d: %s", n, run)
    return run


def is_writer(proc: psutil.Process) -> bool:
    """A recording's FFmpeg: MPEG-TS from its stdin into an MP4."""
    try:
        argv = proc.cmdline()
    except psutil.Error:
        return False
    return "pipe:0" in argv and "mp4" in argv


def record_cpu(cam: rn.Stream, tmp: Path, plan: Plan, n: int) -> dict[str, Any]:
    """One recording of ``plan.record_s``: its FFmpeg's CPU over the window after its first picture, and
    this process's CPU then less before."""
    me = os.getpid()
    c0, t0 = cpu_seconds(me), time.monotonic()
    time.sleep(plan.baseline_s)
    baseline = (cpu_seconds(me) - c0) / (time.monotonic() - t0)
    path = tmp / f"record-{n}.mp4"
    handle = cam.record(path, seconds=plan.record_s, wait=False)
    try:
        wait_until_sync(lambda: handle.frames > 0, 30, "the recording's first picture")
        writers = [p for p in ffmpeg_children() if is_writer(p)]
        if len(writers) != 1:
            raise RuntimeError(f"{len(writers)} recording FFmpeg found: {[p.cmdline() for p in writers]}")
        writer = writers[0]
        window = plan.record_s - MARGIN_S
        times = writer.cpu_times()
        f0, p0, t0 = times.user + times.system, cpu_seconds(me), time.monotonic()
        time.sleep(window)
        times = writer.cpu_times()
        f1, p1, wall = times.user + times.system, cpu_seconds(me), time.monotonic() - t0
        result = handle.result(timeout=plan.record_s + 60)
    finally:
        if not handle.done:
            handle.cancel()
    run = {
        "ffmpeg_core": round((f1 - f0) / wall, 4),
        "python_core": round((p1 - p0) / wall - baseline, 4),
        "process_core_during": round((p1 - p0) / wall, 4),
        "process_core_before": round(baseline, 4),
        "window_s": round(wall, 2),
        "recorded_s": result.seconds,
        "complete": result.complete,
        "mbit_s": round(result.bytes * 8 / result.seconds / 1e6, 2) if result.seconds else None,
    }
    path.unlink(missing_ok=True)
    log.info("clips: recording CPU %d: %s", n, run)
    return run


def memory(samples: list[dict[str, Any]], full: list[dict[str, Any]]) -> dict[str, Any]:
    """The prebuffer's bytes against bitrate x 30 s: the bitrate from every sample after the meter's first
    window, the bytes from the samples taken once the prebuffer was full."""
    rates = [s["kbps"] for s in samples if s["t_s"] >= BITRATE_AFTER_S and s["kbps"] > 0]
    kbps = statistics.median(rates) if rates else None
    if kbps is None or not full:
        return {"kbps": kbps, "samples": len(full)}
    per_30s = kbps * 1000 / 8 * PREBUFFER_S
    ratios = [s["prebuffer_bytes"] / per_30s for s in full]
    held = [s["prebuffer_bytes"] for s in full]
    kept = [s["prebuffer_s"] for s in full]
    return {
        "kbps": round(kbps, 1),
        "kbps_min": min(rates),
        "kbps_max": max(rates),
        "bitrate_x_30s_mib": round(per_30s / MIB, 2),
        "ratio_max": round(max(ratios), 3),
        "ratio_median": round(statistics.median(ratios), 3),
        "percent_max": round(max(ratios) * 100, 1),
        "held_mib_max": round(max(held) / MIB, 2),
        "held_mib_median": round(statistics.median(held) / MIB, 2),
        "kept_s_min": min(kept),
        "kept_s_max": max(kept),
        "samples": len(full),
    }


def median_of(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 4) if values else None


def measure(short: bool, tmp: Path) -> dict[str, Any]:
    plan = SHORT if short else FULL
    ffmpeg = find_ffmpeg().path
    name, speed = PATTERN
    camera = TestCamera(
        width=WIDTH, height=HEIGHT, fps=FPS, pattern=name, horizontal_speed=speed, keyint=KEYINT
    )
    load_before = os.getloadavg()
    samples: list[dict[str, Any]] = []
    me = psutil.Process()
    with camera:
        hub = rn.connect(local=True, store=str(tmp / "clips.db"))
        rss_before = me.memory_info().rss
        added = time.monotonic()
        cam = hub.add(camera.url, label="clips", options={"prebuffer_s": PREBUFFER_S})
        try:
            warm(cam, added, samples)
            forward = [forward_run(ffmpeg, camera, cam, tmp, 0, added, samples)]
            fill_s = next(s["t_s"] for s in samples if s["prebuffer_s"] >= BEFORE_S)
            full: list[dict[str, Any]] = []
            for _ in range(plan.memory_samples):
                full.append(stats_sample(cam, added))
                time.sleep(MEMORY_EVERY_S)
            rss_full = me.memory_info().rss
            clips = [clip_run(ffmpeg, cam, tmp, n) for n in range(plan.clips)]
            for n in range(1, plan.forward_runs):
                forward.append(forward_run(ffmpeg, camera, cam, tmp, n, added, samples))
            cpu = [record_cpu(cam, tmp, plan, n) for n in range(plan.record_runs)]
        finally:
            cam.remove()
    ready = [c["ready_s"] for c in clips]
    clip_video = [c["file"]["seconds"] for c in clips]
    result: dict[str, Any] = {
        "mode": "short" if short else "full",
        "camera": f"GStreamer videotestsrc {name} scrolling {speed} px/frame {WIDTH}x{HEIGHT}@{FPS}, "
        f"x264 zerolatency, keyframe every {KEYINT} pictures ({GOP_S:g} s GOP)",
        "prebuffer_s_option": PREBUFFER_S,
        "before_s": BEFORE_S,
        "fill_s": fill_s,
        "clip": {
            "runs": len(clips),
            "ready_s": ready,
            "ready_s_median": round(statistics.median(ready), 3),
            "ready_s_max": max(ready),
            "video_s": clip_video,
            "video_s_min": min(clip_video),
            "video_s_max": max(clip_video),
            "mbit_s": round(statistics.median(c["bytes"] * 8 / c["result_s"] / 1e6 for c in clips), 2),
            "plays": clips[0].get("plays"),
            "decoded_s": clips[0].get("decoded_s"),
            "each": clips,
        },
        "from_now_on": {
            "runs": len(forward),
            "reference_argv": " ".join(reference_argv("ffmpeg", "rtsp://CAMERA", Path("out.mp4"))),
            "reference_s_median": median_of(forward, "reference_s"),
            "reference_s_for_30s_median": median_of(forward, "reference_s_for_30s"),
            "ours_s_median": median_of(forward, "ours_s"),
            "reference_video_s": [r["reference_video"]["seconds"] for r in forward],
            "ours_video_s": [r["ours_video"]["seconds"] for r in forward],
            "each": forward,
        },
        "memory": {
            **memory(samples, full),
            "rss_growth_mib": round((rss_full - rss_before) / MIB, 1),
        },
        "recording_cpu": {
            "runs": len(cpu),
            "record_s": plan.record_s,
            "ffmpeg_core_median": median_of(cpu, "ffmpeg_core"),
            "python_core_median": median_of(cpu, "python_core"),
            "each": cpu,
        },
        "stats_samples": samples,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": psutil.cpu_count(),
    }
    reference = result["from_now_on"]["reference_s_for_30s_median"]
    result["clip"]["ready_over_reference"] = (
        round(result["clip"]["ready_s_median"] / reference, 4) if reference else None
    )
    log.info("clips: %s", {k: v for k, v in result.items() if k != "stats_samples"})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", action="store_true", help="3 clips, one from-now-on run, 12 s recording")
    parser.add_argument("--json", type=Path, default=Path("bench/results/clips.json"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.short, Path(tmp))
    clip, forward = result["clip"], result["from_now_on"]
    mem, cpu = result["memory"], result["recording_cpu"]
    rows = {
        "clip ready (s, median)": clip["ready_s_median"],
        "clip ready (s, max)": clip["ready_s_max"],
        "clip video (s, min)": clip["video_s_min"],
        "clip video (s, max)": clip["video_s_max"],
        "FFmpeg alone, 30 s from now on (s)": forward["reference_s_median"],
        "FFmpeg alone, to 30 s of video (s)": forward["reference_s_for_30s_median"],
        "cam.record 30 s from now on (s)": forward["ours_s_median"],
        "clip ready / FFmpeg alone": clip["ready_over_reference"],
        "prebuffer / (bitrate x 30 s), max": mem.get("ratio_max"),
        "prebuffer held (MiB, max)": mem.get("held_mib_max"),
        "relay bitrate (kb/s)": mem.get("kbps"),
        "process RSS growth (MiB)": mem["rss_growth_mib"],
        "recording FFmpeg (core)": cpu["ffmpeg_core_median"],
        "recorder in Python (core)": cpu["python_core_median"],
    }
    rows["load average before -> after"] = (
        f"{result['load_average_before'][0]} -> {result['load_average_after'][0]}"
    )
    report(result, rows, args.json)


if __name__ == "__main__":
    main()
