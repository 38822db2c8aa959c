"""Offline RL from a trajectory store written by ``parley generate`` with the tiny hf model."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from parley.config.models import ParleyConfig
from parley.generation import run_generation
from parley.llm.tiny import build_tiny_model
from parley.store import TrajectoryStore
from parley.training.checkpoint import checkpoint_dirs, verify_checkpoint
from parley.training.config import TrainRunConfig
from parley.training.offline import OfflineModeError, OfflineStepStream
from parley.training.trainer import train
from tests.training.tiny_rl_support import TASK

N_PROBLEMS, SAMPLES = 10, 3


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """10 problems x 3 samples of svj (1 round) from a random-init tiny model, 12 new tokens per turn."""
    base = tmp_path_factory.mktemp("offline")
    model_dir = build_tiny_model(base / "model", hidden_size=32, num_layers=1, num_heads=2, vocab_size=320,
                                 intermediate_size=64)
    cfg = ParleyConfig.model_validate({
        "model": {"backend": "hf", "name": str(model_dir), "batch_size": 32},
        "protocol": {"name": "svj", "max_rounds": 1},
        "dataset": {"name": "arithmetic", "size": N_PROBLEMS, "seed": 4, "options": TASK},
        "generation": {"max_new_tokens": 12, "samples_per_problem": SAMPLES, "concurrency": 8, "flush_every": 7,
                       "temperature": 1.0},
        "output": {"dir": str(base / "store")},
    })
    run_generation(cfg)
    return model_dir, base / "store"


def _cfg(model_dir: Path, store_dir: Path, out: Path, **train: Any) -> TrainRunConfig:
    return TrainRunConfig.model_validate({
        "model": {"backend": "hf", "name": str(model_dir), "batch_size": 32},
        "protocol": {"name": "svj", "max_rounds": 1},
        "dataset": {"name": "arithmetic", "size": N_PROBLEMS, "seed": 4, "options": TASK},
        "train": {"steps": 2, "problems_per_step": 2, "group_size": SAMPLES, "lr": 1e-3, "checkpoint_every": 1,
                  "offline_store": str(store_dir), **train},
        "output": {"dir": str(out)},
    })


def test_offline_training_from_a_generated_store(store: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, store_dir = store
    result = train(_cfg(model_dir, store_dir, tmp_path / "run", shaping={"name": "mixing", "alpha": 0.5}))
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "step" in r and "samples" in r.get("metrics", r)]
    assert len(steps) == 2
    for row in steps:
        m = row.get("metrics", row)
        assert m["samples"] > 0 and m["offline/groups"] == 2
        assert m["trained_tokens/solver"] > 0
        assert all(math.isfinite(v) for k, v in m.items() if k.startswith(("policy_loss/", "grad_norm/")))
        assert m["offline/rescored"] == 0  # generate scored every transcript: the stored reward is G
    ckpts = checkpoint_dirs(tmp_path / "run")
    assert ckpts and ckpts[-1].name == "step-000002"
    verify_checkpoint(ckpts[-1])
    assert (result.final_models["shared"] / "config.json").is_file()


def test_offline_stream_is_lazy_and_groups_by_problem(store: tuple[Path, Path]) -> None:
    _, store_dir = store
    n_debates, _ = TrajectoryStore.read(store_dir).count()
    assert n_debates == N_PROBLEMS * SAMPLES
    stream = OfflineStepStream(store_dir, group_size=SAMPLES, problems_per_step=2, max_pending=SAMPLES,
                               read_batch_size=4)
    steps = stream.steps()
    first = next(steps)
    # Lazy: one step pulled only what it needed (plus what the buffer may hold), not the whole store.
    assert stream.transcripts_read <= 2 * SAMPLES + SAMPLES < n_debates
    assert stream.peak_pending <= SAMPLES
    for group in first:
        assert len({t.problem_id for t in group}) == 1 and 1 <= len(group) <= SAMPLES
    # Ten more steps cycle through the store again (a second pass) with the buffer still bounded.
    seen = [next(steps) for _ in range(10)]
    assert stream.passes >= 1 and stream.peak_pending <= SAMPLES
    assert all(len(step) == 2 for step in seen)


def test_offline_rejects_counterfactual_shaping(store: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, store_dir = store
    with pytest.raises(OfflineModeError, match=r"train.shaping.name='difference'.*counterfactual"):
        train(_cfg(model_dir, store_dir, tmp_path / "run", shaping={"name": "difference"}))


def test_offline_rejects_a_store_of_another_protocol(store: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, store_dir = store
    cfg = _cfg(model_dir, store_dir, tmp_path / "run")
    cfg = cfg.model_copy(update={"protocol": cfg.protocol.model_copy(update={"name": "single"})})
    with pytest.raises(OfflineModeError, match=r"protocol\.name"):
        train(cfg)


def test_offline_refuses_a_store_sampled_at_another_temperature(store: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, store_dir = store
    with pytest.raises(OfflineModeError, match=r"generation.temperature=1.0 but train.temperature=0.7"):
        train(_cfg(model_dir, store_dir, tmp_path / "run", temperature=0.7))


def test_offline_refuses_a_greedy_store(store: tuple[Path, Path], tmp_path: Path) -> None:
    model_dir, _ = store
    cfg = ParleyConfig.model_validate({
        "model": {"backend": "hf", "name": str(model_dir), "batch_size": 32},
        "protocol": {"name": "svj", "max_rounds": 1},
        "dataset": {"name": "arithmetic", "size": 2, "seed": 4, "options": TASK},
        "generation": {"max_new_tokens": 4, "samples_per_problem": 1, "temperature": 0.0},
        "output": {"dir": str(tmp_path / "greedy")},
    })
    run_generation(cfg)
    with pytest.raises(OfflineModeError, match="sampled greedily"):
        train(_cfg(model_dir, tmp_path / "greedy", tmp_path / "run"))
