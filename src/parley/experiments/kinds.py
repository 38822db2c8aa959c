"""Built-in stage kinds (imported by every runner and stage process).

- ``prepare``: load the stage config's dataset with :func:`parley.data.load_problems` and write
  ``problems.jsonl`` (one :class:`~parley.data.Problem` per line) and ``dataset.json`` (name, count and
  the sha256 fingerprint of ids, questions and answers). Declare both as outputs.

``train``, ``eval``, ``compare`` and ``report`` kinds that call the training and evaluation libraries
register here too (with :func:`~parley.experiments.plan.estimate_train_rollouts` /
:func:`~parley.experiments.plan.estimate_eval_rollouts` as their ``estimate``).
"""

from __future__ import annotations

import hashlib
import json
import os

from parley.config.models import DatasetConfig
from parley.data import load_problems
from parley.experiments.errors import StageConfigError
from parley.experiments.registry import StageContext, register_stage_kind


@register_stage_kind("prepare")
def prepare_problems(ctx: StageContext) -> None:
    """Load the dataset once so every later stage reads the same problems (``params.limit`` caps it)."""
    dataset = getattr(ctx.config, "dataset", None)
    if not isinstance(dataset, DatasetConfig):
        raise StageConfigError(f"stage {ctx.stage_id}: the config has no dataset section")
    if "limit" in ctx.params:
        dataset = dataset.model_copy(update={"limit": int(ctx.params["limit"])})
    problems = load_problems(dataset)
    digest = hashlib.sha256()
    tmp = ctx.output_dir / "problems.jsonl.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        for p in problems:
            fh.write(p.model_dump_json() + "\n")
            digest.update(json.dumps([p.id, p.question, p.answer], ensure_ascii=False).encode("utf-8") + b"\n")
    os.replace(tmp, ctx.output_dir / "problems.jsonl")
    summary = {"dataset": dataset.name, "num_problems": len(problems), "sha256": digest.hexdigest()}
    (ctx.output_dir / "dataset.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    ctx.progress(f"{len(problems)} problems", 1.0)
