"""Samples with advantage exactly 0 are left out of the forward: the update is the same."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from parley.config.loading import config_hash
from parley.training.config import TrainConfig
from parley.training.optimise import optimise
from parley.training.policies import PolicySet
from parley.training.samples import TrainingSample
from tests.tiny_model_support import tiny_model_dir
from tests.training.dp_worker import ROLES
from tests.training.test_packing import _close, grouped_samples


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def _zeroed(samples: list[TrainingSample], every: int) -> list[TrainingSample]:
    """Every ``every``-th sample's advantage set to 0 (a group whose rewards were all equal)."""
    return [dataclasses.replace(s, advantage=0.0) if i % every == 0 else s for i, s in enumerate(samples)]


def _run(tiny_dir: Path, samples_of: Callable[[int], list[TrainingSample]], skip: bool, steps: int = 2,
         **train: Any
         ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[dict[str, float]]]:
    """Weights and last gradients after ``steps`` calls of optimise(), and each call's metrics."""
    torch.manual_seed(0)
    cfg = TrainConfig.model_validate({"micro_batch_size": 4, "lr": 1e-3, "weight_decay": 0.1,
                                      "skip_zero_advantage": skip, **train})
    policies = PolicySet.build(tiny_dir, ROLES, cfg, batch_size=4, num_threads=1)
    vocab = int(policies.tokenizer.vocab_size)
    metrics = [optimise(policies, samples_of(vocab), cfg, pad_id=0) for _ in range(steps)]
    model = policies.policies["shared"].model
    return ({n: p.detach().clone() for n, p in model.named_parameters()},
            {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}, metrics)


@pytest.mark.parametrize("aggregation", ["token_mean", "seq_mean"])
def test_leaving_zero_advantage_samples_out_gives_the_same_weights(tiny_dir: Path, aggregation: str) -> None:
    given: list[TrainingSample] = []

    def samples_of(vocab: int) -> list[TrainingSample]:
        given[:] = _zeroed(grouped_samples(vocab), every=2)
        return given

    skipped_w, skipped_g, skipped_m = _run(tiny_dir, samples_of, True, aggregation=aggregation, epochs=2)
    full_w, full_g, full_m = _run(tiny_dir, samples_of, False, aggregation=aggregation, epochs=2)
    assert skipped_g.keys() == full_g.keys() and full_g
    for name, value in full_g.items():
        assert _close(skipped_g[name], value), name
    # Weights after 4 AdamW updates at lr 1e-3: Adam divides each gradient entry by its own scale, so an
    # entry whose gradient is float noise moves by up to a fraction of lr either way.
    for name, value in full_w.items():
        assert float((skipped_w[name] - value).abs().max()) < 1e-4, name
    for role in ROLES:
        zero = sum(len(s.completion_ids) for s in given if s.role == role and s.advantage == 0.0)
        assert zero > 0
        assert skipped_m[-1][f"skipped_tokens/{role}"] == zero
        assert skipped_m[-1][f"trained_tokens/{role}"] == full_m[-1][f"trained_tokens/{role}"] - zero
        assert f"skipped_tokens/{role}" not in full_m[-1]
        assert skipped_m[-1]["grad_norm/shared"] == pytest.approx(full_m[-1]["grad_norm/shared"], rel=1e-4)
        if aggregation == "token_mean":  # the left-out tokens' loss terms are 0: the same loss over all tokens
            assert skipped_m[0][f"policy_loss/{role}"] == pytest.approx(full_m[0][f"policy_loss/{role}"], rel=1e-4)


def test_a_step_with_no_signal_still_steps_on_zero_gradients(tiny_dir: Path) -> None:
    """AdamW moves weights on momentum and weight decay even when the gradient is 0; skipping every sample
    must not turn that step into a no-op (it keeps one sample so gradients are zeros, not missing)."""
    steps: list[list[TrainingSample]] = []

    def samples_of(vocab: int) -> list[TrainingSample]:
        samples = grouped_samples(vocab)
        steps.append(samples)
        return samples if len(steps) % 2 == 1 else _zeroed(samples, every=1)

    skipped_w, skipped_g, skipped_m = _run(tiny_dir, samples_of, True)
    steps.clear()
    full_w, full_g, _ = _run(tiny_dir, samples_of, False)
    steps.clear()
    after_first, _, _ = _run(tiny_dir, samples_of, True, steps=1)
    assert skipped_m[-1]["grad_norm/shared"] == 0.0
    assert skipped_g.keys() == full_g.keys() and all(float(g.abs().max()) == 0.0 for g in skipped_g.values())
    for name, value in full_w.items():
        assert torch.equal(skipped_w[name], value), name
    assert any(not torch.equal(skipped_w[n], w) for n, w in after_first.items())  # the zero-gradient step moved


def test_a_kl_penalty_trains_every_sample(tiny_dir: Path) -> None:
    """With kl_beta > 0 a zero-advantage sample still has a gradient (the KL term): nothing is skipped."""
    def samples_of(vocab: int) -> list[TrainingSample]:
        return _zeroed(grouped_samples(vocab), every=2)

    _, _, metrics = _run(tiny_dir, samples_of, True, steps=1, kl_beta=0.1)
    assert not any(k.startswith("skipped_tokens/") for k in metrics[0])


def test_the_default_leaves_the_config_hash_alone() -> None:
    assert "skip_zero_advantage" not in TrainConfig().model_dump()
    assert config_hash(TrainConfig()) == config_hash(TrainConfig(skip_zero_advantage=True))
    assert TrainConfig(skip_zero_advantage=False).model_dump()["skip_zero_advantage"] is False
