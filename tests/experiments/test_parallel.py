"""Independent stages in parallel on the local executor: up to max_parallel, within the machine's
resources, with the runner's guarantees (outputs checked, resume, cancel) unchanged."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from typer.testing import CliRunner

from parley.cli.app import app
from parley.executors import LocalExecutor
from parley.experiments import ExperimentRunner, experiment_id_for, load_spec, spec_from_mapping
from tests.experiments.conftest import make_spec, write_spec

OUT = [{"path": "out.json", "format": "json", "required_keys": ["value"]}]


def _arms(meet: Path, peers: int, n: int = 2, **stage: object) -> list[dict[str, object]]:
    return [{"id": f"arm{i}", "kind": "rendezvous", "outputs": OUT, **stage,
             "params": {"dir": str(meet), "peers": peers, "wait_s": 60}} for i in range(n)]


def _outs(runner: ExperimentRunner, exp_id: str) -> dict[str, dict[str, object]]:
    return {s.stage_id: json.loads((s.dir / "out.json").read_text()) for s in runner.store.stages(exp_id)
            if (s.dir / "out.json").exists()}


def test_independent_stages_run_together_by_default(problems_file: Path, tmp_path: Path) -> None:
    # each arm waits until both have started: this only completes when they run at the same time
    spec = spec_from_mapping(make_spec(problems_file, [
        *_arms(tmp_path / "meet", peers=2),
        {"id": "sum", "kind": "write_value", "needs": ["arm0", "arm1"], "outputs": OUT, "params": {"sum": []}},
    ]))
    assert spec.max_parallel is None  # default: what the executor can hold
    runner = ExperimentRunner(tmp_path / "root", executor=LocalExecutor(cpus=2, memory_gb=8, gpus=[]))
    record = runner.run(spec)
    assert record.status == "succeeded", [(s.stage_id, s.error) for s in runner.store.stages(record.id)]
    outs = _outs(runner, record.id)
    assert outs["arm0"]["env"] == {"OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": outs["arm0"]["env"][
        "CUDA_VISIBLE_DEVICES"]}
    assert all(s.completions == 1 for s in runner.store.stages(record.id))


def test_max_parallel_one_runs_them_one_after_another(problems_file: Path, tmp_path: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, _arms(tmp_path / "meet", peers=1, n=3,
                                                            **{"retry": {"max_attempts": 1}})))
    runner = ExperimentRunner(tmp_path / "root", executor=LocalExecutor(cpus=4, memory_gb=8, gpus=[]),
                              max_parallel=1)
    record = runner.run(spec)
    assert record.status == "succeeded"
    spans = sorted((o["start"], o["end"]) for o in _outs(runner, record.id).values())
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(spans))  # never overlapping


def test_stages_larger_than_half_the_machine_do_not_share_it(problems_file: Path, tmp_path: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, _arms(tmp_path / "meet", peers=1, n=2,
                                                            resources={"cpus": 2}), max_parallel=4))
    runner = ExperimentRunner(tmp_path / "root", executor=LocalExecutor(cpus=2, memory_gb=8, gpus=[]))
    record = runner.run(spec)
    assert record.status == "succeeded"
    outs = _outs(runner, record.id)
    spans = sorted((o["start"], o["end"]) for o in outs.values())
    assert spans[0][1] <= spans[1][0]
    assert {o["env"]["OMP_NUM_THREADS"] for o in outs.values()} == {"2"}  # type: ignore[index]


def test_parallel_stage_failures_keep_the_guarantees(problems_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "crash", "kind": "crash_once", "outputs": OUT, "params": {"marker": str(marker)}},
        {"id": "lazy", "kind": "no_output", "outputs": OUT},
        {"id": "fine", "kind": "write_value", "outputs": OUT, "params": {"marker": str(marker)}},
        {"id": "after_lazy", "kind": "write_value", "needs": ["lazy"], "outputs": OUT},
    ]))
    runner = ExperimentRunner(tmp_path / "root", executor=LocalExecutor(cpus=3, memory_gb=8, gpus=[]))
    record = runner.run(spec)
    stages = {s.stage_id: s for s in runner.store.stages(record.id)}
    assert record.status == "failed"
    assert stages["crash"].status == "succeeded" and stages["crash"].attempts == 2  # crashed once, retried
    assert stages["lazy"].status == "failed" and "missing" in (stages["lazy"].error or "")
    assert stages["after_lazy"].status == "blocked"
    assert sorted(marker.read_text().split()) == ["crash", "fine"]


def test_execution_settings_do_not_change_the_experiment_id(problems_file: Path, tmp_path: Path) -> None:
    base = make_spec(problems_file, [{"id": "a", "kind": "write_value", "outputs": OUT}])
    ids = {experiment_id_for(spec_from_mapping({**base, **extra})) for extra in (
        {}, {"max_parallel": 3}, {"executor": {"backend": "ray", "ray": {"address": "http://127.0.0.1:1"}}})}
    assert len(ids) == 1
    with_resources = make_spec(problems_file, [{"id": "a", "kind": "write_value", "outputs": OUT,
                                                "resources": {"cpus": 2}}])
    assert experiment_id_for(spec_from_mapping(with_resources)) not in ids  # threads may change results


def test_cli_max_parallel_and_bad_executor(problems_file: Path, tmp_path: Path) -> None:
    spec_path = write_spec(tmp_path / "spec.yaml", make_spec(problems_file, _arms(tmp_path / "meet", peers=2)))
    root = tmp_path / "root"
    cli = CliRunner()
    bad = cli.invoke(app, ["experiment", "run", str(spec_path), "--root", str(root), "--executor", "slurm"])
    assert bad.exit_code == 2 and "--executor 'slurm'" in bad.output
    bad = cli.invoke(app, ["experiment", "run", str(spec_path), "--root", str(root), "--max-parallel", "0"])
    assert bad.exit_code == 2
    ok = cli.invoke(app, ["experiment", "run", str(spec_path), "--root", str(root), "--max-parallel", "2",
                          "--executor", "local"])
    assert ok.exit_code == 0, ok.output
    exp_id = experiment_id_for(load_spec(spec_path))
    assert exp_id in ok.output
