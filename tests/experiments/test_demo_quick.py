"""``parley demo --quick`` end to end: report, findings.json structure, baselines, per-role metrics, and
findings recomputed independently from the stored per-problem results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.experiments.conftest import REPO

ARMS = {"identity", "difference", "coma", "potential", "mixing"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    out = tmp_path_factory.mktemp("demo") / "runs"
    proc = subprocess.run([sys.executable, "-m", "parley.cli.app", "demo", "--quick", "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    findings_path = next(out.glob("*/stages/report/findings.json"))
    return findings_path.parent, json.loads(findings_path.read_text()), proc.stdout


def _stat(s: dict[str, Any]) -> None:
    assert set(s) >= {"value", "ci_low", "ci_high", "n"}
    assert s["ci_low"] <= s["value"] <= s["ci_high"] and s["n"] > 0


def test_report_and_findings_structure(demo: tuple[Path, dict[str, Any], str]) -> None:
    report_dir, f, stdout = demo
    assert (report_dir / "report.html").stat().st_size > 10_000
    html = (report_dir / "report.html").read_text()
    assert f["paragraph"] in html or f["paragraph"][:80] in html  # the findings open the report
    for key in ("debate_accuracy", "single_accuracy"):
        _stat(f["warm_start"][key])
    sc = f["baselines"]["self_consistency"]
    assert sc["k"] >= 2 and sc["temperature"] > 0  # a real vote, never k identical greedy samples
    _stat(sc["accuracy"])
    # k is matched to the debate's tokens from a sampled answer's length; a mismatch is flagged, never hidden.
    ratio = sc["tokens_per_problem"] / sc["debate_tokens_per_problem"]
    assert (abs(ratio - 1) > 0.25) == any(flag.startswith("self-consistency used") for flag in f["flags"])
    assert set(f["arms"]) == ARMS
    for name, arm in f["arms"].items():
        assert len(arm["seeds"]) == 2, name
        _stat(arm["debate_accuracy"])
        d = arm["vs_warm_start"]
        assert set(d) >= {"diff", "ci_low", "ci_high", "p"} and 0 <= d["p"] <= 1
        assert (arm["vs_identity"] is None) == (name == "identity")
        for metric in ("solver_first_accuracy", "verifier_pass_rate", "judge_accuracy", "rounds_used"):
            _stat(arm["per_role"][metric])
    assert isinstance(f["flags"], list)
    assert "held-out accuracy" in stdout and "parley view" in stdout


def _outcomes(directory: Path) -> dict[str, bool]:
    rows = [json.loads(line) for line in (directory / "results.jsonl").read_text().splitlines() if line.strip()]
    return {r["problem_id"]: bool(r["correct"][0]) for r in rows}


def test_findings_are_computed_from_the_per_problem_results(demo: tuple[Path, dict[str, Any], str]) -> None:
    report_dir, f, _ = demo
    stages = report_dir.parent
    warm = _outcomes(stages / "baseline" / "svj")
    assert f["warm_start"]["debate_accuracy"]["value"] == pytest.approx(sum(warm.values()) / len(warm))
    # identity's two seeds: mean over seeds and problems, and the paired difference against the warm start.
    seeds = []
    for arm_dir in stages.glob("train@*"):
        info = json.loads((arm_dir / "arm.json").read_text())
        if info["strategy"] == "identity":
            seeds.append(_outcomes(stages / arm_dir.name.replace("train@", "evaluate@") / "svj"))
    assert len(seeds) == 2
    ids = sorted(warm)
    per_problem = [sum(s[i] for s in seeds) / len(seeds) - warm[i] for i in ids]
    identity = f["arms"]["identity"]
    assert identity["vs_warm_start"]["diff"] == pytest.approx(sum(per_problem) / len(ids))
    assert identity["debate_accuracy"]["value"] == pytest.approx(sum(s[i] for s in seeds for i in ids) / (2 * len(ids)))
