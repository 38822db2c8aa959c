"""The CooperBench report on the shipped real records: built with the same toolkit, missing values as
n/a, classifiers that did not run named with their reason, figures embedded, readable in Chromium."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from parley.cooperbench.analysis import analyze
from parley.cooperbench.figures import write_figures
from parley.cooperbench.loaders import load_runs
from parley.cooperbench.report import render_report, write_report

from .browser import chromium, layout_problems, require_browser, set_viewport, wait_for_images
from .html_tables import read_tables

RECORDS = Path(__file__).resolve().parents[2] / "data" / "cooperbench" / "runs_command_a_lite.json"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from parley.cooperbench.classify import run_heuristics

    out = tmp_path_factory.mktemp("cooperbench")
    loaded = load_runs(RECORDS)
    metrics = analyze(loaded, run_heuristics(loaded.records))
    return write_report(metrics, out, write_figures(metrics, out), {"LLM-judge classifiers": "no model configured"})


def test_tables_are_formatted_and_missing_values_are_na(written: dict[str, Path]) -> None:
    tables = read_tables(written["html"].read_text())
    success = {r["Setting"][0]: r for r in tables["success"]}
    assert success["solo"]["Success [95% CI]"] == ("1.0% [0.3, 2.9]", "3 of 300; 95% Wilson interval")
    comm = {r["Feature"][0]: r for r in tables["communication"]}
    assert comm["file mentions"]["without [95% CI]"][0] == "n/a"  # an empty group, not 0%
    modes = {r["Classifier"][0]: r for r in tables["failure_modes"]}
    assert modes["placeholder misuse"]["Prevalence [95% CI]"][0] == "not run"
    assert "no agent patches" in modes["placeholder misuse"]["Not run (reason)"][0]
    with written["csv:merge"].open() as fh:
        merge = {r["setting"]: r for r in csv.DictReader(fh)}
    assert merge["coop-comm"]["conflict"] == "37" and float(merge["coop-comm"]["conflict_rate"]) == 37 / 96
    html = written["html"].read_text()
    assert html.count("src='data:image/png;base64,") == 6  # every PNG figure embedded
    assert "Paper reference (not computed here)" in html and "LLM-judge classifiers: not run." in html


def test_markdown_links_the_figure_files(written: dict[str, Path]) -> None:
    md = written["md"].read_text()
    assert "](curves.png)" in md and "| solo | 1.0% [0.3, 2.9] |" in md
    metrics = analyze(load_runs(RECORDS))
    assert "## Merge outcomes (computed)" in render_report(metrics)


def test_cooperbench_report_layout_in_chromium(written: dict[str, Path]) -> None:
    require_browser()
    with chromium() as driver:
        for width in (1280, 800):
            set_viewport(driver, width)
            driver.get(written["html"].resolve().as_uri())
            wait_for_images(driver)
            assert layout_problems(driver) == [], f"at {width} px"
