"""parley's RL step vs TRL's ``GRPOTrainer``: wall time per step and generated tokens/s, median of runs.

Same tiny model (the warm-started embedded model, or ``--random`` for a random-init one), single agent
(parley protocol ``single``), the same prompts (the exact chat messages parley's solver sees, taken
from a parley transcript of each problem), the same number of generations per prompt (G), problems
per step, max new tokens, temperature 1, learning rate, one optimisation epoch per batch, no KL /
reference model, token-level (DAPO) loss and group-std advantages on both sides, the same reward
(final-answer correctness through parley's reward registry), and the same torch thread count. The
problems are the warm start's own task (two-digit addition, the demo's), where about half of the groups
have a reward signal; up to 2026-12-01 21:00 the script used one-digit ``+``/``-`` problems, on which
today's warm start scores 0, so every group had one reward and parley's zero-advantage skip left out
all of its optimisation (that run's 4.58x measured that, not a like-for-like step).
Throughput = completion tokens generated per step / wall time per step, averaged over the steps after
the first (warm-up). ``--runs`` pairs (default 3) run in one invocation, alternating parley and TRL;
the printed ratio is the median of the per-pair ratios, with their spread. Target: parley >= 1.5x
TRL's throughput.

TRL is installed for this benchmark only (``pip install --no-deps trl``); when it cannot be imported
the script says so and exits 0 after timing parley alone.

    .venv/bin/python benchmarks/trl_comparison.py [--random] [--steps 4] [--problems 8] [--group 4]
        [--new-tokens 32] [--threads N] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from parley.tiny.sft import TINY_DATASET, TINY_TASK

TARGET_RATIO = 1.5


def _model_dir(random_init: bool, tmp: Path) -> Path:
    if random_init:
        from parley.llm.tiny import build_tiny_model

        return build_tiny_model(tmp / "random-model", seed=0)
    from parley.tiny.sft import ensure_tiny_sft_model

    return ensure_tiny_sft_model()


def _train_config(model_dir: Path, out: Path, args: argparse.Namespace) -> Any:
    from parley.training.config import TrainRunConfig

    return TrainRunConfig.model_validate({
        "model": {"backend": "hf", "name": str(model_dir), "batch_size": args.problems * args.group,
                  "num_threads": args.threads},
        "protocol": {"name": "single"},
        "dataset": {"name": TINY_DATASET, "size": args.problems * args.steps, "seed": 7,
                    "options": dict(TINY_TASK)},
        "generation": {"max_new_tokens": args.new_tokens, "top_p": 1.0},
        "train": {"steps": args.steps, "problems_per_step": args.problems, "group_size": args.group, "lr": args.lr,
                  "temperature": 1.0, "epochs": 1, "micro_batch_size": args.problems * args.group,
                  "checkpoint_every": 10_000, "kl_beta": 0.0, "aggregation": "token_mean", "estimator": "grpo"},
        "output": {"dir": str(out)},
    })


def run_parley(model_dir: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    from parley.training.trainer import train

    cfg = _train_config(model_dir, out, args)
    t0 = time.perf_counter()
    train(cfg)
    total = time.perf_counter() - t0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time/step_s" in r][1:]  # drop the warm-up step
    step_s = statistics.mean(r["time/step_s"] for r in rows)
    tokens = statistics.mean(r["generated_tokens/solver"] for r in rows)
    return {"step_s": step_s, "gen_tokens_per_step": tokens, "tokens_per_s": tokens / step_s, "total_s": total,
            "generation_s": statistics.mean(r["time/generation_s"] for r in rows),
            "optimisation_s": statistics.mean(r["time/optimisation_s"] for r in rows)}


def solver_prompts(model_dir: Path, args: argparse.Namespace) -> list[tuple[Any, list[dict[str, str]]]]:
    """(problem, the exact messages parley's solver sees) for every problem of the run's dataset."""
    from parley.config.models import ProtocolConfig
    from parley.data import load_problems
    from parley.debate.context import Agent, AgentPool
    from parley.debate.engine import run_protocol
    from parley.debate.prompts import PromptSet
    from parley.llm.hf import HFChatModel
    from parley.llm.types import SamplingParams

    cfg = _train_config(model_dir, Path("unused"), args)
    problems = load_problems(cfg.dataset)
    model = HFChatModel.from_pretrained(model_dir, batch_size=64, num_threads=args.threads)
    pool = AgentPool(Agent(model, "p"))

    async def contexts() -> list[Any]:
        try:
            return list(await asyncio.gather(*[
                run_protocol(p, protocol=ProtocolConfig(name="single"), agents=pool, prompts=PromptSet(None),
                             sampling=SamplingParams(temperature=1.0, max_new_tokens=1), run_id="bench",
                             debate_id=f"bench:{p.id}", config_hash="bench") for p in problems]))
        finally:
            await model.aclose()

    transcripts = asyncio.run(contexts())
    return [(p, [dict(m) for m in t.turns[0].context]) for p, t in zip(problems, transcripts, strict=True)]


def run_trl(model_dir: Path, out: Path, args: argparse.Namespace) -> dict[str, float] | None:
    try:
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError as exc:
        print(f"TRL comparison skipped: cannot import trl ({exc}); install it for the benchmark only with "
              "`pip install --no-deps trl`")
        return None
    from parley.debate.parsing import parse_solver
    from parley.rewards.registry import default_registry

    prompts = solver_prompts(model_dir, args)
    by_id = {p.id: p for p, _ in prompts}
    registry = default_registry()

    def reward(prompts: list[Any], completions: list[Any], problem_id: list[str], **_: Any) -> list[float | None]:
        answers = [parse_solver(c[0]["content"] if isinstance(c, list) else c).answer for c in completions]
        results = registry.score_batch([(by_id[pid], a) for pid, a in zip(problem_id, answers, strict=True)])
        return [float(bool(r.correct)) for r in results]

    dataset = Dataset.from_list([{"prompt": msgs, "problem_id": p.id} for p, msgs in prompts])
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    batch = args.problems * args.group
    config = GRPOConfig(
        output_dir=str(out), use_cpu=True, bf16=False, report_to="none", save_strategy="no", logging_steps=1,
        max_steps=args.steps, per_device_train_batch_size=batch, gradient_accumulation_steps=1,
        num_generations=args.group, max_completion_length=args.new_tokens, temperature=1.0, top_p=1.0,
        learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, beta=0.0,
        num_iterations=1, loss_type="dapo", scale_rewards="group", max_grad_norm=1.0, seed=0,
        dataloader_num_workers=0, disable_tqdm=True, shuffle_dataset=False)
    step_times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.t0 = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            step_times.append(time.perf_counter() - self.t0)

    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=dataset,
                          processing_class=tokenizer, callbacks=[Timer()])
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - t0
    registry.close()
    logs = [r for r in trainer.state.log_history if "completions/mean_length" in r]
    lengths = [r["completions/mean_length"] * batch for r in logs][1:]
    steps = step_times[1:]
    step_s = statistics.mean(steps)
    tokens = statistics.mean(lengths)
    return {"step_s": step_s, "gen_tokens_per_step": tokens, "tokens_per_s": tokens / step_s, "total_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", action="store_true", help="random-init tiny model instead of the SFT one")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--problems", type=int, default=8, help="prompts per step")
    parser.add_argument("--group", type=int, default=4, help="generations per prompt (G)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2))
    parser.add_argument("--runs", type=int, default=3, help="parley/TRL pairs; the median ratio is reported")
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be >= 2 (the first step is warm-up)")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = _model_dir(args.random, root)
        print(f"model {model_dir}; {args.steps} steps x {args.problems} prompts x G={args.group}, "
              f"{args.new_tokens} new tokens, {args.threads} torch thread(s)")
        ratios: list[float] = []
        for run in range(args.runs):
            parley = run_parley(model_dir, root / f"parley-{run}", args)
            print(f"run {run + 1}: parley {parley['step_s']:.2f} s/step, {parley['gen_tokens_per_step']:.0f} gen "
                  f"tokens/step, {parley['tokens_per_s']:.0f} gen tokens/s (generation {parley['generation_s']:.2f} s, "
                  f"optimisation {parley['optimisation_s']:.2f} s per step)")
            trl = run_trl(model_dir, root / f"trl-{run}", args)
            if trl is None:
                return
            print(f"run {run + 1}: TRL GRPOTrainer {trl['step_s']:.2f} s/step, {trl['gen_tokens_per_step']:.0f} gen "
                  f"tokens/step, {trl['tokens_per_s']:.0f} gen tokens/s")
            ratios.append(parley["tokens_per_s"] / trl["tokens_per_s"])
        ratio = statistics.median(ratios)
        verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
        print(f"throughput ratio parley/TRL = {ratio:.2f}x (median of {len(ratios)}; runs "
              f"{', '.join(f'{r:.2f}' for r in ratios)}); {verdict} the {TARGET_RATIO}x target")


if __name__ == "__main__":
    main()
