"""The report of ``python -m bench.browser``: its printed rows (figure → median, max or notes, target) and the
JSON result around the samples of the runs."""

from __future__ import annotations

import argparse
import hashlib
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

from bench.browser.paths import CPU_PAGES as PATH_CPU_PAGES
from bench.browser.paths import PAGE_TITLES
from bench.browser.runs import CAMERA, CPU_VIEWPORT, DEMO_QUERY, FPS_TARGET, VIEWPORT


def median(values: Iterable[float]) -> float:
    return float(statistics.median(values))


def row(value: str, notes: str, target: str = "—") -> str:
    return f"{value:>8}   {notes:<50} {target}"


def spread(values: list[float], unit: str, digits: int = 0, notes: str = "") -> str:
    """A row of the median and the max of ``values``."""
    return row(f"{median(values):.{digits}f} {unit}", f"max {max(values):.{digits}f} {unit}{notes}")


def table(samples: dict[str, list[Any]]) -> dict[str, str]:
    """The printed rows: figure → median, max or notes, target."""

    def times(key: str, field: str) -> str:
        return spread([r[field] for r in samples[key]], "ms")

    rows = {"figure": row("median", "max / notes", "target (DESIGN §6)")}
    if "first_h264" in samples:
        rows.update(path_rows(samples))
    if "first_frame_1" not in samples:
        return rows
    # the first-frame pages play H.264 (the page is on 127.0.0.1: a secure context)
    rows["1 tile: run all → first picture"] = times("first_frame_1", "first_tile_ms")
    rows["1 tile: tile shown → first picture"] = times("first_frame_1", "shown_to_first_ms")
    rows["4 tiles: run all → first tile's picture"] = times("first_frame_4", "first_tile_ms")
    rows["4 tiles: run all → last tile's picture"] = times("first_frame_4", "last_tile_ms")
    rows["4 tiles: tiles shown → last tile's picture"] = times("first_frame_4", "shown_to_last_ms")
    cells = [r["cells_done_ms"] for r in samples["first_frame_1"] + samples["first_frame_4"]]
    rows["run all → both cells done (fresh kernel)"] = spread(cells, "ms")
    resume = samples["resume_ms"]
    rows["resume: Play click → next picture"] = spread(resume, "ms", notes=f", {len(resume)} samples")
    for n in (4, 16):
        rows.update(cpu_rows(n, samples[f"cpu_{n}"]))
    return rows


def cpu_rows(n: int, runs: list[dict[str, Any]]) -> dict[str, str]:
    """The rows of the CPU pages of ``n`` demo tiles (H.264 on this page: the server's FFmpeg makes each
    demo picture and encodes it with x264, on the same 2 cores as Chromium)."""
    cpu = [r["chromium_cpu_percent"] for r in runs]
    slowest = [r["fps_min"] for r in runs]
    at_target = min(r["tiles_at_target"] for r in runs)
    server = [sum(r["server_cpu_percent"].values()) for r in runs]
    ffmpeg = [r["server_cpu_percent"].get("ffmpeg", 0.0) for r in runs]
    busy = [r["machine_busy_percent"] for r in runs]
    frames = [r["page_frames_per_s"] for r in runs]
    main_on = [r["renderer_main_thread"].get("on_cpu_percent", 0.0) for r in runs]
    main_wait = [r["renderer_main_thread"].get("waiting_percent", 0.0) for r in runs]
    per_picture = [r["renderer_main_thread"].get("ms_per_picture", 0.0) for r in runs]
    stuck = [len(r["stuck_tiles"]) for r in runs]
    errors = [r["page_errors"] for r in runs]
    return {
        f"{n} demo:// tiles: Chromium CPU": spread(cpu, "%", notes=" (of one core)"),
        f"{n} demo:// tiles: decoded fps, slowest tile": row(
            f"{median(slowest):.1f}",
            f"worst {min(slowest):.1f}; {at_target}/{n} tiles >= {FPS_TARGET:g} (worst run)",
            f"all tiles >= {FPS_TARGET:g} fps" if n == 16 else "—",
        ),
        f"{n} demo:// tiles: page's main thread on a CPU": row(
            f"{median(main_on):.0f} %", f"+ waiting for a CPU {median(main_wait):.0f} % of the time"
        ),
        f"{n} demo:// tiles: main thread per picture": row(
            f"{median(per_picture):.1f} ms",
            f"max {max(per_picture):.1f} ms; 16 x 15 fps: {24 * median(per_picture):.0f} % of a core",
        ),
        f"{n} demo:// tiles: stuck tiles / page errors": row(
            f"{median(stuck):.0f}",
            f"max {max(stuck)} stuck ('playing', no picture); page errors {sum(errors)}",
        ),
        f"{n} demo:// tiles: page animation frames/s": row(
            f"{median(frames):.1f}", "a tile draws <= 1 picture per animation frame"
        ),
        f"{n} demo:// tiles: server CPU": row(
            f"{median(server):.0f} %",
            f"of which FFmpeg {median(ffmpeg):.0f} % (the {n} demo sources: lavfi + x264)",
        ),
        f"{n} demo:// tiles: whole machine busy": row(
            f"{median(busy):.0f} %", f"max {max(busy):.0f} % of {psutil.cpu_count()}00 % (others' jobs too)"
        ),
    }


def flat(runs: list[dict[str, Any]], field: str) -> list[float]:
    """A list field of every run of a first-pictures page, as one list."""
    return [x for r in runs for x in r[field]]


def path_rows(samples: dict[str, list[Any]]) -> dict[str, str]:
    """The rows of the path pages (bench.browser.paths): H.264 beside MPEG-1 on the same cameras."""
    rows: dict[str, str] = {}
    for codec in ("h264", "mpeg1"):
        runs = samples[f"first_{codec}"]
        name = "H.264" if codec == "h264" else "MPEG-1"
        rows[f"{name} cold: tile in the page → first picture"] = spread(
            flat(runs, "cold_shown_to_first_ms"),
            "ms",
            notes=f"; {len(flat(runs, 'cold_shown_to_first_ms'))} tiles",
        )
        rows[f"{name} warm join: tile in the page → first picture"] = row(
            f"{median(flat(runs, 'warm_shown_to_first_ms')):.0f} ms",
            f"max {max(flat(runs, 'warm_shown_to_first_ms')):.0f}; socket → first bytes "
            f"{median(flat(runs, 'warm_socket_to_first_bytes_ms')):.0f}, bytes → picture "
            f"{median(flat(runs, 'warm_bytes_to_first_ms')):.0f} ms",
            "≤ 150 ms" if codec == "h264" else "—",
        )
    for key, n, *_ in PATH_CPU_PAGES:
        runs = samples[key]
        what = PAGE_TITLES[key]
        slowest = [r["drawn_fps_min"] for r in runs]
        target = runs[0]["fps_target"]
        rows[f"{what}: slowest tile, fps drawn"] = row(
            f"{median(slowest):.1f}",
            f"worst {min(slowest):.1f}; {min(r['tiles_at_target'] for r in runs)}/{n} tiles ≥ {target:g} "
            f"(worst run); decoded {median([r['fps_min'] for r in runs]):.1f}",
            f"every tile ≥ {target:g} fps",
        )
        threads = runs[len(runs) // 2]["renderer_threads_percent"]
        rows[f"{what}: Chromium CPU"] = row(
            f"{median([r['chromium_cpu_percent'] for r in runs]):.0f} %",
            "renderer " + ", ".join(f"{k} {v:.0f}" for k, v in list(threads.items())[:4]),
        )
        server = runs[len(runs) // 2]["server_cpu_percent"]
        busy = median([r["machine_busy_percent"] for r in runs])
        rows[f"{what}: kb/s a tile; server, cameras"] = row(
            f"{median([r['kbps_median'] for r in runs]):.0f}",
            f"FFmpeg {server.get('ffmpeg', 0):.0f} %, server {server.get('jupyter server', 0):.0f} %, "
            f"cameras {server.get('camera', 0):.0f} %; machine {busy:.0f} %",
        )
    return rows


def widget_bundle() -> dict[str, str]:
    """Which widget bundle the kernels serve (the git-ignored build of js/src: it changes with a rebuild)."""
    import rtsp_notebook

    path = Path(rtsp_notebook.__file__).resolve().parent / "static" / "widget.js"
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
    return {"path": str(path), "sha256": digest}


def result(
    args: argparse.Namespace, window: float, samples: dict[str, list[Any]], errors: list[str]
) -> dict[str, Any]:
    """The JSON of a run of ``python -m bench.browser``, with its printed rows."""
    return {
        "command": f"python -m bench.browser --runs {args.runs}" + (" --short" if args.short else ""),
        "browser": "Debian chromium, headless; H.264 tiles on 127.0.0.1 (WebCodecs), MPEG-1 on lab.test "
        "(JSMpeg, Canvas2D renderer)",
        "viewport": VIEWPORT,
        "cpu_viewport": CPU_VIEWPORT,
        "demo_query": DEMO_QUERY,
        "camera": {"source": "GStreamer TestCamera (videotestsrc ball, x264)", **CAMERA},
        "cpu_window_s": window,
        "cpus": psutil.cpu_count(),
        "widget_js": widget_bundle(),
        "page_errors": errors,
        "samples": samples,
        "table": table(samples),
    }
