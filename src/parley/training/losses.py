"""Token-level PPO-clip policy loss, k3 KL penalty and per-token log-probs (docs/algorithms.md section 5).

PPO-clip (Schulman et al. 2017) with DAPO-style decoupled clip ranges (Yu et al. 2025, eps_low /
eps_high): ratio_t = exp(logp_t - old_logp_t),
L_t = -min(ratio_t * A, clip(ratio_t, 1 - eps_low, 1 + eps_high) * A).
Aggregation: ``token_mean`` (sum over every completion token of the batch / their count, DAPO's
token-level mean, the default) or ``seq_mean`` (mean per sequence, then over sequences, as in GRPO).
KL to a frozen reference with Schulman's k3 estimator, k3_t = exp(ref_t - logp_t) - (ref_t - logp_t) - 1,
added as beta * mean(k3) with the same aggregation; beta = 0 skips it. With one optimisation step per
batch of fresh rollouts ratio = 1 and the loss is the on-policy policy gradient -A * mean(logp) in value
and gradient; the general form supports several epochs per batch.

Tensors are ``(batch, length)`` aligned with ``input_ids``: position j holds the log-prob of
``input_ids[:, j]`` given the tokens before it (see :func:`token_logprobs`); ``completion_mask`` is 1
exactly at a sample's own sampled tokens, so other roles' tokens (context) are never targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from parley.config.models import Aggregation

__all__ = ["Aggregation", "LossOutput", "k3_kl", "ppo_clip_loss", "token_logprobs"]


@dataclass
class LossOutput:
    """The loss to backpropagate and float metrics (``policy_loss``, ``kl``, ``approx_kl``,
    ``clip_fraction``, ``ratio_mean``, ``entropy`` when given, ``tokens``)."""

    loss: torch.Tensor
    policy_loss: torch.Tensor
    metrics: dict[str, float]


def _aggregate(values: torch.Tensor, mask: torch.Tensor, aggregation: Aggregation) -> torch.Tensor:
    if aggregation == "token_mean":
        return (values * mask).sum() / mask.sum().clamp(min=1.0)
    if aggregation == "seq_mean":
        per_seq_tokens = mask.sum(dim=1)
        has_tokens = per_seq_tokens > 0
        per_seq = (values * mask).sum(dim=1) / per_seq_tokens.clamp(min=1.0)
        return per_seq[has_tokens].sum() / has_tokens.sum().clamp(min=1)
    raise ValueError(f"aggregation={aggregation!r}: use 'token_mean' or 'seq_mean'")


def k3_kl(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref): exp(ref - logp) - (ref - logp) - 1 (>= 0)."""
    delta = ref_logprobs - logprobs
    return torch.exp(delta) - delta - 1.0


def ppo_clip_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.2,
    aggregation: Aggregation = "token_mean",
    ref_logprobs: torch.Tensor | None = None,
    beta: float = 0.0,
    entropy: torch.Tensor | None = None,
) -> LossOutput:
    """PPO-clip loss over completion tokens.

    Args:
        logprobs: ``(B, L)`` current-policy log-probs (with grad).
        old_logprobs: ``(B, L)`` sampling log-probs.
        advantages: ``(B,)`` per sequence or ``(B, L)`` per token.
        completion_mask: ``(B, L)`` 1 at the tokens that are trained on.
        eps_low, eps_high: clip range ``[1 - eps_low, 1 + eps_high]``.
        aggregation: ``token_mean`` or ``seq_mean``.
        ref_logprobs: ``(B, L)`` frozen reference log-probs; needed when ``beta > 0``.
        beta: weight of the k3 KL penalty (0 skips it; the KL is still reported when refs are given).
        entropy: ``(B, L)`` per-token entropy to report (not part of the loss).
    """
    if eps_low < 0 or eps_high < 0:
        raise ValueError(f"eps_low={eps_low}, eps_high={eps_high}: clip ranges must be >= 0")
    if beta < 0:
        raise ValueError(f"beta={beta}: must be >= 0")
    if beta > 0 and ref_logprobs is None:
        raise ValueError(f"beta={beta} > 0 needs ref_logprobs (the frozen reference policy's log-probs)")
    if logprobs.shape != old_logprobs.shape or logprobs.shape != completion_mask.shape:
        raise ValueError(f"shape mismatch: logprobs {tuple(logprobs.shape)}, old_logprobs "
                         f"{tuple(old_logprobs.shape)}, completion_mask {tuple(completion_mask.shape)}")
    mask = completion_mask.to(logprobs.dtype)
    adv = advantages.to(logprobs.dtype)
    if adv.dim() == 1:
        adv = adv[:, None].expand_as(logprobs)
    log_ratio = (logprobs - old_logprobs) * mask
    ratio = torch.exp(log_ratio)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high) * adv
    per_token = -torch.minimum(unclipped, clipped)
    policy_loss = _aggregate(per_token, mask, aggregation)
    loss = policy_loss
    metrics: dict[str, float] = {}
    with torch.no_grad():
        is_clipped = ((ratio < 1.0 - eps_low) & (adv < 0)) | ((ratio > 1.0 + eps_high) & (adv > 0))
        tokens = mask.sum().clamp(min=1.0)
        metrics["clip_fraction"] = float((is_clipped.to(mask.dtype) * mask).sum() / tokens)
        metrics["ratio_mean"] = float((ratio * mask).sum() / tokens)
        # KL(old || new) with k3 on samples from the old policy: (ratio - 1) - log ratio.
        metrics["approx_kl"] = float((((ratio - 1.0) - log_ratio) * mask).sum() / tokens)
        metrics["tokens"] = float(mask.sum())
        if entropy is not None:
            metrics["entropy"] = float((entropy.to(mask.dtype) * mask).sum() / tokens)
    if ref_logprobs is not None:
        kl = _aggregate(k3_kl(logprobs, ref_logprobs) * mask, mask, aggregation)
        metrics["kl"] = float(kl.detach())
        if beta > 0:
            loss = loss + beta * kl
    metrics["policy_loss"] = float(policy_loss.detach())
    metrics["loss"] = float(loss.detach())
    return LossOutput(loss=loss, policy_loss=policy_loss, metrics=metrics)


def token_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_mask: torch.Tensor,
    temperature: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs and entropies of ``input_ids`` under ``model``, in one forward pass.

    Returns ``(logprobs, entropy)``, both ``(B, L)``: position j holds log_softmax(logits_{j-1} /
    temperature)[input_ids_j] (the quantity the sampler records; temperature 0 is treated as 1) and the
    entropy of that distribution; positions outside ``completion_mask`` (and position 0) are 0.
    Position ids come from the attention mask, so left and right padding give the same values.
    """
    scale = temperature if temperature > 0 else 1.0
    positions = (attention_mask.long().cumsum(dim=-1) - 1).clamp(min=0)
    length = input_ids.shape[1]
    # Logits only from the first completion column on (HF ``logits_to_keep``): contexts are long and
    # completions short, so the LM head, log-softmax and entropy skip most context positions.
    has = completion_mask.bool().any(dim=0)
    first = int(has.nonzero()[0]) if bool(has.any()) else length - 1
    start = max(first - 1, 0)  # logits at column j predict token j + 1
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                   logits_to_keep=length - start).logits
    logp_all = torch.log_softmax(logits[:, :-1].float() / scale, dim=-1)
    picked = logp_all.gather(2, input_ids[:, start + 1:, None]).squeeze(2)
    with torch.no_grad():  # reported only, never part of the loss
        entropy = -(logp_all.exp() * logp_all).sum(dim=-1)
    mask = completion_mask[:, start + 1:].to(picked.dtype)
    zero = torch.zeros_like(picked[:, :1]).expand(-1, start + 1)
    return torch.cat([zero, picked * mask], dim=1), torch.cat([zero, entropy * mask], dim=1)
