"""Stage kinds of ``parley demo`` (and of any experiment that trains and evaluates debate teams).

- ``tiny_prepare``: build (or reuse) the warm-started tiny model, split the tiny task into training
  problems and held-out problems whose questions never occur in training; write ``model.json``,
  ``train.jsonl``, ``heldout.jsonl``.
- ``baseline``: evaluate the warm start on the held-out problems with ``svj``, ``single`` and
  ``self_consistency`` at a token budget matched to ``svj`` (per-problem results, Wilson intervals).
- ``train``: one RL arm (:func:`parley.training.trainer.train`) on ``train.jsonl``; resumes from its own
  checkpoints when the stage is re-run after a crash.
- ``evaluate``: the arm's final policy on the held-out problems with the protocols in ``params``.
- ``demo_report``: accuracy table against the identity arm (paired bootstrap + exact McNemar), debate vs
  single vs self-consistency, learning curves per arm, cost and throughput; ``report.html``,
  ``report.md``, PNGs and ``headline.json``. Every number is computed from the stage outputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from parley.config.models import DatasetConfig, ParleyConfig
from parley.data import load_problems
from parley.experiments.errors import StageConfigError, StageDataError
from parley.experiments.plan import estimate_train_rollouts
from parley.experiments.registry import StageContext, register_stage_kind


def _write_problems(path: Path, problems: list[Any]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for p in problems:
            fh.write(p.model_dump_json() + "\n")
    os.replace(tmp, path)


def _dataset(path: Path) -> dict[str, Any]:
    return {"name": str(path), "options": {"domain": "reasoning"}}


@register_stage_kind("tiny_prepare")
def tiny_prepare(ctx: StageContext) -> None:
    """Params: ``recipe`` (dict of TinySFTRecipe overrides), ``train_size``, ``heldout_size``, ``seed``."""
    from parley.tiny.sft import EVAL_SEED, TinySFTRecipe, ensure_tiny_sft_model, tiny_dataset_config

    recipe = TinySFTRecipe(**ctx.params.get("recipe", {}))
    ctx.progress("building the warm-started tiny model (SFT on scripted debates)", 0.0)

    def on_step(step: int, loss: float) -> None:
        if step % 50 == 0:
            ctx.progress(f"SFT step {step}/{recipe.steps} loss {loss:.3f}", step / recipe.steps)

    model_dir = ensure_tiny_sft_model(recipe, progress=on_step)
    train_size = int(ctx.params.get("train_size", 200))
    heldout_size = int(ctx.params.get("heldout_size", 300))
    disjoint = bool(ctx.params.get("disjoint", False))
    train = load_problems(tiny_dataset_config(size=train_size, seed=int(ctx.params.get("seed", 11))))
    seen = {p.question for p in train}
    pool = load_problems(tiny_dataset_config(size=heldout_size * 4, seed=EVAL_SEED))
    heldout, questions = [], set()
    for p in pool:
        # Distinct problem instances from another generator seed, one per question; with ``disjoint`` also no
        # question that occurs in training (the tiny task family has only a few hundred distinct questions).
        if p.question not in questions and not (disjoint and p.question in seen):
            heldout.append(p)
            questions.add(p.question)
        if len(heldout) == heldout_size:
            break
    if len(heldout) < heldout_size:
        raise StageDataError(f"only {len(heldout)} distinct held-out questions; lower heldout_size")
    overlap = [p.id for p in heldout if p.question in seen]
    _write_problems(ctx.output_dir / "train.jsonl", train)
    _write_problems(ctx.output_dir / "heldout.jsonl", heldout)
    (ctx.output_dir / "model.json").write_text(json.dumps({
        "model_dir": str(model_dir), "recipe": recipe.digest(), "train": len(train), "heldout": len(heldout),
        "heldout_question_overlap": len(overlap) / len(heldout),
        "heldout_unseen_ids": [p.id for p in heldout if p.question not in seen]}))
    ctx.progress(f"model ready; {len(train)} training / {len(heldout)} held-out problems", 1.0)


def _prepared(ctx: StageContext) -> tuple[Path, Path, Path]:
    prep = ctx.input_dir("prepare")
    info = json.loads((prep / "model.json").read_text())
    return Path(info["model_dir"]), prep / "train.jsonl", prep / "heldout.jsonl"


def _eval_config(ctx: StageContext, model_dir: Path, heldout: Path, protocol: str, **protocol_extra: Any
                 ) -> ParleyConfig:
    data = dict(ctx.config_data)
    data.pop("train", None)
    cfg = ParleyConfig.model_validate(data)
    cfg.model = cfg.model.model_copy(update={"name": str(model_dir)})
    cfg.protocol = cfg.protocol.model_copy(update={"name": protocol, **protocol_extra})
    cfg.dataset = DatasetConfig.model_validate(_dataset(heldout))
    cfg.generation = cfg.generation.model_copy(update={"temperature": float(ctx.params.get("temperature", 0.0)),
                                                       "samples_per_problem": 1})
    return cfg


@register_stage_kind("baseline")
def baseline(ctx: StageContext) -> None:
    """The warm start on the held-out problems: svj, single, and self-consistency at svj's token budget."""
    from parley.evaluation import evaluate, matched_self_consistency_k

    model_dir, _, heldout = _prepared(ctx)
    results = {}
    for i, protocol in enumerate(("svj", "single")):
        ctx.progress(f"evaluating the warm start with {protocol}", i / 3)
        results[protocol] = evaluate(_eval_config(ctx, model_dir, heldout, protocol), label=protocol,
                                     out_dir=ctx.output_dir)
    debate_tokens = results["svj"].summary["tokens"]["completion_per_sample"]
    single_tokens = results["single"].summary["tokens"]["completion_per_sample"]
    k = matched_self_consistency_k(debate_tokens, single_tokens)
    ctx.progress(f"evaluating self-consistency with k={k} (matched to svj's token budget)", 2 / 3)
    evaluate(_eval_config(ctx, model_dir, heldout, "self_consistency", num_samples=k), label="self_consistency",
             out_dir=ctx.output_dir)
    (ctx.output_dir / "baseline.json").write_text(json.dumps({"self_consistency_k": k, "svj_tokens": debate_tokens,
                                                              "single_tokens": single_tokens}))


@register_stage_kind("train", estimate=estimate_train_rollouts)
def train_stage(ctx: StageContext) -> None:
    """One RL arm; the stage's output directory is the run directory (so a re-run resumes)."""
    from parley.training.config import TrainRunConfig
    from parley.training.trainer import train

    model_dir, train_file, _ = _prepared(ctx)
    data = json.loads(json.dumps(ctx.config_data))
    data.setdefault("model", {})["name"] = str(model_dir)
    data["dataset"] = _dataset(train_file)
    data.setdefault("output", {})["dir"] = str(ctx.output_dir / "run")
    cfg = TrainRunConfig.model_validate(data)
    steps = cfg.train.steps

    def on_step(step: int, metrics: dict[str, float]) -> None:
        ctx.progress(f"step {step}/{steps} reward {metrics.get('reward/mean', float('nan')):.3f}", step / steps)
        if ctx.should_stop():
            raise KeyboardInterrupt("stage cancelled")

    resume = (ctx.output_dir / "run" / "train_run.json").exists()
    result = train(cfg, resume=resume, progress=on_step)
    (ctx.output_dir / "final.json").write_text(json.dumps({k: str(v) for k, v in result.final_models.items()}))


@register_stage_kind("evaluate")
def evaluate_stage(ctx: StageContext) -> None:
    """The arm's final shared policy on the held-out problems; ``params.protocols`` (default svj, single)."""
    from parley.evaluation import evaluate

    _, _, heldout = _prepared(ctx)
    trained = ctx.input_dir("train")
    finals = json.loads((trained / "final.json").read_text())
    if "shared" not in finals:
        raise StageConfigError("evaluate: only shared-policy arms are evaluated by this kind")
    protocols = ctx.params.get("protocols", ["svj", "single"])
    for i, protocol in enumerate(protocols):
        ctx.progress(f"evaluating with {protocol}", i / len(protocols))
        evaluate(_eval_config(ctx, Path(finals["shared"]), heldout, protocol), label=protocol, out_dir=ctx.output_dir)
    (ctx.output_dir / "done.json").write_text(json.dumps({"protocols": protocols}))
