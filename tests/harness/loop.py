"""pytest-jupyter's autouse fixtures, switched off for the tests that drive Chromium (a pytest plugin).

Playwright's sync API keeps its own loop running in the test's thread, and pytest-jupyter would take that loop
and close it after each test (and await a server cleanup on it). ``tests/conftest.py`` registers this plugin
after ``pytest_jupyter.jupyter_server``, so these fixtures override pytest-jupyter's by name: a test that uses
Playwright (the ``browser`` fixture, through ``page`` or ``open_notebook``) gets no-ops, every other test gets
pytest-jupyter's own (an overriding fixture that requests its own name gets the one it overrides), so the
server tests' ``jp_fetch`` keep their loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

PLAYWRIGHT_FIXTURE = "browser"  # starts Playwright; ``page`` and the notebook openers use it


def _drives_chromium(request: pytest.FixtureRequest) -> bool:
    return PLAYWRIGHT_FIXTURE in request.fixturenames


@pytest.fixture(autouse=True)
def jp_asyncio_loop(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield None if _drives_chromium(request) else request.getfixturevalue("jp_asyncio_loop")


@pytest.fixture(autouse=True)
def jp_server_cleanup(request: pytest.FixtureRequest) -> Iterator[None]:
    if not _drives_chromium(request):
        request.getfixturevalue("jp_server_cleanup")
    yield
