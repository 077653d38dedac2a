"""Fixtures for the browser tests: Chromium (installed if absent), one JupyterLab per worker.

Every fixture that starts a process stops it in its teardown, which runs when a test
fails too; the server's teardown fails the run if any of its processes survive.
"""
from __future__ import annotations

import os

import pytest

from .support import CHROMIUM, CHROMIUM_ARGS, SCREENSHOT_DIR, LabServer, ensure_chromium


def _unavailable(reason: str):
    """Skip where a browser cannot be had; in CI (CI=true) the UI tests must run, so fail."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"UI tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_driver():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    reason = ensure_chromium()
    if reason:
        _unavailable(reason)
    driver = sync_playwright().start()
    try:
        yield driver
    finally:
        driver.stop()


@pytest.fixture
def browser(playwright_driver, tmp_path):
    """A fresh headless Chromium (own --user-data-dir) per test; closed even when the test fails."""
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1000}, accept_downloads=False,
    )
    context.set_default_timeout(120_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="session")
def lab_server(playwright_driver, tmp_path_factory):
    """JupyterLab from this venv on 127.0.0.1 (a free port per xdist worker), with a token."""
    server = LabServer(tmp_path_factory.mktemp("jupyterlab"))
    server.start()
    try:
        yield server
    finally:
        survivors = server.stop()
        if survivors:
            pytest.fail(f"processes of the JupyterLab server survived its shutdown: {survivors}", pytrace=False)


@pytest.fixture(scope="session")
def screenshot_dir() -> str:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOT_DIR)


def pytest_terminal_summary(terminalreporter):
    """Say where the screenshots went, when browser tests ran (xdist: reports reach the controller)."""
    ran = any(getattr(r, "when", None) == "call" and "tests/ui/" in getattr(r, "nodeid", "")
              for reports in terminalreporter.stats.values() for r in reports)
    if ran and SCREENSHOT_DIR.is_dir():
        terminalreporter.write_line(f"UI screenshots: {SCREENSHOT_DIR}")

