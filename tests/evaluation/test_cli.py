"""``parley eval`` commands through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from parley.cli.app import app
from parley.evaluation import EvalResult

runner = CliRunner()


def test_eval_compare_prints_the_paired_comparison(arms: tuple[Path, EvalResult, EvalResult]) -> None:
    out, debate, single = arms
    result = runner.invoke(app, ["eval", "compare", str(out / "debate"), str(out / "single"), "--resamples", "500"])
    assert result.exit_code == 0, result.output
    assert "debate vs single (30 paired problems" in result.output
    assert "McNemar exact" in result.output
    assert f"({debate.summary['correct']}/30)" in result.output
    as_json = runner.invoke(app, ["eval", "compare", str(out / "debate"), str(out / "single"), "--json",
                                  "--resamples", "500"])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["diff"] == debate.accuracy - single.accuracy
    assert payload["mcnemar"]["b"] > payload["mcnemar"]["c"]


def test_eval_compare_writes_an_html_report(arms: tuple[Path, EvalResult, EvalResult], tmp_path: Path) -> None:
    out, _, _ = arms
    result = runner.invoke(app, ["eval", "compare", str(out / "debate"), str(out / "single"), "--resamples", "200",
                                 "--report", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "cmp" / "report.html").read_text()
    assert "debate vs single" in html and "data:image/svg+xml;base64," in html
    assert (tmp_path / "cmp" / "arms.csv").read_text().count("\n") == 3  # header + two arms
    (tmp_path / "file").write_text("x")
    bad = runner.invoke(app, ["eval", "compare", str(out / "debate"), str(out / "single"), "--report",
                              str(tmp_path / "file")])
    assert bad.exit_code == 2 and "not a directory" in bad.output


def test_eval_compare_errors_cleanly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", "compare", str(tmp_path), str(tmp_path)])
    assert result.exit_code == 2
    assert "no results.jsonl" in result.output


def test_eval_run_refuses_a_domain_without_verifier(tmp_path: Path) -> None:
    data = tmp_path / "judged.jsonl"
    data.write_text(json.dumps({"id": "j1", "question": "Write a haiku.", "domain": "judge"}) + "\n")
    result = runner.invoke(app, ["eval", "run", "--set", f"dataset.name={data}", "--label", "j",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no verifier for domain 'judge'" in result.output
