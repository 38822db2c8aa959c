"""Numbers shown in the quick demo's report, recomputed here from the stored per-problem results."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from parley.evaluation.statistics import proportion
from parley.report import numbers

from .conftest import DemoRun
from .html_tables import read_tables


def _results(directory: Path) -> dict[str, dict]:
    lines = (directory / "results.jsonl").read_text().splitlines()
    return {r["problem_id"]: r for r in map(json.loads, lines)}


def test_identity_accuracy_and_its_difference_from_the_warm_start(quick_demo: DemoRun) -> None:
    html = (quick_demo.report / "report.html").read_text()
    table = {row["Team"][0]: row for row in read_tables(html)["arms"]}
    warm = _results(quick_demo.stage("baseline") / "svj")
    identity = _results(quick_demo.stage("evaluate", "identity") / "svj")
    assert warm.keys() == identity.keys()

    # 1. identity's held-out debate accuracy: first sample of each problem, with its Wilson interval.
    correct = sum(r["correct"][0] for r in identity.values())
    prop = proportion(correct, len(identity))
    cell, tooltip = table["identity"]["Debate accuracy [95% CI]"]
    assert cell == numbers.percent_interval(correct / len(identity), prop.low, prop.high)
    assert tooltip == f"{correct} of {len(identity)} problems correct; 95% Wilson interval"

    # 2. identity minus warm start, paired on problems: the difference in points and McNemar's b / c.
    ids = sorted(identity)
    diff = sum(identity[i]["correct"][0] - warm[i]["correct"][0] for i in ids) / len(ids)
    b = sum(identity[i]["correct"][0] and not warm[i]["correct"][0] for i in ids)
    c = sum(warm[i]["correct"][0] and not identity[i]["correct"][0] for i in ids)
    cell, _ = table["identity"]["\u0394 vs warm start, points [95% CI]"]
    assert cell.split(" [")[0] == numbers.points(diff)
    _, p_tooltip = table["identity"]["p"]
    assert p_tooltip is not None
    assert re.search(rf"b = {b} problems only identity solved, c = {c} only warm start solved", p_tooltip)

    # The raw values beside the report carry full precision.
    with (quick_demo.report / "arms.csv").open() as fh:
        raw = {r["arm"]: r for r in csv.DictReader(fh)}
    assert float(raw["identity"]["accuracy"]) == correct / len(identity)
    assert float(raw["identity"]["diff_vs_ref"]) == diff
    headline = json.loads((quick_demo.report / "headline.json").read_text())
    assert {r["arm"]: r["diff_vs_ref"] for r in headline["rows"]}["identity"] == diff


def test_unseen_questions_table_has_the_subsets_own_tokens(quick_demo: DemoRun) -> None:
    """The held-out "unseen questions" table once reused the whole set's token and cost columns."""
    prep = json.loads((quick_demo.stage("prepare") / "model.json").read_text())
    unseen = set(prep["heldout_unseen_ids"])
    identity = _results(quick_demo.stage("evaluate", "identity") / "svj")
    rows = {row["Team"][0]: row for row in read_tables((quick_demo.report / "report.html").read_text())["unseen"]}
    tokens = sum(identity[i]["prompt_tokens"] + identity[i]["completion_tokens"] for i in unseen) / len(unseen)
    assert rows["identity"]["Tokens per problem"][0] == numbers.count(tokens)
    correct = sum(identity[i]["correct"][0] for i in unseen)
    assert rows["identity"]["Debate accuracy [95% CI]"][1] == f"{correct} of {len(unseen)} problems correct; " \
                                                             "95% Wilson interval"
