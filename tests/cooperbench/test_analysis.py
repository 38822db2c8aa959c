"""Analysis on the real records file and the fixture logs; AUC rule; CLI end to end."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from parley.cli.app import app
from parley.cooperbench.analysis import analyze
from parley.cooperbench.difficulty import auc_from_rates, bucket_of
from parley.cooperbench.loaders import load_runs
from parley.cooperbench.stats import fisher_exact_2x2, mcnemar_exact, wilson_interval

from .conftest import FIXTURES, RECORDS
from .judge_server import ScriptedJudge, serve
from .test_llm_judges import VALID


def test_auc_rule_for_empty_buckets() -> None:
    assert auc_from_rates([None] * 10) == (None, [])
    assert auc_from_rates([1.0] * 10)[0] == 1.0
    # Buckets 0 and 4 known: 1..3 interpolated linearly, 5..9 carry bucket 4's rate.
    auc, filled = auc_from_rates([1.0, None, None, None, 0.0, None, None, None, None, None])
    assert filled == [1, 2, 3, 5, 6, 7, 8, 9]
    assert abs(auc - (1.0 + 0.75 + 0.5 + 0.25) / 10) < 1e-12  # type: ignore[operator]
    assert [bucket_of(d) for d in (0.0, 0.0999, 0.1, 1 / 3, 2 / 3, 1.0)] == [0, 0, 1, 3, 6, 9]


def test_statistics_known_values() -> None:
    low, high = wilson_interval(3, 300)
    assert 0.0034 < low < 0.0035 and 0.0289 < high < 0.0290
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    res = mcnemar_exact([(True, False)] * 10 + [(False, True)] * 18 + [(True, True)] * 5)
    assert res.detail["discordant"] == 28 and 0.18 < res.p_value < 0.19  # type: ignore[operator]
    assert fisher_exact_2x2(((0, 5), (0, 0))).p_value is None


def test_real_records_metrics() -> None:
    m = analyze(load_runs(RECORDS))
    assert m["input"]["n_records"] == 500
    assert m["difficulty"]["n_pairs"] == 100 and "seed" in m["difficulty"]["method"]
    assert m["success"]["solo"]["successes"] == 3
    assert (m["merge"]["coop-comm"]["conflict"], m["merge"]["coop-comm"]["eval_error"]) == (37, 4)
    assert (m["merge"]["coop-nocomm"]["conflict"], m["merge"]["coop-nocomm"]["eval_error"]) == (43, 12)
    assert m["comm_vs_nocomm"]["conflict"]["pairs"] == 87
    solo_buckets = {b["bucket"]: (b["successes"], b["n"]) for b in m["curves"]["solo"]["buckets"] if b["n"]}
    assert solo_buckets == {3: (2, 3), 6: (1, 3), 9: (0, 294)}
    assert m["communication"]["speech_acts"]["n_messages"] == 428
    assert 0 < m["communication"]["overhead"]["mean"] < 1


def test_fixture_logs_analysis_runs_every_heuristic() -> None:
    from parley.cooperbench.classify import run_heuristics

    loaded = load_runs(FIXTURES / "logs")
    findings = run_heuristics(loaded.records)
    m = analyze(loaded, findings)
    fm = m["failure_modes"]["classifiers"]
    assert fm["work_overlap"]["detected"] == 1 and fm["work_overlap"]["ran_on"] == 1
    assert fm["repetition"]["detected"] == 1  # agent1 sent the same block twice
    assert fm["unresponsiveness"]["detected"] == 1  # its question was never answered
    assert m["input"]["flags"]["missing_eval"] == 1


def test_cli_analyze_real_records_offline(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["cooperbench", "analyze", str(RECORDS), "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["llm_judges"]["ran"] is False and "no model configured" in metrics["llm_judges"]["reason_not_run"]
    judged = metrics["failure_modes"]["classifiers"]["divergent_architecture"]
    assert judged["ran_on"] == 0 and judged["prevalence"]["rate"] is None  # not run, never reported as zero
    report = (out / "report.md").read_text()
    assert "not run" in report and "Paper reference (not computed here)" in report
    for stem in ("curves", "merge_outcomes", "communication", "failure_modes", "auc_vs_paper", "per_repo"):
        assert (out / f"{stem}.png").stat().st_size > 0 and (out / f"{stem}.pdf").stat().st_size > 0


def test_cli_analyze_with_a_configured_judge(tmp_path: Path) -> None:
    judge = ScriptedJudge([VALID])
    with serve(judge) as url:
        result = CliRunner().invoke(
            app,
            [
                "cooperbench",
                "analyze",
                str(FIXTURES / "logs"),
                "--out",
                str(tmp_path),
                "--no-figures",
                "--set",
                "model.backend=openai",
                "--set",
                "model.name=judge",
                "--set",
                f"model.api_base={url}",
            ],
        )
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["llm_judges"]["ran"] is True
    assert metrics["failure_modes"]["classifiers"]["broken_commitment"]["detected"] == 1


def test_cli_eval_on_fixture_logs(tmp_path: Path, demo_repo: tuple[Path, str]) -> None:
    repo, sha = demo_repo
    args = [
        "cooperbench",
        "eval",
        str(FIXTURES / "logs"),
        "--dataset",
        str(FIXTURES / "dataset"),
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(app, [*args, "--repo", str(repo), "--base-commit", sha, "--runner", "local"])
    assert result.exit_code == 0, result.output
    ev = json.loads((tmp_path / "demo-coop-comm/coop/demo_task/1/f1_f2/eval.json").read_text())
    assert ev["merge"]["status"] == "conflicts" and ev["error"] is None
    ev = json.loads((tmp_path / "demo-coop-nocomm/coop/demo_task/1/f1_f3/eval.json").read_text())
    assert ev["merge"]["status"] == "clean" and ev["both_passed"] is True
    ev = json.loads((tmp_path / "demo-coop-nocomm/coop/demo_task/1/f2_f3/eval.json").read_text())
    assert ev["merge"]["status"] == "error" and "empty patch" in ev["error"]
    docker = CliRunner().invoke(app, [*args, "--runner", "docker", "--docker-image", "x"])
    assert docker.exit_code != 0 or "docker" in docker.output.lower()
