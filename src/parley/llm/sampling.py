"""Batched sampling with a KV cache for local causal LMs, returning exact ids and log-probs.

One call of :func:`generate` samples many sequences together: prompts are left-padded into one batch,
each distinct prompt is run once (prefill; the G rollouts of a problem share their first prompt, so it
is computed once and its KV cache fanned out to the G rows), then every step feeds one new token per
still-running row. Rows that finish (stop token, stop string, max tokens) are dropped from the batch
and from the cache, so they stop costing compute: once a quarter of the batch has finished (each drop
copies the KV cache, so dropping rows one by one cost more than running a few finished rows on; a
finished row's later tokens go to a scratch row and are never read). The forward passes come from
:mod:`parley.llm.decoders`: a lean Llama-family decoder where it applies, the model's own forward with a
``DynamicCache`` for any other Hugging Face causal LM (``lean=False`` forces it).

Reproducibility independent of batching: every row owns a ``torch.Generator`` seeded from its
``SamplingParams.seed`` and uses exactly one uniform number per generated token, the k-th draw of
its generator for its k-th token (drawn for the whole budget up front: ``torch.rand(n)`` of a CPU
generator equals n successive single draws, checked by the tests). A token is chosen by inverting a
CDF at that number, so a row's draws never depend on which other rows share its batch. (Results are
then identical across groupings up to float rounding of the forward pass, which in float32 changes a
sampled id only if the uniform lands within ~1e-7 of a CDF boundary.)

Which CDF: with ``top_p = 1`` the categorical distribution ``softmax(logits / T)`` is inverted in
vocabulary order (a cumulative sum and a binary search). With ``top_p < 1`` the distribution is sorted
by probability, truncated to the nucleus and inverted in that order. (Up to parley 0.1 the sorted order
was used for every row; a full sort of the vocabulary was the most expensive step of sampling on a
small model, so rows without a nucleus now skip it. Both sample from the same distribution; for a
given seed the sampled sequences of ``top_p = 1`` rows changed once with this.)

Log-prob definition: ``logprobs[i]`` is ``log_softmax(logits / temperature)[token_ids[i]]``, the
log-probability under the temperature-scaled distribution *before* top-p truncation. That is exactly
what a trainer recomputes from one forward pass with the same temperature (:func:`sequence_logprobs`),
so the PPO ratio is 1 at the sampling policy; the truncated distribution would need the top-p set,
which the trainer cannot recompute stably. With ``top_p = 1`` both definitions coincide. Greedy rows
(``temperature == 0``) report ``log_softmax(logits)`` (temperature 1).

Stops: a stop token (EOS, ``<|end|>``) is included in ``token_ids``/``logprobs`` (the policy must
learn to emit it) but not in the text. A stop string truncates the text just before the string; the
ids run up to and including the token that completed it.

Per token, the loop does one forward, one vectorised sampling call, one device-side stop check and a
single host transfer of the finished-row flags; ids and log-probs stay in preallocated tensors until the
end (no per-token Python objects). :mod:`parley.llm.sampling_reference` keeps the plain one-row-at-a-
time bookkeeping loop over the model's own forward, which the tests compare this path against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from parley.llm.decoders import cache_kwarg, left_pad, make_decoder
from parley.llm.timing import PhaseTimer, maybe
from parley.llm.types import SamplingParams

__all__ = ["SampleResult", "cache_kwarg", "generate", "left_pad", "sample_tokens", "sequence_logprobs"]

#: Finished rows are dropped from the batch (and its KV cache) once they are at least this fraction
#: (numerator, denominator) of its rows: each drop copies the cache, so one per finished row cost more
#: than computing a few finished rows for a few more tokens.
COMPACT_DEAD_FRACTION = (1, 4)

FinishReason = Literal["stop", "length"]


@dataclass
class SampleResult:
    """One sampled sequence: exact ids, their sampling log-probs, decoded text, why it stopped."""

    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: FinishReason


def _nucleus_sample(logp: torch.Tensor, top_ps: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse CDF over the probability-sorted nucleus (smallest prefix with mass >= top_p)."""
    sorted_p, sorted_idx = torch.sort(logp.exp(), dim=-1, descending=True)
    cum = sorted_p.cumsum(dim=-1)
    keep = ((cum - sorted_p) < top_ps[:, None]) | (top_ps[:, None] >= 1.0)
    keep[:, 0] = True
    kept_cum = (sorted_p * keep).cumsum(dim=-1)
    n_kept = keep.sum(dim=-1)
    target = uniforms * kept_cum.gather(1, (n_kept - 1)[:, None]).squeeze(1)
    pos = torch.searchsorted(kept_cum, target[:, None].contiguous(), right=True).squeeze(1)
    pos = torch.minimum(pos, n_kept - 1)
    return sorted_idx.gather(1, pos[:, None]).squeeze(1)


def sample_tokens(
    logits: torch.Tensor,
    temperatures: torch.Tensor,
    top_ps: torch.Tensor,
    uniforms: torch.Tensor,
    *,
    any_nucleus: bool | None = None,
    any_greedy: bool | None = None,
    unit_temperature: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose one token per row by inverse-CDF sampling; return ``(ids, logprobs)``.

    Args:
        logits: ``(B, V)`` float32 next-token logits.
        temperatures: ``(B,)``; 0 means greedy (argmax).
        top_ps: ``(B,)`` nucleus mass in ``(0, 1]``; ``1`` inverts the full distribution in vocabulary
            order, ``< 1`` keeps the smallest prefix of the probability-sorted distribution whose mass
            reaches ``top_p`` (always at least one token) and inverts it in that order.
        uniforms: ``(B,)`` numbers in ``[0, 1)``, one per row.
        any_nucleus: whether some sampled row has ``top_p < 1`` (``None``: look; passing it saves a
            device-to-host sync on accelerators).
        any_greedy: whether some row has ``temperature == 0`` (``None``: look).
        unit_temperature: every row's temperature is 1 (the division by it is then skipped: exact, since
            ``x / 1 == x`` in floating point). The caller knows its rows' parameters on the host, so passing
            these flags leaves out operators that change nothing (half the cost of a small batch's call).
    """
    if any_greedy is None:
        any_greedy = bool((temperatures <= 0).any())
    greedy = temperatures <= 0 if any_greedy else None
    if greedy is not None:
        scale = torch.where(greedy, torch.ones_like(temperatures), temperatures)
        logp = torch.log_softmax(logits / scale[:, None], dim=-1)
    elif unit_temperature:
        logp = torch.log_softmax(logits, dim=-1)
    else:
        logp = torch.log_softmax(logits / temperatures[:, None], dim=-1)
    cum = logp.exp().cumsum(dim=-1)
    total = cum[:, -1]
    # Strictly below the total, so the search lands on a token of non-zero probability.
    target = torch.minimum(uniforms * total, torch.nextafter(total, torch.zeros_like(total)))
    ids = torch.searchsorted(cum, target[:, None].contiguous(), right=True).squeeze(1)
    ids = ids.clamp(max=logits.shape[-1] - 1)
    if any_nucleus is None or any_nucleus:
        nucleus = (top_ps < 1.0) if greedy is None else (top_ps < 1.0) & ~greedy
        if any_nucleus is None:
            any_nucleus = bool(nucleus.any())
        if any_nucleus:
            rows = nucleus.nonzero().squeeze(1)
            ids[rows] = _nucleus_sample(logp[rows], top_ps[rows], uniforms[rows])
    if greedy is not None:
        ids = torch.where(greedy, logits.argmax(dim=-1), ids)
    return ids, logp.gather(1, ids[:, None]).squeeze(1)


def budgets_of(prompts: Sequence[Sequence[int]], params: Sequence[SamplingParams],
               max_positions: int | None) -> list[int]:
    """Tokens each row may generate: ``max_new_tokens`` clamped to the model's context.

    Raises:
        ValueError: a prompt is empty, does not fit in the context, or ``max_new_tokens < 1``.
    """
    budgets = []
    for i, (prompt, p) in enumerate(zip(prompts, params, strict=True)):
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
        budgets.append(budget)
    return budgets


def _uniforms(seeds: Sequence[int], budgets: Sequence[int]) -> torch.Tensor:
    """``(B, max budget)``: row i holds the first ``budgets[i]`` draws of its seeded CPU generator."""
    table = torch.zeros((len(seeds), max(budgets)), dtype=torch.float32)
    for i, (seed, budget) in enumerate(zip(seeds, budgets, strict=True)):
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
        table[i, :budget] = torch.rand(budget, generator=gen)
    return table


def finish(tokens: list[int], logprobs: list[float], params: SamplingParams, stop_ids: frozenset[int],
           budget: int, decode: Callable[[list[int]], str]) -> SampleResult | None:
    """The row's result if its last token ended it, else ``None`` (stop token, stop string, budget)."""
    if tokens[-1] in stop_ids:
        return SampleResult(tokens, logprobs, decode(tokens[:-1]), "stop")
    if params.stop:
        text = decode(tokens)
        hits = [c for c in (text.find(s) for s in params.stop if s) if c >= 0]
        if hits:
            return SampleResult(tokens, logprobs, text[: min(hits)], "stop")
        return SampleResult(tokens, logprobs, text, "length") if len(tokens) >= budget else None
    if len(tokens) >= budget:
        return SampleResult(tokens, logprobs, decode(tokens), "length")
    return None


def _stop_string_done(tokens: list[int], params: SamplingParams, decode: Callable[[list[int]], str]) -> bool:
    text = decode(tokens)
    return any(s and s in text for s in params.stop)


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
    lean: bool = True,
    timer: PhaseTimer | None = None,
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
        lean: use the lean Llama-family decoder where it applies (``False``: the model's own forward).
        timer: accumulates time per phase (``rng``, ``prefill``, ``decode_forward``, ``sampling``,
            ``bookkeeping``, ``stop_checks``, ``results``) when given.

    Raises:
        ValueError: a prompt is empty, does not fit in the context, or ``max_new_tokens < 1``.
    """
    if not (len(prompts) == len(params) == len(seeds)):
        raise ValueError("generate: prompts, params and seeds must have the same length")
    if not prompts:
        return []
    budgets = budgets_of(prompts, params, max_positions)
    device = next(model.parameters()).device
    n, horizon = len(prompts), max(budgets)
    with maybe(timer, "rng"):
        uniforms = _uniforms(seeds, budgets).to(device)
    with maybe(timer, "prefill"):
        distinct: dict[tuple[int, ...], int] = {}
        fan_out = [distinct.setdefault(tuple(p), len(distinct)) for p in prompts]
        unique = list(distinct)
        input_ids, mask, positions = left_pad(unique, pad_id, device)
        decoder = make_decoder(model, n, input_ids.shape[1] + horizon, lean=lean)
        logits = decoder.prefill(input_ids, mask, positions, horizon)
        next_pos = positions[:, -1] + 1
        if len(unique) < n:
            index = torch.tensor(fan_out, dtype=torch.long, device=device)
            decoder.select(index)
            logits, next_pos = logits[index], next_pos[index]
    temps = torch.tensor([p.temperature for p in params], dtype=torch.float32, device=device)
    top_ps = torch.tensor([p.top_p for p in params], dtype=torch.float32, device=device)
    nucleus_rows = {i for i, p in enumerate(params) if p.top_p < 1.0 and p.temperature > 0}
    greedy_rows = {i for i, p in enumerate(params) if p.temperature <= 0}
    unit = all(p.temperature == 1.0 for p in params)
    string_rows = {i for i, p in enumerate(params) if p.stop}
    stops = torch.tensor(sorted({int(t) for t in stop_token_ids}), dtype=torch.long, device=device)
    # Row n of the outputs (and of the uniforms) is scratch: finished rows still in the batch write there.
    out_ids = torch.zeros((n + 1, horizon), dtype=torch.long, device=device)
    out_lps = torch.zeros((n + 1, horizon), dtype=torch.float32, device=device)
    uniforms = torch.cat([uniforms, uniforms.new_zeros((1, horizon))])
    last = torch.tensor([b - 1 for b in budgets], dtype=torch.long, device=device)
    lengths = [0] * n
    # Batch slot j holds request active[j] (None once it finished; its slot is dropped at the next compaction).
    active: list[int | None] = list(range(n))
    live = torch.ones(n, dtype=torch.bool, device=device)
    rows = torch.arange(n, device=device)
    partial: dict[int, list[int]] = {i: [] for i in string_rows}  # host ids of rows with stop strings
    any_nucleus, any_greedy = bool(nucleus_rows), bool(greedy_rows)
    running, t = n, 0
    while True:
        with maybe(timer, "sampling"):
            ids, lps = sample_tokens(logits.float(), temps, top_ps, uniforms[rows, t], any_nucleus=any_nucleus,
                                     any_greedy=any_greedy, unit_temperature=unit)
        with maybe(timer, "bookkeeping"):
            out_ids[rows, t] = ids
            out_lps[rows, t] = lps
            done = (torch.isin(ids, stops) | (last <= t)) & live
            finished = done.nonzero().squeeze(1).tolist()  # the one host transfer per token
        with maybe(timer, "stop_checks"):
            if partial:
                host_ids = ids.tolist()
                ended = set(finished)
                for j, i in enumerate(active):
                    if i is not None and i in partial and j not in ended:
                        partial[i].append(host_ids[j])
                        if _stop_string_done(partial[i], params[i], decode):
                            finished.append(j)
        if finished:
            for j in finished:
                request = active[j]
                assert request is not None
                lengths[request] = t + 1
                active[j] = None
            running -= len(finished)
            if not running:
                break
            dead = len(active) - running
            if dead * COMPACT_DEAD_FRACTION[1] >= len(active) * COMPACT_DEAD_FRACTION[0]:
                keep = [j for j, i in enumerate(active) if i is not None]
                index = torch.tensor(keep, dtype=torch.long, device=device)
                decoder.select(index)
                ids, next_pos, rows, last = ids[index], next_pos[index], rows[index], last[index]
                temps, top_ps = temps[index], top_ps[index]
                active = [active[j] for j in keep]
                live = torch.ones(len(keep), dtype=torch.bool, device=device)
                # (rows that finished but stay in the batch keep their greedy handling: no division by 0)
                any_greedy = any(i in greedy_rows for i in active if i is not None)
            else:
                # Finished rows stay in the batch until enough have: they sample into the scratch row.
                gone = torch.tensor(finished, dtype=torch.long, device=device)
                live[gone] = False
                rows[gone] = n
                last[gone] = horizon
            any_nucleus = any(i in nucleus_rows for i in active if i is not None)
        with maybe(timer, "decode_forward"):
            logits = decoder.step(ids, next_pos)
        next_pos = next_pos + 1
        t += 1
    with maybe(timer, "results"):
        all_ids, all_lps = out_ids.tolist(), out_lps.tolist()
        stop_set = frozenset(int(s) for s in stop_token_ids)
        results = []
        for i in range(n):
            tokens, logprobs = all_ids[i][: lengths[i]], all_lps[i][: lengths[i]]
            result = finish(tokens, logprobs, params[i], stop_set, lengths[i], decode)
            assert result is not None
            results.append(result)
    return results


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
    input_ids, mask, positions = left_pad(full, pad_id, device)
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
