"""Fixtures of the browser tests: headless Chromium driven by Playwright, against the local host and
Azurite (the root conftest's ``server``).

The browser is Debian's ``chromium`` package (``make test`` installs it where it is missing):
Playwright's own browser download cannot work on our machines. A missing browser fails these tests
rather than skipping them, so CI cannot pass without running them.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Screenshots of each main page, kept as the run's artifacts (gitignored).
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("No chromium on PATH: `make test` installs Debian's chromium package (apt-get).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_context(chromium, server):
    """``new_context()``: a fresh browser profile (no cookies) at the running host, whose copy buttons
    may use the clipboard."""
    made = []

    def make():
        context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        context.set_default_timeout(20_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture(scope="session")
def screenshot() -> object:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
