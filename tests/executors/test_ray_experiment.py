"""Experiments through Ray Jobs on a real local cluster: same outputs as local, a killed stage retried,
the runner killed and the running job adopted on resume, cancel --cascade, no planted secret anywhere."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from parley.executors import ExecutorSpec
from parley.experiments import ExperimentRunner, cancel, experiment_id_for, load_spec, spec_from_mapping
from tests.experiments.conftest import REPO, make_spec, write_spec
from tests.ray_cluster import RayCluster

OUT = [{"path": "out.json", "format": "json", "required_keys": ["value"]}]
PLANTED = "sk-planted-0123456789-do-not-leak"
BOUND_S = 180


def _ray(cluster: RayCluster) -> ExecutorSpec:
    return ExecutorSpec.model_validate({"backend": "ray", "ray": {"address": cluster.address,
                                                                  "python": sys.executable}})


def _ray_jobs(cluster: RayCluster, exp_id: str) -> list[Any]:
    from ray.job_submission import JobSubmissionClient

    return [j for j in JobSubmissionClient(cluster.address).list_jobs()
            if (j.metadata or {}).get("parley.experiment") == exp_id]


def _artifacts(runner: ExperimentRunner, exp_id: str) -> dict[tuple[str, str], str]:
    return {(sid, a.path): a.sha256 for sid, a in runner.store.artifacts(exp_id)}


def test_two_stages_on_ray_match_local_and_a_killed_stage_is_retried(
        ray_cluster: RayCluster, problems_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)  # in the runner's environment only
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "first", "kind": "write_value", "outputs": OUT, "params": {"value": 7}},
        {"id": "second", "kind": "crash_once", "needs": ["first"], "outputs": OUT},  # SIGKILLs itself once
        {"id": "env", "kind": "env_probe", "needs": ["first"], "outputs": OUT, "params": {"names": ["OPENAI_API_KEY"]}},
    ]))
    local = ExperimentRunner(tmp_path / "local")
    on_ray = ExperimentRunner(tmp_path / "ray", executor=_ray(ray_cluster))
    local_record, ray_record = local.run(spec), on_ray.run(spec)
    assert local_record.status == ray_record.status == "succeeded", on_ray.store.stages(ray_record.id)
    assert local_record.id == ray_record.id
    local_arts, ray_arts = _artifacts(local, local_record.id), _artifacts(on_ray, ray_record.id)
    assert local_arts.pop(("env", "out.json")) != ray_arts.pop(("env", "out.json"))  # the probe: see below
    assert local_arts == ray_arts  # the same bytes
    second = on_ray.store.attempts(ray_record.id, "second")
    assert [a.status for a in second] == ["crashed", "succeeded"]
    jobs = _ray_jobs(ray_cluster, ray_record.id)
    by_stage: dict[str, list[str]] = {}
    for j in jobs:
        by_stage.setdefault(j.metadata["parley.stage"], []).append(str(j.status.value))
    assert {k: sorted(v) for k, v in by_stage.items()} == {
        "first": ["SUCCEEDED"], "second": ["FAILED", "SUCCEEDED"], "env": ["SUCCEEDED"]}
    probe = json.loads((on_ray.store.stage(ray_record.id, "env").dir / "out.json").read_text())
    assert probe["present"] == {"OPENAI_API_KEY": False}  # the key was not passed to the Ray job
    local_probe = json.loads((local.store.stage(local_record.id, "env").dir / "out.json").read_text())
    assert local_probe["present"] == {"OPENAI_API_KEY": True}  # a local stage inherits the runner's environment
    # the planted key appears in no job spec, log, task file, output or database
    specs = json.dumps([j.model_dump(mode="json") if hasattr(j, "model_dump") else j.__dict__ for j in jobs],
                       default=str)
    assert PLANTED not in specs
    for path in (tmp_path / "ray").rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path


def test_runner_killed_then_resume_adopts_the_running_ray_job(
        ray_cluster: RayCluster, problems_file: Path, tmp_path: Path) -> None:
    spec_path = write_spec(tmp_path / "spec.yaml", make_spec(problems_file, [
        {"id": "slow", "kind": "sleep_loop", "outputs": OUT, "params": {"steps": 120, "step_s": 0.05}},
        {"id": "last", "kind": "write_value", "needs": ["slow"], "outputs": OUT},
    ], executor={"backend": "ray", "ray": {"address": ray_cluster.address, "python": sys.executable}}))
    root = tmp_path / "root"
    exp_id = experiment_id_for(load_spec(spec_path))
    cmd = [sys.executable, "-m", "parley.cli.app", "experiment", "run", str(spec_path), "--root", str(root)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = root / exp_id / "stages" / "slow" / "started.1"
    deadline = time.monotonic() + BOUND_S
    while not started.exists():
        assert proc.poll() is None, "the runner exited before the stage started"
        assert time.monotonic() < deadline, "the Ray stage never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)

    runner = ExperimentRunner(root)
    record = runner.resume(exp_id)
    assert record.status == "succeeded", runner.store.stages(exp_id)
    assert [a.status for a in runner.store.attempts(exp_id, "slow")] == ["succeeded"]  # adopted, not re-run
    slow_jobs = [j for j in _ray_jobs(ray_cluster, exp_id) if j.metadata["parley.stage"] == "slow"]
    assert len(slow_jobs) == 1


def test_cancel_cascade_stops_the_ray_job(ray_cluster: RayCluster, problems_file: Path, tmp_path: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "slow", "kind": "sleep_loop", "outputs": OUT, "params": {"steps": 4000, "step_s": 0.05}},
        {"id": "after", "kind": "write_value", "needs": ["slow"], "outputs": OUT},
    ]))
    runner = ExperimentRunner(tmp_path / "root", executor=_ray(ray_cluster))
    exp_id, _ = runner.create(spec)
    outcome: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: outcome.update(record=runner.run(spec)), daemon=True)
    thread.start()
    started = tmp_path / "root" / exp_id / "stages" / "slow" / "started.1"
    deadline = time.monotonic() + BOUND_S
    while not started.exists():
        assert time.monotonic() < deadline and thread.is_alive(), "the Ray stage never started"
        time.sleep(0.1)
    other = ExperimentRunner(tmp_path / "root")  # another process's view: its own connection
    result = cancel(other.store, exp_id, stage="slow", cascade=True, grace_s=5)
    assert sorted(result.cancelled) == ["after", "slow"] and result.signalled == ["slow"]
    thread.join(timeout=BOUND_S)
    assert not thread.is_alive()
    assert outcome["record"].status == "cancelled"
    statuses = [str(j.status.value) for j in _ray_jobs(ray_cluster, exp_id)]
    assert statuses == ["STOPPED"]
