"""Screenshots of every UI state a browser test reaches, kept as test artifacts, and the geometry checks
that pin what a screenshot would show (control sizes, overflow, tiles in the viewport).

Screenshots go to ``$RN_ARTIFACTS/screens/<test>/`` (default ``test-artifacts/`` at the repository's
root, ignored by git): one folder per test, files numbered in the order the test took them, so a person
can open them and judge the pages as a user would.
"""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_counters: dict[str, itertools.count[int]] = {}


def artifacts() -> Path:
    return Path(os.environ.get("RN_ARTIFACTS") or REPO / "test-artifacts")


def current_test() -> str:
    """The running test as a folder name, e.g. ``test_widget-test_pause_resume_stop_play``."""
    nodeid = os.environ.get("PYTEST_CURRENT_TEST", "outside-pytest").split(" ")[0]
    name = nodeid.replace(".py::", "-").replace("::", "-").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:120]


def screen_path(name: str) -> Path:
    """A new numbered file in the running test's folder: ``03-expanded.png``."""
    test = current_test()
    number = next(_counters.setdefault(test, itertools.count(1)))
    folder = artifacts() / "screens" / test
    folder.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).stem)
    return folder / f"{number:02d}-{stem}.png"


# -- geometry ------------------------------------------------------------------------------------------


def box(locator: Any) -> dict[str, float]:
    """The element's box in CSS pixels (x, y, width, height), failing if it is not rendered."""
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not rendered"
    return dict(found)


def assert_height(locator: Any, low: float, high: float, what: str) -> None:
    height = box(locator)["height"]
    assert low <= height <= high, f"{what} is {height:.0f} px tall (expected {low:.0f}-{high:.0f} px)"


def assert_inside(inner: Any, outer: Any, what: str, slack: float = 1.0) -> None:
    a, b = box(inner), box(outer)
    inside = (
        a["x"] >= b["x"] - slack
        and a["y"] >= b["y"] - slack
        and a["x"] + a["width"] <= b["x"] + b["width"] + slack
        and a["y"] + a["height"] <= b["y"] + b["height"] + slack
    )
    assert inside, f"{what}: {a} is not inside {b}"


def assert_no_overflow(locator: Any, what: str) -> None:
    """Nothing inside the element is cut off sideways (its content is no wider than its box)."""
    widths = locator.evaluate("el => [el.scrollWidth, el.clientWidth]")
    content, shown = widths
    assert content <= shown + 1, f"{what} overflows: content {content} px wide in a {shown} px box"


def assert_in_viewport(locator: Any, what: str) -> None:
    size = locator.page.viewport_size
    assert size is not None
    b = box(locator)
    inside = b["x"] >= -1 and b["y"] >= -1 and b["x"] + b["width"] <= size["width"] + 1
    inside = inside and b["y"] + b["height"] <= size["height"] + 1
    assert inside, f"{what}: {b} is not inside the {size['width']}x{size['height']} viewport"


def assert_no_overlap(first: Any, second: Any, what: str) -> None:
    a, b = box(first), box(second)
    apart = (
        a["x"] + a["width"] <= b["x"] + 0.5
        or b["x"] + b["width"] <= a["x"] + 0.5
        or a["y"] + a["height"] <= b["y"] + 0.5
        or b["y"] + b["height"] <= a["y"] + 0.5
    )
    assert apart, f"{what}: {a} overlaps {b}"
