"""Does RL with the identity strategy raise the tiny model's held-out accuracy over its warm start?

Trains the embedded warm-started tiny model with online RL (GRPO advantages, PPO-clip, identity
shaping) on the tiny task family, evaluates the warm start (step 0) and the final policy on the same
held-out problems (greedy decoding), and prints the paired comparison: accuracy of each with Wilson
intervals, the paired bootstrap 95% CI of the difference and the exact McNemar test, plus wall time
against the 15-minute budget.

Held-out means problems the run never trained on (a different generator seed). The task family is
small (two one-digit terms, + and -), so many held-out questions also occur among the training
problems: the script prints that overlap and the comparison on the disjoint subset too.

    .venv/bin/python benchmarks/rl_improvement.py [--protocol single] [--steps 150] [--out runs/rl-bench]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from parley.config import load_config
from parley.data import load_problems
from parley.evaluation.statistics import mcnemar_from_pairs, paired_bootstrap, proportion
from parley.tiny.sft import EVAL_SEED, TINY_TASK, ensure_tiny_sft_model, tiny_dataset_config
from parley.training.config import TrainRunConfig
from parley.training.trainer import train

BUDGET_S = 15 * 60


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", default="single", choices=["single", "svj"])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--problems-per-step", type=int, default=32)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--heldout", type=int, default=300)
    ap.add_argument("--out", type=Path, default=Path("runs/rl-bench"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    model_dir = ensure_tiny_sft_model()
    build_s = time.perf_counter() - t0
    if args.out.exists():
        shutil.rmtree(args.out)
    task = json.dumps(TINY_TASK)
    overrides = [
        f"model.name={model_dir}", "model.batch_size=64", f"protocol.name={args.protocol}", "protocol.max_rounds=2",
        "dataset.name=reasoning_gym:basic_arithmetic", "dataset.size=3000", "dataset.seed=11",
        f"dataset.options={task}", "generation.max_new_tokens=32",
        f"train.steps={args.steps}", f"train.problems_per_step={args.problems_per_step}",
        f"train.group_size={args.group_size}", f"train.lr={args.lr}", "train.temperature=1.0",
        "train.shaping={name: identity}", f"train.checkpoint_every={max(1, args.steps // 3)}",
        f"train.eval.dataset={{name: reasoning_gym:basic_arithmetic, size: {args.heldout}, seed: {EVAL_SEED}, "
        f"options: {task}}}", f"train.eval.protocols=[{args.protocol}]", "train.eval.temperature=0.0",
        "train.eval.disjoint_questions=false", f"output.dir={args.out}",
    ]
    cfg = load_config(None, overrides, model=TrainRunConfig)
    t1 = time.perf_counter()
    train(cfg)
    train_s = time.perf_counter() - t1
    rows = {}
    for step_dir in sorted((args.out / "eval").iterdir()):
        rows[step_dir.name] = {r["problem_id"]: bool(r["correct"]) for r in
                               map(json.loads, (step_dir / f"{args.protocol}.jsonl").read_text().splitlines())}
    first, last = rows[min(rows)], rows[max(rows)]
    ids = sorted(first)
    train_questions = {p.question for p in load_problems(tiny_dataset_config(size=3000, seed=11))}
    heldout = {p.id: p for p in load_problems(tiny_dataset_config(size=args.heldout, seed=EVAL_SEED))}
    disjoint = [i for i in ids if heldout[i].question not in train_questions]
    print(f"tiny model: {model_dir} (build/cache {build_s:.0f} s); RL run: {train_s:.0f} s "
          f"({args.steps} steps x {args.problems_per_step} problems x G={args.group_size}, protocol {args.protocol})")
    for name, subset in (("all held-out", ids), ("held-out questions not in training", disjoint)):
        x = [last[i] for i in subset]
        y = [first[i] for i in subset]
        a, b = proportion(sum(y), len(y)), proportion(sum(x), len(x))
        boot = paired_bootstrap(x, y, n_resamples=10000, seed=0)
        mc = mcnemar_from_pairs(x, y)
        verdict = "EXCLUDES 0" if boot.low > 0 or boot.high < 0 else "includes 0"
        print(f"{name} (n={len(subset)}): warm start {a.rate:.1%} [{a.low:.1%}, {a.high:.1%}] -> after RL "
              f"{b.rate:.1%} [{b.low:.1%}, {b.high:.1%}]; diff {boot.diff:+.1%} 95% CI [{boot.low:+.1%}, "
              f"{boot.high:+.1%}] ({verdict}); McNemar b={mc.b} c={mc.c} p={mc.p_value:.4f}")
    total = time.perf_counter() - t0
    print(f"wall time {total:.0f} s vs budget {BUDGET_S} s: {'OK' if total <= BUDGET_S else 'OVER'} "
          f"(question overlap of held-out with training: {1 - len(disjoint) / len(ids):.0%})")


if __name__ == "__main__":
    main()
