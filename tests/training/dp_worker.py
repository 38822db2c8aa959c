"""One rank of the 2-process data-parallel gradient check (launched by ``torch.distributed.run``).

``python -m torch.distributed.run --nproc_per_node 2 tests/training/dp_worker.py MODEL_DIR OUT_DIR``:
each rank builds the same policies from ``MODEL_DIR``, takes its shard of :func:`global_batch`, runs
:func:`parley.training.optimise.optimise` with a :class:`~parley.training.distributed.DataParallel`,
and saves its gradients and updated weights to ``OUT_DIR/<case>-rank<r>.pt``.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import torch

from parley.training.config import LoRAConfig, PolicyConfig, TrainConfig
from parley.training.policies import PolicySet
from parley.training.samples import TrainingSample

ROLES = ["solver", "verifier"]
CASES: dict[str, TrainConfig] = {
    "shared-token_mean": TrainConfig(epochs=2, micro_batch_size=2, max_grad_norm=1e9, lr=1e-3),
    "per_role-seq_mean": TrainConfig(epochs=1, micro_batch_size=3, max_grad_norm=1e9, lr=1e-3, aggregation="seq_mean",
                                     policy=PolicyConfig(mode="per_role")),
    "lora-kl": TrainConfig(epochs=1, micro_batch_size=2, max_grad_norm=1e9, lr=1e-3, kl_beta=0.1,
                           policy=PolicyConfig(mode="shared", full_finetune=False, lora=LoRAConfig(r=4))),
}


def global_batch(vocab: int, seed: int = 3) -> list[TrainingSample]:
    """Seven samples of two roles with different context/completion lengths and non-zero advantages."""
    rng = random.Random(seed)
    out = []
    for i in range(7):
        role = ROLES[0] if i % 3 else ROLES[1]
        ctx = [rng.randrange(4, vocab) for _ in range(rng.randint(3, 9))]
        comp = [rng.randrange(4, vocab) for _ in range(rng.randint(1, 6))]
        pid = "shared"
        out.append(TrainingSample(
            context_ids=ctx, completion_ids=comp, old_logprobs=[rng.uniform(-7.0, -4.0) for _ in comp], role=role,
            policy_id=pid, round=0, turn_index=i, problem_id=f"p{i % 2}", debate_id=f"d{i}",
            group_id=(f"p{i % 2}", role, 0), raw_reward=float(i % 2), shaped_reward=float(i % 2),
            advantage=rng.choice([-1.0, -0.5, 0.5, 1.0])))
    return out


def case_samples(case: str, vocab: int) -> list[TrainingSample]:
    samples = global_batch(vocab)
    if CASES[case].policy.mode == "per_role":
        for s in samples:
            s.policy_id = s.role
    return samples


def build(model_dir: Path, case: str) -> PolicySet:
    torch.manual_seed(0)
    return PolicySet.build(model_dir, ROLES, CASES[case], batch_size=4, num_threads=1)


def snapshot(policies: PolicySet) -> dict[str, dict[str, torch.Tensor | None]]:
    """Gradients and weights of every trainable parameter, by policy and parameter name."""
    out: dict[str, dict[str, torch.Tensor | None]] = {}
    for pid, policy in policies.policies.items():
        for name, p in policy.model.named_parameters():
            if p.requires_grad:
                out.setdefault("grad", {})[f"{pid}/{name}"] = p.grad.detach().clone() if p.grad is not None else None
                out.setdefault("weight", {})[f"{pid}/{name}"] = p.detach().clone()
    return out


def main(model_dir: Path, out_dir: Path) -> None:
    from parley.training.distributed import data_parallel_from_env
    from parley.training.optimise import optimise

    dp = data_parallel_from_env()
    assert dp is not None and dp.world_size == 2, "launch with 2 processes"
    for case, cfg in CASES.items():
        policies = build(model_dir, case)
        vocab = int(policies.tokenizer.vocab_size)
        local = dp.shard(case_samples(case, vocab))
        metrics = optimise(policies, local, cfg, pad_id=0, dp=dp)
        torch.save({"snapshot": snapshot(policies), "metrics": metrics, "n_local": len(local)},
                   out_dir / f"{case}-rank{dp.rank}.pt")
    dp.barrier()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
