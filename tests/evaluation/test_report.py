"""Evaluation report blocks on real evaluations (scripted arithmetic agents) and real metrics records."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import pytest

from parley.evaluation import EvalResult, ProblemResult, compare
from parley.evaluation.report import (
    accuracy_table,
    arm_columns,
    band_sentence,
    comparison_report,
    learning_curves,
    seed_series,
    subset,
)
from parley.report import Palette, Table, numbers


def _arm(label: str, outcomes: list[int]) -> EvalResult:
    problems = [ProblemResult(f"p{i}", [bool(ok)], ["1"], ["single"], 10 + i, 5, 0.0)
                for i, ok in enumerate(outcomes)]
    return EvalResult(label, Path(label), problems, {"tokens": {"per_problem": 999.0}, "cost_usd": 0.0})


def test_accuracy_table_paired_against_reference() -> None:
    ref = _arm("single", [1, 0, 0, 0, 1])
    debate = _arm("debate", [1, 1, 1, 0, 1])
    rows = accuracy_table({"single": ref, "debate": debate}, "single", n_resamples=500)
    by_arm = {r["arm"]: r for r in rows}
    assert by_arm["single"]["accuracy"] == pytest.approx(0.4)
    assert by_arm["single"]["diff_vs_ref"] is None and by_arm["single"]["mcnemar_p"] is None
    d = by_arm["debate"]
    assert (d["n"], d["correct"], d["accuracy"]) == (5, 4, 0.8)
    assert d["diff_vs_ref"] == pytest.approx(0.4)
    assert (d["mcnemar_b"], d["mcnemar_c"]) == (2, 0)
    assert d["mcnemar_p"] == pytest.approx(0.5)  # 2 * 1/4
    assert d["diff_ci_low"] <= 0.4 <= d["diff_ci_high"]
    assert d["tokens_per_problem"] == pytest.approx(17.0)  # from the problems (10..14 + 5), not the summary
    with pytest.raises(KeyError, match="reference arm"):
        accuracy_table({"debate": debate}, "single")


def test_a_subset_has_its_own_tokens() -> None:
    """The unseen-questions table once reused the whole set's tokens and cost columns."""
    arm = _arm("debate", [1, 1, 1, 0, 1])
    rows = accuracy_table({"debate": subset(arm, {"p3", "p4"})}, "debate")
    assert (rows[0]["n"], rows[0]["correct"]) == (2, 1)
    assert rows[0]["tokens_per_problem"] == pytest.approx((13 + 5 + 14 + 5) / 2)


def test_arm_table_formats_for_people_and_drops_zero_cost() -> None:
    rows = accuracy_table({"single": _arm("single", [1, 0, 0, 0, 1]), "debate": _arm("debate", [1, 1, 1, 0, 1])},
                          "single", n_resamples=500)
    table = Table("arms", arm_columns("single"), rows)
    html = table.to_html()
    assert "80.0% [37.6,\u00a096.4]" in html  # Wilson 4/5
    assert "+40.0 [" in html and "reference" in html
    assert "b = 2 problems only debate solved, c = 0 only single solved" in html
    assert "Cost" not in [c.header for c in table.visible()]
    assert any("local model" in n for n in table.all_notes())


def test_learning_curves_seed_bands_and_missing_metrics() -> None:
    runs = {
        "identity": [[{"step": s, "reward/mean": 0.1 * s + 0.01 * seed} for s in range(4)] for seed in range(3)],
        "coma": [[{"step": s, "reward/mean": 0.05 * s} for s in range(4)]],
        "other": [[{"step": 0, "loss": 1.0}]],  # no such metric: not drawn, not a zero line
    }
    s = seed_series(runs["identity"], "reward/mean", "identity")
    assert s is not None and s.seeds == 3 and s.means[1] == pytest.approx(0.11)
    assert s.lows[1] is not None and s.lows[1] < 0.11 < s.highs[1]  # type: ignore[operator]
    single = seed_series(runs["coma"], "reward/mean", "coma")
    assert single is not None and single.lows == [None] * 4
    assert seed_series(runs["other"], "reward/mean", "other") is None
    fig = learning_curves(runs, [("reward/mean", "Outcome reward"), ("kl", "KL")], Palette(list(runs)))
    assert fig is not None and len(fig.axes) == 1  # the KL panel is left out: no arm logged it
    assert len(fig.axes[0].get_lines()) == 2
    assert band_sentence(runs) == ("Lines are means over 1/3 seeds; shaded bands are the 95% Student-t interval "
                                   "of the mean over seeds at each step.")
    assert band_sentence({"a": runs["coma"]}) == "Each arm ran one seed, so there is no band over seeds."
    assert learning_curves(runs, [("kl", "KL")], Palette(list(runs))) is None


def test_comparison_report_of_real_evaluations(arms: tuple[Path, EvalResult, EvalResult], tmp_path: Path) -> None:
    _, debate, single = arms
    paths = comparison_report(debate, single, tmp_path / "report", n_resamples=500)
    html = paths["html"].read_text()
    c = compare(debate, single, n_resamples=500)
    assert numbers.points_interval(c.diff, c.bootstrap.low, c.bootstrap.high) in html.replace("\u00a0", " ")
    assert f"b = {c.mcnemar.b} problems only debate solved" in html
    svg = paths["figure:arms"].read_text()
    assert "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode() in html  # self-contained
    with paths["csv:arms"].open() as fh:
        rows = {r["arm"]: r for r in csv.DictReader(fh)}
    assert float(rows["debate"]["accuracy"]) == debate.accuracy  # full precision in the CSV
    assert float(rows["debate"]["diff_vs_ref"]) == pytest.approx(c.diff)
    assert "| debate |" in paths["md"].read_text()
    json.dumps({k: str(v) for k, v in paths.items()})
