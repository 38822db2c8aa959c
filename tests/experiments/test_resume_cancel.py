"""Crash of the runner (kill -9) then resume, cancel with --cascade, bulk cancel by label, watching."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
from typer.testing import CliRunner

from parley.cli.app import app
from parley.experiments import (
    ExperimentRunner,
    ExperimentStore,
    cancel_label,
    experiment_id_for,
    load_spec,
    spec_from_mapping,
    wait_for_change,
)
from tests.experiments.conftest import REPO, make_spec, write_spec

OUT = [{"path": "out.json", "format": "json", "required_keys": ["value"]}]
BOUND_S = 90  # upper bound for waits on real processes (never reached when things work)


def _start_runner(spec_path: Path, root: Path, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "parley.cli.app", "experiment", "run", str(spec_path), "--root", str(root), *extra]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + BOUND_S
    while not path.exists():
        assert proc.poll() is None, "runner exited before the stage started"
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_kill_runner_then_resume_runs_no_stage_twice(problems_file: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    spec_path = write_spec(tmp_path / "spec.yaml", make_spec(problems_file, [
        {"id": "first", "kind": "write_value", "outputs": OUT, "params": {"marker": str(marker)}},
        {"id": "slow", "kind": "sleep_loop", "needs": ["first"], "outputs": OUT,
         "params": {"steps": 40, "step_s": 0.05, "marker": str(marker)}},
        {"id": "last", "kind": "write_value", "needs": ["slow"], "outputs": OUT, "params": {"marker": str(marker)}},
    ]))
    root = tmp_path / "root"
    exp_id = experiment_id_for(load_spec(spec_path))
    proc = _start_runner(spec_path, root)
    _wait_for(root / exp_id / "stages" / "slow" / "started.1", proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=BOUND_S)

    runner = ExperimentRunner(root)
    assert runner.store.stage(exp_id, "slow").status == "running"  # what the dead runner left behind
    record = runner.resume(exp_id)
    assert record.status == "succeeded"
    stages = {s.stage_id: s for s in runner.store.stages(exp_id)}
    assert {k: s.completions for k, s in stages.items()} == {"first": 1, "slow": 1, "last": 1}
    assert sorted(marker.read_text().split()) == ["first", "last", "slow"]  # each ran to completion once
    slow_attempts = runner.store.attempts(exp_id, "slow")
    assert [a.status for a in slow_attempts] == ["interrupted", "succeeded"]
    assert [a.number for a in runner.store.attempts(exp_id, "first")] == [1]  # completed stage not re-run
    assert not psutil.pid_exists(slow_attempts[0].pid or -1) or \
        psutil.Process(slow_attempts[0].pid or -1).status() == psutil.STATUS_ZOMBIE


def test_cancel_cascade_stops_running_stage_and_dependents(problems_file: Path, tmp_path: Path) -> None:
    spec_path = write_spec(tmp_path / "spec.yaml", make_spec(problems_file, [
        {"id": "slow", "kind": "sleep_loop", "outputs": OUT, "params": {"steps": 2000, "step_s": 0.05}},
        {"id": "after", "kind": "write_value", "needs": ["slow"], "outputs": OUT},
        {"id": "report", "kind": "write_value", "needs": ["after"], "outputs": OUT},
        {"id": "other", "kind": "write_value", "outputs": OUT},
    ], max_parallel=2))
    root = tmp_path / "root"
    exp_id = experiment_id_for(load_spec(spec_path))
    proc = _start_runner(spec_path, root)
    _wait_for(root / exp_id / "stages" / "slow" / "started.1", proc)
    stage_pid = int((root / exp_id / "stages" / "slow" / "started.1").read_text())

    result = CliRunner().invoke(app, ["experiment", "cancel", exp_id, "--stage", "slow", "--cascade",
                                      "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert "cancelled 3 stage(s)" in result.output
    assert proc.wait(timeout=BOUND_S) == 1  # the runner ends (not succeeded) once the stage is gone
    assert not psutil.pid_exists(stage_pid)
    store = ExperimentStore(root / "experiments.db")
    stages = {s.stage_id: s for s in store.stages(exp_id)}
    assert {k: s.status for k, s in stages.items()} == {
        "slow": "cancelled", "after": "cancelled", "report": "cancelled", "other": "succeeded"}
    assert stages["after"].attempts == 0 and stages["report"].attempts == 0
    assert [a.status for a in store.attempts(exp_id, "slow")] == ["cancelled"]
    assert not (stages["slow"].dir / "out.json").exists()
    exp = store.get_experiment(exp_id)
    assert exp is not None and exp.status == "cancelled"


def test_bulk_cancel_by_label(problems_file: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    slow = [{"id": "slow", "kind": "sleep_loop", "outputs": OUT, "params": {"steps": 2000, "step_s": 0.05}}]
    running_path = write_spec(tmp_path / "a.yaml", make_spec(problems_file, slow, name="a"))
    proc = _start_runner(running_path, root, "--label", "batch")
    a_id = experiment_id_for(load_spec(running_path))
    _wait_for(root / a_id / "stages" / "slow" / "started.1", proc)
    runner = ExperimentRunner(root)
    b_id, _ = runner.create(spec_from_mapping(make_spec(problems_file, slow, name="b", labels=["batch"])))
    c_id, _ = runner.create(spec_from_mapping(make_spec(problems_file, slow, name="c", labels=["other"])))

    results = cancel_label(runner.store, "batch", grace_s=5)
    assert sorted(r.experiment_id for r in results) == sorted([a_id, b_id])
    assert proc.wait(timeout=BOUND_S) == 1
    status = {e.id: e.status for e in runner.store.list_experiments()}
    assert status == {a_id: "cancelled", b_id: "cancelled", c_id: "pending"}
    assert runner.store.stage(c_id, "slow").status == "pending"
    listing = CliRunner().invoke(app, ["experiment", "list", "--root", str(root), "--label", "batch"])
    assert listing.exit_code == 0 and a_id in listing.output and c_id not in listing.output


def test_wait_for_change_sees_another_connection(tmp_path: Path) -> None:
    watcher = ExperimentStore(tmp_path / "experiments.db")
    writer = ExperimentStore(tmp_path / "experiments.db")
    assert wait_for_change(watcher, timeout_s=0.05) is False  # nothing happened
    thread = threading.Thread(target=lambda: (time.sleep(0.1), writer.add_labels("x", ["y"])))
    thread.start()
    assert wait_for_change(watcher, timeout_s=BOUND_S) is True
    thread.join()


def test_status_and_watch_render_a_finished_experiment(problems_file: Path, tmp_path: Path) -> None:
    runner = ExperimentRunner(tmp_path / "root")
    record = runner.run(spec_from_mapping(make_spec(problems_file, [
        {"id": "one", "kind": "write_value", "outputs": OUT}])))
    for extra in ([], ["--watch"]):
        out = CliRunner().invoke(app, ["experiment", "status", record.id, "--root", str(tmp_path / "root"), *extra])
        assert out.exit_code == 0, out.output
        assert "succeeded" in out.output and "one" in out.output
    assert os.environ.get("PYTHONPATH")  # stage processes found the test kinds through it
