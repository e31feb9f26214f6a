"""A headless Chromium on the view's page, for the browser tests and the benchmark.

Uses the system's browser and driver (Debian: ``apt-get install chromium chromium-driver``,
done by tools/bootstrap.sh where it runs as root, and by .ci/run) through Selenium; nothing
is downloaded. :func:`browser_missing` says why no browser can be started, or None.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver",)


def _which(names: tuple[str, ...], variable: str) -> str | None:
    if os.environ.get(variable):
        return os.environ[variable]
    return next((path for path in map(shutil.which, names) if path), None)


def browser_missing() -> str | None:
    """Why a headless browser cannot be started here (None: it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (requirements/dev.txt)"
    if not _which(CHROMIUM_NAMES, "THERMAL_CHROMIUM"):
        return "no chromium on PATH (apt-get install chromium chromium-driver)"
    if not _which(DRIVER_NAMES, "THERMAL_CHROMEDRIVER"):
        return "no chromedriver on PATH (apt-get install chromium-driver)"
    return None


def open_browser(width: int = 1100, height: int = 900) -> Any:
    """A headless Chromium driven by Selenium (``driver.quit()`` when done)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    reason = browser_missing()
    if reason:
        raise RuntimeError(reason)
    options = webdriver.ChromeOptions()
    options.binary_location = _which(CHROMIUM_NAMES, "THERMAL_CHROMIUM") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    service = Service(executable_path=_which(DRIVER_NAMES, "THERMAL_CHROMEDRIVER"))
    return webdriver.Chrome(options=options, service=service)
