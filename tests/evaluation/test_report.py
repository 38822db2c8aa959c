"""Report building blocks on small real inputs: figures are real PNGs, tables computed from results."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from parley.evaluation import EvalResult, ProblemResult
from parley.evaluation.report import (
    Section,
    accuracy_table,
    bar_figure,
    format_value,
    learning_curve_figure,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _arm(label: str, outcomes: list[int]) -> EvalResult:
    problems = [ProblemResult(f"p{i}", [bool(ok)], ["1"], ["single"], 10, 5, 0.0) for i, ok in enumerate(outcomes)]
    return EvalResult(label, Path(label), problems, {"tokens": {"per_problem": 15.0}, "cost_usd": 0.0})


def test_learning_curve_png_with_bands(tmp_path: Path) -> None:
    runs = {
        "debate": [[{"step": s, "reward/mean": 0.1 * s + 0.01 * seed} for s in range(5)] for seed in range(3)],
        "single": [[{"step": s, "reward/mean": 0.05 * s} for s in range(5)]],
        "other": [[{"step": 0, "loss": 1.0}]],  # no such metric: skipped, not plotted as zeros
    }
    for band in ("t_ci", "minmax"):
        out = learning_curve_figure(runs, "reward/mean", tmp_path / f"curve_{band}.png", band=band)
        assert out.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="no record has metric 'accuracy'"):
        learning_curve_figure(runs, "accuracy", tmp_path / "none.png")


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
    assert d["tokens_per_problem"] == 15.0
    with pytest.raises(KeyError, match="reference arm"):
        accuracy_table({"debate": debate}, "single")


def test_report_html_embeds_figures_and_markdown_has_tables(tmp_path: Path) -> None:
    arms = {"single": _arm("single", [1, 0, 0, 0, 1]), "debate": _arm("debate", [1, 1, 1, 0, 1])}
    bars = bar_figure(arms, tmp_path / "figs" / "bars.png")
    assert bars.read_bytes()[:8] == PNG_MAGIC
    rows = accuracy_table(arms, "single", n_resamples=200)
    html_path, md_path = write_report(tmp_path, "Debate <vs> single", [
        Section("Accuracy", text="Held-out accuracy.", table=rows, figures=[bars])])
    html = html_path.read_text()
    assert "Debate &lt;vs&gt; single" in html
    embedded = base64.b64encode(bars.read_bytes()).decode("ascii")
    assert f"data:image/png;base64,{embedded}" in html
    assert "<td>0.8</td>" in html
    md = md_path.read_text()
    assert "| arm | n | correct | accuracy |" in md
    assert "| debate | 5 | 4 | 0.8 |" in md
    assert "![bars.png](figs/bars.png)" in md
    with pytest.raises(FileNotFoundError):
        write_report(tmp_path / "r2", "x", [Section("s", figures=[tmp_path / "missing.png"])])


def test_format_value() -> None:
    assert [format_value(v) for v in (None, True, 3, 0.123456, 1e-5)] == ["n/a", "True", "3", "0.1235", "1e-05"]
