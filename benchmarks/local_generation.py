"""Generated tokens/s on the tiny model: HFChatModel at batch 32 vs one sequence at a time.

The batched side goes through the real async path (32 concurrent ``complete()`` calls meet in the
micro-batcher and are sampled in one KV-cached batch). The baseline is plain ``model.generate`` on
one prompt at a time. Both sample at temperature 1 with the same number of new tokens and ignore
EOS so lengths match; both use the same torch thread count. Target: batched >= 5x the baseline.

    .venv/bin/python benchmarks/local_generation.py [--batch 32] [--new-tokens 64] [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import torch

from parley.llm.hf import HFChatModel
from parley.llm.tiny import build_tiny_model
from parley.llm.types import Completion, Message, SamplingParams

TARGET_RATIO = 5.0


def _prompts(n: int) -> list[list[Message]]:
    return [[{"role": "user", "content": f"Question: Calculate {i} - 3 * {i % 7}."}] for i in range(n)]


async def _batched(model: HFChatModel, prompts: list[list[Message]], new_tokens: int) -> list[Completion]:
    params = [SamplingParams(temperature=1.0, max_new_tokens=new_tokens, seed=i) for i in range(len(prompts))]
    return await model.complete_many(list(zip(prompts, params, strict=True)))


def _one_at_a_time(model: HFChatModel, prompts: list[list[Message]], new_tokens: int) -> int:
    tokens = 0
    for messages in prompts:
        ids = torch.tensor([model.encode_prompt(messages)])
        out = model.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            do_sample=True,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            pad_token_id=model.pad_id,
        )
        tokens += out.shape[1] - ids.shape[1]
    return tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the hf default)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_model(Path(tmp) / "tiny", seed=0)
        model = HFChatModel.from_pretrained(
            model_dir, batch_size=args.batch, batch_wait_ms=50, ignore_eos=True, num_threads=args.threads
        )
    prompts = _prompts(args.batch)

    async def batched_runs() -> tuple[float, int]:
        await _batched(model, prompts[:4], 4)  # warm-up
        start = time.perf_counter()
        done = await _batched(model, prompts, args.new_tokens)
        elapsed = time.perf_counter() - start
        await model.aclose()
        return elapsed, sum(c.usage.completion_tokens for c in done)

    batched_s, batched_tokens = asyncio.run(batched_runs())
    batches = model.batches_run - 1

    _one_at_a_time(model, prompts[:1], 4)  # warm-up
    start = time.perf_counter()
    single_tokens = _one_at_a_time(model, prompts, args.new_tokens)
    single_s = time.perf_counter() - start

    batched_rate = batched_tokens / batched_s
    single_rate = single_tokens / single_s
    ratio = batched_rate / single_rate
    print(f"torch threads: {torch.get_num_threads()}, sequences: {args.batch}, new tokens each: {args.new_tokens}")
    print(
        f"HFChatModel, {args.batch} concurrent complete() -> {batches} batch(es): "
        f"{batched_tokens} tokens in {batched_s:.2f} s = {batched_rate:,.0f} tokens/s"
    )
    print(
        f"model.generate, one sequence at a time:          "
        f"{single_tokens} tokens in {single_s:.2f} s = {single_rate:,.0f} tokens/s"
    )
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"speed-up: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x: {verdict})")


if __name__ == "__main__":
    main()
