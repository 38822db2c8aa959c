"""LoRA policies over one frozen base (peft multi-adapter): shared and per-role modes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from parley.llm.sampling import sequence_logprobs
from parley.llm.tiny import build_tiny_model
from parley.llm.types import Message, SamplingParams
from parley.training.checkpoint import load_checkpoint, save_checkpoint
from parley.training.config import LoRAConfig, PolicyConfig, TrainConfig
from parley.training.optimise import optimise
from parley.training.policies import PolicySet
from parley.training.samples import TrainingSample
from tests.training.dp_worker import global_batch

ROLES = ["solver", "verifier", "judge"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("lora") / "model", hidden_size=32, num_layers=1, num_heads=2,
                            vocab_size=320, intermediate_size=64)


def _cfg(mode: str, **kw: object) -> TrainConfig:
    return TrainConfig.model_validate({"lr": 5e-2, "max_grad_norm": 1e9, "micro_batch_size": 4, **kw, "policy": {
        "mode": mode, "full_finetune": False, "lora": {"r": 4, "alpha": 8}, **kw.pop("policy", {})}})  # type: ignore[dict-item]


def _build(model_dir: Path, cfg: TrainConfig) -> PolicySet:
    torch.manual_seed(0)
    return PolicySet.build(model_dir, ROLES, cfg, batch_size=8, num_threads=1)


def _named(policies: PolicySet) -> dict[str, torch.Tensor]:
    model = next(iter(policies.policies.values())).model
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _solver_samples(policies: PolicySet) -> list[TrainingSample]:
    samples = [s for s in global_batch(int(policies.tokenizer.vocab_size)) if s.role == "solver"]
    for s in samples:
        s.policy_id = policies.role_to_policy["solver"]
    return samples


def test_per_role_adapters_share_one_frozen_base_and_train_only_their_own_weights(model_dir: Path) -> None:
    policies = _build(model_dir, _cfg("per_role"))
    models = {id(p.model) for p in policies.policies.values()}
    assert len(models) == 1, "per_role LoRA must share one base model"
    model = policies.policies["solver"].model
    lora_names = {n for n, _ in model.named_parameters() if "lora_" in n}
    assert {n.split(".")[-2] for n in lora_names} == set(ROLES)  # one adapter per role
    for pid, policy in policies.policies.items():
        assert policy.optimizer is not None
        opt_ids = {id(p) for g in policy.optimizer.param_groups for p in g["params"]}
        own = {id(p) for n, p in model.named_parameters() if "lora_" in n and f".{pid}." in n}
        assert opt_ids == own, pid
    before = _named(policies)
    metrics = optimise(policies, _solver_samples(policies), _cfg("per_role"), pad_id=0)
    assert metrics["trained_tokens/solver"] > 0
    after = _named(policies)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all("lora_" in n and ".solver." in n for n in changed), sorted(changed)[:5]
    # Optimiser state exists only for the solver adapter; the other roles' optimisers never stepped.
    assert len(policies.policies["solver"].optimizer.state) > 0  # type: ignore[union-attr]
    assert len(policies.policies["verifier"].optimizer.state) == 0  # type: ignore[union-attr]
    for n, p in model.named_parameters():
        if "lora_" not in n:
            assert p.grad is None and not p.requires_grad, n


def test_concurrent_rollouts_of_two_roles_use_their_own_adapter(model_dir: Path) -> None:
    policies = _build(model_dir, _cfg("per_role"))
    optimise(policies, _solver_samples(policies), _cfg("per_role"), pad_id=0)  # solver adapter != verifier's now
    prompt: list[Message] = [{"role": "user", "content": "Calculate 3 + 4."}]

    async def sample() -> list[tuple[str, list[int], list[int], list[float]]]:
        async def one(role: str, seed: int) -> tuple[str, list[int], list[int], list[float]]:
            sampler = policies.policies[role].sampler
            c = await sampler.complete(prompt, SamplingParams(temperature=1.0, max_new_tokens=8, seed=seed))
            assert c.token_ids is not None and c.logprobs is not None and c.prompt_token_ids is not None
            return role, c.prompt_token_ids, c.token_ids, c.logprobs
        try:
            return list(await asyncio.gather(*[one(r, s) for s in range(6) for r in ("solver", "verifier")]))
        finally:
            await policies.aclose()

    results = asyncio.run(sample())
    model = policies.policies["solver"].model
    diffs = []
    for role, prompt_ids, ids, logprobs in results:
        policies.policies[role].activate()
        with torch.no_grad():
            expected = sequence_logprobs(model, [(prompt_ids, ids)], 1.0, pad_id=0)[0]
        assert expected == pytest.approx(logprobs, abs=1e-4), role
        other = "verifier" if role == "solver" else "solver"
        policies.policies[other].activate()
        with torch.no_grad():
            diffs.append(max(abs(a - b) for a, b in zip(
                sequence_logprobs(model, [(prompt_ids, ids)], 1.0, pad_id=0)[0], logprobs, strict=True)))
    assert max(diffs) > 1e-3  # the adapters really differ, so a wrong adapter would have been caught


def test_lora_checkpoint_holds_only_adapters_and_restores_them(model_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg("per_role")
    policies = _build(model_dir, cfg)
    optimise(policies, _solver_samples(policies), cfg, pad_id=0)
    probe = torch.tensor([[1, 5, 9, 12]])
    path = save_checkpoint(tmp_path, policies, step=1, data_state={}, meta={}, probe=probe, keep=1)
    state = torch.load(path / "policies" / "solver" / "model.pt", weights_only=True)
    assert state and all("lora_" in k for k in state)
    trained = _named(policies)
    fresh = _build(model_dir, cfg)
    assert not all(torch.equal(trained[n], p) for n, p in fresh.policies["solver"].model.named_parameters())
    load_checkpoint(path, fresh)
    for n, p in fresh.policies["solver"].model.named_parameters():
        assert torch.equal(trained[n], p), n
    assert len(fresh.policies["solver"].optimizer.state) > 0  # type: ignore[union-attr]


def test_shared_lora_trains_one_adapter_over_the_frozen_base(model_dir: Path, tmp_path: Path) -> None:
    cfg = _cfg("shared")
    policies = _build(model_dir, cfg)
    assert list(policies.policies) == ["shared"]
    before = _named(policies)
    samples = global_batch(int(policies.tokenizer.vocab_size))
    optimise(policies, samples, cfg, pad_id=0)
    after = _named(policies)
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    assert changed and all("lora_" in n for n in changed)
    final = policies.save_pretrained(tmp_path / "final")
    assert (final["shared"] / "config.json").is_file()


def test_lora_with_full_finetune_fails_validation_naming_the_fields() -> None:
    with pytest.raises(ValidationError, match=r"train\.policy\.lora and train\.policy\.full_finetune"):
        TrainConfig(policy=PolicyConfig(lora=LoRAConfig(), full_finetune=True))
    with pytest.raises(ValidationError, match=r"full_finetune=false needs train\.policy\.lora"):
        TrainConfig(policy=PolicyConfig(full_finetune=False))
