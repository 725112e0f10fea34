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
* ``browser`` (bench.browser): Chromium's CPU and the decoded fps of 4 and 16 demo tiles.

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

from bench import cpu, first_video, flash, outage, predecessor, server, throughput
from rtsp_notebook.media.ffmpeg import find_ffmpeg

SECTIONS = ("first_video", "server", "predecessor", "throughput", "outage", "cpu", "flash", "browser")
MIB = 1 << 20


@dataclass(frozen=True)
class Mode:
    short: bool
    runs: int  # first_video / server / predecessor grabs
    outage_runs: int
    window: float  # s, throughput window (cpu uses its own: 4 s / 10 s)
    flash_s: float
    join_span: float  # s of the predecessor's output whose I-frames are timed
    browser_runs: int
    browser_window: float
    notes: str


SHORT = Mode(
    True, 2, 1, 2.0, 30.0, 4.0, 1, 3.0,
    "short mode: 2 runs of first video and thumbnails, one outage, 2-4 s windows, fan-out up to 20 viewers "
    "(not 50), latency drift over 30 s (not 10 min), one browser run with 3 s windows",
)  # fmt: skip
FULL = Mode(
    False, 7, 3, 5.0, 600.0, 12.0, 3, 10.0,
    "full mode: 7 runs of first video and thumbnails, 3 outages, 5-10 s windows, fan-out up to 50 viewers, "
    "latency drift over 10 min, 3 browser runs with 10 s windows",
)  # fmt: skip


# -- the sections ------------------------------------------------------------------------------------------


def run_browser(mode: Mode) -> dict[str, Any]:
    """Chromium's CPU and every tile's decoded fps for 4 and 16 demo tiles (bench.browser's CPU pages)."""
    from bench.browser.runs import cpu_pages

    return cpu_pages(mode.browser_runs, mode.browser_window)


def sections(mode: Mode, tmp: Path) -> dict[str, Callable[[], Any]]:
    def fresh(name: str) -> Path:
        path = tmp / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    return {
        "first_video": lambda: asyncio.run(first_video.main(mode.runs)),
        "server": lambda: asyncio.run(server.measure(mode.runs)),
        "predecessor": lambda: asyncio.run(predecessor.measure(mode.runs, mode.join_span)),
        "throughput": lambda: asyncio.run(throughput.measure(mode.window, fresh("throughput"))),
        "outage": lambda: asyncio.run(outage.measure(mode.outage_runs, fresh("outage"))),
        "cpu": lambda: asyncio.run(cpu.measure(mode.short, fresh("cpu"))),
        "flash": lambda: asyncio.run(flash.measure(mode.flash_s, fresh("flash"))),
        "browser": lambda: run_browser(mode),
    }


# -- the table ---------------------------------------------------------------------------------------------


@dataclass
class Figure:
    key: str
    figure: str
    ours: float | None
    unit: str
    target: str
    met: bool | None = None
    reference: float | None = None
    reference_text: str = "—"  # how the reference reads in the table, with where it comes from
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.reference:
            return None
        return round(self.ours / self.reference, 3)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value} {unit}".strip()
    text = f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    return f"{text} {unit}".strip()


def get(results: dict[str, Any], section: str, *path: str | int) -> Any:
    """A value deep in a section's result, or None when the section failed or lacks it."""
    value: Any = results.get(section)
    for key in path:
        if value is None:
            return None
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def figures(results: dict[str, Any], mode: Mode) -> list[Figure]:
    r = results
    out: list[Figure] = []
    add = out.append

    # 1. first video
    pred_cold = get(r, "first_video", "median_ms", "predecessor_cold")
    pred_ref = f"{fmt(pred_cold, 'ms')} (its argv alone → first I-frame, measured)"
    cold = get(r, "server", "median_ms", "cold")
    add(
        Figure(
            "cold_first_video_ms",
            "1. first video, cold stream: WebSocket open → first I-frame bytes (server)",
            cold,
            "ms",
            "≤ 600 ms + camera keyframe wait",
            at_most(cold, 600),
            pred_cold,
            pred_ref,
        )
    )
    cold_core = get(r, "first_video", "median_ms", "cold")
    add(
        Figure(
            "cold_first_video_relay_ms",
            "1. first video, cold: subscribe → first I-frame (in-process relay)",
            cold_core,
            "ms",
            "≤ 600 ms + camera keyframe wait",
            at_most(cold_core, 600),
            pred_cold,
            pred_ref,
            note=f"our FFmpeg argv alone: {fmt(get(r, 'first_video', 'median_ms', 'ffmpeg_alone'), 'ms')}",
        )
    )
    warm = get(r, "server", "median_ms", "warm")
    join = get(r, "predecessor", "join_wait_ms", "median")
    join_max = get(r, "predecessor", "join_wait_ms", "max")
    add(
        Figure(
            "warm_first_video_ms",
            "1. first video joining a running stream: WebSocket open → first bytes",
            warm,
            "ms",
            "≤ 150 ms (keyframe cache)",
            at_most(warm, 150),
            join,
            f"{fmt(join, 'ms')}, max {fmt(join_max, 'ms')} (wait for its next I-frame, measured)",
        )
    )
    # 2. FFmpeg processes
    during = get(r, "server", "counts", "ffmpeg_during_20_viewers")
    after = get(r, "server", "counts", "ffmpeg_after_20_viewers_left")
    add(
        Figure(
            "ffmpeg_for_20_viewers",
            "2. FFmpeg processes for 20 simultaneous viewers of one stream",
            during,
            "",
            "exactly 1",
            None if during is None else during == 1,
            None,
            "5-16, a race (DESIGN)",
        )
    )
    add(
        Figure(
            "ffmpeg_after_20_viewers",
            "2. FFmpeg processes once the 20 viewers left",
            after,
            "",
            "none",
            None if after is None else after == 0,
            None,
            "leaked (DESIGN)",
        )
    )
    # 3. throughput
    for key, label, path in (
        ("throughput_1_mb_s", "3. throughput of one stream, 1 subscriber, no cap", ("one_reader",
         "mb_per_s_min")),
        ("throughput_10_mb_s", f"3. throughput of one stream, {throughput.FANOUT} subscribers, each",
         ("fan_out", "mb_per_s_min")),
    ):  # fmt: skip
        value = get(r, "throughput", *path)
        add(
            Figure(
                key,
                label,
                value,
                "MB/s",
                "≥ 20 MB/s",
                None if value is None else value >= 20,
                0.4,
                "0.4 MB/s cap, its sleep per 4 KB (DESIGN, not measured)",
            )
        )
    # 4. slow viewer
    slow = get(r, "throughput", "slow_viewer") or {}
    peak = slow.get("peak_queued_bytes")
    add(
        Figure(
            "slow_viewer_peak_mib",
            "4. a viewer that never reads: peak bytes queued for it",
            None if peak is None else round(peak / MIB, 3),
            "MiB",
            "≤ 2 MiB",
            None if peak is None else peak <= 2 * MIB,
            round(12.5e6 / MIB, 2),
            "11.92 MiB (12.5 MB in 30 s, unbounded; DESIGN)",
            note=f"{slow.get('drops')} drops in {slow.get('window_s')} s",
        )
    )
    resumes = slow.get("resumes_at_keyframe")
    add(
        Figure(
            "slow_viewer_resumes_at_keyframe",
            "4. the slow viewer resumes at PAT, PMT and an I-frame (1 = yes)",
            None if resumes is None else int(resumes),
            "",
            "drops to the next I-frame",
            None if resumes is None else bool(resumes),
        )
    )
    beside = slow.get("reader_rate_vs_alone")
    unaffected = None if beside is None else beside >= 0.9 and slow.get("reader_drops") == 0
    add(
        Figure(
            "slow_viewer_others_rate",
            "4. a reading viewer beside it: its rate / its rate alone",
            beside,
            "",
            "others unaffected (no drop, ≥ 0.9)",
            unaffected,
            note=f"{slow.get('reader_mb_per_s')} vs {slow.get('reader_alone_mb_per_s')} MB/s",
        )
    )
    # 5. camera drops and returns
    never = "never retried (DESIGN)"
    stall = get(r, "outage", "median_s", "hung_stall_found_after_freeze")
    since_last = get(r, "outage", "median_s", "hung_stall_found_after_last_picture")
    attached = get(r, "outage", "viewer_attached")
    add(
        Figure(
            "stall_found_s",
            "5. camera hangs (SIGSTOP) → stall found",
            stall,
            "s",
            "≤ 5 s",
            at_most(stall, 5.0),
            None,
            never,
            note=f"{since_last} s after the relay's last picture",
        )
    )
    back = get(r, "outage", "median_s", "hung_video_again_after_resume")
    add(
        Figure(
            "hung_video_again_s",
            "5. hung camera resumes → video again, viewer attached",
            back,
            "s",
            "viewers stay attached; backoff 0.5 s → 30 s",
            attached,
            None,
            never,
        )
    )
    drop = get(r, "outage", "median_s", "gone_drop_found")
    add(
        Figure(
            "drop_found_s",
            "5. camera process stopped → drop found",
            drop,
            "s",
            "≤ 5 s",
            at_most(drop, 5.0),
            None,
            never,
        )
    )
    ret = get(r, "outage", "median_s", "gone_video_again_after_return")
    add(
        Figure(
            "camera_back_video_again_s",
            f"5. camera back after {outage.DOWN_S:g} s down → video again",
            ret,
            "s",
            "viewers stay attached; backoff 0.5 s → 30 s",
            attached,
            None,
            never,
        )
    )
    # 6. server CPU per extra viewer
    per = get(r, "cpu", "fanout", "per_extra_viewer_percent") or {}
    kbps = get(r, "cpu", "fanout", "relay_kbps")
    for n, value in per.items():
        add(
            Figure(
                f"server_cpu_per_viewer_{n}",
                f"6. server CPU per extra viewer, 1 → {n} WebSocket viewers",
                value,
                "% core",
                "≤ 0.5 % of a core",
                at_most(value, 0.5),
                note=f"stream {', '.join(str(k) for k in kbps or [])} kb/s"
                + ("; 20 not 50 viewers in short mode" if mode.short else ""),
            )
        )
    if not per:
        add(
            Figure(
                "server_cpu_per_viewer", "6. server CPU per extra viewer", None, "% core", "≤ 0.5 % of a core"
            )
        )
    # 7. FFmpeg CPU per profile
    targets = {("720p25", "full"): 0.12, ("720p25", "grid"): 0.04}
    for run in get(r, "cpu", "ffmpeg") or []:
        size = run["size"]
        extra = "" if run["pattern"] == cpu.PATTERN[0] else f"_{run['pattern']}"  # full mode's other patterns
        for profile in ("full", "grid"):
            limit = targets.get((size, profile))
            value = run[profile]["core"]
            pred_core = run["predecessor"]["core"]
            add(
                Figure(
                    f"ffmpeg_cpu_{size}_{profile}{extra}",
                    f"7. FFmpeg CPU, {run['input']}, profile {profile}",
                    value,
                    "core",
                    f"≤ {limit} core" if limit else "— (none in DESIGN)",
                    at_most(value, limit) if limit else None,
                    pred_core,
                    f"{pred_core} core (its argv, same input, measured)",
                    note=f"{run[profile]['fps']} fps, {run[profile]['mbit_s']} Mb/s out; decoding alone "
                    f"{get(run, 'decode_only', 'core')} core",
                )
            )
    if not get(r, "cpu", "ffmpeg"):
        add(Figure("ffmpeg_cpu", "7. FFmpeg CPU per profile", None, "core", "≤ 0.12 / ≤ 0.04 core"))
    # 8. thumbnails
    grab = get(r, "predecessor", "grab_ms", "median")
    grab_ref = f"{fmt(grab, 'ms')} (one-shot grab with its input flags, measured; DESIGN 1.36 s)"
    for key, label, limit, ref, ref_text in (
        ("thumb_hit", "cache hit (HTTP GET)", 5, 24.0, "24 ms (DESIGN)"),
        ("thumb_streaming", "while streaming (from the relay's I-frame)", 150, grab, grab_ref),
        ("thumb_idle", "idle camera (one-shot grab)", 1500, grab, grab_ref),
    ):
        value = get(r, "server", "median_ms", key)
        add(
            Figure(
                f"{key}_ms",
                f"8. thumbnail, {label}",
                value,
                "ms",
                f"≤ {limit} ms",
                at_most(value, limit),
                ref,
                ref_text,
            )
        )
    # 9. latency
    lat = get(r, "flash", "median_ms") or {}
    alone = lat.get("ffmpeg_alone")
    flashes = get(r, "flash", "flashes")
    alone_ref = f"{fmt(alone, 'ms')} (FFmpeg alone, low-delay flags, measured)"
    for profile in ("full", "grid"):
        value, adds = lat.get(f"relay_{profile}"), lat.get(f"relay_{profile}_adds")
        add(
            Figure(
                f"latency_relay_{profile}_ms",
                f"9. latency: camera flashes → first such picture decoded from the relay ({profile})",
                value,
                "ms",
                "relay adds ≤ 30 ms to FFmpeg alone",
                at_most(adds, 30),
                alone,
                alone_ref,
                note=f"adds {adds} ms; median of {flashes} flashes",
            )
        )
    pred_lat = lat.get("predecessor")
    add(
        Figure(
            "latency_relay_full_vs_predecessor_ms",
            "9. latency: relay (full) against the predecessor's pipeline",
            lat.get("relay_full"),
            "ms",
            "—",
            None,
            pred_lat,
            f"{fmt(pred_lat, 'ms')} (its argv → the same decoder, measured)",
        )
    )
    own = lat.get("relay_own")
    add(
        Figure(
            "latency_relay_own_ms",
            "9. latency the relay process adds to its own FFmpeg (relay - argv alone)",
            own,
            "ms",
            "≤ 30 ms",
            at_most(own, 30),
        )
    )
    drift = get(r, "flash", "drift", "relay_full_adds") or {}
    change = drift.get("change_ms")
    span = "10 min" if not mode.short else f"{mode.flash_s:g} s (short)"
    raw = get(r, "flash", "drift", "relay_full", "change_ms")
    alone_change = get(r, "flash", "drift", "ffmpeg_alone", "change_ms")
    add(
        Figure(
            "latency_drift_ms",
            f"9. drift over {span}: what the relay adds, last - first {drift.get('window_s', '?')} s",
            change,
            "ms",
            "no drift (change within ±30 ms)",
            None if change is None else abs(change) <= 30,
            None,
            f"relay (full) latency changed {raw} ms, FFmpeg alone {alone_change} ms (measured)",
            note=f"slope {drift.get('slope_ms_per_min')} ms/min",
        )
    )

    # 10. browser
    def browser(n: str, field: str) -> float | None:
        runs = get(r, "browser", "samples", n)
        return None if not runs else round(float(sorted(x[field] for x in runs)[len(runs) // 2]), 1)

    for n in ("4", "16"):
        value = browser(n, "chromium_cpu_percent")
        add(
            Figure(
                f"browser_{n}_tiles_cpu_percent",
                f"10. Chromium CPU for {n} demo tiles (grid, Canvas2D)",
                value,
                "% core",
                "—",
                note=f"slowest tile {browser(n, 'fps_min')} fps",
            )
        )
    fps16 = browser("16", "fps_min")
    add(
        Figure(
            "browser_16_tiles_fps_min",
            "10. 16 tiles in Chromium: slowest tile's decoded fps",
            fps16,
            "fps",
            "all tiles ≥ 14 fps on 2 cores",
            None if fps16 is None else fps16 >= 14,
        )
    )
    return out


def table(rows: list[Figure]) -> str:
    def met(value: bool | None) -> str:
        return "—" if value is None else "yes" if value else "**no**"

    lines = ["| figure | ours | predecessor reference | ratio | target | met? |", "|---|---|---|---|---|---|"]
    for f in rows:
        ours = fmt(f.ours, f.unit) + (f" ({f.note})" if f.note else "")
        ratio = "—" if f.ratio is None else f"{f.ratio:.3g}x"
        lines.append(f"| {f.figure} | {ours} | {f.reference_text} | {ratio} | {f.target} | {met(f.met)} |")
    return "\n".join(lines)


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


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    mode = SHORT if args.short else FULL
    logging.basicConfig(level=logging.ERROR)
    began = time.monotonic()
    load_before = os.getloadavg()
    print(mode.notes, flush=True)
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    tmp = Path(tempfile.mkdtemp(prefix="rn-bench-"))
    try:
        runners = sections(mode, tmp)
        for name in args.only:
            print(f"[{time.monotonic() - began:5.0f} s] {name}", flush=True)
            t0 = time.monotonic()
            try:
                results[name] = runners[name]()
            except Exception:  # noqa: BLE001 - a section that fails is reported, the others still run
                errors[name] = traceback.format_exc()
                print(f"  {name} failed:\n{errors[name]}", file=sys.stderr, flush=True)
            seconds[name] = round(time.monotonic() - t0, 1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [f for f in figures(results, mode) if section_of(f.key) in args.only]
    elapsed = round(time.monotonic() - began, 1)
    text = table(rows)
    print()
    print(text)
    missed = [f for f in rows if f.met is False]
    result = {
        "command": "python -m bench" + (" --short" if args.short else "") + (
            f" --only {','.join(args.only)}" if args.only != list(SECTIONS) else ""),
        "mode": "short" if args.short else "full",
        "mode_notes": mode.notes,
        "elapsed_s": elapsed,
        "section_seconds": seconds,
        "machine": {
            "cpus": psutil.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "ffmpeg": find_ffmpeg().version,
        },
        "figures": [{**asdict(f), "ratio": f.ratio} for f in rows],
        "missed": [f.key for f in missed],
        "table_markdown": text,
        "errors": errors,
        "sections": results,
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    print(f"\n{len(rows)} figures, {len(missed)} targets missed"
          + (f" ({', '.join(f.key for f in missed)})" if missed else "")
          + f"; {elapsed:.0f} s; load average {load_before[0]:.1f} → {os.getloadavg()[0]:.1f} on "
          f"{psutil.cpu_count()} cores; JSON: {args.json}")  # fmt: skip
    if errors:
        print(f"sections that failed: {', '.join(errors)}", file=sys.stderr)
    return 1 if errors else 0


SECTION_OF_FIGURE = {
    "cold_first_video_ms": "server", "cold_first_video_relay_ms": "first_video",
    "warm_first_video_ms": "server",
    "ffmpeg_for_20_viewers": "server", "ffmpeg_after_20_viewers": "server", "throughput": "throughput",
    "slow_viewer": "throughput", "stall_found_s": "outage", "hung_video_again_s": "outage",
    "drop_found_s": "outage", "camera_back_video_again_s": "outage", "server_cpu": "cpu", "ffmpeg_cpu": "cpu",
    "thumb": "server", "latency": "flash", "browser": "browser",
}  # fmt: skip


def section_of(key: str) -> str:
    for prefix, section in SECTION_OF_FIGURE.items():
        if key.startswith(prefix):
            return section
    raise KeyError(key)


if __name__ == "__main__":
    sys.exit(main())
