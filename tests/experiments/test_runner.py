"""The runner on real stage processes: completion, output checks, retries, crashes, corrupt artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parley.experiments import ExperimentRunner, checksum, spec_from_mapping
from tests.experiments.conftest import make_spec

OUT = [{"path": "out.json", "format": "json", "required_keys": ["value"]}]


def _statuses(runner: ExperimentRunner, exp_id: str) -> dict[str, str]:
    return {s.stage_id: s.status for s in runner.store.stages(exp_id)}


def test_run_to_completion_records_artifacts(problems_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "prepare", "kind": "prepare", "outputs": [{"path": "problems.jsonl", "format": "jsonl",
                                                          "min_records": 6}, "dataset.json"]},
        {"id": "train", "kind": "write_value", "per_arm": True, "needs": ["prepare"], "outputs": OUT,
         "params": {"value": 10, "marker": str(marker)}},
        {"id": "compare", "kind": "write_value", "needs": ["train"], "outputs": OUT,
         "params": {"marker": str(marker), "sum": ["train"]}},
    ], sweeps={"generation.seed": [1, 2]}, max_parallel=2))
    runner = ExperimentRunner(tmp_path / "root")
    record = runner.run(spec)
    assert record.status == "succeeded", runner.store.stages(record.id)
    assert record.id == f"unit-{spec.content_hash()[:12]}"
    assert set(_statuses(runner, record.id).values()) == {"succeeded"}
    compare_dir = runner.store.stage(record.id, "compare").dir
    assert json.loads((compare_dir / "out.json").read_text())["value"] == (10 + 1) + (10 + 2)
    arts = {(sid, a.path): a for sid, a in runner.store.artifacts(record.id)}
    assert set(arts) == {("prepare", "problems.jsonl"), ("prepare", "dataset.json"), ("train@seed=1", "out.json"),
                         ("train@seed=2", "out.json"), ("compare", "out.json")}
    assert arts[("compare", "out.json")].sha256 == checksum(compare_dir / "out.json")[0]
    assert sorted(marker.read_text().split()) == ["compare", "train@seed=1", "train@seed=2"]
    # running the same spec again finds the same experiment and re-runs nothing
    again = runner.run(spec)
    assert again.id == record.id and again.status == "succeeded"
    assert len(marker.read_text().split()) == 3
    assert all(s.completions == 1 for s in runner.store.stages(record.id))


def test_missing_output_fails_stage_and_blocks_dependents(problems_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "lazy", "kind": "no_output", "outputs": OUT, "params": {"marker": str(marker)}},
        {"id": "after", "kind": "write_value", "needs": ["lazy"], "outputs": OUT, "params": {"marker": str(marker)}},
    ]))
    runner = ExperimentRunner(tmp_path / "root")
    record = runner.run(spec)
    assert record.status == "failed"
    lazy, after = runner.store.stages(record.id)
    assert lazy.status == "failed" and "output out.json: missing" in (lazy.error or "")
    assert lazy.completions == 0 and lazy.attempts == 1  # an output check failure is not retried
    assert after.status == "blocked" and after.attempts == 0 and "lazy failed" in (after.error or "")
    assert marker.read_text().split() == ["lazy"]  # `after` never ran
    assert runner.store.artifacts(record.id) == []


def test_transient_failure_retried_then_succeeds(problems_file: Path, tmp_path: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "flaky", "kind": "flaky", "outputs": OUT, "params": {"succeed_on": 3}}]))
    runner = ExperimentRunner(tmp_path / "root", seed=0)
    record = runner.run(spec)
    assert record.status == "succeeded"
    attempts = runner.store.attempts(record.id, "flaky")
    assert [a.status for a in attempts] == ["failed", "failed", "succeeded"]
    assert attempts[0].transient and "TransientStageError" in (attempts[0].error_type or "")
    assert json.loads((runner.store.stage(record.id, "flaky").dir / "out.json").read_text())["value"] == 3


def test_transient_failure_out_of_retries(problems_file: Path, tmp_path: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "flaky", "kind": "flaky", "outputs": OUT, "params": {"succeed_on": 9},
         "retry": {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.01}}]))
    runner = ExperimentRunner(tmp_path / "root")
    record = runner.run(spec)
    stage = runner.store.stage(record.id, "flaky")
    assert record.status == "failed" and stage.attempts == 2
    assert "transient, out of retries" in (stage.error or "")


def test_config_error_is_not_retried(problems_file: Path, tmp_path: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "bad", "kind": "bad_config", "outputs": OUT, "params": {"mode": "warp"}}]))
    runner = ExperimentRunner(tmp_path / "root")
    record = runner.run(spec)
    stage = runner.store.stage(record.id, "bad")
    assert record.status == "failed" and stage.attempts == 1
    assert "StageConfigError" in (stage.error or "") and "'warp' is not supported" in (stage.error or "")
    assert "not retried" in (stage.error or "")


def test_crashed_process_is_retried(problems_file: Path, tmp_path: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [{"id": "crash", "kind": "crash_once", "outputs": OUT}]))
    runner = ExperimentRunner(tmp_path / "root")
    record = runner.run(spec)
    attempts = runner.store.attempts(record.id, "crash")
    assert record.status == "succeeded"
    assert [a.status for a in attempts] == ["crashed", "succeeded"]
    assert "killed by signal 9" in (attempts[0].error or "")


@pytest.mark.parametrize("how", ["keyboard", "stage_stopped"])
def test_an_interrupted_stage_is_recorded_as_stopped_not_crashed(problems_file: Path, tmp_path: Path,
                                                                 how: str) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [{"id": "stop", "kind": "interrupted_once", "outputs": OUT,
                                                        "params": {"how": how}}]))
    runner = ExperimentRunner(tmp_path / "root")
    record = runner.run(spec)
    attempts = runner.store.attempts(record.id, "stop")
    assert record.status == "succeeded"
    assert attempts[0].status != "crashed" and attempts[0].error_type == "Stopped"
    assert [a.status for a in attempts][-1] == "succeeded"


def test_corrupted_artifact_detected_on_resume(problems_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "a", "kind": "write_value", "outputs": OUT, "params": {"value": 5, "marker": str(marker)}},
        {"id": "b", "kind": "write_value", "needs": ["a"], "outputs": OUT,
         "params": {"marker": str(marker), "sum": ["a"]}},
        {"id": "c", "kind": "write_value", "outputs": OUT, "params": {"marker": str(marker)}},
    ], max_parallel=1))  # serial, so the marker order below is the plan order
    runner = ExperimentRunner(tmp_path / "root")
    record = runner.run(spec)
    a_out = runner.store.stage(record.id, "a").dir / "out.json"
    a_out.write_text(json.dumps({"value": 500}))  # corrupt a's artifact
    resumed = runner.resume(record.id)
    assert resumed.status == "succeeded"
    assert json.loads(a_out.read_text())["value"] == 5
    a = runner.store.stage(record.id, "a")
    assert a.completions == 2
    # the re-run reproduced the recorded bytes, so the dependent b was not re-run; c untouched
    assert marker.read_text().split() == ["a", "b", "c", "a"]
    # deleting b's output is also caught, and only b re-runs
    (runner.store.stage(record.id, "b").dir / "out.json").unlink()
    assert runner.resume(record.id).status == "succeeded"
    assert marker.read_text().split() == ["a", "b", "c", "a", "b"]
