"""The optimisation phase on recorded debates: prefix-shared packing vs padded batches, side by side.

Reads the debates of a trajectory store that has token ids (a training run's ``rollouts/`` or a local
evaluation's ``store/``), makes one training sample per turn (as the trainer does, advantages +-1 from a
fixed seed), and times :func:`parley.training.optimise.optimise` (forward, backward, optimiser step) with
``train.packing=pad`` and ``train.packing=prefix`` alternately, ``--repeats`` times each, on the same
model and samples. Prints the positions each layout computes, the median seconds of each and the ratio.
Target: packing faster than padding (no fixed figure; docs/performance.md records the runs).

    .venv/bin/python benchmarks/packing.py --store RUN/rollouts [--model tiny] [--problems 16]
        [--lora 16] [--micro-batch 16] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from parley.errors import UserError
from parley.llm.catalog import ModelNotAvailableError, resolve_model
from parley.store import TrajectoryStore
from parley.training.config import TrainConfig
from parley.training.optimise import optimise
from parley.training.packing import pack_batch, packing_supported, position_cost
from parley.training.policies import PolicySet
from parley.training.samples import TrainingSample, micro_batches, pad_batch, samples_from_transcripts


def load_samples(store: Path, problems: int, seed: int) -> list[TrainingSample]:
    """One sample per turn with token ids, from the first ``problems`` problems of ``store``."""
    transcripts = [t for t in TrajectoryStore.read(store).iter_transcripts() if t.turns]
    keep = sorted({t.problem_id for t in transcripts})[:problems]
    transcripts = [t for t in transcripts if t.problem_id in set(keep)]
    shaped = [[0.0] * len(t.turns) for t in transcripts]
    samples = samples_from_transcripts(transcripts, shaped, outcomes=[0.0] * len(transcripts))
    rng = random.Random(seed)
    for s in samples:
        s.advantage = rng.choice([-1.0, 1.0])
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", type=Path, required=True, help="a trajectory store with token ids")
    ap.add_argument("--model", default="tiny", help="tiny, smollm2, or a checkpoint directory")
    ap.add_argument("--problems", type=int, default=16, help="problems of the store to train on")
    ap.add_argument("--lora", type=int, default=0, help="LoRA rank (0: full fine-tune)")
    ap.add_argument("--micro-batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:
        model_dir = resolve_model(args.model)
    except ModelNotAvailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        samples = load_samples(args.store, args.problems, args.seed)
    except UserError as exc:
        print(f"error: --store {args.store}: {exc}", file=sys.stderr)
        return 2
    if not samples:
        print(f"error: {args.store}: no turns with token ids (a store from a local model is needed)", file=sys.stderr)
        return 2
    roles = sorted({s.role for s in samples})
    policy = {"lora": {"r": args.lora}, "full_finetune": False} if args.lora else {}
    configs = {layout: TrainConfig.model_validate({"micro_batch_size": args.micro_batch, "packing": layout,
                                                   "policy": policy}) for layout in ("pad", "prefix")}
    policies = {layout: PolicySet.build(model_dir, roles, cfg, num_threads=args.threads)
                for layout, cfg in configs.items()}
    model = policies["prefix"].policies[next(iter(policies["prefix"].policies))].model
    if not packing_supported(model):
        print(f"note: {args.model} does not support packing; both sides pad")
    cost = position_cost(model)
    tokens = sum(len(s.context_ids) + len(s.completion_ids) for s in samples)
    padded = sum(pad_batch(c).input_ids.numel() for c in micro_batches(samples, args.micro_batch))
    packs = [pack_batch(c, max_row_tokens=configs["prefix"].pack_row_tokens, position_cost=cost)
             for c in micro_batches(samples, args.micro_batch, order="tokens")]
    packed = sum(pb.nodes for pb in packs)
    kept = sum(int(pb.keep.sum()) for pb in packs)
    print(f"{args.model}: {len(samples)} samples ({', '.join(roles)}) of {args.problems} problems from {args.store}, "
          f"{tokens} tokens; micro-batches of {args.micro_batch}, {'LoRA r=' + str(args.lora) if args.lora else 'full'}"
          f" fine-tune, {args.threads} thread(s)")
    print(f"positions computed: padded {padded}, packed {packed} ({padded / packed:.2f}x fewer); "
          f"{kept} of the packed positions predict a completion token (the rest is context: "
          f"{1 - kept / max(packed, 1):.0%})")
    times: dict[str, list[float]] = {layout: [] for layout in configs}
    for _ in range(args.repeats):
        for layout, cfg in configs.items():
            t0 = time.perf_counter()
            optimise(policies[layout], samples, cfg, pad_id=0)
            times[layout].append(time.perf_counter() - t0)
    med = {layout: statistics.median(v) for layout, v in times.items()}
    for layout, v in times.items():
        print(f"  {layout:>6}: {med[layout]:.3f} s per optimisation phase (median; runs "
              f"{', '.join(f'{x:.3f}' for x in v)})")
    ratio = med["pad"] / med["prefix"]
    print(f"prefix-shared packing vs padding: {ratio:.2f}x ({'faster' if ratio > 1 else 'NOT faster'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
