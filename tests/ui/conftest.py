"""Fixtures of the browser tests: Debian's Chromium through Playwright, and a screenshots folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_helpers import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture
def shots(tmp_path) -> Path:
    """The folder the test's screenshots go to (``MODELSHELF_UI_SCREENSHOTS`` if set)."""
    folder = Path(os.environ.get("MODELSHELF_UI_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the browser test: {folder}")
    return folder


@pytest.fixture
def browser():
    """A headless Chromium (Playwright cannot download its own browser on these machines)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium); "
            "install it with `apt-get update && apt-get install -y chromium`"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
