"""parley's rollout tokens/s as a fraction of the physical reference: a raw batched forward loop.

Same model (the warm-started tiny model; ``--random``: a random-init one), same shapes: ``--batch``
prompts of the svj solver's first turn (left-padded, as parley batches them), ``--new-tokens`` new
tokens each, EOS ignored so every row runs the full length, the same torch thread count. Timed, median
of ``--repeats`` runs each, in one process, interleaved:

- parley: ``HFChatModel.complete_many`` (the async micro-batcher, chat template, sampling, ids and
  log-probs, decoded texts: everything a rollout pays for);
- parley, reference loop: the same requests through :mod:`parley.llm.sampling_reference` (the
  model's own forward, per-row per-token bookkeeping; the path before issue 10);
- ``model.generate`` of transformers with sampling (for comparison only);
- raw HF forward: the model's own forward with a ``DynamicCache``, one prefill then one forward per
  token feeding the argmax back, nothing else;
- raw lean forward: the same loop over :class:`parley.llm.decoders.LeanDecoder` (Llama family).

The reference is the faster of the two raw loops: the most tokens/s this machine gives for the shape.
Target: parley >= 50% of it.

    .venv/bin/python benchmarks/rollout_reference.py [--random] [--batch 32] [--new-tokens 32] [--repeats 3]
        [--model DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

TARGET = 0.5


def _prompts(n: int) -> list[list[dict[str, str]]]:
    from parley.debate.prompts import PromptSet

    prompts = PromptSet(None)
    out = []
    for i in range(n):
        q = f"Calculate {i % 9} + {(3 * i) % 7}."
        out.append([{"role": "system", "content": prompts.render("solver_system", question=q, attempts=[])},
                    {"role": "user", "content": prompts.render("solver", question=q, attempts=[])}])
    return out


@torch.inference_mode()
def raw_loop(model: Any, decoder_factory: Callable[[], Any], ids: torch.Tensor, mask: torch.Tensor,
             positions: torch.Tensor, new_tokens: int) -> int:
    decoder = decoder_factory()
    logits = decoder.prefill(ids, mask, positions, new_tokens)
    nxt = positions[:, -1] + 1
    for _ in range(new_tokens - 1):
        logits = decoder.step(logits.argmax(dim=-1), nxt)
        nxt = nxt + 1
    return ids.shape[0] * new_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", action="store_true")
    parser.add_argument("--model", type=Path, default=None, help="an existing checkpoint directory instead")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from parley.llm.decoders import HFDecoder, LeanDecoder, lean_supported
    from parley.llm.hf import HFChatModel
    from parley.llm.sampling import left_pad
    from parley.llm.sampling_reference import reference_generate
    from parley.llm.types import SamplingParams

    with tempfile.TemporaryDirectory() as tmp:
        if args.model is not None:
            model_dir = args.model
        elif args.random:
            from parley.llm.tiny import build_tiny_model

            model_dir = build_tiny_model(Path(tmp) / "model", seed=0)
        else:
            from parley.tiny.sft import ensure_tiny_sft_model

            model_dir = ensure_tiny_sft_model()
        chat = HFChatModel.from_pretrained(model_dir, batch_size=args.batch, batch_wait_ms=50, ignore_eos=True,
                                           num_threads=args.threads)
    model = chat.model
    messages = _prompts(args.batch)
    prompt_ids = [chat.encode_prompt(m) for m in messages]
    ids, mask, positions = left_pad(prompt_ids, chat.pad_id, torch.device("cpu"))
    n = args.batch * args.new_tokens
    counter = [0]

    def params() -> list[SamplingParams]:
        counter[0] += 1
        return [SamplingParams(temperature=1.0, max_new_tokens=args.new_tokens, seed=counter[0] * 1000 + i)
                for i in range(args.batch)]

    async def parley_run() -> int:
        done = await chat.complete_many(list(zip(messages, params(), strict=True)))
        return sum(c.usage.completion_tokens for c in done)

    def parley_path() -> int:
        return asyncio.run(parley_run())

    def reference_path() -> int:
        ps = params()
        out = reference_generate(model, prompt_ids, ps, [p.seed or 0 for p in ps], decode=chat.decode,
                                 pad_id=chat.pad_id, stop_token_ids=())
        return sum(len(r.token_ids) for r in out)

    def hf_generate() -> int:
        with torch.inference_mode():
            out = model.generate(ids, attention_mask=mask, do_sample=True, temperature=1.0, top_p=1.0, top_k=0,
                                 max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                                 pad_token_id=chat.pad_id)
        return int(out.shape[0] * (out.shape[1] - ids.shape[1]))

    paths: dict[str, Callable[[], int]] = {
        "parley HFChatModel": parley_path,
        "parley reference loop": reference_path,
        "transformers generate": hf_generate,
        "raw HF forward": lambda: raw_loop(model, lambda: HFDecoder(model), ids, mask, positions, args.new_tokens),
    }
    if lean_supported(model):
        paths["raw lean forward"] = lambda: raw_loop(model, lambda: LeanDecoder(model), ids, mask, positions,
                                                     args.new_tokens)
    for fn in paths.values():
        fn()  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            t0 = time.perf_counter()
            tokens = fn()
            rates[name].append(tokens / (time.perf_counter() - t0))
    asyncio.run(chat.aclose())
    print(f"model {model_dir.name} ({type(model).__name__}); batch {args.batch} x {args.new_tokens} new tokens "
          f"({n} tokens), prompt width {ids.shape[1]}; torch threads {torch.get_num_threads()}; "
          f"median of {args.repeats}, interleaved")
    med = {name: statistics.median(r) for name, r in rates.items()}
    for name, r in rates.items():
        print(f"  {name:<24} {med[name]:8,.0f} tokens/s  (runs {', '.join(f'{x:,.0f}' for x in r)})")
    raw = {k: v for k, v in med.items() if k.startswith("raw")}
    best = max(raw, key=lambda k: raw[k])
    frac = med["parley HFChatModel"] / raw[best]
    verdict = "meets" if frac >= TARGET else "MISSES"
    print(f"parley rollout = {100 * frac:.0f}% of the raw-forward reference ({best}) "
          f"(target >= {100 * TARGET:.0f}%: {verdict}); reference loop = "
          f"{100 * med['parley reference loop'] / raw[best]:.0f}%")


if __name__ == "__main__":
    main()
