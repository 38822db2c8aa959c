"""Real (small) run directories produced by the real code, built once per test session and shared.

- :func:`quick_experiment`: the demo's stage kinds (tiny_prepare -> baseline -> train x2 arms -> evaluate
  x2 -> demo_report) on tiny budgets, with ``tracking.backends: [local, wandb, mlflow]`` so the arms are
  grouped in W&B (offline) and MLflow (sqlite store in the experiment directory);
- :func:`generate_store`: ``parley generate``'s Python call on the random-init tiny model (mad);
- :func:`offline_training_run`: offline RL from that store (KL reference, majority-label selection);
- :func:`cooperbench_analysis`: ``parley cooperbench analyze`` on the shipped CooperBench records.

All of them live under one root (``view_root``) so the viewer tests can open it as one directory.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from parley.experiments.demo import demo_spec
from tests.tiny_model_support import tiny_model_dir
from tests.training.tiny_rl_support import DATASET, SMALL_RECIPE, TASK

_BUILT: dict[str, Any] = {}
ARMS = ("identity", "difference")
REPO = Path(__file__).resolve().parents[1]


def _root(factory: pytest.TempPathFactory) -> Path:
    if "root" not in _BUILT:
        _BUILT["root"] = factory.mktemp("view-root")
    return Path(_BUILT["root"])


def quick_spec() -> dict[str, Any]:
    """The demo's spec on tiny budgets (2-round svj, held-out eval while training), two arms, every tracker on."""
    spec = demo_spec(quick=True)
    recipe = {k: v for k, v in dataclasses.asdict(SMALL_RECIPE).items() if k != "role_weights"}
    spec["name"] = "viewer-quick"
    spec["max_parallel"] = 2
    cfg = spec["config"]
    cfg["dataset"]["options"] = dict(TASK)
    cfg["generation"]["max_new_tokens"] = 20
    cfg["train"].update({"steps": 2, "problems_per_step": 2, "group_size": 2, "checkpoint_every": 1,
                         "eval": {"dataset": {"name": DATASET, "size": 4, "seed": 99,
                                              "options": dict(TASK)}, "protocols": ["single"]}})
    cfg["tracking"] = {"backends": ["local", "wandb", "mlflow"], "table_rows": 4}
    spec["sweeps"] = {"train.shaping": [{"name": arm} for arm in ARMS]}
    for stage in spec["stages"]:
        if stage["id"] == "prepare":
            stage["params"] = {"recipe": recipe, "train_size": 16, "heldout_size": 6, "exclude_sft_questions": False}
    return spec


def quick_experiment(factory: pytest.TempPathFactory) -> Path:
    """``<root>/demo``: the experiments root (experiments.db, one experiment directory)."""
    if "experiment" not in _BUILT:
        from parley.experiments import ExperimentRunner, spec_from_mapping

        out = _root(factory) / "demo"
        runner = ExperimentRunner(out)
        try:
            record = runner.run(spec_from_mapping(quick_spec(), "viewer tests"), command=["pytest"])
            failed = [(s.stage_id, s.error) for s in runner.store.stages(record.id) if s.status != "succeeded"]
        finally:
            runner.close()
        assert record.status == "succeeded", failed
        _BUILT["experiment"] = out
    return Path(_BUILT["experiment"])


def experiment_dir(factory: pytest.TempPathFactory) -> Path:
    """The one experiment directory inside :func:`quick_experiment`."""
    root = quick_experiment(factory)
    (exp,) = [p for p in root.iterdir() if (p / "manifest.json").is_file()]
    return exp


def generate_store(factory: pytest.TempPathFactory) -> Path:
    """``<root>/generate/tiny``: a finished ``parley generate`` store (random tiny model, mad with 2 agents,
    4 problems x 2 samples)."""
    if "generate" not in _BUILT:
        from parley.config import ParleyConfig
        from parley.generation import run_generation

        out = _root(factory) / "generate" / "tiny"
        cfg = ParleyConfig.model_validate({
            "model": {"backend": "hf", "name": str(tiny_model_dir(factory))},
            "protocol": {"name": "mad", "num_agents": 2, "max_rounds": 1},
            "dataset": {"name": DATASET, "size": 4, "seed": 1, "options": TASK},
            "generation": {"max_new_tokens": 12, "samples_per_problem": 2},
            "output": {"dir": str(out)}})
        run_generation(cfg)
        _BUILT["generate"] = out
    return Path(_BUILT["generate"])


def cooperbench_analysis(factory: pytest.TempPathFactory) -> Path:
    """``<root>/cooperbench``: ``parley cooperbench analyze`` of the shipped records (figures included)."""
    if "cooperbench" not in _BUILT:
        out = _root(factory) / "cooperbench"
        result = subprocess.run([sys.executable, "-m", "parley.cli.app", "cooperbench", "analyze",
                                 str(REPO / "data" / "cooperbench" / "runs_command_a_lite.json"), "--out", str(out)],
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        _BUILT["cooperbench"] = out
    return Path(_BUILT["cooperbench"])


def view_root(factory: pytest.TempPathFactory) -> Path:
    """The root holding all of the above."""
    quick_experiment(factory)
    generate_store(factory)
    cooperbench_analysis(factory)
    return _root(factory)


def offline_training_run(factory: pytest.TempPathFactory) -> Path:
    """``<root>/offline``: offline RL from :func:`generate_store` with a KL reference and majority-label selection."""
    if "offline" not in _BUILT:
        from parley.training.config import TrainRunConfig
        from parley.training.trainer import train

        store = generate_store(factory)
        out = _root(factory) / "offline"
        cfg = TrainRunConfig.model_validate({
            "model": {"backend": "hf", "name": str(tiny_model_dir(factory))},
            "protocol": {"name": "mad", "num_agents": 2, "max_rounds": 1},
            "dataset": {"name": DATASET, "size": 4, "seed": 1, "options": TASK},
            "train": {"steps": 1, "problems_per_step": 2, "group_size": 2, "lr": 1e-3, "kl_beta": 0.05,
                      "temperature": 0.7,  # the store's sampling temperature (generation default)
                      "selection": "majority_label", "offline_store": str(store)},
            "output": {"dir": str(out)}})
        train(cfg)
        _BUILT["offline"] = out
    return Path(_BUILT["offline"])
