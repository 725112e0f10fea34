"""The widget's bundle, built from `js/` by the build hook into the git-ignored `static/` folder."""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR", "widget_css", "widget_js"]

STATIC_DIR: Path = Path(__file__).parent / "static"

_FIX = (
    "run `npm --prefix js ci && npm --prefix js run build`, or reinstall the package with `pip install -e .`"
)


def _bundle_file(name: str) -> Path:
    path = STATIC_DIR / name
    if not path.is_file():
        raise RuntimeError(f"the widget bundle is missing: {_FIX} (no {path})")
    return path


def widget_js() -> Path:
    """The widget's ES module (anywidget's `_esm`)."""
    return _bundle_file("widget.js")


def widget_css() -> Path:
    """The widget's stylesheet (anywidget's `_css`)."""
    return _bundle_file("widget.css")
