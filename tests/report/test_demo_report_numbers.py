"""Numbers shown in the quick demo's report, recomputed here from the stored per-problem results."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from parley.report import numbers

from .conftest import DEMO_TIMEOUT_S, DemoRun
from .html_tables import read_tables

pytestmark = pytest.mark.timeout(DEMO_TIMEOUT_S)


def _results(directory: Path) -> dict[str, dict[str, Any]]:
    lines = (directory / "results.jsonl").read_text().splitlines()
    return {r["problem_id"]: r for r in map(json.loads, lines)}


def test_identity_accuracy_and_its_difference_from_the_warm_start(quick_demo: DemoRun) -> None:
    html = (quick_demo.report / "report.html").read_text()
    table = {row["Team"][0]: row for row in read_tables(html)["arms"]}
    warm = _results(quick_demo.stage("baseline") / "svj")
    seeds = [_results(d / "svj") for d in quick_demo.arm_stages("evaluate", "identity")]
    ids = sorted(warm)
    assert len(seeds) >= 2 and all(s.keys() == warm.keys() for s in seeds)

    # 1. identity's held-out debate accuracy: the first sample of every problem, pooled over its seeds.
    accuracy = sum(s[i]["correct"][0] for s in seeds for i in ids) / (len(seeds) * len(ids))
    cell, tooltip = table["identity"]["Debate accuracy [95% CI]"]
    assert cell.split(" [")[0] == numbers.percent(accuracy)
    assert tooltip == f"n = {len(ids)}"

    # 2. identity minus warm start, paired on problems: per problem the mean over seeds minus the warm start.
    per_problem = [sum(s[i]["correct"][0] for s in seeds) / len(seeds) - warm[i]["correct"][0] for i in ids]
    diff = sum(per_problem) / len(ids)
    wins, losses = sum(d > 0 for d in per_problem), sum(d < 0 for d in per_problem)
    cell, _ = table["identity"]["\u0394 vs warm start, points [95% CI]"]
    assert cell.split(" [")[0] == numbers.points(diff)
    test = "two-level bootstrap over problems and seeds" if len(seeds) > 1 else "paired sign-flip test"
    assert table["identity"]["p"][1] == f"{test}; identity ahead on {wins} problems, warm start ahead on {losses}"

    # The raw values beside the report carry full precision.
    with (quick_demo.report / "arms.csv").open() as fh:
        raw = {r["arm"]: r for r in csv.DictReader(fh)}
    assert float(raw["identity"]["debate"]) == pytest.approx(accuracy, rel=1e-12)
    assert float(raw["identity"]["vs_warm_diff"]) == pytest.approx(diff, rel=1e-12, abs=1e-15)
    findings = json.loads((quick_demo.report / "findings.json").read_text())
    assert findings["arms"]["identity"]["vs_warm_start"]["diff"] == pytest.approx(diff, rel=1e-12, abs=1e-15)


def test_completion_tokens_of_the_baselines(quick_demo: DemoRun) -> None:
    rows = read_tables((quick_demo.report / "report.html").read_text())["protocols"]
    shown = {(r["Team"][0], r["Protocol"][0]): r["Completion tokens per problem"][0] for r in rows}
    single = _results(quick_demo.stage("baseline") / "single")
    tokens = sum(r["completion_tokens"] for r in single.values()) / len(single)
    assert shown[("warm start", "single agent")] == numbers.count(tokens)
