"""The grid widget seen from a Playwright page: the notebook cells that show a grid of cameras, a tile by
its label, its phase and counters (``data-phase``, ``data-frames``, ``data-bytes``) and a checksum of its
canvas's pixels. Used by the browser tests of the grid (tests/test_widget.py, tests/test_widget_kernel.py).
"""

from __future__ import annotations

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


PIXELS = """(tile) => {
  const canvas = tile.querySelector('canvas');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4 * 97) sum = (sum * 31 + data[i] + data[i + 1]) % 1000000007;
  return {sum, width: canvas.width, height: canvas.height, lit: data.some((v, i) => i % 4 !== 3 && v > 40)};
}"""


def picture(locator) -> dict:
    return locator.evaluate(PIXELS)
