"""One optimisation phase: PPO-clip epochs over a step's samples, per policy, with accumulation.

Samples are grouped by policy and, inside a policy, by role, then cut into micro-batches of
``train.micro_batch_size``. Each micro-batch's loss is weighted by its share of the policy's tokens
(``token_mean``) or sequences (``seq_mean``), so accumulating gradients over micro-batches equals the
loss over the whole batch. One optimiser step per epoch per policy, after gradient clipping. A role's
loss covers only its own completion tokens (``completion_mask``): other roles' text is context only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from parley.training.config import TrainConfig
from parley.training.losses import ppo_clip_loss, token_logprobs
from parley.training.policies import PolicySet
from parley.training.samples import TrainingSample, pad_batch


def optimise(policies: PolicySet, samples: Sequence[TrainingSample], cfg: TrainConfig, pad_id: int
             ) -> dict[str, float]:
    """Run ``cfg.epochs`` epochs of PPO-clip updates; returns per-role and per-policy metrics."""
    metrics: dict[str, float] = {}
    by_policy: dict[str, list[TrainingSample]] = defaultdict(list)
    for s in samples:
        by_policy[s.policy_id].append(s)
    for pid, policy_samples in by_policy.items():
        policy = policies.policies[pid]
        if policy.optimizer is None or policy.scheduler is None:
            continue
        total_tokens = sum(len(s.completion_ids) for s in policy_samples)
        total_seqs = len(policy_samples)
        by_role: dict[str, list[TrainingSample]] = defaultdict(list)
        for s in policy_samples:
            by_role[s.role].append(s)
        policy.model.train()
        for epoch in range(cfg.epochs):
            policy.optimizer.zero_grad(set_to_none=True)
            sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
            for role, role_samples in by_role.items():
                for start in range(0, len(role_samples), cfg.micro_batch_size):
                    chunk = role_samples[start:start + cfg.micro_batch_size]
                    batch = pad_batch(chunk, pad_id=pad_id)
                    logp, entropy = token_logprobs(policy.model, batch.input_ids, batch.attention_mask,
                                                   batch.completion_mask, temperature=cfg.temperature)
                    ref = None
                    if policy.reference is not None:
                        with torch.no_grad():
                            ref, _ = token_logprobs(policy.reference, batch.input_ids, batch.attention_mask,
                                                    batch.completion_mask, temperature=cfg.temperature)
                    out = ppo_clip_loss(logp, batch.old_logprobs, batch.advantages, batch.completion_mask,
                                        eps_low=cfg.eps_low, eps_high=cfg.eps_high, aggregation=cfg.aggregation,
                                        ref_logprobs=ref, beta=cfg.kl_beta, entropy=entropy)
                    tokens = float(batch.completion_mask.sum())
                    weight = (tokens / max(total_tokens, 1) if cfg.aggregation == "token_mean"
                              else len(chunk) / total_seqs)
                    (out.loss * weight).backward()
                    acc = sums[role]
                    acc["tokens"] += tokens
                    for key in ("policy_loss", "kl", "entropy", "clip_fraction", "approx_kl", "ratio_mean"):
                        if key in out.metrics:
                            acc[key] += out.metrics[key] * tokens
            params = policy.parameters()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
            policy.optimizer.step()
            policy.scheduler.step()
            if epoch == cfg.epochs - 1:
                metrics[f"grad_norm/{pid}"] = grad_norm
                metrics[f"lr/{pid}"] = float(policy.scheduler.get_last_lr()[0])
                for role, acc in sums.items():
                    n = max(acc["tokens"], 1.0)
                    for key, value in acc.items():
                        if key != "tokens":
                            metrics[f"{key}/{role}"] = value / n
                    metrics[f"trained_tokens/{role}"] = acc["tokens"]
        policy.model.eval()
    return metrics
