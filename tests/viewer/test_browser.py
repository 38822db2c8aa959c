"""`parley view` in a real browser: headless Chromium (Debian's chromium + chromedriver) over Selenium.

Starts the real CLI on a free loopback port, visits every page, waits for its content (arm names, a
transcript turn) and saves a screenshot of each page (to ``$PARLEY_VIEWER_SCREENSHOTS`` when set, which is
how docs/viewer.md's images are made; else to the test's temp directory).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parley.tracking import read_table

CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()),
                                reason="chromium + chromedriver not installed (scripts/install.sh installs them "
                                       "with the dev extra)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def viewer(view_root: Path, tmp_path: Path) -> object:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "parley.cli.app", "view", str(view_root), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"parley viewer on http://127.0.0.1:{port}" in line, line
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()  # parley view stops its Streamlit child on SIGTERM
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if _group_alive(proc.pid):  # anything left in the session (it was started as its leader)
            os.killpg(proc.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def browser(tmp_path: Path) -> object:
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for(driver: object, texts: list[str], timeout_s: float = 90) -> str:
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout_s
    body = ""
    while time.monotonic() < deadline:
        body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
        running = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']")  # type: ignore[attr-defined]
        if all(t in body for t in texts) and not running:
            return body
        time.sleep(0.5)
    raise AssertionError(f"page never showed {[t for t in texts if t not in body]}; it showed:\n{body[:2000]}")


def test_every_page_in_headless_chromium(viewer: str, browser: object, view_root: Path, tmp_path: Path) -> None:
    (exp,) = [p for p in (view_root / "demo").iterdir() if (p / "manifest.json").is_file()]
    run_dir = exp / "stages" / "train@shaping=identity" / "run"
    turn = next(r["text"] for r in read_table(run_dir, "debates") if r["step"] == 2 and r["role"] == "solver")
    first_line = turn.splitlines()[0]
    shots = Path(os.environ.get("PARLEY_VIEWER_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    pages = {
        "overview": ["experiment viewer-quick", "identity", "difference", "succeeded"],
        "curves": ["Learning curves", "reward/mean", "identity", "difference"],
        "steps": ["Step browser", "best rollout", "worst rollout", "solver", first_line],
        "comparison": ["Comparison", "shared problems", "disagreements"],
        "generation": ["Generation stores", "completed", "agent_0", "agent_1"],
        "cooperbench": ["CooperBench analyses", "records usable", "findings"],
    }
    for slug, expected in pages.items():
        query = "&run=identity" if slug == "steps" else ""  # the step browser opens the identity arm
        browser.get(f"{viewer}/?page={slug}{query}")  # type: ignore[attr-defined]
        _wait_for(browser, expected)
        browser.save_screenshot(str(shots / f"viewer-{slug}.png"))  # type: ignore[attr-defined]
        assert (shots / f"viewer-{slug}.png").stat().st_size > 10_000
