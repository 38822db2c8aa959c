"""Headless Chromium through selenium, for report layout checks (Debian's chromium + chromedriver).

:func:`layout_problems` measures a rendered page: horizontal overflow of the document, elements wider
than their container (tables, figures, captions), figure images cropped or not loaded, and captions cut.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def require_browser() -> None:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("chromium/chromedriver not installed (scripts/install.sh installs them with apt)")
    pytest.importorskip("selenium")


@contextmanager
def chromium() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="parley-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_viewport(driver: Any, width: int, height: int = 900) -> None:
    """Make the page's layout viewport exactly ``width`` CSS pixels wide."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})


def wait_for_images(driver: Any, timeout_s: float = 30.0) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout_s).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && "
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"))


LAYOUT_JS = r"""
const out = [];
const doc = document.documentElement;
if (doc.scrollWidth > doc.clientWidth) out.push(`document scrolls sideways: ${doc.scrollWidth} > ${doc.clientWidth}`);
const vw = doc.clientWidth;
for (const el of document.querySelectorAll('main *')) {
  const r = el.getBoundingClientRect();
  if (r.width > 0 && (r.right > vw + 0.5 || r.left < -0.5)) {
    const name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '');
    out.push(`${name} outside the viewport: ${r.left}..${r.right} of ${vw}`);
  }
  if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') {
    out.push(`${el.tagName.toLowerCase()} clips its content sideways (${el.scrollWidth} > ${el.clientWidth})`);
  }
}
for (const fig of document.querySelectorAll('figure')) {
  const img = fig.querySelector('img');
  const cap = fig.querySelector('figcaption');
  if (!img || !cap) { out.push(`figure ${fig.id} lacks an image or a caption`); continue; }
  if (!(img.complete && img.naturalWidth > 0)) out.push(`figure ${fig.id}: image not loaded`);
  const r = img.getBoundingClientRect();
  const ratio = (r.height / r.width) / (img.naturalHeight / img.naturalWidth);
  if (Math.abs(ratio - 1) > 0.02) out.push(`figure ${fig.id}: image distorted or cropped (ratio ${ratio})`);
  if (r.width > fig.getBoundingClientRect().width + 0.5) out.push(`figure ${fig.id}: image wider than its figure`);
  if (cap.scrollWidth > cap.clientWidth + 1 || cap.scrollHeight > cap.clientHeight + 1) {
    out.push(`figure ${fig.id}: caption cut`);
  }
  if (!cap.textContent.trim().endsWith('.')) out.push(`figure ${fig.id}: caption is not a sentence`);
}
return out;
"""


def layout_problems(driver: Any) -> list[str]:
    """Every layout problem of the page currently loaded (empty when it renders cleanly)."""
    return list(driver.execute_script(LAYOUT_JS))


def screenshot(driver: Any, path: Path, width: int) -> Path:
    """A full-page PNG at ``width`` CSS pixels (the viewport is made as tall as the page first)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    set_viewport(driver, width, height)
    data = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})
    import base64

    path.write_bytes(base64.b64decode(data["data"]))
    return path
