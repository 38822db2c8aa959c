"""What a directory holds, found by the files each kind of parley output writes (no streamlit here).

- experiments: ``experiments.db`` (the runner's SQLite state) beside ``<experiment id>/manifest.json``;
- training runs: ``train_run.json`` (+ ``metrics.jsonl``, ``rollouts/`` or ``tables/debates.jsonl``);
- evaluations: ``summary.json`` + ``results.jsonl`` (``parley eval run``, experiment eval stages);
- generation stores: ``run.json`` (a trajectory store) + ``summary.json`` (``parley generate``, and the
  ``store/`` of every evaluation, which runs through the same generation path);
- CooperBench analyses: ``metrics.json`` + ``findings.json`` (``parley cooperbench analyze``).

The walk skips the insides of what it recognised (checkpoints, model weights, store shards) and is
bounded by ``max_depth`` so a large tree stays fast.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SKIP_DIRS = {"checkpoints", "final", "wandb", "mlartifacts", "logs", "__pycache__", "rollouts", "tables", "eval"}


@dataclass(frozen=True)
class TrainRun:
    """A training run directory; ``arm`` is set when it belongs to an experiment stage."""

    path: Path
    run_id: str
    label: str
    experiment: str | None = None
    arm: str | None = None


@dataclass(frozen=True)
class EvalRun:
    path: Path
    label: str
    protocol: str
    experiment: str | None = None
    arm: str | None = None


@dataclass(frozen=True)
class GenerationStore:
    path: Path
    run_id: str
    label: str


@dataclass(frozen=True)
class CooperBenchAnalysis:
    path: Path
    label: str


@dataclass(frozen=True)
class ExperimentDir:
    root: Path
    experiment_id: str
    path: Path


@dataclass
class Catalog:
    """Everything found under ``root``."""

    root: Path
    experiments: list[ExperimentDir] = field(default_factory=list)
    train_runs: list[TrainRun] = field(default_factory=list)
    evals: list[EvalRun] = field(default_factory=list)
    stores: list[GenerationStore] = field(default_factory=list)
    cooperbench: list[CooperBenchAnalysis] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.experiments or self.train_runs or self.evals or self.stores or self.cooperbench)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _stage_of(path: Path) -> tuple[str | None, str | None]:
    """(experiment id, arm label) when ``path`` lies in ``<exp>/stages/<stage>@<arm>/...``."""
    parts = path.parts
    if "stages" not in parts:
        return None, None
    i = len(parts) - 1 - parts[::-1].index("stages")
    if i + 1 >= len(parts) or i < 1:
        return None, None
    stage = parts[i + 1]
    arm = arm_label(stage.split("@", 1)[1]) if "@" in stage else None
    return parts[i - 1], arm


def arm_label(arm_id: str) -> str:
    """``shaping=coma_0806ff-5f85f4d3`` -> ``coma``; ``shaping=difference,seed=1`` -> ``difference,seed=1``."""
    parts = []
    for item in arm_id.split(","):
        value = item.split("=", 1)[1] if "=" in item else item
        value = value.split("#")[0]
        if "_" in value and len(value.rsplit("_", 1)[1].split("-")[0]) == 6:  # dir_name hash suffix
            value = value.rsplit("_", 1)[0]
        parts.append(value)
    return ",".join(parts)


def _relative(path: Path, root: Path) -> str:
    try:
        rel = str(path.relative_to(root))
    except ValueError:
        rel = str(path)
    return rel if rel != "." else path.name


def scan(root: str | Path, *, max_depth: int = 8) -> Catalog:
    """Find the parley outputs under ``root`` (see the module docstring)."""
    base = Path(root).resolve()
    catalog = Catalog(root=base)
    if not base.is_dir():
        return catalog
    base_depth = len(base.parts)
    for current, dirs, files in os.walk(base):
        here = Path(current)
        names = set(files)
        depth = len(here.parts) - base_depth
        if "experiments.db" in names:
            for d in sorted(dirs):
                if (here / d / "manifest.json").is_file():
                    catalog.experiments.append(ExperimentDir(here, d, here / d))
        exp, arm = _stage_of(here)
        recognised = False
        if "train_run.json" in names:
            info = _read_json(here / "train_run.json") or {}
            catalog.train_runs.append(TrainRun(here, str(info.get("run_id", here.name)),
                                               arm or _relative(here, base), exp, arm))
            recognised = True
        elif "summary.json" in names and "results.jsonl" in names:
            summary = _read_json(here / "summary.json") or {}
            catalog.evals.append(EvalRun(here, str(summary.get("label", here.name)),
                                         str(summary.get("protocol", "?")), exp, arm))
            recognised = True
        elif "run.json" in names and "summary.json" in names:
            info = _read_json(here / "run.json") or {}
            catalog.stores.append(GenerationStore(here, str(info.get("run_id", here.name)), _relative(here, base)))
            recognised = True
        elif "metrics.json" in names and "findings.json" in names:
            catalog.cooperbench.append(CooperBenchAnalysis(here, _relative(here, base)))
            recognised = True
        keep = [] if depth >= max_depth else [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".")]
        if recognised:
            keep = [d for d in keep if d not in {"run"}]
        dirs[:] = sorted(keep)
    catalog.train_runs.sort(key=lambda r: (r.experiment or "", r.label))
    catalog.evals.sort(key=lambda r: (r.experiment or "", r.arm or "", r.label))
    catalog.stores.sort(key=lambda s: ("/stages/" in f"/{s.label}", s.label))  # stand-alone stores first
    return catalog
