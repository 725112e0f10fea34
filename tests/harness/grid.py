"""The grid widget seen from a Playwright page: the notebook cells that show a grid of cameras, a tile by
its label, its phase and counters (``data-phase``, ``data-frames``, ``data-bytes``) and a checksum of its
canvas's pixels. Used by the browser tests of the grid (tests/test_widget.py, tests/test_widget_kernel.py).
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image

from .helpers import wait_until_sync


def grid_cells(*cameras, renderer: str = "canvas2d", extra: str = "") -> list[str]:
    adds = "\n".join(f"hub.add({cam.url!r}, label={label!r})" for label, cam in cameras)
    return [
        f"import rtsp_notebook as rn\nhub = rn.connect()\n{adds}",
        f"grid = hub.grid(renderer={renderer!r}{extra})\ngrid",
    ]


def tile(page, label: str):
    return page.locator(".rn-tile").filter(has=page.locator(".rn-label", has_text=label))


def frames(locator) -> int:
    return int(locator.get_attribute("data-frames") or 0)


def received(locator) -> int:
    return int(locator.get_attribute("data-bytes") or 0)


def wait_phase(locator, phase: str, timeout: float = 20) -> None:
    wait_until_sync(lambda: locator.get_attribute("data-phase") == phase, timeout, f"tile phase {phase}")


def wait_more_frames(locator, count: int, timeout: float = 20) -> int:
    start = frames(locator)
    wait_until_sync(lambda: frames(locator) >= start + count, timeout, f"{count} more decoded frames")
    return frames(locator)


def picture(locator) -> dict:
    """What the tile's canvas shows, from an element screenshot (an H.264 tile's canvas belongs to its Worker:
    it has no context to read pixels from): a checksum, the canvas's size, and whether anything is lit."""
    canvas = locator.locator("canvas")
    width, height = canvas.evaluate("c => [c.width, c.height]")
    rgb = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB"))
    lit = bool((rgb > 40).any())
    return {"sum": zlib.crc32(rgb[::7, ::7].tobytes()), "width": width, "height": height, "lit": lit}
