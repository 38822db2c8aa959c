"""Debate RL step time, old path vs this checkout side by side, and where each step's time goes.

Runs ``parley.training.trainer.train`` (protocol svj, the demo's shape: ``--problems`` x G=``--group``
debates per step, 32 new tokens) in fresh subprocesses, alternating the OLD code (``git archive`` of
``--old-commit``, default the commit before the speed work) and the NEW code (this checkout's ``src``),
``--repeats`` times each. Per run: the mean ``time/step_s`` over the steps after the first (warm-up); the
printed figure is the median over runs, with the spread (min-max), and the speed-up NEW vs OLD beside the 3x
target.

The model and task are the ones the issue's baseline (0.94 s per step) was measured on: the warm-started
tiny model as the OLD commit builds it (its recipe: one-digit ``+``/``-`` problems of reasoning_gym's
basic_arithmetic, on which about half of the rollout groups have a reward signal), built once by running
the old tree's ``ensure_tiny_sft_model`` (cached by its recipe hash); ``--model DIR``: another checkpoint,
``--random``: a random-init one. (Today's warm start is trained on two-digit addition, a different task:
on the one-digit problems it scores 0, every advantage is 0 and the new side's optimisation skips every
sample, which would flatter the new side.) Each side's share of completion tokens with a non-zero
advantage (trained, not skipped) is printed so the two sides' work can be compared.

Threads: each side runs with its own default unless ``--threads N`` sets ``model.num_threads`` for both.
The old code sets half the cores for its samplers (one thread here), and more was slower there (its
batcher thread and the trainer's main thread each formed an OpenMP team: see ``parley.llm.compute``); the
new trainer runs its samplers' forwards and its optimisation on one compute thread with every usable CPU.
The CPU-time line (and its "cores busy" figure) shows the work per core beside the wall-clock speed-up.

CPU seconds per step (``time.process_time`` between the trainer's progress callbacks, every thread of
the process) are printed too: on a machine shared with other work the wall time mostly measures the
scheduler, while CPU time measures the work. So is the time each run spent in full (generation-2) garbage
collections during the measured steps (``gc.callbacks``): one such collection of the process's ~500,000
set-up objects takes ~0.19 s, a large share of a few-step window; the new trainer freezes its set-up
heap (see ``parley.training.trainer``), the old one did not.

Then profiled runs of each side (cProfile in every thread, timing CPU time per thread so a thread
waiting for the GIL, a lock or a subprocess is not charged; plus global forward hooks that time each
forward from the embedding to the LM head and classify it as prefill, decode or training forward)
split a step into: prompt rendering, chat template, tokenisation, prefill, per-token decode forward,
sampling, log-prob / token bookkeeping (the rest of the sampling loop), micro-batcher and debate
orchestration (the rest of generation), scoring, sample building (shaping, samples, advantages,
padding), training forward, backward, optimizer; "other" is the rest of the step's wall time (waits,
threads' idle time, everything not named). Profiling slows Python-heavy phases, so the split is shown
as shares of the profiled step, beside the unprofiled step time.

    .venv/bin/python benchmarks/rl_step_split.py [--random] [--steps 3] [--problems 8] [--group 4]
        [--repeats 3] [--shaping identity] [--old-commit 0651998] [--model DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET = 3.0
OLD_COMMIT = "0651998"  # main before the speed work (issue 10)
TASK = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+", "-"]}
ROOT = Path(__file__).resolve().parents[1]
PHASES = ("prompt rendering", "chat template", "tokenisation", "prefill", "decode forward", "sampling",
          "token bookkeeping", "batcher + orchestration", "scoring", "sample building", "train forward",
          "backward", "optimizer", "other")


def _config(model_dir: str, out: Path, args: argparse.Namespace) -> Any:
    from parley.training.config import TrainRunConfig

    return TrainRunConfig.model_validate({
        "model": {"backend": "hf", "name": model_dir, "batch_size": 64,
                  **({"num_threads": args.threads} if args.threads else {})},
        "protocol": {"name": "svj", "max_rounds": 2},
        "dataset": {"name": "reasoning_gym:basic_arithmetic", "size": args.problems * args.steps, "seed": 11,
                    "options": TASK},
        "generation": {"max_new_tokens": args.new_tokens},
        "train": {"steps": args.steps, "problems_per_step": args.problems, "group_size": args.group, "lr": 2e-4,
                  "temperature": 1.0, "shaping": {"name": args.shaping},
                  **({"packing": args.packing} if args.packing else {}),
                  "counterfactual": {"k": 1, "fraction": 0.5}, "checkpoint_every": 10_000},
        "output": {"dir": str(out)},
    })


class _ForwardClock:
    """Global module hooks: wall time of each forward, embedding call to LM-head output."""

    def __init__(self) -> None:
        import threading

        import torch

        self.torch = torch
        self.local = threading.local()
        self.seconds = {"prefill": 0.0, "decode forward": 0.0, "train forward": 0.0}
        self.handles = [torch.nn.modules.module.register_module_forward_pre_hook(self._pre),
                        torch.nn.modules.module.register_module_forward_hook(self._post)]

    def _pre(self, module: Any, inputs: Any) -> None:
        if isinstance(module, self.torch.nn.Embedding) and inputs and hasattr(inputs[0], "shape"):
            ids = inputs[0]
            if self.torch.is_grad_enabled():
                kind = "train forward"
            else:
                kind = "decode forward" if ids.dim() == 2 and ids.shape[1] == 1 else "prefill"
            self.local.start = (kind, time.thread_time())

    def _post(self, module: Any, inputs: Any, output: Any) -> None:
        start = getattr(self.local, "start", None)
        if start is not None and isinstance(module, self.torch.nn.Linear) and module.out_features > 256 and (
                getattr(self.local, "vocab", None) in (None, module.out_features)):
            self.local.vocab = module.out_features
            self.seconds[start[0]] += time.thread_time() - start[1]
            self.local.start = None

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _cum(stats: Any, path_part: str, name: str) -> float:
    """Cumulative seconds of functions named ``name`` in files containing ``path_part`` (outermost)."""
    total = 0.0
    for (file, _line, func), (_cc, _nc, _tt, ct, callers) in stats.stats.items():
        if func == name and path_part in file.replace("\\", "/"):
            # skip recursive inner calls: only time from callers that are not the same function
            total += sum(v[3] for k, v in callers.items() if k[2] != name) if callers else ct
    return total


def worker(args: argparse.Namespace) -> None:
    """One training run in this process; prints a JSON line with step times (and the split if profiled)."""
    import cProfile
    import gc
    import pstats
    import threading

    from parley.training.trainer import train

    out = Path(tempfile.mkdtemp(prefix="rl-step-"))
    cfg = _config(args.model_dir, out / "run", args)
    profiles: list[cProfile.Profile] = []
    clock = None
    if args.profile:
        clock = _ForwardClock()

        def start_profile(*_: Any) -> None:
            profile = cProfile.Profile(time.thread_time)
            profiles.append(profile)
            profile.enable()

        threading.setprofile(start_profile)
        main = cProfile.Profile(time.thread_time)
        profiles.append(main)
        main.enable()
    cpu_marks = [time.process_time()]
    gc_marks = [0.0]  # seconds in full (generation-2) garbage collections, cumulative at each step's end
    gc_clock: dict[str, float] = {"total": 0.0, "start": 0.0}

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            gc_clock["start"] = time.perf_counter()
        else:
            gc_clock["total"] += time.perf_counter() - gc_clock["start"]

    gc.callbacks.append(on_gc)

    def progress(step: int, metrics: dict[str, float]) -> None:
        if step > 0:
            cpu_marks.append(time.process_time())
            gc_marks.append(gc_clock["total"])

    t0 = time.perf_counter()
    train(cfg, progress=progress)
    wall = time.perf_counter() - t0
    gc.callbacks.remove(on_gc)
    rows = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "time/step_s" in r]
    result: dict[str, Any] = {"step_s": [r["time/step_s"] for r in rows], "wall_s": wall,
                              "turns": sum(r.get("samples", 0.0) for r in rows),
                              "cpu_s": [b - a for a, b in itertools.pairwise(cpu_marks)],
                              "gc_s": [b - a for a, b in itertools.pairwise(gc_marks)],
                              "generation_s": [r["time/generation_s"] for r in rows],
                              "verification_s": [r.get("time/verification_s", 0.0) for r in rows],
                              "gen_tokens": [sum(v for k, v in r.items() if k.startswith("generated_tokens/"))
                                             for r in rows],
                              "train_tokens": [r.get("perf/trainer_tokens_per_s", 0.0) * r["time/optimisation_s"]
                                               for r in rows],
                              "optimisation_s": [r["time/optimisation_s"] for r in rows],
                              "trained_share": [_trained_share(r) for r in rows]}
    if args.profile:
        threading.setprofile(None)
        assert clock is not None
        clock.close()
        stats = pstats.Stats(profiles[0])
        for p in profiles[1:]:
            stats.add(p)
        s: dict[str, float] = dict(clock.seconds)
        # The lean decoder calls no embedding or LM-head module (the hooks above see only the model's own
        # forward): take its prefill and per-token step from the profile where it ran.
        s["prefill"] = max(s["prefill"], _cum(stats, "parley/llm/decoders.py", "prefill"))
        s["decode forward"] = max(s["decode forward"], _cum(stats, "parley/llm/decoders.py", "step"))
        s["prompt rendering"] = _cum(stats, "parley/debate/prompts.py", "render")
        s["chat template"] = _cum(stats, "transformers/utils/chat_template_utils.py", "render_jinja_template")
        s["tokenisation"] = max(0.0, _cum(stats, "parley/llm/hf.py", "encode_prompt") - s["chat template"])
        s["sampling"] = _cum(stats, "parley/llm/sampling.py", "sample_tokens")
        core = _cum(stats, "parley/llm/sampling.py", "generate")
        s["token bookkeeping"] = max(0.0, core - s["prefill"] - s["decode forward"] - s["sampling"])
        s["scoring"] = (_cum(stats, "parley/training/rollouts.py", "score_all")
                        + _cum(stats, "parley/rewards/signals.py", "debate_signals"))
        s["sample building"] = sum(_cum(stats, f, n) for f, n in (
            ("parley/training/samples.py", "samples_from_transcripts"), ("parley/training/samples.py", "pad_batch"),
            ("parley/rewards/shaping", "shape"), ("parley/training/advantages.py", "compute_advantages")))
        s["backward"] = _cum(stats, "torch/_tensor.py", "backward")
        s["optimizer"] = _cum(stats, "torch/optim/adamw.py", "step") or _cum(stats, "torch/optim/adam.py", "step")
        s["batcher + orchestration"] = max(0.0, _cum(stats, "parley/llm/hf.py", "_serve") - core
                                           + _cum(stats, "parley/debate/engine.py", "run_protocol")
                                           - s["prompt rendering"] - s["chat template"] - s["tokenisation"])
        s["other"] = max(0.0, sum(result["step_s"]) - sum(v for k, v in s.items()))
        result["split_s"] = s
    print("RESULT " + json.dumps(result), flush=True)


def _trained_share(row: dict[str, float]) -> float:
    """Share of a step's completion tokens that were forwarded (1 where the old code had no skipping)."""
    trained = sum(v for k, v in row.items() if k.startswith("trained_tokens/"))
    skipped = sum(v for k, v in row.items() if k.startswith("skipped_tokens/"))
    return trained / (trained + skipped) if trained + skipped else 1.0


def _old_model(old_src: Path) -> str:
    """The warm-started tiny model as the old tree builds it (cached by the old recipe's hash)."""
    code = "from parley.tiny.sft import ensure_tiny_sft_model; print('MODEL', ensure_tiny_sft_model())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=str(old_src)))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MODEL ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"building the old commit's warm-start model failed (exit {proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}\npass --model DIR to use another checkpoint")
    return lines[-1][len("MODEL "):]


def _old_tree(commit: str, dest: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True, check=False)
    if archive.returncode != 0:
        raise SystemExit(f"--old-commit {commit}: git archive failed ({archive.stderr.decode().strip()}); "
                         "run from a git checkout of parley that contains that commit")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest / "src"


def _run(side: tuple[Path, list[str]], args: argparse.Namespace, model_dir: str, profile: bool,
         steps: int | None = None) -> dict[str, Any]:
    src, extra = side
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--model-dir", model_dir,
           "--steps", str(steps or args.steps), "--problems", str(args.problems), "--group", str(args.group),
           "--new-tokens", str(args.new_tokens), "--shaping", args.shaping, *extra,
           *(["--threads", str(args.threads)] if args.threads else [])]
    if profile:
        cmd.append("--profile")
    env = dict(os.environ, PYTHONPATH=str(src))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"run with {src} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    return result


def _steady(values: list[float]) -> float:
    return statistics.mean(values[1:] or values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", action="store_true")
    parser.add_argument("--model", type=Path, default=None, help="an existing checkpoint directory instead")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--problems", type=int, default=8)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--shaping", default="identity")
    parser.add_argument("--old-commit", default=OLD_COMMIT)
    parser.add_argument("--threads", type=int, default=None,
                        help="model.num_threads on both sides (default: each side's own default: the old code "
                             "sets half the cores, the new trainer's compute thread all usable CPUs)")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled split runs")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--packing", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as tmp:
        old_src = _old_tree(args.old_commit, Path(tmp))
        if args.model is not None:
            model_dir = str(args.model)
        elif args.random:
            from parley.llm.tiny import build_tiny_model

            model_dir = str(build_tiny_model(Path(tmp) / "model", seed=0))
        else:
            print("warm-start model: the old commit's recipe (built once, a few minutes; then cached) ...", flush=True)
            model_dir = _old_model(old_src)
        print(f"model: {model_dir}")
        sides: dict[str, tuple[Path, list[str]]] = {
            "old": (old_src, []),
            "pad": (ROOT / "src", ["--packing", "pad"]),
            "new": (ROOT / "src", []),
        }
        print(f"svj, {args.problems} problems x G={args.group} per step, {args.new_tokens} new tokens, "
              f"{args.shaping} shaping, mean over steps 2..{args.steps} per run, {args.repeats} runs per side "
              f"alternating; old = {args.old_commit}, new = this checkout (prefix-shared packing), pad = this "
              "checkout with train.packing=pad")
        runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
        for _ in range(args.repeats):
            for side, spec in sides.items():
                runs[side].append(_run(spec, args, model_dir, profile=False))
        med = {}
        for side in sides:
            steps = [_steady(r["step_s"]) for r in runs[side]]
            gen = statistics.median(_steady(r["generation_s"]) for r in runs[side])
            opt = statistics.median(_steady(r["optimisation_s"]) for r in runs[side])
            ver = statistics.median(_steady(r["verification_s"]) for r in runs[side])
            gtok = statistics.median(_steady(r["gen_tokens"]) for r in runs[side])
            ttok = statistics.median(_steady(r["train_tokens"]) for r in runs[side])
            med[side] = statistics.median(steps)
            share = statistics.median(_steady(r.get("trained_share", [1.0])) for r in runs[side])
            print(f"{side:>4}: step {med[side]:.3f} s (median; runs {', '.join(f'{s:.3f}' for s in steps)}); "
                  f"generation {gen:.3f} s ({gtok:.0f} generated tokens, {gtok / gen:.0f}/s), verification "
                  f"{ver:.3f} s, optimisation {opt:.3f} s ({ttok:.0f} trained tokens, {ttok / opt:.0f}/s; "
                  f"{100 * share:.0f}% of completion tokens forwarded)")
        cpu = {side: statistics.median(_steady(r["cpu_s"]) for r in runs[side]) for side in sides}
        print(f"CPU time per step (all threads of the process; robust to other load on the machine): old "
              f"{cpu['old']:.3f} s, pad {cpu['pad']:.3f} s, new {cpu['new']:.3f} s = {cpu['old'] / cpu['new']:.2f}x "
              f"(median of runs); cores busy on average (CPU / wall): old {cpu['old'] / med['old']:.2f}, new "
              f"{cpu['new'] / med['new']:.2f}")
        gcs = {side: [sum(r["gc_s"][1:]) for r in runs[side]] for side in sides}
        print("full garbage collections in the measured steps (seconds per run, all measured steps): " + "; ".join(
            f"{side} {', '.join(f'{g:.3f}' for g in gcs[side])}" for side in sides))
        opts = {side: statistics.median(_steady(r["optimisation_s"]) for r in runs[side]) for side in sides}
        print(f"optimisation phase, prefix-shared packing vs padding: {opts['pad'] / opts['new']:.2f}x "
              f"(pad {opts['pad']:.3f} s, new {opts['new']:.3f} s per step)")
        ratio = med["old"] / med["new"]
        pairs = [_steady(o["step_s"]) / _steady(n["step_s"]) for o, n in zip(runs["old"], runs["new"], strict=True)]
        verdict = "meets" if ratio >= TARGET else "MISSES"
        print(f"speed-up new vs old: {ratio:.2f}x (median step times; per pair {', '.join(f'{p:.2f}' for p in pairs)})"
              f" (target >= {TARGET:.0f}x: {verdict})")
        print("(the two sides sample different sequences for the same seeds since the top_p=1 sampler changed, so "
              "their debates differ in length: compare the tokens/s too)")
        if args.no_profile:
            return
        if args.steps < 2:
            return
        print(f"\nprofiled split, steps 2..{args.steps} (a profiled {args.steps}-step run minus a profiled 1-step "
              "run, per side; seconds per step, share of the profiled step, ms per trained turn):")
        split = {}
        for side in ("old", "new"):
            full, first = _run(sides[side], args, model_dir, True), _run(sides[side], args, model_dir, True, steps=1)
            split[side] = {"split_s": {k: full["split_s"].get(k, 0.0) - first["split_s"].get(k, 0.0) for k in PHASES},
                           "step_s": full["step_s"][1:], "turns": full["turns"] - first["turns"]}
        print(f"{'phase':<26}" + "".join(f"{side:>28}" for side in split))
        for phase in PHASES:
            cells = []
            for side in split:
                r = split[side]
                n = max(len(r["step_s"]), 1)
                total = sum(r["step_s"])
                sec = max(0.0, r["split_s"].get(phase, 0.0))
                cells.append(f"{sec / n:8.3f} s {100 * sec / total:5.1f}% {1000 * sec / max(r['turns'], 1):6.2f} ms")
            print(f"{phase:<26}" + "".join(f"{c:>28}" for c in cells))
        print(f"{'profiled step':<26}" + "".join(
            f"{statistics.mean(split[s]['step_s']):8.3f} s{'':>18}" for s in split))


if __name__ == "__main__":
    main()
