"""``evaluate`` end to end on real runs of rule-based agents, and its refusals to report a fake score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parley.config import ParleyConfig
from parley.data import load_problems
from parley.evaluation import EvalResult, EvaluationError, evaluate, load_eval, matched_self_consistency_k
from parley.store import TrajectoryStore
from tests.evaluation.conftest import make_config, scripted_pool


def test_accuracy_matches_the_store_and_the_results_file(arms: tuple[Path, EvalResult, EvalResult]) -> None:
    out, debate, single = arms
    for arm in (debate, single):
        with TrajectoryStore.read(out / arm.label / "store") as store:
            transcripts = list(store.iter_transcripts())
        assert len(transcripts) == 30
        n_right = sum(1 for t in transcripts if t.correct)
        assert arm.summary["n"] == 30
        assert arm.summary["correct"] == n_right
        assert arm.accuracy == n_right / 30
        assert arm.summary["tokens"]["per_problem"] == sum(
            t.prompt_tokens + t.completion_tokens for t in transcripts) / 30
        assert arm.summary["cost_usd"] == 0.0  # the scripted agents report a price of zero
        lines = (out / arm.label / "results.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        assert sum(r["first_correct"] for r in records) == n_right
        assert json.loads((out / arm.label / "summary.json").read_text())["accuracy"] == arm.accuracy
        low, high = arm.summary["ci_low"], arm.summary["ci_high"]
        assert low <= arm.accuracy <= high
    ids = {p.id for p in load_problems(make_config().dataset)}
    assert {p.problem_id for p in debate.problems} == ids
    assert debate.summary["protocol"] == "svj" and single.summary["protocol"] == "single"
    assert set(single.summary["terminations"]) == {"single"}


def test_strong_arm_beats_weak_arm(arms: tuple[Path, EvalResult, EvalResult]) -> None:
    _, debate, single = arms
    assert debate.accuracy > single.accuracy
    assert single.accuracy < 0.8  # the 60%-error solver really makes mistakes


def test_resume_reuses_the_store_and_load_eval_round_trips(arms: tuple[Path, EvalResult, EvalResult]) -> None:
    out, debate, _ = arms
    again = evaluate(make_config("svj"), label="debate", out_dir=out, agents=scripted_pool(0.1))
    assert again.problems == debate.problems
    assert again.summary["run_id"] == debate.summary["run_id"]
    with TrajectoryStore.read(out / "debate" / "store") as store:
        assert store.count()[0] == 30
    loaded = load_eval(out / "debate")
    assert loaded.problems == debate.problems
    assert loaded.summary == json.loads(json.dumps(debate.summary))
    with pytest.raises(EvaluationError, match=r"no results\.jsonl"):
        load_eval(out)
    assert debate.summary["models"] == ["scripted-judge", "scripted-solver", "scripted-verifier"]


def test_a_different_config_under_the_same_label_is_an_error(arms: tuple[Path, EvalResult, EvalResult]) -> None:
    out, _, _ = arms
    with pytest.raises(EvaluationError, match="use a new --label"):
        evaluate(make_config("mad"), label="debate", out_dir=out, agents=scripted_pool(0.1))


def test_breakdown_and_majority_over_samples(tmp_path: Path) -> None:
    rows = [{"id": f"q{i}", "question": f"Calculate {i} + {i + 2}.", "answer": str(2 * i + 2),
             "level": "easy" if i < 4 else "hard"} for i in range(8)]
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = make_config("single", {"name": str(data)}, samples_per_problem=3)
    result = evaluate(cfg, label="levels", out_dir=tmp_path / "out", agents=scripted_pool(0.5))
    by_level = result.summary["breakdown"]["level"]
    assert set(by_level) == {"easy", "hard"}
    for level in ("easy", "hard"):
        mine = [p for p in result.problems if p.metadata["level"] == level]
        assert by_level[level]["n"] == 4
        assert by_level[level]["correct"] == sum(p.correct[0] for p in mine)
    assert all(len(p.correct) == 3 for p in result.problems)
    assert result.summary["majority"]["correct"] == sum(p.majority_correct for p in result.problems)
    assert result.summary["mean_sample_accuracy"] == pytest.approx(sum(sum(p.correct) for p in result.problems) / 24)
    assert 0 < result.summary["mean_sample_accuracy"] < 1


def test_unknown_dataset_is_an_error(tmp_path: Path) -> None:
    cfg = make_config(dataset={"name": "no_such_source:thing"})
    with pytest.raises(EvaluationError, match="unknown dataset"):
        evaluate(cfg, label="x", out_dir=tmp_path, agents=scripted_pool(0.0))


def test_domain_without_verifier_is_an_error_not_a_zero(tmp_path: Path) -> None:
    data = tmp_path / "judged.jsonl"
    data.write_text(json.dumps({"id": "j1", "question": "Write a haiku.", "domain": "judge"}) + "\n"
                    + json.dumps({"id": "m1", "question": "Calculate 1 + 1.", "answer": "2"}) + "\n")
    cfg = make_config("single", {"name": str(data)})
    with pytest.raises(EvaluationError, match=r"no verifier for domain 'judge' \(1 problems\)"):
        evaluate(cfg, label="judged", out_dir=tmp_path / "out", agents=scripted_pool(0.0))
    assert not (tmp_path / "out" / "judged").exists()


def test_math_problem_without_gold_answer_is_an_error(tmp_path: Path) -> None:
    data = tmp_path / "nogold.jsonl"
    data.write_text(json.dumps({"id": "m1", "question": "Calculate 1 + 1."}) + "\n")
    with pytest.raises(EvaluationError, match=r"1 math problems have no gold answer \(e.g. 'm1'\)"):
        evaluate(make_config("single", {"name": str(data)}), label="ng", out_dir=tmp_path, agents=scripted_pool(0.0))


def test_missing_model_is_an_error(tmp_path: Path) -> None:
    cfg = ParleyConfig.model_validate({**make_config().model_dump(),
                                       "model": {"backend": "hf", "name": str(tmp_path / "no-checkpoint")}})
    with pytest.raises(EvaluationError, match="no such directory"):
        evaluate(cfg, label="nomodel", out_dir=tmp_path)


def test_unreachable_model_is_an_error(tmp_path: Path) -> None:
    # a real OpenAI-compatible client against a port nothing listens on: the first call stops the run
    cfg = ParleyConfig.model_validate({
        **make_config("single", {**make_config().dataset.model_dump(), "size": 3}).model_dump(),
        "model": {"backend": "openai", "name": "m", "api_base": "http://127.0.0.1:9/v1", "max_retries": 0,
                  "request_timeout_s": 5}})
    with pytest.raises(EvaluationError, match=r"cannot reach http://127\.0\.0\.1:9/v1 \(connection refused\)"):
        evaluate(cfg, label="down", out_dir=tmp_path)


def test_bad_label_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="label"):
        evaluate(make_config(), label="../escape", out_dir=tmp_path, agents=scripted_pool(0.0))


def test_matched_self_consistency_k() -> None:
    assert matched_self_consistency_k(300.0, 100.0) == 3
    assert matched_self_consistency_k(349.0, 100.0) == 3
    assert matched_self_consistency_k(351.0, 100.0) == 4
    assert matched_self_consistency_k(40.0, 100.0) == 1  # never below one sample
    with pytest.raises(ValueError, match="positive"):
        matched_self_consistency_k(100.0, 0.0)
