"""The rows of ``python -m bench``'s table that the browser section measures (``bench.browser.paths``):
the widget's H.264 path beside its MPEG-1 path, on the same GStreamer cameras, in the same run."""

from __future__ import annotations

import statistics
from typing import Any

from bench._figures import At, Check, Row, Scope, Shown, Text, Value, at, at_least, at_most

SOURCE_FPS = 24.0  # issue 14: every H.264 tile at the camera's rate (25 fps)
GRID_FPS = 14.0  # DESIGN §6: every MPEG-1 tile (grid profile, 15 fps) on 2 cores
WARM_JOIN_MS = 150.0


def median(page: str, *path: str) -> At:
    """The median (upper middle) over the runs of a browser page of the value at ``path`` in each run."""

    def then(runs: list[dict[str, Any]]) -> float | None:
        values = []
        for run in runs:
            value: Any = run
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                values.append(float(value))
        return round(sorted(values)[len(values) // 2], 1) if values else None

    return at("browser", "samples", page, then=then)


def pooled(page: str, field: str) -> At:
    """The median of a list field (a value per tile) pooled over the runs of a first-pictures page."""

    def then(runs: list[dict[str, Any]]) -> float | None:
        values = [v for run in runs for v in run[field]]
        return round(statistics.median(values), 1) if values else None

    return at("browser", "samples", page, then=then)


def below(reference: Value, *, strict: bool = True) -> Check:
    """Met when ours is under (or, not ``strict``, at most) the reference measured in the same run."""

    def check(scope: Scope, ours: Any) -> bool | None:
        theirs = reference(scope)
        if ours is None or theirs is None:
            return None
        return bool(ours < theirs if strict else ours <= theirs)

    return check


def busy(page: str) -> At:
    return median(page, "machine_busy_percent")


MPEG1_CPU = median("mpeg1_16", "chromium_cpu_percent")
MPEG1_KBPS = median("mpeg1_16", "kbps_median")
MPEG1_WARM = pooled("first_mpeg1", "warm_shown_to_first_ms")
MPEG1_COLD = pooled("first_mpeg1", "cold_shown_to_first_ms")


def h264_fps_row(page: str, what: str, target: float | None) -> Row:
    """The slowest H.264 tile of a CPU page: pictures its Worker drew per second."""
    return Row(
        f"browser_{page}_tiles_fps_min",
        f"10. {what} in Chromium (WebCodecs, a Worker per tile): slowest tile, pictures drawn/s",
        median(page, "drawn_fps_min"),
        "fps",
        f"every tile ≥ {target:g} fps (the source's 25) on 2 cores" if target else "— (the source's 25 fps)",
        at_least(target) if target else None,
        note=Text(
            "Chromium {} % of a core; decoded {} fps; machine {} % busy",
            median(page, "chromium_cpu_percent"),
            median(page, "fps_min"),
            busy(page),
        ),
    )


ROWS: tuple[Row, ...] = (
    h264_fps_row("h264_16", "16 H.264 tiles of 640x360@25 cameras", SOURCE_FPS),
    Row(
        "browser_h264_16_tiles_cpu_percent",
        "10. Chromium CPU, 16 H.264 tiles 640x360@25 (all of its processes)",
        median("h264_16", "chromium_cpu_percent"),
        "% core",
        "less than 16 JSMpeg tiles",
        below(MPEG1_CPU),
        MPEG1_CPU,
        Text("{} (16 MPEG-1 tiles of the same cameras, JSMpeg, measured)", Shown(MPEG1_CPU, "% core")),
        Text(
            "server FFmpeg {} % (copies) vs {} % (MPEG-1: copies + transcodes)",
            median("h264_16", "server_cpu_percent", "ffmpeg"),
            median("mpeg1_16", "server_cpu_percent", "ffmpeg"),
        ),
    ),
    Row(
        "browser_mpeg1_16_tiles_fps_min",
        "10. 16 MPEG-1 tiles (grid profile, JSMpeg, Canvas2D; page not a secure context): slowest tile's fps",
        median("mpeg1_16", "drawn_fps_min"),
        "fps",
        f"all tiles ≥ {GRID_FPS:g} fps on 2 cores",
        at_least(GRID_FPS),
        note=Text(
            "page's main thread on a CPU {} %; machine {} % busy",
            median("mpeg1_16", "renderer_main_thread", "on_cpu_percent"),
            busy("mpeg1_16"),
        ),
    ),
    h264_fps_row("h264_720p_4", "4 H.264 tiles of a 1280x720@25 camera", None),
    h264_fps_row("h264_32", "32 H.264 tiles of 640x360@25 cameras", None),
    Row(
        "browser_h264_tile_kbps",
        "10. bytes on the wire per tile, H.264 (the camera's own video), 640x360@25",
        median("h264_16", "kbps_median"),
        "kb/s",
        "the camera's own bitrate",
        None,
        MPEG1_KBPS,
        Text("{} (an MPEG-1 grid tile of the same camera, measured)", Shown(MPEG1_KBPS, "kb/s")),
        Text("the source relays' output {} kb/s", median("h264_16", "relay_kbps_by_profile", "source")),
    ),
    Row(
        "browser_h264_warm_join_ms",
        "10. warm join (another tile holds the stream): tile in the page → first picture painted, H.264",
        pooled("first_h264", "warm_shown_to_first_ms"),
        "ms",
        f"≤ {WARM_JOIN_MS:g} ms",
        at_most(WARM_JOIN_MS),
        MPEG1_WARM,
        Text("{} (MPEG-1 tile, same cameras, measured)", Shown(MPEG1_WARM, "ms")),
        Text(
            "its socket → first video bytes {} ms (MPEG-1 {}), bytes → picture {} ms (MPEG-1 {})",
            pooled("first_h264", "warm_socket_to_first_bytes_ms"),
            pooled("first_mpeg1", "warm_socket_to_first_bytes_ms"),
            pooled("first_h264", "warm_bytes_to_first_ms"),
            pooled("first_mpeg1", "warm_bytes_to_first_ms"),
        ),
    ),
    Row(
        "browser_h264_cold_first_picture_ms",
        "10. cold stream: tile in the page → first picture painted, H.264",
        pooled("first_h264", "cold_shown_to_first_ms"),
        "ms",
        "no worse than the MPEG-1 path",
        below(MPEG1_COLD, strict=False),
        MPEG1_COLD,
        Text("{} (MPEG-1 path, same cameras, measured)", Shown(MPEG1_COLD, "ms")),
        Text(
            "first video bytes → picture {} ms (MPEG-1 {})",
            pooled("first_h264", "cold_bytes_to_first_ms"),
            pooled("first_mpeg1", "cold_bytes_to_first_ms"),
        ),
    ),
)
