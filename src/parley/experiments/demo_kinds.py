"""Stage kinds of ``parley demo`` (and of any experiment that trains and evaluates debate teams).

- ``tiny_prepare``: build (or reuse) the warm-started tiny model; draw the RL training problems and
  held-out problems whose questions occur neither in RL training nor in the warm start's SFT data;
  write ``model.json``, ``train.jsonl``, ``heldout.jsonl``.
- ``model_prepare``: the same for a pretrained catalog model (``smollm2``): resolve it (an error
  naming ``parley model fetch`` when it is not there), draw RL training and held-out problems from a
  dataset with disjoint questions.
- ``baseline``: evaluate the warm start on the held-out problems with ``svj`` and ``single`` (at
  ``params.temperature``, greedy by default) and ``self_consistency`` at ``params.sc_temperature``
  (> 0, so its samples differ) with ``k`` matched to svj's completion tokens: ``k = round(svj tokens
  per problem / tokens of one single-agent sample at that temperature)``, the sample length measured by
  one sampled answer per problem (per-problem results, per-role rows, Wilson intervals);
  ``baseline.json`` records k, the temperatures and token budgets.
- ``train``: one RL arm (:func:`parley.training.trainer.train`) on ``train.jsonl``; resumes from its own
  checkpoints when the stage is re-run after a crash; a stop request ends it as ``stopped``.
- ``evaluate``: the arm's final policy on the held-out problems with the protocols in ``params``.
- ``demo_report`` (:mod:`parley.experiments.demo_report`): findings, tables, figures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from parley.config.models import DatasetConfig, ParleyConfig
from parley.data import load_problems
from parley.data.problem import Problem
from parley.experiments.errors import StageConfigError, StageDataError, StageStopped
from parley.experiments.plan import estimate_train_rollouts
from parley.experiments.registry import StageContext, register_stage_kind


def _write_problems(path: Path, problems: list[Any]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for p in problems:
            fh.write(p.model_dump_json() + "\n")
    os.replace(tmp, path)


def _dataset(path: Path) -> dict[str, Any]:
    return {"name": str(path), "options": {"domain": "integer"}}


def _unseen(pool: list[Problem], seen: set[str], size: int, hint: str = "") -> list[Problem]:
    """The first ``size`` problems of ``pool`` with distinct questions not in ``seen``, or a StageDataError."""
    heldout: list[Problem] = []
    questions: set[str] = set()
    if size <= 0:
        return heldout
    for p in pool:
        if p.question not in questions and p.question not in seen:
            heldout.append(p)
            questions.add(p.question)
        if len(heldout) == size:
            return heldout
    raise StageDataError(f"only {len(heldout)} held-out questions unseen in training; lower heldout_size"
                         + (f" {hint}" if hint else ""))


@register_stage_kind("tiny_prepare")
def tiny_prepare(ctx: StageContext) -> None:
    """Params: ``recipe`` (TinySFTRecipe overrides), ``train_size``, ``heldout_size``, ``seed``,
    ``exclude_sft_questions`` (default true; tiny task families with few questions need false)."""
    from parley.tiny.sft import EVAL_SEED, TinySFTRecipe, ensure_tiny_sft_model, sft_problems, tiny_dataset_config

    recipe = TinySFTRecipe(**ctx.params.get("recipe", {}))
    ctx.progress("building the warm-started tiny model (SFT on scripted debates)", 0.0)

    def on_step(step: int, loss: float) -> None:
        if step % 50 == 0:
            ctx.progress(f"SFT step {step}/{recipe.steps} loss {loss:.3f}", step / recipe.steps)

    model_dir = ensure_tiny_sft_model(recipe, progress=on_step)
    train_size = int(ctx.params.get("train_size", 200))
    heldout_size = int(ctx.params.get("heldout_size", 300))
    task = dict(recipe.task)
    train = load_problems(tiny_dataset_config(size=train_size, seed=int(ctx.params.get("seed", 11)), task=task))
    seen = {p.question for p in train}
    if ctx.params.get("exclude_sft_questions", True):
        seen |= {p.question for p in sft_problems(recipe)}
    pool = load_problems(tiny_dataset_config(size=heldout_size * 8, seed=EVAL_SEED, task=task))
    # Distinct questions that occur neither in RL training nor in the warm start's SFT debates.
    heldout = _unseen(pool, seen, heldout_size, "(or set exclude_sft_questions=false for a small task family)")
    _write_problems(ctx.output_dir / "train.jsonl", train)
    _write_problems(ctx.output_dir / "heldout.jsonl", heldout)
    (ctx.output_dir / "model.json").write_text(json.dumps({
        "model_dir": str(model_dir), "recipe": recipe.digest(), "task": task, "train": len(train),
        "heldout": len(heldout), "heldout_question_overlap": 0.0, "seen_questions": len(seen)}))
    ctx.progress(f"model ready; {len(train)} training / {len(heldout)} held-out problems", 1.0)


@register_stage_kind("model_prepare")
def model_prepare(ctx: StageContext) -> None:
    """Params: ``model`` (a catalog name), ``label`` (how the report names it), ``dataset`` (a
    :class:`DatasetConfig` mapping without ``size``/``seed``), ``train_size``, ``train_seed``,
    ``heldout_size``, ``heldout_seed``. Held-out problems are distinct questions absent from training."""
    from parley.llm.catalog import ModelNotAvailableError, resolve_model

    name = str(ctx.params["model"])
    try:
        model_dir = resolve_model(name)
    except ModelNotAvailableError as exc:
        raise StageConfigError(str(exc)) from exc
    dataset = dict(ctx.params["dataset"])
    train_size, heldout_size = int(ctx.params["train_size"]), int(ctx.params["heldout_size"])
    train = load_problems(DatasetConfig.model_validate(
        {**dataset, "size": train_size, "seed": int(ctx.params.get("train_seed", 11))}))
    seen = {p.question for p in train}
    pool = load_problems(DatasetConfig.model_validate(
        {**dataset, "size": heldout_size * 8, "seed": int(ctx.params.get("heldout_seed", 424242))}))
    heldout = _unseen(pool, seen, heldout_size)
    _write_problems(ctx.output_dir / "train.jsonl", train)
    _write_problems(ctx.output_dir / "heldout.jsonl", heldout)
    (ctx.output_dir / "model.json").write_text(json.dumps({
        "model_dir": str(model_dir), "model": name, "label": str(ctx.params.get("label", name)),
        "supervised_warm_start": False, "dataset": dataset, "train": len(train), "heldout": len(heldout),
        "heldout_question_overlap": 0.0, "seen_questions": len(seen)}))
    ctx.progress(f"{name} at {model_dir}; {len(train)} training / {len(heldout)} held-out problems", 1.0)


def _prepared(ctx: StageContext) -> tuple[Path, Path, Path]:
    prep = ctx.input_dir("prepare")
    info = json.loads((prep / "model.json").read_text())
    return Path(info["model_dir"]), prep / "train.jsonl", prep / "heldout.jsonl"


def _eval_config(ctx: StageContext, model_dir: Path, heldout: Path, protocol: str, *, temperature: float,
                 **protocol_extra: Any) -> ParleyConfig:
    data = dict(ctx.config_data)
    data.pop("train", None)
    cfg = ParleyConfig.model_validate(data)
    cfg.model = cfg.model.model_copy(update={"name": str(model_dir)})
    cfg.protocol = cfg.protocol.model_copy(update={"name": protocol, **protocol_extra})
    cfg.dataset = DatasetConfig.model_validate(_dataset(heldout))
    cfg.generation = cfg.generation.model_copy(update={"temperature": temperature, "samples_per_problem": 1})
    return cfg


@register_stage_kind("baseline")
def baseline(ctx: StageContext) -> None:
    """The warm start on the held-out problems: svj, single, and self-consistency at svj's token budget.

    Params: ``temperature`` (svj and single, default 0: greedy), ``sc_temperature`` (self-consistency,
    default 0.7; must be > 0 or its k samples would be identical).
    """
    from parley.evaluation import evaluate, matched_self_consistency_k

    temperature = float(ctx.params.get("temperature", 0.0))
    sc_temperature = float(ctx.params.get("sc_temperature", 0.7))
    if sc_temperature <= 0:
        raise StageConfigError(f"baseline: sc_temperature={sc_temperature}; self-consistency needs a temperature > 0 "
                               "(at 0 its k samples are identical and the vote is a single answer)")
    model_dir, _, heldout = _prepared(ctx)
    results = {}
    for i, protocol in enumerate(("svj", "single")):
        ctx.progress(f"evaluating the warm start with {protocol}", i / 3)
        results[protocol] = evaluate(_eval_config(ctx, model_dir, heldout, protocol, temperature=temperature),
                                     label=protocol, out_dir=ctx.output_dir)
    debate_tokens = results["svj"].summary["tokens"]["completion_per_sample"]
    single_tokens = results["single"].summary["tokens"]["completion_per_sample"]
    # A sampled answer is not as long as a greedy one (at T > 0 the solver works the columns more often),
    # so k is matched against one sample per problem at the self-consistency temperature.
    ctx.progress(f"sampling one single-agent answer per problem at T={sc_temperature} (the length of a sample)",
                 0.6)
    pilot = evaluate(_eval_config(ctx, model_dir, heldout, "single", temperature=sc_temperature),
                     label="single_sampled", out_dir=ctx.output_dir)
    sampled_tokens = pilot.summary["tokens"]["completion_per_sample"]
    k = matched_self_consistency_k(debate_tokens, sampled_tokens)
    ctx.progress(f"evaluating self-consistency with k={k} at T={sc_temperature} (svj's token budget)", 2 / 3)
    sc = evaluate(_eval_config(ctx, model_dir, heldout, "self_consistency", temperature=sc_temperature, num_samples=k),
                  label="self_consistency", out_dir=ctx.output_dir)
    (ctx.output_dir / "baseline.json").write_text(json.dumps({
        "self_consistency_k": k, "self_consistency_temperature": sc_temperature, "temperature": temperature,
        "svj_tokens": debate_tokens, "single_tokens": single_tokens, "single_sampled_tokens": sampled_tokens,
        "self_consistency_tokens": sc.summary["tokens"]["completion_per_sample"]}))


@register_stage_kind("train", estimate=estimate_train_rollouts)
def train_stage(ctx: StageContext) -> None:
    """One RL arm; the stage's output directory holds the run directory (so a re-run resumes)."""
    from parley.training.config import TrainRunConfig
    from parley.training.trainer import train

    model_dir, train_file, _ = _prepared(ctx)
    data = json.loads(json.dumps(ctx.config_data))
    data.setdefault("model", {})["name"] = str(model_dir)
    data["dataset"] = _dataset(train_file)
    data.setdefault("output", {})["dir"] = str(ctx.output_dir / "run")
    cfg = TrainRunConfig.model_validate(data)
    steps = cfg.train.steps
    (ctx.output_dir / "arm.json").write_text(json.dumps({
        "arm_id": ctx.arm_id, "strategy": cfg.train.shaping.name, "seed": cfg.train.seed,
        "values": ctx.arm_values}, default=str))

    def on_step(step: int, metrics: dict[str, float]) -> None:
        reward = metrics.get("reward/mean", float("nan"))
        ctx.progress(f"step {step}/{steps} reward {reward:.3f}" if step else "warm start evaluated", step / steps)
        if ctx.should_stop():
            raise StageStopped(f"stopped after step {step}")

    resume = (ctx.output_dir / "run" / "train_run.json").exists()
    result = train(cfg, resume=resume, progress=on_step)
    (ctx.output_dir / "final.json").write_text(json.dumps({k: str(v) for k, v in result.final_models.items()}))


@register_stage_kind("evaluate")
def evaluate_stage(ctx: StageContext) -> None:
    """The arm's final shared policy on the held-out problems; ``params.protocols`` (default svj, single)
    at ``params.temperature`` (default 0)."""
    from parley.evaluation import evaluate

    _, _, heldout = _prepared(ctx)
    trained = ctx.input_dir("train")
    finals = json.loads((trained / "final.json").read_text())
    if "shared" not in finals:
        raise StageConfigError("evaluate: only shared-policy arms are evaluated by this kind")
    protocols = ctx.params.get("protocols", ["svj", "single"])
    temperature = float(ctx.params.get("temperature", 0.0))
    for i, protocol in enumerate(protocols):
        ctx.progress(f"evaluating with {protocol}", i / len(protocols))
        evaluate(_eval_config(ctx, Path(finals["shared"]), heldout, protocol, temperature=temperature),
                 label=protocol, out_dir=ctx.output_dir)
    (ctx.output_dir / "done.json").write_text(json.dumps({"protocols": protocols, "temperature": temperature}))
