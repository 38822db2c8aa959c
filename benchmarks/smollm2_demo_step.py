"""Seconds per RL step of ``parley demo --model smollm2`` (its full budget), split by phase, per strategy.

Builds each arm's training config exactly as the demo does (:func:`parley.experiments.demo_smollm2.
smollm2_demo_spec`, full budget: svj with 2 rounds, instruct prompts with structured re-asks, shared
LoRA r=16, 4 problems x G=4 per step, 64 new tokens), runs ``--steps`` steps of each strategy named
in ``--strategies`` with :func:`parley.training.trainer.train`, and prints the per-step split
(``time/*`` of ``metrics.jsonl``) beside the demo's step count, so the total can be estimated:
steps x seeds x seconds per step, summed over the strategies.

    .venv/bin/python benchmarks/smollm2_demo_step.py [--strategies identity,difference] [--steps 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

from parley.experiments.demo_smollm2 import SMOLLM2_FULL, smollm2_demo_spec
from parley.llm.catalog import ModelNotAvailableError, model_notes, resolve_model
from parley.training.config import TrainRunConfig
from parley.training.trainer import train

PHASES = ("time/generation_s", "time/verification_s", "time/counterfactual_s", "time/optimisation_s", "time/step_s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategies", default="identity,difference")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out", type=Path, default=Path("runs/smollm2-demo-step"))
    args = ap.parse_args()
    try:
        resolve_model("smollm2")
    except ModelNotAvailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    spec = smollm2_demo_spec()
    by_name = {s["name"]: s for s in SMOLLM2_FULL["strategies"]}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"smollm2_demo_step: {model_notes('smollm2')}; started {started}; {platform.machine()}, "
          f"{args.threads} torch thread(s)")
    b = SMOLLM2_FULL
    print(f"  demo budget: {len(b['strategies'])} strategies x {len(b['seeds'])} seeds x {b['steps']} steps of "
          f"{b['problems_per_step']} problems x G={b['group_size']}")
    for name in args.strategies.split(","):
        data = json.loads(json.dumps(spec["config"]))
        data["model"]["num_threads"] = args.threads
        data["train"] |= {"shaping": by_name[name], "steps": args.steps, "checkpoint_every": 1000}
        run_dir = args.out / name
        if run_dir.exists():
            shutil.rmtree(run_dir)
        data["output"] = {"dir": str(run_dir)}
        cfg = TrainRunConfig.model_validate(data)
        t0 = time.perf_counter()
        train(cfg, resume=False)
        wall = time.perf_counter() - t0
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        steps = [r.get("metrics", r) for r in records if "time/step_s" in r.get("metrics", r)]
        mean = {k: statistics.fmean(float(s[k]) for s in steps if k in s) for k in PHASES if any(k in s for s in steps)}
        other = mean["time/step_s"] - sum(v for k, v in mean.items() if k != "time/step_s")
        rollouts = statistics.fmean(float(s.get("perf/rollouts_per_s", 0)) * float(s["time/generation_s"])
                                    for s in steps)
        print(f"  {name}: {len(steps)} step(s); seconds per step: " + ", ".join(
            f"{k.split('/')[1][:-2]} {v:.1f}" for k, v in mean.items() if k != "time/step_s")
              + f", other {other:.1f}, total {mean['time/step_s']:.1f}; {rollouts:.0f} rollouts per step; "
              f"run wall {wall:.0f} s (with loading the model and saving the merged policy)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
