"""Data-parallel training under Ray Train (TorchTrainer, 2 CPU workers, gloo) on a real local Ray
cluster: every worker's gradient and updated weights equal the single-process run's, for the cases of
tests/training/dp_worker.py (shared token_mean with 2 epochs, per-role seq_mean, LoRA with KL)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from parley.llm.tiny import build_tiny_model
from parley.training.optimise import optimise
from tests.executors.ray_train_worker import dp_rank
from tests.ray_cluster import RayCluster
from tests.training.dp_worker import CASES, build, case_samples, snapshot

REPO = Path(__file__).resolve().parents[2]


def test_ray_train_gradients_equal_single_process(ray_cluster: RayCluster, tmp_path: Path) -> None:
    pytest.importorskip("ray.train.torch", reason="Ray Train is not installed")
    from parley.training.ray_train import run_on_ray_train

    model_dir = build_tiny_model(tmp_path / "model", hidden_size=32, num_layers=1, num_heads=2, vocab_size=320,
                                 intermediate_size=64)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    run_on_ray_train(dp_rank, {"model_dir": str(model_dir), "out_dir": str(out_dir)}, num_workers=2,
                     address=ray_cluster.gcs_address, storage_path=tmp_path / "ray-train",
                     extra_modules=[str(REPO / "tests")])
    for case in sorted(CASES):
        ranks = [torch.load(out_dir / f"{case}-rank{r}.pt", weights_only=False) for r in (0, 1)]
        assert [r["n_local"] for r in ranks] == [4, 3]  # uneven shards of the 7-sample global batch
        policies = build(model_dir, case)
        optimise(policies, case_samples(case, int(policies.tokenizer.vocab_size)), CASES[case], pad_id=0)
        single = snapshot(policies)
        assert single["grad"]
        for rank in ranks:
            for name, grad in single["grad"].items():
                assert grad is not None, name
                torch.testing.assert_close(rank["snapshot"]["grad"][name], grad, atol=1e-6, rtol=1e-5, msg=name)
                torch.testing.assert_close(rank["snapshot"]["weight"][name], single["weight"][name], atol=1e-6,
                                           rtol=1e-5, msg=name)
