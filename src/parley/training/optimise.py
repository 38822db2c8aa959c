"""One optimisation phase: PPO-clip epochs over a step's samples, per policy, with accumulation.

Samples are grouped by policy and, inside a policy, by role, then cut into micro-batches of
``train.micro_batch_size``. Each micro-batch's loss is weighted by its share of the policy's tokens
(``token_mean``) or sequences (``seq_mean``), so accumulating gradients over micro-batches equals the
loss over the whole batch. One optimiser step per epoch per policy, after gradient clipping. A role's
loss covers only its own completion tokens (``completion_mask``): other roles' text is context only.
Samples with advantage exactly 0 are not forwarded when ``kl_beta = 0`` (``train.skip_zero_advantage``;
their gradient is exactly 0, see :func:`_with_signal`).

Data parallel (``group``, :mod:`parley.training.distributed`): each rank passes its shard of the step's
samples. The token / sequence totals behind the micro-batch weights are summed over ranks (so weights are
shares of the GLOBAL batch), every rank runs the same number of epochs, and the accumulated gradients
are all-reduced (summed) once per policy per optimiser step before clipping: every rank then holds the
single-process gradient of the global batch and takes the same step. Logged metrics are global too. A
single process passes :class:`~parley.training.distributed.SingleProcess`, whose collectives are the
identity, so there is one code path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from parley.training.config import TrainConfig
from parley.training.distributed import Group, SingleProcess
from parley.training.losses import ppo_clip_loss, token_logprobs
from parley.training.packing import pack_batch, packed_token_logprobs, packing_supported, position_cost
from parley.training.policies import PolicySet
from parley.training.samples import TrainingSample, micro_batches, pad_batch

_METRIC_KEYS = ("policy_loss", "kl", "entropy", "clip_fraction", "approx_kl", "ratio_mean")


def optimise(policies: PolicySet, samples: Sequence[TrainingSample], cfg: TrainConfig, pad_id: int, *,
             dp: Group | None = None) -> dict[str, float]:
    """Run ``cfg.epochs`` epochs of PPO-clip updates; returns per-role and per-policy metrics.

    ``samples`` is this rank's shard; every rank of a data-parallel group must call this together.
    """
    group: Group = dp if dp is not None else SingleProcess()
    metrics: dict[str, float] = {}
    by_policy: dict[str, list[TrainingSample]] = defaultdict(list)
    for s in samples:
        by_policy[s.policy_id].append(s)
    # Every rank must visit the same policies in the same order (collectives).
    pids = sorted({pid for pid in group.gather_objects(sorted(by_policy))})
    by_policy = {pid: by_policy.get(pid, []) for pid in pids}
    for pid, policy_samples in by_policy.items():
        policy = policies.policies[pid]
        if policy.optimizer is None or policy.scheduler is None:
            continue
        total_tokens, total_seqs = (int(v) for v in group.sum_floats(
            [sum(len(s.completion_ids) for s in policy_samples), len(policy_samples)]))
        trained, skipped = _with_signal(policy_samples, cfg)
        skipped_tokens = group.sum_floats([skipped.get(role, 0.0) for role in policy.roles])
        device = next(policy.model.parameters()).device
        policy.activate()  # LoRA per role: this policy's adapter (phases alternate: no rollout runs now)
        packed = cfg.packing == "prefix" and packing_supported(policy.model) and (
            policy.reference is None or packing_supported(policy.reference))
        # One role each; sorted by token sequence when packed (the G rollouts' shared prefixes side by side),
        # else by length (less padding).
        chunks = micro_batches(trained, cfg.micro_batch_size, order="tokens" if packed else "length")
        dtype = policy.model.get_input_embeddings().weight.dtype
        cost = position_cost(policy.model) if packed else None
        policy.model.train()
        for epoch in range(cfg.epochs):
            policy.optimizer.zero_grad(set_to_none=True)
            sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
            for chunk in chunks:
                role = chunk[0].role
                ref = None
                if packed:
                    pb = pack_batch(chunk, pad_id=pad_id, max_row_tokens=cfg.pack_row_tokens,
                                    position_cost=cost).to(device)
                    attention = pb.attention_mask(dtype)
                    logp, entropy = packed_token_logprobs(policy.model, pb, temperature=cfg.temperature,
                                                          attention_mask=attention)
                    if policy.reference is not None:
                        with torch.no_grad():
                            ref, _ = packed_token_logprobs(policy.reference, pb, temperature=cfg.temperature,
                                                           attention_mask=attention)
                    old, advantages, completion_mask = pb.old_logprobs, pb.advantages, pb.completion_mask
                else:
                    batch = pad_batch(chunk, pad_id=pad_id).to(device)
                    logp, entropy = token_logprobs(policy.model, batch.input_ids, batch.attention_mask,
                                                   batch.completion_mask, temperature=cfg.temperature)
                    if policy.reference is not None:
                        with torch.no_grad():
                            ref, _ = token_logprobs(policy.reference, batch.input_ids, batch.attention_mask,
                                                    batch.completion_mask, temperature=cfg.temperature)
                    old, advantages, completion_mask = batch.old_logprobs, batch.advantages, batch.completion_mask
                out = ppo_clip_loss(logp, old, advantages, completion_mask,
                                    eps_low=cfg.eps_low, eps_high=cfg.eps_high, aggregation=cfg.aggregation,
                                    ref_logprobs=ref, beta=cfg.kl_beta, entropy=entropy)
                tokens = float(completion_mask.sum())
                weight = (tokens / max(total_tokens, 1) if cfg.aggregation == "token_mean"
                          else len(chunk) / total_seqs)
                group.backward(out.loss * weight)
                acc = sums[role]
                acc["tokens"] += tokens
                for key in _METRIC_KEYS:
                    if key in out.metrics:
                        acc[key] += out.metrics[key] * tokens
            params = policy.parameters()
            group.sync_gradients(params)
            sums = _global_sums(group, sums, policy.roles)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm))
            policy.optimizer.step()
            policy.scheduler.step()
            if epoch == cfg.epochs - 1:
                metrics[f"grad_norm/{pid}"] = grad_norm
                metrics[f"lr/{pid}"] = float(policy.scheduler.get_last_lr()[0])
                left_out = {role: value for role, value in zip(policy.roles, skipped_tokens, strict=True) if value > 0}
                for role, acc in sums.items():
                    n = max(acc["tokens"], 1.0)
                    for key, value in acc.items():
                        if key != "tokens":
                            metrics[f"{key}/{role}"] = value / n
                    metrics[f"trained_tokens/{role}"] = acc["tokens"]
                for role, value in left_out.items():
                    # The left-out tokens' loss terms are exactly 0: the role's loss over all its tokens is
                    # what it would have been with them (other metrics cover the trained tokens only).
                    with_grad = sums.get(role, {}).get("tokens", 0.0)
                    loss = metrics.get(f"policy_loss/{role}", 0.0)
                    metrics[f"policy_loss/{role}"] = loss * with_grad / (with_grad + value)
                    metrics.setdefault(f"trained_tokens/{role}", 0.0)
                    metrics[f"skipped_tokens/{role}"] = value
        policy.model.eval()
    return metrics


def _with_signal(samples: Sequence[TrainingSample], cfg: TrainConfig
                 ) -> tuple[list[TrainingSample], dict[str, float]]:
    """The samples to forward, and the completion tokens left out per role.

    With ``kl_beta = 0`` a sample's loss term is ``-A * min(ratio, clip(ratio))`` per token, exactly 0 with
    its gradient when its advantage ``A`` is 0 (a GRPO group whose rewards are all equal), whatever the
    ratio; the micro-batch weights divide by every sample's tokens (computed before), so leaving such samples
    out changes the update only by float rounding. If every sample would be left out, the shortest is kept:
    the optimiser then still steps on exactly-zero gradients (AdamW's momentum and weight decay act as
    before), not on missing ones.
    """
    if not cfg.skip_zero_advantage or cfg.kl_beta > 0:
        return list(samples), {}
    trained = [s for s in samples if s.advantage != 0.0]
    if not trained and samples:
        trained = [min(samples, key=lambda s: len(s.context_ids) + len(s.completion_ids))]
    kept = {id(s) for s in trained}
    skipped: dict[str, float] = defaultdict(float)
    for s in samples:
        if id(s) not in kept:
            skipped[s.role] += len(s.completion_ids)
    return trained, dict(skipped)


def _global_sums(dp: Group, sums: dict[str, dict[str, float]], roles: Sequence[str]
                 ) -> dict[str, dict[str, float]]:
    """Per-role metric sums added over ranks (a fixed key order on every rank; empty roles dropped)."""
    keys = ("tokens", *_METRIC_KEYS)
    flat = [sums.get(role, {}).get(key, 0.0) for role in roles for key in keys]
    present = [float(key in sums.get(role, {})) for role in roles for key in keys]
    totals = dp.sum_floats(flat + present)
    n = len(flat)
    out: dict[str, dict[str, float]] = {}
    for i, role in enumerate(roles):
        base = i * len(keys)
        if totals[base] <= 0:
            continue
        out[role] = {key: totals[base + j] for j, key in enumerate(keys) if totals[n + base + j] > 0}
    return out
