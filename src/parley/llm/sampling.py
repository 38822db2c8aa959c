"""Batched sampling with a KV cache for local causal LMs, returning exact ids and log-probs.

One call of :func:`generate` samples many sequences together: prompts are left-padded into one batch,
the prompt is run once (prefill) into a ``DynamicCache``, then every step feeds one new token per
still-running row. Rows that finish (stop token, stop string, max tokens) are dropped from the batch
and from the cache, so they stop costing compute.

Reproducibility independent of batching: every row owns a ``torch.Generator`` seeded from its
``SamplingParams.seed`` and draws exactly one uniform number per generated token. The token is chosen
by inverting the (top-p truncated) CDF at that number, so a row's draws never depend on which other
rows share its batch. (Results are then identical across groupings up to float rounding of the
forward pass, which in float32 changes a sampled id only if the uniform lands within ~1e-7 of a
CDF boundary.)

Log-prob definition: ``logprobs[i]`` is ``log_softmax(logits / temperature)[token_ids[i]]``, the
log-probability under the temperature-scaled distribution *before* top-p truncation. That is exactly
what a trainer recomputes from one forward pass with the same temperature (:func:`sequence_logprobs`),
so the PPO ratio is 1 at the sampling policy; the truncated distribution would need the top-p set,
which the trainer cannot recompute stably. With ``top_p = 1`` both definitions coincide. Greedy rows
(``temperature == 0``) report ``log_softmax(logits)`` (temperature 1).

Stops: a stop token (EOS, ``<|end|>``) is included in ``token_ids``/``logprobs`` (the policy must
learn to emit it) but not in the text. A stop string truncates the text just before the string; the
ids run up to and including the token that completed it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from parley.llm.types import SamplingParams

FinishReason = Literal["stop", "length"]


@dataclass
class SampleResult:
    """One sampled sequence: exact ids, their sampling log-probs, decoded text, why it stopped."""

    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: FinishReason


@dataclass
class _Row:
    prompt_len: int
    params: SamplingParams
    max_new: int
    generator: torch.Generator
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    result: SampleResult | None = None


def sample_tokens(
    logits: torch.Tensor, temperatures: torch.Tensor, top_ps: torch.Tensor, uniforms: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose one token per row by inverse-CDF sampling; return ``(ids, logprobs)``.

    Args:
        logits: ``(B, V)`` float32 next-token logits.
        temperatures: ``(B,)``; 0 means greedy (argmax).
        top_ps: ``(B,)`` nucleus mass in ``(0, 1]``; the smallest prefix of the sorted distribution
            whose mass reaches ``top_p`` is kept (always at least one token).
        uniforms: ``(B,)`` numbers in ``[0, 1)``, one per row.
    """
    greedy = temperatures <= 0
    scale = torch.where(greedy, torch.ones_like(temperatures), temperatures)
    logp = torch.log_softmax(logits / scale[:, None], dim=-1)
    sorted_p, sorted_idx = torch.sort(logp.exp(), dim=-1, descending=True)
    cum = sorted_p.cumsum(dim=-1)
    keep = ((cum - sorted_p) < top_ps[:, None]) | (top_ps[:, None] >= 1.0)
    keep[:, 0] = True
    kept_cum = (sorted_p * keep).cumsum(dim=-1)
    n_kept = keep.sum(dim=-1)
    target = uniforms * kept_cum.gather(1, (n_kept - 1)[:, None]).squeeze(1)
    pos = torch.searchsorted(kept_cum, target[:, None].contiguous(), right=True).squeeze(1)
    pos = torch.minimum(pos, n_kept - 1)
    ids = sorted_idx.gather(1, pos[:, None]).squeeze(1)
    ids = torch.where(greedy, logits.argmax(dim=-1), ids)
    return ids, logp.gather(1, ids[:, None]).squeeze(1)


def cache_kwarg(model: Any) -> str:
    """The forward() keyword for the KV cache: ``cache`` (transformers >= 5.2x) or ``past_key_values``."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _left_pad(
    prompts: Sequence[Sequence[int]], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ``(input_ids, attention_mask, position_ids)`` for ``prompts``."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, prompt in enumerate(prompts):
        if prompt:
            ids[i, width - len(prompt) :] = torch.tensor(list(prompt), dtype=torch.long)
            mask[i, width - len(prompt) :] = 1
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
    return ids.to(device), mask.to(device), positions.to(device)


def _finish_if_done(
    row: _Row, stop_ids: frozenset[int], decode: Callable[[list[int]], str]
) -> SampleResult | None:
    """The row's result if its last token ended it, else ``None``."""
    if row.tokens[-1] in stop_ids:
        return SampleResult(row.tokens, row.logprobs, decode(row.tokens[:-1]), "stop")
    if row.params.stop:
        text = decode(row.tokens)
        cuts = [text.find(s) for s in row.params.stop if s]
        hits = [c for c in cuts if c >= 0]
        if hits:
            return SampleResult(row.tokens, row.logprobs, text[: min(hits)], "stop")
        if len(row.tokens) >= row.max_new:
            return SampleResult(row.tokens, row.logprobs, text, "length")
        return None
    if len(row.tokens) >= row.max_new:
        return SampleResult(row.tokens, row.logprobs, decode(row.tokens), "length")
    return None


@torch.inference_mode()
def generate(
    model: Any,
    prompts: Sequence[Sequence[int]],
    params: Sequence[SamplingParams],
    seeds: Sequence[int],
    *,
    decode: Callable[[list[int]], str],
    pad_id: int,
    stop_token_ids: Sequence[int],
    max_positions: int | None = None,
) -> list[SampleResult]:
    """Sample one completion per prompt, all in one batch. See the module docstring for semantics.

    Args:
        model: a transformers causal LM (``model.device`` is where tensors go).
        prompts: prompt token ids per row (already chat-templated).
        params: sampling parameters per row (temperature, top_p, max_new_tokens, stop strings).
        seeds: per-row seeds for the row's own ``torch.Generator``.
        decode: ids -> text with special tokens removed.
        pad_id: id used for left padding (masked out, its value never matters).
        stop_token_ids: ids that end a row (empty to ignore EOS, e.g. for benchmarks).
        max_positions: the model's context length; a row's budget is clamped to fit in it.

    Raises:
        ValueError: a prompt is empty, does not fit in the context, or ``max_new_tokens < 1``.
    """
    if not (len(prompts) == len(params) == len(seeds)):
        raise ValueError("generate: prompts, params and seeds must have the same length")
    if not prompts:
        return []
    rows: list[_Row] = []
    for i, (prompt, p, seed) in enumerate(zip(prompts, params, seeds, strict=True)):
        if not prompt:
            raise ValueError(f"request {i}: empty prompt")
        if p.max_new_tokens < 1:
            raise ValueError(f"request {i}: max_new_tokens={p.max_new_tokens}; must be >= 1")
        budget = p.max_new_tokens
        if max_positions is not None:
            room = max_positions - len(prompt)
            if room < 1:
                raise ValueError(
                    f"request {i}: prompt has {len(prompt)} tokens but the model's context is "
                    f"{max_positions}; shorten the conversation"
                )
            budget = min(budget, room)
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
        rows.append(_Row(prompt_len=len(prompt), params=p, max_new=budget, generator=gen))

    device = next(model.parameters()).device
    stop_ids = frozenset(int(t) for t in stop_token_ids)
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    kw = cache_kwarg(model)
    input_ids, mask, positions = _left_pad(prompts, pad_id, device)
    out = model(
        input_ids=input_ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
        **{kw: cache},
    )
    next_pos = positions[:, -1] + 1
    active = list(range(len(rows)))
    temps = torch.tensor([rows[i].params.temperature for i in active], dtype=torch.float32, device=device)
    top_ps = torch.tensor([rows[i].params.top_p for i in active], dtype=torch.float32, device=device)
    while True:
        uniforms = torch.cat([torch.rand(1, generator=rows[i].generator) for i in active]).to(device)
        ids, lps = sample_tokens(out.logits[:, -1, :].float(), temps, top_ps, uniforms)
        ids_list, lps_list = ids.tolist(), lps.tolist()
        keep: list[int] = []
        for j, i in enumerate(active):
            row = rows[i]
            row.tokens.append(int(ids_list[j]))
            row.logprobs.append(float(lps_list[j]))
            row.result = _finish_if_done(row, stop_ids, decode)
            if row.result is None:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, dtype=torch.long, device=device)
            cache.batch_select_indices(index)
            mask, next_pos, ids = mask[index], next_pos[index], ids[index]
            temps, top_ps = temps[index], top_ps[index]
            active = [active[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
        out = model(
            input_ids=ids[:, None],
            attention_mask=mask,
            position_ids=next_pos[:, None],
            use_cache=True,
            **{kw: cache},
        )
        next_pos = next_pos + 1
    results = [row.result for row in rows]
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


@torch.inference_mode()
def sequence_logprobs(
    model: Any,
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
    temperature: float = 1.0,
    *,
    pad_id: int = 0,
) -> list[list[float]]:
    """Log-probs of given completion ids after given prompts, in one left-padded forward pass.

    Returns ``log_softmax(logits / temperature)`` at each completion id (temperature 0 is treated
    as 1), the same quantity :func:`generate` reports, so ``sequence_logprobs`` of a sampled
    completion reproduces its sampling log-probs.
    """
    if not pairs:
        return []
    scale = temperature if temperature > 0 else 1.0
    device = next(model.parameters()).device
    full = [list(p) + list(c) for p, c in pairs]
    input_ids, mask, positions = _left_pad(full, pad_id, device)
    logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions).logits.float()
    logp = torch.log_softmax(logits / scale, dim=-1)
    width = input_ids.shape[1]
    out: list[list[float]] = []
    for i, (prompt, completion) in enumerate(pairs):
        if not prompt:
            raise ValueError(f"pair {i}: empty prompt; the first completion token needs a context")
        if not completion:
            out.append([])
            continue
        start = width - len(completion) - 1  # logits at t predict token t + 1
        targets = torch.tensor(list(completion), dtype=torch.long, device=device)
        picked = logp[i, start : start + len(completion)].gather(1, targets[:, None]).squeeze(1)
        out.append([float(x) for x in picked.tolist()])
    return out
