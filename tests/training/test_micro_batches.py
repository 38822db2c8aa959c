"""Length-bucketed micro-batches: every sample once, one role each, sorted; the update does not change."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from parley.training.config import TrainConfig
from parley.training.optimise import optimise
from parley.training.policies import PolicySet
from parley.training.samples import micro_batches
from tests.tiny_model_support import tiny_model_dir
from tests.training.dp_worker import ROLES, global_batch


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def _width(s: object) -> int:
    return len(s.context_ids) + len(s.completion_ids)  # type: ignore[attr-defined]


def test_every_sample_once_one_role_per_batch_sorted_and_bounded() -> None:
    samples = global_batch(500, seed=4) * 3
    batches = micro_batches(samples, 4, max_tokens=40)
    flat = [s for b in batches for s in b]
    assert sorted(map(id, flat)) == sorted(map(id, samples))
    for b in batches:
        assert len({s.role for s in b}) == 1
        assert len(b) <= 4
        assert len(b) == 1 or len(b) * max(map(_width, b)) <= 40
    for role in ROLES:
        widths = [_width(s) for b in batches if b[0].role == role for s in b]
        assert widths == sorted(widths)
    with pytest.raises(ValueError, match="max_samples"):
        micro_batches(samples, 0)


@pytest.mark.parametrize("aggregation", ["token_mean", "seq_mean"])
def test_bucketing_gives_the_update_of_one_full_batch(tiny_dir: Path, aggregation: str) -> None:
    """optimise() with micro-batches of 2 (bucketed) and with one batch per role: the same gradient."""
    weights = []
    before: dict[str, torch.Tensor] = {}
    for size in (2, 64):
        torch.manual_seed(0)
        cfg = TrainConfig(micro_batch_size=size, max_grad_norm=1e9, lr=1e-3, aggregation=aggregation)
        policies = PolicySet.build(tiny_dir, ROLES, cfg, batch_size=4, num_threads=1)
        before = {n: p.detach().clone() for n, p in policies.policies["shared"].model.named_parameters()}
        optimise(policies, global_batch(int(policies.tokenizer.vocab_size)), cfg, pad_id=0)
        model = policies.policies["shared"].model
        assert all(p.grad is not None for p in model.parameters())
        weights.append({n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None})
        assert any(not torch.equal(before[n], p.detach()) for n, p in model.named_parameters())  # it stepped
    small, full = weights  # the accumulated gradients of the step (Adam would magnify rounding of ~0 grads)
    for name, value in full.items():
        assert torch.allclose(small[name], value, rtol=1e-4, atol=1e-7), name
