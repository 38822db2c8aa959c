"""The training loop's wiring on real runs: counterfactual shaping through ``train()``, the rollout log,
and the inputs it refuses before any rollout (issue: the main job's correctness fixes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parley.config import load_config
from parley.data.problem import Problem
from parley.store import TrajectoryStore
from parley.tracking import read_metrics
from parley.training.config import TrainRunConfig
from parley.training.rollouts import ScoringError
from parley.training.trainer import train
from tests.training.tiny_rl_support import small_tiny_model, train_overrides


def _cfg(out: Path, **extra: object) -> TrainRunConfig:
    return load_config(None, train_overrides(small_tiny_model(), out, **extra), model=TrainRunConfig)


def _rollouts(run: Path) -> list[dict[str, object]]:
    store = TrajectoryStore.read(run / "rollouts")
    return [t.metadata["training"] | {"problem_id": t.problem_id, "turns_full": t.turns}
            for t in store.iter_transcripts()]


@pytest.mark.parametrize("shaping", [{"name": "difference"}, {"name": "coma", "roles": ["solver", "verifier"]}])
def test_counterfactual_shaping_is_wired_through_train(tmp_path: Path, shaping: dict[str, object]) -> None:
    out = tmp_path / "run"
    train(_cfg(out, **{"train.steps": 2, "train.shaping": shaping, "train.eval.dataset": None}))
    records = [r for r in read_metrics(out) if r["step"] > 0]
    assert [r["step"] for r in records] == [1, 2]
    for r in records:
        assert r["counterfactual/rollouts"] > 0 and r["samples"] > 0
    logged = _rollouts(out)
    assert len(logged) == 2 * 4 * 2  # steps x problems x G, every debate logged once
    key = "difference" if shaping["name"] == "difference" else "coma"
    checked = 0
    for rec in logged:
        assert rec["kept"] is True and rec["step"] in (1, 2)
        cf = rec["counterfactuals"][key]  # type: ignore[index]
        for turn in rec["turns"]:  # type: ignore[union-attr]
            # The shaped reward the loss used is G minus the counterfactual value of that turn's role/turn.
            base = cf[turn["role"]] if key == "difference" else cf.get(str(turn["index"]))
            if base is None:
                continue
            assert turn["shaped_reward"] == pytest.approx(rec["outcome"] - base)
            checked += 1
    assert checked > 0


def test_coma_fraction_keeps_whole_groups_and_reward_mean_uses_the_kept_debates(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(_cfg(out, **{"train.steps": 1, "train.shaping": {"name": "coma", "roles": ["solver"]},
                       "train.counterfactual": {"m": 1, "fraction": 0.5}, "train.eval.dataset": None}))
    (record,) = [r for r in read_metrics(out) if r["step"] == 1]
    logged = _rollouts(out)
    kept = [r for r in logged if r["kept"]]
    assert record["rollouts/kept_fraction"] == pytest.approx(0.5)
    # Whole problem groups: every problem is either fully kept or fully dropped.
    by_problem: dict[str, set[bool]] = {}
    for r in logged:
        by_problem.setdefault(str(r["problem_id"]), set()).add(bool(r["kept"]))
    assert all(len(v) == 1 for v in by_problem.values())
    assert record["reward/mean"] == pytest.approx(sum(float(r["outcome"]) for r in kept) / len(kept))  # type: ignore[arg-type]
    dropped = [r for r in logged if not r["kept"]]
    assert all(t["advantage"] is None for r in dropped for t in r["turns"])  # type: ignore[union-attr]


def test_difference_with_reference_null_and_a_frozen_role(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(_cfg(out, **{"train.steps": 1, "train.shaping": {"name": "difference"},
                       "train.counterfactual": {"null": "reference"},
                       "train.policy": {"mode": "per_role", "roles": {"judge": {"frozen": True}}},
                       "train.eval.dataset": None}))
    (record,) = [r for r in read_metrics(out) if r["step"] == 1]
    assert record["counterfactual/rollouts"] > 0 and "policy_loss/judge" not in record


def _jsonl(path: Path, problems: list[Problem]) -> Path:
    path.write_text("".join(p.model_dump_json() + "\n" for p in problems))
    return path


def test_training_problems_without_gold_or_verifier_are_refused_before_rollouts(tmp_path: Path) -> None:
    no_gold = _jsonl(tmp_path / "no_gold.jsonl", [Problem(id=f"q{i}", question=f"What is {i} + 1?", domain="integer")
                                                  for i in range(8)])
    with pytest.raises(ScoringError, match="no gold answer"):
        train(_cfg(tmp_path / "a", **{"dataset": {"name": str(no_gold)}, "train.eval.dataset": None}))
    judged = _jsonl(tmp_path / "judged.jsonl", [Problem(id=f"q{i}", question="Write a haiku.", answer="x",
                                                        domain="judge") for i in range(8)])
    with pytest.raises(ScoringError, match="no verifier for domain"):
        train(_cfg(tmp_path / "b", **{"dataset": {"name": str(judged)}, "train.eval.dataset": None}))
    assert not (tmp_path / "a" / "metrics.jsonl").exists()


def test_verifier_errors_are_counted_apart_from_wrong_answers(tmp_path: Path) -> None:
    # Gold answers that are not integers: the integer verifier reports an error for every answer.
    bad = _jsonl(tmp_path / "bad.jsonl", [Problem(id=f"q{i}", question=f"What is {i} + 1?", answer="one",
                                                  domain="integer") for i in range(8)])
    out = tmp_path / "run"
    train(_cfg(out, **{"dataset": {"name": str(bad)}, "train.steps": 1, "train.eval.dataset": None}))
    (record,) = [r for r in read_metrics(out) if r["step"] == 1]
    assert record["errors/verifier_rate"] == pytest.approx(1.0)
    assert record["reward/mean"] == 0.0


def test_a_dataset_smaller_than_a_step_is_refused(tmp_path: Path) -> None:
    tiny = _jsonl(tmp_path / "two.jsonl", [Problem(id=f"q{i}", question=f"What is {i} + 1?", answer=str(i + 1),
                                                   domain="integer") for i in range(2)])
    with pytest.raises(ValueError, match="problems_per_step=4"):
        train(_cfg(tmp_path / "run", **{"dataset": {"name": str(tiny)}, "train.eval.dataset": None}))


def test_rollout_log_annotates_every_turn(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(_cfg(out, **{"train.steps": 1, "train.shaping": {"name": "mixing", "alpha": 0.5},
                       "train.eval.dataset": None}))
    logged = _rollouts(out)
    assert len(logged) == 4 * 2
    for rec in logged:
        assert json.dumps({k: v for k, v in rec.items() if k != "turns_full"})  # JSON-serialisable as stored
        roles = [t["role"] for t in rec["turns"]]  # type: ignore[union-attr]
        assert roles == [t.role for t in rec["turns_full"]]  # type: ignore[union-attr]
        assert all(t["trained"] == (t["advantage"] is not None) for t in rec["turns"])  # type: ignore[union-attr]
