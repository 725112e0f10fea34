"""Skip a test whose camera or browser cannot run here, or fail it when CI requires everything
(``RTSP_NOTEBOOK_REQUIRE_CAMERA=1``). Plain functions, not a plugin: conftest and test modules import them.
"""

from __future__ import annotations

import os

import pytest

from .browser import browser_available
from .camera import camera_available

REQUIRE_CAMERA_ENV = "RTSP_NOTEBOOK_REQUIRE_CAMERA"  # "1" (CI): a missing camera or browser fails, not skips


def require_camera() -> None:
    """Skip the test when the GStreamer camera cannot run here; fail instead when CI requires it."""
    ok, reason = camera_available()
    if ok:
        return
    if os.environ.get(REQUIRE_CAMERA_ENV) == "1":
        pytest.fail(f"test camera required ({REQUIRE_CAMERA_ENV}=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"test camera unavailable: {reason}")


def require_browser() -> None:
    """Skip when Chromium or Playwright is missing; fail instead when CI requires everything."""
    ok, reason = browser_available()
    if ok:
        return
    if os.environ.get(REQUIRE_CAMERA_ENV) == "1":
        pytest.fail(f"browser required ({REQUIRE_CAMERA_ENV}=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"browser unavailable: {reason}")
