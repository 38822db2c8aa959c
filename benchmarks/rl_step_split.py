"""Time split of one debate RL step (generation / verification / counterfactuals / optimisation), peak RSS.

Runs ``parley.training.trainer.train`` on the warm-started tiny model (``--random``: a random-init one)
with protocol svj for ``--steps`` steps, once with ``identity`` shaping and once with ``difference``
(K=1 counterfactual rollout per role, on ``--cf-fraction`` of the debates), and prints the mean of the
``time/*`` metrics over the steps after the first (warm-up), from each run's metrics.jsonl. Peak RSS:
``ru_maxrss`` of this process after each run (monotone: the second figure covers both runs) and the
RSS growth during the run (psutil).

    .venv/bin/python benchmarks/rl_step_split.py [--random] [--steps 3] [--problems 8] [--group 4]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

TASK = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+", "-"]}
PHASES = ("time/generation_s", "time/verification_s", "time/counterfactual_s", "time/optimisation_s")


def run(model_dir: Path, out: Path, shaping: dict[str, Any], args: argparse.Namespace) -> dict[str, float]:
    from parley.training.config import TrainRunConfig
    from parley.training.trainer import train

    cfg = TrainRunConfig.model_validate({
        "model": {"backend": "hf", "name": str(model_dir), "batch_size": 64},
        "protocol": {"name": "svj", "max_rounds": 2},
        "dataset": {"name": "reasoning_gym:basic_arithmetic", "size": args.problems * args.steps, "seed": 11,
                    "options": TASK},
        "generation": {"max_new_tokens": args.new_tokens},
        "train": {"steps": args.steps, "problems_per_step": args.problems, "group_size": args.group, "lr": 5e-5,
                  "shaping": shaping, "counterfactual": {"k": 1, "fraction": args.cf_fraction},
                  "checkpoint_every": 10_000},
        "output": {"dir": str(out)},
    })
    rss0 = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - t0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time/step_s" in r][1:] or rows[-1:]
    result = {k: statistics.mean(r.get(k, 0.0) for r in rows) for k in (*PHASES, "time/step_s")}
    result["counterfactual/rollouts"] = statistics.mean(r.get("counterfactual/rollouts", 0.0) for r in rows)
    result["wall_s"] = wall
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["rss_growth_mib"] = (psutil.Process().memory_info().rss - rss0) / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", action="store_true")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--cf-fraction", type=float, default=0.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.random:
            from parley.llm.tiny import build_tiny_model

            model_dir = build_tiny_model(Path(tmp) / "model", seed=0)
        else:
            from parley.tiny.sft import ensure_tiny_sft_model

            model_dir = ensure_tiny_sft_model()
        print(f"svj, {args.problems} problems x G={args.group} per step, {args.new_tokens} new tokens, "
              f"mean over steps 2..{args.steps}")
        for name, shaping in (("identity", {"name": "identity"}), ("difference", {"name": "difference"})):
            r = run(model_dir, Path(tmp) / name, shaping, args)
            step = r["time/step_s"]
            split = ", ".join(f"{k.split('/')[1][:-2]} {r[k]:.2f} s ({100 * r[k] / step:.0f}%)" for k in PHASES)
            print(f"{name:>10}: step {step:.2f} s = {split}; counterfactual rollouts/step "
                  f"{r['counterfactual/rollouts']:.0f}; peak RSS {r['peak_rss_mib']:.0f} MiB "
                  f"(+{r['rss_growth_mib']:.0f} MiB during the run)")


if __name__ == "__main__":
    main()
