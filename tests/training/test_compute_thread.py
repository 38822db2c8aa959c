"""The trainer's policies run every sampler's forwards and the optimisation on one compute thread."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch

from parley.training.config import TrainConfig
from parley.training.policies import PolicySet
from tests.tiny_model_support import tiny_model_dir


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def test_a_policy_set_routes_its_samplers_and_optimisation_through_one_compute_thread(tiny_dir: Path) -> None:
    cfg = TrainConfig.model_validate({"policy": {"mode": "per_role"}})
    policies = PolicySet.build(tiny_dir, ["solver", "verifier"], cfg, num_threads=2)
    try:
        assert policies.compute is not None and policies.compute.threads == 2
        assert all(p.sampler.compute is policies.compute for p in policies.policies.values())
        assert policies.run(torch.get_num_threads) == 2
        assert torch.get_num_threads() == 1  # the building thread stays out of OpenMP
    finally:
        asyncio.run(policies.aclose())
