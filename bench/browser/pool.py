"""A Worker per tile, or a pool of a few Workers for all tiles? The same H.264 tiles both ways, measured
on one bare page (no JupyterLab, no widget): ``python -m bench.browser.pool``.

    python -m bench.browser.pool [--tiles 16,32] [--workers 0,4,2] [--draw 0,300] [--window 10] [--runs 1]

Each case adds ``tiles`` streams of one 640x360@25 GStreamer camera (``bench.browser.paths``' camera and
URLs) through the API, opens a page on the server's own origin (``http://127.0.0.1``: a secure context),
and shows them as canvases of the widget's tile width. Each tile's socket (``codec=h264``, ``grid``) is
read on the page's main thread and its bytes go, transferred, to a Worker (``js/pool_worker.js``: the
widget's demuxer and LiveDecoder from ``js/src/h264/``, one ``VideoDecoder`` and OffscreenCanvas per tile,
the newest picture of every tile drawn once per animation frame). ``--workers 0`` is a Worker per tile, the
widget's model; 2 or 4 is a pool (tile i → Worker i mod n). Once every tile drew 30 pictures, over the
window: every tile's drawn fps, Chromium's CPU (whole tree, by process type, the renderer's threads by
name), socket messages a second. The machine is shared: read the figures with its busy % beside them.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.browser import paths
from bench.browser.processes import Snapshot
from bench.browser.runs import CPU_VIEWPORT, Bench, script, session
from tests.harness.camera import TestCamera

ROOT = Path(__file__).resolve().parents[2]
ESBUILD = ROOT / "js" / "node_modules" / ".bin" / "esbuild"
TILE_WIDTH = 300  # px, about the widget's tile at 6 columns on a 1920 px page
WARM = 30


@functools.cache
def worker_source() -> str:
    """``js/pool_worker.js`` bundled with the widget's H.264 modules (esbuild from ``js/node_modules``)."""
    if not ESBUILD.exists():
        raise RuntimeError(f"{ESBUILD} not found: npm --prefix js ci")
    entry = Path(__file__).resolve().parent / "js" / "pool_worker.js"
    done = subprocess.run(
        [str(ESBUILD), str(entry), "--bundle", "--format=iife", "--log-level=warning"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def pool_case(
    bench: Bench, cam: TestCamera, tiles: int, workers: int, window: float, draw: int = 0
) -> dict[str, Any]:
    """``tiles`` H.264 tiles on ``workers`` Workers (0: one per tile) on a bare page, drawn ``draw`` px wide
    (0: the picture's own size)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    bench.fresh()
    for url, label in paths.streams([cam], tiles):
        bench.server.api("POST", "streams", {"url": url, "label": label})
    urls = []
    for stream in bench.server.api("GET", "streams"):
        ws = bench.server.url(stream["ws_url"] + "&profile=grid&codec=h264").replace("http://", "ws://", 1)
        urls.append(ws)
    page = bench.context.new_page()
    try:
        page.set_viewport_size(CPU_VIEWPORT)
        # a page of the server's own origin (a secure context): its 404 page, whose CSP (unlike the API's
        # answers, and unlike a page Playwright would make up, which Chromium's local network access checks
        # keep off 127.0.0.1) lets Workers and sockets be
        page.goto(bench.server.url("bench-pool-blank"))
        assert page.evaluate("window.isSecureContext") is True
        arg = {
            "urls": urls,
            "workers": workers or tiles,
            "source": worker_source(),
            "width": TILE_WIDTH,
            "draw": draw,
        }
        page.evaluate(script("pool_page"), arg)
        try:
            page.wait_for_function(script("pool_ready"), arg=WARM, timeout=60_000, polling=200)
            warmed = True
        except PlaywrightTimeout:  # a tile that never warms up is a finding: it shows in its fps
            warmed = False
        before, start = Snapshot.take(bench.server, [cam]), page.evaluate(script("pool_read"))
        page.wait_for_timeout(window * 1000)  # the fixed measurement window
        after, end = Snapshot.take(bench.server, [cam]), page.evaluate(script("pool_read"))
    finally:
        page.close()
    seconds = (end["now"] - start["now"]) / 1000

    def rate(field: str) -> list[float]:
        return [
            round((b[field] - a[field]) / seconds, 2)
            for a, b in zip(start["tiles"], end["tiles"], strict=True)
        ]

    drawn = rate("drawn")
    chromium = after.chromium_since(before)
    return {
        "tiles": tiles,
        "workers": workers or tiles,
        "model": "a Worker per tile" if not workers else f"a pool of {workers} Workers",
        "warmed_up": warmed,
        "draw_width": draw or "picture",
        **chromium,
        "drawn_fps": drawn,
        "drawn_fps_min": min(drawn),
        "drawn_fps_median": round(statistics.median(drawn), 2),
        "decoded_fps_min": min(rate("decoded")),
        "tiles_at_24": sum(v >= paths.SOURCE_FPS for v in drawn),
        # Chromium's CPU time (all its processes) per picture drawn, all tiles together
        "chromium_ms_per_picture": round(chromium["chromium_cpu_percent"] * 10 / max(sum(drawn), 0.1), 2),
        "dropped_per_s": round(sum(rate("dropped")), 1),
        "jumps": sum(b["jumps"] - a["jumps"] for a, b in zip(start["tiles"], end["tiles"], strict=True)),
        "socket_messages_per_s_a_tile": round(statistics.median(rate("messages")), 1),
        "kbps_median": round(statistics.median(rate("bytes")) * 8 / 1000, 1),
        "page_frames_per_s": round((end["raf"] - start["raf"]) / seconds, 1),
        "worker_errors": end["errors"][:5],
        **after.server_since(before),
    }


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.browser.pool",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tiles", default="16,32", help="comma-separated tile counts")
    parser.add_argument("--workers", default="0,4,2", help="comma-separated Worker counts (0: one per tile)")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument(
        "--draw", default="0", help="comma-separated widths to draw at (0: the picture's; 300: the tile's)"
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--json", type=Path, default=Path("bench/results/browser-pool.json"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    counts = [int(x) for x in args.tiles.split(",")]
    pools = [int(x) for x in args.workers.split(",")]
    draws = [int(x) for x in args.draw.split(",")]
    cases: list[dict[str, Any]] = []
    with paths.cameras() as cams, session() as bench:
        for run in range(args.runs):
            for tiles in counts:
                for workers, draw in itertools.product(pools, draws):
                    case = pool_case(bench, cams["small"][0], tiles, workers, args.window, draw)
                    cases.append({"run": run + 1, **case})
                    print(
                        f"{tiles} tiles, {case['model']}, drawn {case['draw_width']} wide: drawn fps min "
                        f"{case['drawn_fps_min']}, median {case['drawn_fps_median']}, "
                        f"{case['tiles_at_24']}/{tiles} >= 24; Chromium {case['chromium_cpu_percent']} % "
                        f"{case['chromium_cpu_by_type']}, {case['chromium_ms_per_picture']} ms a picture; "
                        f"renderer threads {case['renderer_threads_percent']}; jumps {case['jumps']}; "
                        f"socket messages {case['socket_messages_per_s_a_tile']}/s a tile; "
                        f"machine {case['machine_busy_percent']} %",
                        flush=True,
                    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m bench.browser.pool " + " ".join(sys.argv[1:] if argv is None else argv)
    args.json.write_text(json.dumps({"command": command.strip(), "cases": cases}, indent=2))
    print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
