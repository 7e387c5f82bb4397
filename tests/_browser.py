"""Headless Chromium (Debian ``chromium`` + ``chromium-driver``) driven by selenium, for the
report and leaderboard-site tests: load a page from disk, collect console errors, measure
images, click, screenshot."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000", "--autoplay-policy=no-user-gesture-required",
)


def available() -> str | None:
    """None when the browser can run here, else what is missing (with the fix)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        return f"{', '.join(missing)} missing: run scripts/install.sh (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium missing: pip install -e '.[test]'"
    return None


@contextmanager
def chromium():
    """A selenium Chrome driver on Debian's chromium with a fresh profile; quits on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="tfbench-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver, path: Path) -> list[dict]:
    """Load ``path`` (file://), wait for images and videos; return the console errors."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(Path(path).resolve().as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"
        " && Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 1 || v.error)"))
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


def broken_media(driver) -> list[str]:
    """Images with zero natural size and videos that failed or have no frames."""
    return driver.execute_script(
        "var bad = [];"
        "document.querySelectorAll('img').forEach(function (i) {"
        "  if (!(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0 && i.getBoundingClientRect().width > 0)) bad.push(i.src); });"
        "document.querySelectorAll('video').forEach(function (v) {"
        "  if (v.error || !(v.videoWidth > 0)) bad.push(v.currentSrc || v.src); });"
        "return bad;")


def screenshot(driver, path: Path, width: int = 1400, max_height: int = 3000) -> Path:
    """A PNG screenshot of the top of the page, ``width`` x up to ``max_height`` pixels
    (taller captures time out in a loaded headless renderer)."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(int(height) + 40, max_height))
    driver.execute_script("window.scrollTo(0, 0)")
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
