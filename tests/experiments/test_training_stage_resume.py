"""kill -9 during a real training stage, then resume: the experiment completes, no stage completes twice,
and the resumed arm's final metrics equal an uninterrupted run's (issue 5 acceptance)."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from parley.experiments import ExperimentRunner, spec_from_mapping
from parley.tracking import read_metrics
from tests.training.tiny_rl_support import SMALL_RECIPE, TASK, small_tiny_model

COMPARED = ("reward/mean", "reward/solver", "policy_loss/solver", "advantage_std/solver", "samples")


def _spec() -> dict[str, Any]:
    recipe = {k: v for k, v in dataclasses.asdict(SMALL_RECIPE).items() if k != "role_weights"}
    return {
        "name": "train-resume",
        "config": {
            "model": {"backend": "hf", "name": "tiny", "batch_size": 64},
            "protocol": {"name": "svj", "max_rounds": 1},
            "dataset": {"name": "arithmetic", "size": 40, "seed": 3, "options": TASK},
            "generation": {"max_new_tokens": 20},
            "train": {"steps": 4, "problems_per_step": 4, "group_size": 2, "lr": 1e-3, "checkpoint_every": 1,
                      "seed": 5},
        },
        "stages": [
            {"id": "prepare", "kind": "tiny_prepare", "outputs": ["model.json", "train.jsonl", "heldout.jsonl"],
             "params": {"recipe": recipe, "train_size": 30, "heldout_size": 10,
                        "exclude_sft_questions": False}},
            {"id": "train", "kind": "train", "needs": ["prepare"],
             "outputs": [{"path": "final.json", "format": "json", "required_keys": ["shared"]},
                         {"path": "run/metrics.jsonl", "format": "jsonl", "min_records": 4}]},
        ],
    }


def test_kill_during_training_stage_then_resume(tmp_path: Path) -> None:
    small_tiny_model()  # build (or reuse) the warm start outside the timed stage
    reference = ExperimentRunner(tmp_path / "reference").run(spec_from_mapping(_spec(), "test"))
    assert reference.status == "succeeded"
    ref_train = next(s for s in ExperimentRunner(tmp_path / "reference").store.stages(reference.id)
                     if s.stage_id == "train")

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(_spec()))
    root = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "parley.cli.app", "experiment", "run", str(spec_file),
                             "--root", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 400
        while not list(root.glob("*/stages/train/run/checkpoints/step-000002")):
            assert proc.poll() is None, "experiment ended before the training stage checkpointed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    # The stage process runs in its own group; make sure nothing of the killed run is still training.
    runner = ExperimentRunner(root)
    exp_id = runner.store.list_experiments()[0].id
    record = runner.resume(exp_id)
    assert record.status == "succeeded"
    stages = {s.stage_id: s for s in runner.store.stages(exp_id)}
    assert all(s.completions == 1 for s in stages.values()), {k: s.completions for k, s in stages.items()}
    got = {r["step"]: r for r in read_metrics(stages["train"].dir / "run")}
    want = {r["step"]: r for r in read_metrics(ref_train.dir / "run")}
    assert sorted(got) == [1, 2, 3, 4]
    for key in COMPARED:
        assert got[4][key] == pytest.approx(want[4][key], rel=1e-5, abs=1e-6), key
    assert json.loads((stages["train"].dir / "final.json").read_text())["shared"]
