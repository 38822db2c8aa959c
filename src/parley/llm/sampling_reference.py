"""The reference sampling loop: one row at a time bookkeeping over the model's own forward.

:func:`reference_generate` is the straightforward implementation of :func:`parley.llm.sampling.generate`'s
semantics: the model's own ``forward`` with a ``DynamicCache`` for every prompt (no prompt sharing),
one ``torch.rand(1)`` per row per token from the row's own generator, ``.tolist()`` and Python
bookkeeping per token, the stop checks of :func:`parley.llm.sampling.finish` after every token. It is
slow and kept on purpose: the tests check that the fast path gives the same ids and log-probs for the
same seeds, and the benchmarks time both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from parley.llm.decoders import HFDecoder
from parley.llm.sampling import SampleResult, budgets_of, finish, left_pad, sample_tokens
from parley.llm.types import SamplingParams


@torch.inference_mode()
def reference_generate(
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
    """Same contract and results as :func:`parley.llm.sampling.generate` (up to float rounding)."""
    if not (len(prompts) == len(params) == len(seeds)):
        raise ValueError("generate: prompts, params and seeds must have the same length")
    if not prompts:
        return []
    budgets = budgets_of(prompts, params, max_positions)
    gens = []
    for seed in seeds:
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
        gens.append(gen)
    device = next(model.parameters()).device
    stop_ids = frozenset(int(t) for t in stop_token_ids)
    decoder = HFDecoder(model)
    input_ids, mask, positions = left_pad(prompts, pad_id, device)
    logits = decoder.prefill(input_ids, mask, positions, max(budgets))
    next_pos = positions[:, -1] + 1
    tokens: list[list[int]] = [[] for _ in prompts]
    logprobs: list[list[float]] = [[] for _ in prompts]
    results: list[SampleResult | None] = [None] * len(prompts)
    active = list(range(len(prompts)))
    temps = torch.tensor([p.temperature for p in params], dtype=torch.float32, device=device)
    top_ps = torch.tensor([p.top_p for p in params], dtype=torch.float32, device=device)
    while True:
        uniforms = torch.cat([torch.rand(1, generator=gens[i]) for i in active]).to(device)
        ids, lps = sample_tokens(logits.float(), temps, top_ps, uniforms)
        ids_list, lps_list = ids.tolist(), lps.tolist()
        keep: list[int] = []
        for j, i in enumerate(active):
            tokens[i].append(int(ids_list[j]))
            logprobs[i].append(float(lps_list[j]))
            results[i] = finish(tokens[i], logprobs[i], params[i], stop_ids, budgets[i], decode)
            if results[i] is None:
                keep.append(j)
        if not keep:
            break
        if len(keep) < len(active):
            index = torch.tensor(keep, dtype=torch.long, device=device)
            decoder.select(index)
            next_pos, ids, temps, top_ps = next_pos[index], ids[index], temps[index], top_ps[index]
            active = [active[j] for j in keep]
        logits = decoder.step(ids, next_pos)
        next_pos = next_pos + 1
    return [r for r in results if r is not None]
