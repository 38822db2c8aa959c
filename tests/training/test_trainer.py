"""The RL trainer end to end on a real (small) warm-started tiny model: runs, resumes, validates."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import pytest

from parley.config import ConfigError, load_config
from parley.tracking import read_metrics
from parley.training.checkpoint import CheckpointError, checkpoint_dirs
from parley.training.config import TrainRunConfig
from parley.training.trainer import TrainingError, frozen_heap, train
from tests.training.tiny_rl_support import small_tiny_model, train_overrides

COMPARED = ("reward/mean", "reward/solver", "policy_loss/solver", "policy_loss/verifier", "advantage_std/solver",
            "samples", "debate/rounds_used")


def _cfg(out: Path, **extra: object) -> TrainRunConfig:
    return load_config(None, train_overrides(small_tiny_model(), out, **extra), model=TrainRunConfig)


def test_training_run_writes_metrics_checkpoints_eval_and_final_model(tmp_path: Path) -> None:
    frozen: dict[int, int] = {}
    result = train(_cfg(tmp_path / "run"), progress=lambda step, _: frozen.setdefault(step, gc.get_freeze_count()))
    # The loop's steps run with the set-up heap frozen (trainer.frozen_heap); it is unfrozen afterwards.
    assert frozen[0] == 0 and min(frozen[s] for s in (1, 2, 3)) > 0 and gc.get_freeze_count() == 0
    records = read_metrics(tmp_path / "run")
    assert [r["step"] for r in records] == [0, 1, 2, 3]  # step 0: the warm start's held-out evaluation
    assert "eval/accuracy/single" in records[0] and "reward/mean" not in records[0]
    last = records[-1]
    for key in ("reward/solver", "shaped_reward/verifier", "advantage_mean/judge", "policy_loss/solver",
                "entropy/solver", "clip_fraction/solver", "generated_tokens/solver", "debate/rounds_used",
                "time/generation_s", "time/optimisation_s", "perf/gen_tokens_per_s", "eval/accuracy/single"):
        assert key in last, key
    assert result.final_step == 3 and (result.final_models["shared"] / "config.json").is_file()
    assert [p.name for p in checkpoint_dirs(tmp_path / "run")] == ["step-000002", "step-000003"]
    eval_file = tmp_path / "run" / "eval" / "step-000000" / "single.jsonl"
    rows = [json.loads(x) for x in eval_file.read_text().splitlines()]
    assert rows and {"problem_id", "correct", "final_answer"} <= rows[0].keys()
    # Held-out: no evaluation question appears in the training set.
    assert set(result.eval_accuracy["single"]) == {0, 3}


def test_killed_run_resumes_and_reproduces_uninterrupted_metrics(tmp_path: Path) -> None:
    reference = tmp_path / "uninterrupted"
    train(_cfg(reference))
    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "parley.cli.app", "train"]
    for item in train_overrides(small_tiny_model(), killed):
        args += ["--set", item]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (killed / "checkpoints" / "step-000002").is_dir():
            assert proc.poll() is None, "training exited before its second checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = [r["step"] for r in read_metrics(killed)]
    assert done_before[-1] in (2, 3)
    with pytest.raises(TrainingError, match="--resume"):
        train(_cfg(killed))
    train(_cfg(killed), resume=True)
    got = {r["step"]: r for r in read_metrics(killed)}
    want = {r["step"]: r for r in read_metrics(reference)}
    assert sorted(got) == [0, 1, 2, 3]  # no duplicated or missing steps
    for key in COMPARED:
        assert got[3][key] == pytest.approx(want[3][key], rel=1e-5, abs=1e-6), key


def test_corrupted_checkpoint_is_named(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(_cfg(out, **{"train.steps": 1}))
    model = checkpoint_dirs(out)[-1] / "policies" / "shared" / "model.pt"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.pt"):
        train(_cfg(out, **{"train.steps": 1}), resume=True)


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"train.group_size": 1}, "train.group_size"),
        ({"train.kl_beta": 0.1, "train.reference": False}, "train.reference"),
        ({"train.policy.lora": {"r": 4}}, "full_finetune"),
        ({"train.policy.roles": {"solver": {"frozen": True}, "verifier": {"frozen": True},
                                 "judge": {"frozen": True}}}, "frozen"),
        ({"train.shaping": {"name": "shapley"}}, "identity"),
        ({"train.policy.roles": {"critic": {"frozen": True}}}, "critic"),
        ({"model.backend": "openai"}, "model.backend"),
        ({"train.shaping": {"name": "difference", "roles": ["critic"]}}, "train.shaping.roles"),
        ({"train.shaping": {"name": "potential", "target": "step"}}, "verifier turn reward 0"),
    ],
)
def test_invalid_combinations_fail_at_validation(tmp_path: Path, override: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        load_config(None, train_overrides(Path("unused"), tmp_path, **override), model=TrainRunConfig)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_frozen_heap_collects_set_up_garbage_then_freezes_and_unfreezes() -> None:
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a reference cycle: only the cyclic collector frees it
    gone = weakref.ref(a)
    del a, b
    before = gc.get_freeze_count()
    with frozen_heap():
        assert gone() is None  # collected before freezing, not frozen forever
        assert gc.get_freeze_count() > before
    assert gc.get_freeze_count() == 0
