"""The ``demo_report`` stage kind: turn the demo's stage outputs into ``report.html`` and friends.

The report reads top-down like a results section (sections built in :mod:`parley.experiments.demo_sections`):
the arm comparison (table beside its figure), held-out questions never seen in training, debate vs
single agent vs compute-matched self-consistency, learning curves as small multiples, cost and
throughput last. Every number comes from the stage outputs (per-problem results and ``metrics.jsonl``),
none is typed. Outputs: ``report.html`` (self-contained), ``report.md``, one CSV of raw values per table,
``figures/*.svg`` and ``headline.json`` (the arm table at full precision, read by ``parley demo``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from parley.evaluation import EvalResult
from parley.experiments.registry import StageContext, register_stage_kind

WARM_START = "warm start"
REFERENCE = "identity"


@dataclass(frozen=True)
class ArmRun:
    """One trained arm at one seed: its held-out evaluations and its training metrics."""

    name: str
    arm_id: str
    seed: int | None
    debate: EvalResult
    single: EvalResult | None
    metrics: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return self.name if self.seed is None else f"{self.name} (seed {self.seed})"


@dataclass
class DemoInputs:
    """The demo's stage outputs, loaded: warm-start baselines, every arm run, the data split."""

    baseline: dict[str, EvalResult]
    baseline_info: dict[str, Any]
    prep: dict[str, Any]
    runs: list[ArmRun] = field(default_factory=list)

    @property
    def arm_names(self) -> list[str]:
        names: list[str] = []
        for run in self.runs:
            if run.name not in names:
                names.append(run.name)
        return names

    @property
    def several_seeds(self) -> bool:
        return len({r.label for r in self.runs}) > len(self.arm_names)

    def by_label(self) -> dict[str, ArmRun]:
        """Row label -> run (``identity`` with one seed per arm, ``identity (seed 1)`` with several)."""
        return {(r.label if self.several_seeds else r.name): r for r in self.runs}

    def reference_label(self) -> str:
        labels = list(self.by_label())
        matches = [label for label in labels if label.split(" (")[0] == REFERENCE]
        return matches[0] if matches else labels[0]


def parse_arm_id(arm_id: str) -> tuple[str, int | None]:
    """``shaping=identity,seed=1`` -> (``identity``, 1); the strategy is the ``shaping`` value (else the
    first value), without the content-hash suffix the planner adds to non-trivial values."""
    values = dict(part.split("=", 1) for part in arm_id.split(",") if "=" in part)
    if not values:
        return arm_id.split("#")[0], None
    name = values.get("shaping", next(iter(values.values()))).split("#")[0]
    seed_text = next((v for k, v in values.items() if k == "seed" or k.endswith(".seed")), None)
    return name, int(seed_text) if seed_text is not None and seed_text.lstrip("-").isdigit() else None


def load_inputs(ctx: StageContext) -> DemoInputs:
    """Read the prepare, baseline, train and evaluate outputs this stage depends on."""
    from parley.evaluation import load_eval
    from parley.tracking import read_metrics

    base_dir = ctx.input_dir("baseline")
    inputs = DemoInputs(
        baseline={name: load_eval(base_dir / name) for name in ("svj", "single", "self_consistency")},
        baseline_info=json.loads((base_dir / "baseline.json").read_text()),
        prep=json.loads((ctx.input_dir("prepare") / "model.json").read_text()))
    trains = ctx.input_dirs("train")
    evals = ctx.input_dirs("evaluate")
    # The reference strategy first, then the plan's (spec) order.
    for arm_id in sorted(evals, key=lambda a: parse_arm_id(a)[0] != REFERENCE):
        directory = evals[arm_id]
        name, seed = parse_arm_id(arm_id)
        single = directory / "single"
        inputs.runs.append(ArmRun(name, arm_id, seed, load_eval(directory / "svj"),
                                  load_eval(single) if single.is_dir() else None,
                                  read_metrics(trains[arm_id] / "run") if arm_id in trains else []))
    return inputs


@register_stage_kind("demo_report")
def demo_report(ctx: StageContext) -> None:
    from parley.experiments.demo_sections import build_report

    out = ctx.output_dir
    inputs = load_inputs(ctx)
    ctx.progress("writing the report", 0.5)
    report, arm_rows = build_report(inputs)
    paths = report.write(out)
    headline = [{k: r[k] for k in ("arm", "accuracy", "ci_low", "ci_high", "n", "correct", "diff_vs_ref",
                                   "diff_ci_low", "diff_ci_high", "mcnemar_b", "mcnemar_c", "mcnemar_p")}
                for r in arm_rows]
    (out / "headline.json").write_text(json.dumps(
        {"reference": WARM_START, "rows": headline, "report": str(paths["html"]), "markdown": str(paths["md"]),
         "tables": {k.split(":", 1)[1]: str(p) for k, p in paths.items() if k.startswith("csv:")}},
        indent=2, default=_jsonable))
    ctx.progress(f"report: {paths['html']}", 1.0)


def _jsonable(value: Any) -> str:
    return str(value)
