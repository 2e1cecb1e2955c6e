"""Debian's Chromium, headless, driven by Playwright: the Prefect UI as an operator sees it.

Playwright's own browser download is never used (no host to fetch it from, and CI must not depend
on one): ``scripts/setup.sh --test`` installs Debian's ``chromium`` and Playwright is pointed at
``/usr/bin/chromium``. A missing browser fails the test with the command that installs it; it is
never a skip.

Selectors follow what the operator reads (link names, button names, field labels), except where
Prefect's Vue UI gives a schema-form field no accessible label: ``schema_field`` then finds the
field by its visible label text.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["CHROMIUM", "artifact_dir", "chromium_page", "form_field", "schema_field"]

CHROMIUM = Path("/usr/bin/chromium")

# Root in a container and CI: Chromium's sandbox needs user namespaces it may not get, and /dev/shm
# may be small. Neither flag changes what the page renders.
_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]


def artifact_dir(tmp_path: Path) -> Path:
    """Where a test keeps its screenshots: ``$TEST_ARTIFACTS_DIR`` when set (CI keeps it), else
    the test's tmp dir. Not a REELFLOW_ variable: the ``settings`` fixture clears those."""
    configured = os.environ.get("TEST_ARTIFACTS_DIR")
    path = Path(configured) if configured else tmp_path / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def chromium_page(failure_shot: Path, timeout_s: float = 60) -> Iterator[object]:
    """A page in a fresh headless Chromium (1400x1000); the browser is closed afterwards. When
    the block raises, the page as it was is saved to ``failure_shot`` first (its path printed)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run ./scripts/setup.sh --test (installs chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(timeout_s * 1000)
            try:
                yield page
            except BaseException:
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(failure_shot), full_page=True)
                    print(f"screenshot of the failure: {failure_shot}")  # noqa: T201
                raise
        finally:
            browser.close()


def _enclosing(css_class: str) -> str:
    return (
        "xpath=ancestor::div[contains(concat(' ', normalize-space(@class), ' '),"
        f" ' {css_class} ')][1]"
    )


def _exactly(label: str) -> re.Pattern[str]:
    return re.compile(rf"^\s*{re.escape(label)}\s*$")


def schema_field(page, label: str):
    """The whole property of a Prefect schema form (label, description, input, error message)
    whose label reads exactly ``label``, e.g. ``Source`` or ``Preset (Optional)``."""
    heading = page.locator(".schema-form-property__label").filter(has_text=_exactly(label))
    return heading.locator(_enclosing("schema-form-property"))


def form_field(page, label: str):
    """A plain labelled field of a Prefect form (``Run Name``): its label and its input."""
    heading = page.locator("label span").filter(has_text=_exactly(label))
    return heading.locator(_enclosing("p-label"))
