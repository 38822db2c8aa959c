"""The quick demo's report in headless Chromium: no sideways scrolling at 1280 and 800 px, no figure
text cut (HTML captions and, inside every SVG figure, each text and legend within the canvas), a clean
A4 print layout; screenshots saved.

Screenshots go to the test's temporary directory, or to ``$PARLEY_SCREENSHOT_DIR`` when it is set (how
``docs/report.md``'s screenshot was made).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure

from .browser import chromium, layout_problems, require_browser, screenshot, set_viewport, wait_for_images
from .conftest import DEMO_TIMEOUT_S, DemoRun

pytestmark = pytest.mark.timeout(DEMO_TIMEOUT_S)

# Every text group (<g id="text_N">, titles, labels, ticks, annotations) and legend of a matplotlib SVG
# must lie inside the SVG canvas; the comment matplotlib writes before a text group names the text.
SVG_TEXT_JS = r"""
const root = document.documentElement.getBoundingClientRect();
const out = [];
for (const g of document.querySelectorAll('g[id^="text_"], g[id^="legend_"]')) {
  const r = g.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if (r.left < root.left - 0.5 || r.top < root.top - 0.5 ||
      r.right > root.right + 0.5 || r.bottom > root.bottom + 0.5) {
    let label = g.id;
    for (const n of g.childNodes) { if (n.nodeType === Node.COMMENT_NODE) { label = n.textContent.trim(); break; } }
    out.push(label);
  }
}
return out;
"""

A4_CONTENT_PX = (718, 1016)  # (210 - 2 x 14) x (297 - 2 x 14) mm at 96 px per inch


def _shots_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("PARLEY_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


def _cut_svg_texts(driver: Any, svg: Path) -> list[str]:
    set_viewport(driver, 1400)
    driver.get(svg.resolve().as_uri())
    return list(driver.execute_script(SVG_TEXT_JS))


def test_report_layout_in_chromium(quick_demo: DemoRun, tmp_path: Path) -> None:
    require_browser()
    report = quick_demo.report / "report.html"
    shots = _shots_dir(tmp_path)
    with chromium() as driver:
        for width in (1280, 800):
            set_viewport(driver, width)
            driver.get(report.resolve().as_uri())
            wait_for_images(driver)
            assert driver.execute_script(
                "return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
            assert layout_problems(driver) == [], f"at {width} px"
            n_figures = driver.execute_script("return document.querySelectorAll('figure').length")
            assert n_figures >= 3
            path = screenshot(driver, shots / f"demo-report-{width}.png", width)
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # Print: A4 content width, print stylesheet; no table or figure taller than a page (none is cut).
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        set_viewport(driver, A4_CONTENT_PX[0], A4_CONTENT_PX[1])
        driver.get(report.resolve().as_uri())
        wait_for_images(driver)
        assert layout_problems(driver) == [], "in print at A4 width"
        heights = driver.execute_script(
            "return Array.from(document.querySelectorAll('.table, figure')).map(e => e.getBoundingClientRect().height)")
        assert max(heights) <= A4_CONTENT_PX[1]
        pdf = driver.execute_cdp_cmd("Page.printToPDF", {"paperWidth": 8.27, "paperHeight": 11.69,
                                                         "preferCSSPageSize": True})
        assert pdf["data"].startswith("JVBER")  # base64 of "%PDF"
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

        figures = sorted((quick_demo.report / "figures").glob("*.svg"))
        assert {f.stem for f in figures} >= {"arms", "protocols", "learning_curves"}
        for svg in figures:
            assert _cut_svg_texts(driver, svg) == [], svg.name

        # The check can fail: a figure saved without parley.report's layout check, title cut off.
        fig = Figure(figsize=(3, 3))
        fig.subplots().set_title("warm start: debate vs single vs compute-matched self-consistency")
        bad = tmp_path / "cut.svg"
        fig.savefig(bad, format="svg")
        assert _cut_svg_texts(driver, bad) == ["warm start: debate vs single vs compute-matched self-consistency"]


def test_report_is_self_contained(quick_demo: DemoRun) -> None:
    html = (quick_demo.report / "report.html").read_text()
    assert "src='data:image/svg+xml;base64," in html
    assert "src='figures/" not in html and "<link" not in html and "<script" not in html
