"""Debian's Chromium, driven by Playwright, for the tests that use the service as a person does.

Playwright never downloads a browser here: the tests use $RNNLAB_TEST_CHROMIUM (default
/usr/bin/chromium, which .ci/run installs) and skip, saying why, where there is none.
Screenshots go to $RNNLAB_TEST_ARTIFACTS (default var/test-artifacts/).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

CHROMIUM = Path(os.environ.get("RNNLAB_TEST_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("RNNLAB_TEST_ARTIFACTS", REPO / "var" / "test-artifacts"))
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses, many at a time.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Loopback bypasses proxies: with this, whatever a page asks of another host goes nowhere.
NO_NETWORK_ARGS = ["--proxy-server=http://127.0.0.1:9"]


@contextlib.contextmanager
def chromium(offline: bool = False) -> Iterator[object]:
    """A headless Chromium (a Playwright Browser), closed on exit; skips the test without one."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is in the dev extra (pip install -e '.[dev]')"
    )
    if not CHROMIUM.is_file():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does), or point "
            "RNNLAB_TEST_CHROMIUM at one"
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    args = CHROMIUM_ARGS + (NO_NETWORK_ARGS if offline else [])
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield browser
        finally:
            browser.close()


def expect(target: object) -> object:
    """Playwright's expect(), which waits for a locator or page to reach a state."""
    return pytest.importorskip("playwright.sync_api").expect(target)
