"""Fixtures a browser test module imports (``from .playwright_loop import jp_asyncio_loop,
jp_server_cleanup``) to switch off pytest-jupyter's autouse fixtures in that module only: Playwright's
sync API keeps its own loop running in this thread, and pytest-jupyter would take that loop and close
it after each test (and await a server cleanup on it). Not a plugin: other modules keep pytest-jupyter's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    yield
