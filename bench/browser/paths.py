"""The widget's two decoder paths side by side, on camera-fed streams (issue 14's browser figures).

* H.264: the page is ``http://127.0.0.1`` (a secure context): each tile decodes the camera's own H.264 with
  WebCodecs in a Worker of its own, drawing on an OffscreenCanvas;
* MPEG-1: the same server opened as ``http://lab.test:PORT`` (not a secure context: no WebCodecs), each tile
  plays the stream's ``grid`` transcode (MPEG-1, at most 640 px and 15 fps) with JSMpeg on the page's main
  thread, Canvas2D.

The streams are GStreamer test cameras (``tests.harness.camera``), not ``demo://`` sources, whose x264 encode
would run on the server. A camera's launch line is shared by its clients (one x264 encode per camera
however many RTSP sessions it serves), so a camera stands for several streams: its URL with a user name
``tile<k>`` and no password (the camera, which asks for no login, ignores it; the store sees distinct URLs;
a query would not do: GStreamer keys a shared media by path and query, and encodes once per key), each
stream its own source relay and RTSP session, as distinct cameras would be. The cameras' own CPU is
counted apart (``server_cpu_percent``'s ``camera``).

Pages (each a fresh notebook and kernel, streams and relays cold):

* first pictures (after the CPU pages: both paths' code is warm in the browser): 4 streams, one camera
  each (a relay is its camera's first client, and the camera starts with a keyframe: no tile waits for a
  shared camera's next one); cells 1-2 add them and show a grid (cold: relays start);
  once every tile played a second, cell 3 shows a second grid of the same streams (warm joins: the first
  grid's tiles hold their relays). Per tile: tile in the page → first picture (data-frames' first change:
  for an H.264 tile its Worker posts its counters right after it drew the picture), and for the warm tiles
  also their socket's creation → first picture;
* CPU: 16 tiles of 640x360@25 on each path, 4 tiles of 1280x720@25 and 32 tiles of 640x360@25 (8 columns)
  on the H.264 path: every tile's decoded and drawn fps, kb/s received, Chromium's CPU (its process tree,
  and the threads of the notebook's renderer by name: the page's main thread, the tiles' Workers, the
  compositor, media threads), the server's and the cameras'.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from bench.browser.runs import CPU_VIEWPORT, Bench, TilesPage, script
from tests.harness.camera import TestCamera

SIZES = {"small": (640, 360), "large": (1280, 720)}
FPS = 25
KEYINT = 50  # a keyframe every 2 s, as many cameras
# one camera (colour bars with a noise patch, scrolling: a busy picture) stands for every 640x360 stream: a
# camera per pattern would cost the 2 cores ≈ 0.17 core each (four: 0.7, starving Chromium), one serving 16
# sessions costs 0.15
PATTERNS = ("smpte",)
FIRST_PATTERNS = ("ball", "pinwheel", "spokes", "smpte")
SCROLL = 4  # pixels a frame
SOURCE_FPS = 24.0  # issue 14: every H.264 tile at the camera's rate (25 fps)
GRID_FPS_TARGET = 14.0  # DESIGN §6: MPEG-1 tiles of the grid profile (15 fps) on 2 cores
FIRST_TILES = 4
# (key, tiles, size, secure, columns)
CPU_PAGES = (
    ("h264_16", 16, "small", True, None),
    ("mpeg1_16", 16, "small", False, None),
    ("h264_720p_4", 4, "large", True, None),
    ("h264_32", 32, "small", True, 8),
)

PAGE_TITLES = {
    "h264_16": "16 H.264 tiles 640x360@25",
    "mpeg1_16": "16 MPEG-1 tiles (same cameras)",
    "h264_720p_4": "4 H.264 tiles 1280x720@25",
    "h264_32": "32 H.264 tiles 640x360@25",
}


@contextlib.contextmanager
def cameras() -> Iterator[dict[str, list[TestCamera]]]:
    """The test cameras of the path pages, started: 640x360@25 (one a pattern) and 1280x720@25, and four
    640x360@25 for the first pictures (an idle camera encodes nothing: it starts with its first client)."""
    with contextlib.ExitStack() as stack:

        def start(size: str, pattern: str) -> TestCamera:
            width, height = SIZES[size]
            cam = TestCamera(width, height, FPS, pattern, keyint=KEYINT, horizontal_speed=SCROLL)
            return stack.enter_context(cam)

        small = [start("small", p) for p in PATTERNS]
        large = [start("large", "smpte")]
        # the first-pictures page's: a stream each, so that each relay is its camera's first client (the
        # camera starts encoding with a keyframe) and no cold tile waits for a shared camera's next one
        first = [start("small", p) for p in FIRST_PATTERNS]
        yield {"small": small, "large": large, "first": first}


def streams(cams: Sequence[TestCamera], n: int) -> list[tuple[str, str]]:
    """``n`` (url, label) pairs over ``cams`` in turn: ``rtsp://tile<k>@<camera>``."""
    out = []
    for k in range(n):
        cam = cams[k % len(cams)]
        out.append((cam.url.replace("rtsp://", f"rtsp://tile{k}@", 1), f"{cam.pattern} {cam.height}p {k}"))
    return out


def adds(pairs: Sequence[tuple[str, str]]) -> str:
    """The first cell's lines that add the streams (a loop: 32 tiles fit under a short cell)."""
    return f"for url, label in {list(pairs)!r}:\n    hub.add(url, label=label)"


def cpu_page(
    key: str, n: int, size: str, secure: bool, columns: int | None, cams: Sequence[TestCamera]
) -> TilesPage:
    cam = cams[0]
    path = "H.264 (WebCodecs, a Worker per tile)" if secure else "MPEG-1 grid profile (JSMpeg, Canvas2D)"
    return TilesPage(
        name=key.replace("_", "-"),
        adds=adds(streams(cams, n)),
        count=n,
        source=f"{len(cams)} GStreamer camera(s) {cam.width}x{cam.height}@{cam.fps} "
        f"({', '.join(c.pattern for c in cams)}, scrolling), {n} streams; {path}",
        fps_target=SOURCE_FPS if secure else GRID_FPS_TARGET,
        secure=secure,
        columns=columns,
        viewport=CPU_VIEWPORT,
        warm_frames=30,
        cameras=tuple(cams),
    )


def first_pictures(bench: Bench, cams: Sequence[TestCamera], secure: bool) -> dict[str, Any]:
    """Cold first pictures of ``FIRST_TILES`` streams, then warm joins of the same streams (a second grid)."""
    codec = "h264" if secure else "mpeg1"
    pairs = streams(cams, FIRST_TILES)
    grid = "hub.grid(renderer='canvas2d')"
    name = f"first-{codec}"
    with bench.notebook(name, adds(pairs), grid, CPU_VIEWPORT, secure=secure, more=[grid]) as nb:
        page = nb.page
        page.evaluate(script("run_cells"), {"path": nb.path, "from": 0, "to": 2})
        page.wait_for_function(script("first_frames"), arg=FIRST_TILES, timeout=60_000, polling=50)
        cold = bench.wait_cells(nb)
        # the relays run and every tile played a second: now the joins are warm
        page.wait_for_function(
            script("tiles_ready"), arg={"count": FIRST_TILES, "frames": 15}, timeout=30_000
        )
        page.evaluate(script("run_cells"), {"path": nb.path, "from": 2, "to": 3})
        page.wait_for_function(script("first_frames"), arg=2 * FIRST_TILES, timeout=60_000, polling=50)
        warm = bench.wait_cells(nb)
        wire = page.evaluate("() => window.__rnWire")
    return first_picture_sample(cold, warm, wire, codec)


def first_picture_sample(
    cold: dict[str, Any], warm: dict[str, Any], wire: dict[str, Any], codec: str
) -> dict[str, Any]:
    """Cold and warm first-picture times (ms) of a first-pictures page (recorder.js, instrument.js)."""
    tiles = sorted(warm["tiles"].values(), key=lambda t: t["created"])
    codecs = {t["codec"] for t in tiles}
    assert codecs == {codec}, f"tiles played {codecs}, not {codec}"
    old, new = tiles[:FIRST_TILES], tiles[FIRST_TILES:]
    assert all(t["created"] < warm["t0"] for t in old) and all(t["created"] > warm["t0"] for t in new)
    sockets = [s for s in wire["sockets"] if s["codec"] == codec]

    def socket_of(tile: dict[str, Any]) -> dict[str, Any]:
        """The first socket of the tile's stream opened after the tile appeared."""
        return min(
            (s for s in sockets if s["stream"] == tile["stream"] and s["created"] >= tile["created"]),
            key=lambda s: s["created"],
        )

    def ms(values: list[float]) -> list[float]:
        return [round(v, 1) for v in values]

    return {
        "codec": codec,
        "cold_run_to_first_ms": ms([t["first"] - cold["t0"] for t in old]),
        "cold_shown_to_first_ms": ms([t["first"] - t["created"] for t in old]),
        "cold_socket_to_first_bytes_ms": ms(
            [socket_of(t)["firstBytes"] - socket_of(t)["created"] for t in old]
        ),
        "warm_shown_to_first_ms": ms([t["first"] - t["created"] for t in new]),
        "warm_socket_to_first_ms": ms([t["first"] - socket_of(t)["created"] for t in new]),
        "warm_socket_to_first_bytes_ms": ms(
            [socket_of(t)["firstBytes"] - socket_of(t)["created"] for t in new]
        ),
        # the browser's part: the socket's first video bytes → the picture painted
        "warm_bytes_to_first_ms": ms([t["first"] - socket_of(t)["firstBytes"] for t in new]),
        "cold_bytes_to_first_ms": ms([t["first"] - socket_of(t)["firstBytes"] for t in old]),
        "cells_done_ms": round(cold["runAll"] - cold["t0"], 1),
    }


def measure_paths(
    bench: Bench, cams: dict[str, list[TestCamera]], runs: int, window: float
) -> dict[str, Any]:
    """Every page of this module, ``runs`` times; prints a line per page."""
    samples: dict[str, list[Any]] = {"first_h264": [], "first_mpeg1": [], **{k[0]: [] for k in CPU_PAGES}}
    began = time.monotonic()
    for run in range(runs):
        print(f"paths: run {run + 1}/{runs}", flush=True)
        for key, n, size, secure, columns in CPU_PAGES:
            spec = cpu_page(key, n, size, secure, columns, cams[size])
            # short windows (CI): give a tile that cannot warm up less time to try
            cpu = bench.cpu(replace(spec, warm_timeout=10.0 if window < 5 else 60.0), window)
            samples[key].append(cpu)
            print(
                f"  {key} ({time.monotonic() - began:.0f} s): Chromium {cpu['chromium_cpu_percent']} %; "
                f"drawn fps min {cpu['drawn_fps_min']} "
                f"(decoded min {cpu['fps_min']}), {cpu['tiles_at_target']}/{n} at {cpu['fps_target']:g}; "
                f"{cpu['kbps_median']} kb/s a tile; {cpu['codecs']}; dropped {cpu['h264_dropped']}, jumps "
                f"{cpu['h264_jumps']}; main {cpu['renderer_main_thread']}; "
                f"threads {cpu['renderer_threads_percent']}; "
                f"server {cpu['server_cpu_percent']}; machine {cpu['machine_busy_percent']} %",
                flush=True,
            )
        for secure in (True, False):
            sample = first_pictures(bench, cams["first"], secure)
            samples[f"first_{sample['codec']}"].append(sample)
            print(
                f"  {sample['codec']} ({time.monotonic() - began:.0f} s): cold tile shown -> first picture "
                f"{statistics.median(sample['cold_shown_to_first_ms']):.0f} ms, warm join "
                f"{statistics.median(sample['warm_shown_to_first_ms']):.0f} ms "
                f"(socket -> picture {statistics.median(sample['warm_socket_to_first_ms']):.0f} ms)",
                flush=True,
            )
    return samples


def path_pages(runs: int, window: float) -> dict[str, Any]:
    """``python -m bench``'s browser section: the path pages, ``runs`` times, in one lab and one Chromium."""
    from bench.browser.runs import session
    from tests.harness.browser import browser_available

    ok, why = browser_available()
    if not ok:
        raise RuntimeError(f"Chromium cannot run here: {why}")
    with cameras() as cams, session() as bench:
        samples = measure_paths(bench, cams, runs, window)
    return {"window_s": window, "page_errors": bench.errors, "samples": samples}
