"""The lean decoder's prefill on debate-shaped prompts: shared prefixes computed once vs every row whole,
and the prefill chunk size, side by side.

Prompts are a verifier's turn as an RL step batches them: ``--problems`` problems x ``--group`` rollouts
(G), each the role's system prompt, the problem, and a proposed answer that differs per rollout, through
the model's chat template, left-padded. Timed alternately in one process, median of ``--repeats``:

- ``shared``: :class:`parley.llm.decoders.LeanDecoder` with ``share_min_work=0`` (every prefix shared by
  several rows computed once, its keys and values copied to the rows);
- ``whole``: the same decoder never sharing (each row's prompt computed whole);
- ``default``: the decoder as ``generate`` builds it (shares when the saved work reaches
  :data:`parley.llm.decoders.SHARE_MIN_WORK`), and then the ``whole`` prefill at several values of
  :data:`parley.llm.decoders.PREFILL_CHUNK_TOKENS`;
- ``sorted`` vs ``batch-width``: whole prompts with rows run shortest first in chunks cut to their own
  longest row (the default) vs chunks of the caller's rows at the batch's width (``sort_rows=False``, the
  prefill before 2026-12-02), with the positions each computes.

No fixed target: the figures justify the two constants (docs/performance.md records the runs).

    .venv/bin/python benchmarks/prefill.py [--model tiny|smollm2|DIR] [--problems 8] [--group 4]
        [--repeats 5] [--threads 1] [--varied-answers]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from parley.llm import decoders
from parley.llm.catalog import ModelNotAvailableError, resolve_model
from parley.llm.sampling import left_pad

SYSTEM = ("You are the verifier in a team that solves arithmetic problems. Recompute the result yourself, "
          "column by column, compare it with the proposed answer, and reply PASS or FAIL with one sentence.")


def prompts(tokenizer: Any, problems: int, group: int, varied: bool = False) -> list[list[int]]:
    """The verifier prompts of ``problems`` x ``group`` rollouts (see the module docstring); ``varied``: the
    proposed answers carry 0-3 lines of working, so the prompts' lengths differ as a real step's do."""
    out = []
    for p in range(problems):
        a, b = 17 * p + 23, 29 * p + 48
        for g in range(group):
            user = f"Problem: what is {a} + {b}? Proposed answer: {a + b + g - 1} (tens first, then the units)."
            if varied:
                user += "".join(f"\nStep {k + 1}: {a} + {b} = {a + b + k}." for k in range((p + g) % 4))
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
            out.append([int(i) for i in ids])
    return out


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def _alternate(sides: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Milliseconds of each side's call, ``repeats`` rounds with the sides alternating."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(repeats):
        for name, fn in sides.items():
            times[name].append(_median_ms(fn, 1))
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tiny", help="tiny, smollm2, or a checkpoint directory")
    ap.add_argument("--problems", type=int, default=8)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--varied-answers", action="store_true",
                    help="proposed answers with 0-3 lines of working (prompts of differing lengths)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        path = resolve_model(args.model)
    except ModelNotAvailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    if not decoders.lean_supported(model):
        print(f"error: {args.model}: not a model the lean decoder runs", file=sys.stderr)
        return 2
    rows = prompts(AutoTokenizer.from_pretrained(path), args.problems, args.group, args.varied_answers)
    ids, mask, positions = left_pad(rows, 0, torch.device("cpu"))
    shared = decoders._shared_prefixes(rows)
    once = sum(len(pre) for pre in {tuple(r[:n]) for r, n in zip(rows, shared, strict=True) if n})
    total = sum(len(r) for r in rows)
    print(f"{args.model}: {len(rows)} prompts ({args.problems} problems x G={args.group}), width {ids.shape[1]}, "
          f"{total} positions; shared prefixes cover {sum(shared)}, computed once: {once} "
          f"({total - sum(shared) + once} positions with sharing); {args.threads} thread(s)")

    def run(share_min_work: float) -> Callable[[], Any]:
        return lambda: decoders.LeanDecoder(model, share_min_work=share_min_work).prefill(ids, mask, positions, 16)

    sides = {"shared": run(0.0), "whole": run(float("inf")), "default": run(decoders.SHARE_MIN_WORK)}
    with torch.inference_mode():
        for fn in sides.values():
            fn()  # warm-up
        times = _alternate(sides, args.repeats)
        med = {name: statistics.median(v) for name, v in times.items()}
        for name, v in times.items():
            print(f"  {name:>7}: {med[name]:8.1f} ms per prefill (median; runs {', '.join(f'{x:.1f}' for x in v)})")
        params = sum(q.numel() for layer in model.model.layers for q in layer.parameters())
        default_shares = any(decoders._shared_prefixes(rows, decoders.SHARE_MIN_WORK / params))
        print(f"sharing prefixes vs whole prompts: {med['whole'] / med['shared']:.2f}x; the default "
              f"(SHARE_MIN_WORK={decoders.SHARE_MIN_WORK:g}, {params / 1e6:.1f} M decoder parameters) "
              f"{'shares' if default_shares else 'does not share'} here")
        lengths = [len(r) for r in rows]
        padded = ids.shape[0] * ids.shape[1]
        ordered = {"sorted": lambda: decoders.LeanDecoder(model, share_min_work=float("inf")).prefill(
            ids, mask, positions, 16), "batch-width": lambda: decoders.LeanDecoder(
            model, share_min_work=float("inf"), sort_rows=False).prefill(ids, mask, positions, 16)}
        order_times = _alternate(ordered, args.repeats)
        om = {name: statistics.median(v) for name, v in order_times.items()}
        computed = sum(cw * (rs.stop - rs.start) for rs, cw in decoders.LeanDecoder(model)._length_chunks(
            sorted(lengths)))
        print(f"whole prompts, rows shortest first in chunks cut to their own width ({computed} positions "
              f"computed) vs chunks of the batch's width ({padded}): {om['sorted']:.1f} vs {om['batch-width']:.1f} "
              f"ms per prefill (medians; runs {', '.join(f'{x:.1f}' for x in order_times['sorted'])} vs "
              f"{', '.join(f'{x:.1f}' for x in order_times['batch-width'])}): {om['batch-width'] / om['sorted']:.2f}x")
        chunks = {size: _median_ms(lambda size=size: decoders.LeanDecoder(
            model, share_min_work=float("inf"), prefill_chunk_tokens=size).prefill(ids, mask, positions, 16),
            args.repeats) for size in (256, 512, 1024, 4096, 1 << 20)}
        print("whole-prompt prefill by chunk size (positions per chunk): " + ", ".join(
            f"{'all' if size == 1 << 20 else size}: {ms:.1f} ms" for size, ms in chunks.items())
            + f" (default {decoders.PREFILL_CHUNK_TOKENS})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
