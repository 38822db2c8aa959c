"""The ``demo_report`` stage kind: turn the demo's stage outputs into ``report.html`` and friends.

It computes the findings (:mod:`parley.experiments.findings`: every arm x seed against the warm start
and against identity, paired over problems and seeds; per-role metrics; debate vs single vs
compute-matched self-consistency; flags for degenerate comparisons) and writes ``findings.json``,
``headline.json`` and the report (:mod:`parley.experiments.demo_sections`, drawn with
:mod:`parley.report`), which reads top-down like a results section: the findings paragraph and flags;
the arm comparison (table beside its figure); per-role effects; debate vs baselines; learning curves as
small multiples with seed bands; cost and throughput. ``report.html`` is self-contained; ``report.md``,
one CSV of raw values per table and ``figures/*.svg`` lie beside it. Every number comes from the stage
outputs (per-problem results, per-role rows and ``metrics.jsonl``), none is typed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley.evaluation import EvalResult
from parley.experiments.registry import StageContext, register_stage_kind

WARM_START = "warm start"


@dataclass(frozen=True)
class ArmSeed:
    """One trained arm at one seed: its held-out evaluations and its training metrics (steps >= 1)."""

    name: str
    seed: int
    arm_id: str
    debate_dir: Path
    single_dir: Path
    debate: EvalResult
    single: EvalResult
    metrics: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return f"{self.name} (seed {self.seed})"


@dataclass
class DemoInputs:
    """The demo's stage outputs, loaded: warm-start baselines, every arm x seed, the data split."""

    baseline_dir: Path
    baseline: dict[str, EvalResult]
    baseline_info: dict[str, Any]
    prep: dict[str, Any]
    runs: list[ArmSeed] = field(default_factory=list)

    def arms(self) -> dict[str, list[ArmSeed]]:
        """Strategy name -> its seeds (sorted), in the order the plan ran them."""
        out: dict[str, list[ArmSeed]] = {}
        for run in self.runs:
            out.setdefault(run.name, []).append(run)
        return {name: sorted(runs, key=lambda r: r.seed) for name, runs in out.items()}


def load_inputs(ctx: StageContext) -> DemoInputs:
    """Read the prepare, baseline, train and evaluate outputs this stage depends on."""
    from parley.evaluation import load_eval
    from parley.tracking import read_metrics

    base_dir = ctx.input_dir("baseline")
    inputs = DemoInputs(
        baseline_dir=base_dir,
        baseline={name: load_eval(base_dir / name) for name in ("svj", "single", "self_consistency")},
        baseline_info=json.loads((base_dir / "baseline.json").read_text()),
        prep=json.loads((ctx.input_dir("prepare") / "model.json").read_text()))
    evals = ctx.input_dirs("evaluate")
    for arm_id, train_dir in ctx.input_dirs("train").items():
        info = json.loads((train_dir / "arm.json").read_text())
        debate, single = evals[arm_id] / "svj", evals[arm_id] / "single"
        records = [r for r in read_metrics(train_dir / "run") if r.get("step", 0) > 0]
        inputs.runs.append(ArmSeed(str(info["strategy"]), int(info["seed"]), arm_id, debate, single,
                                   load_eval(debate), load_eval(single), records))
    return inputs


@register_stage_kind("demo_report")
def demo_report(ctx: StageContext) -> None:
    from parley.experiments.demo_sections import build_report
    from parley.experiments.findings import ArmRun, compute_findings

    out = ctx.output_dir
    inputs = load_inputs(ctx)
    ctx.progress("computing the findings", 0.2)
    findings = compute_findings(
        baseline_dir=inputs.baseline_dir,
        arms=[ArmRun(r.name, r.seed, r.debate_dir, r.single_dir) for r in inputs.runs],
        sc_k=int(inputs.baseline_info["self_consistency_k"]),
        sc_temperature=float(inputs.baseline_info["self_consistency_temperature"]),
        held_out={"n": inputs.prep["heldout"], "unseen_in_training": True, "train_problems": inputs.prep["train"]})
    (out / "findings.json").write_text(json.dumps(findings, indent=2))
    ctx.progress("writing the report", 0.6)
    paths = build_report(inputs, findings).write(out)
    headline = [{"arm": name, **{k: a["debate_accuracy"][k] for k in ("value", "ci_low", "ci_high", "n")},
                 "seeds": a["seeds"], "vs_warm_start": a["vs_warm_start"], "vs_identity": a["vs_identity"]}
                for name, a in findings["arms"].items()]
    (out / "headline.json").write_text(json.dumps({
        "reference": findings["reference"], "warm_start": findings["warm_start"]["debate_accuracy"], "rows": headline,
        "report": str(paths["html"]), "markdown": str(paths["md"]), "findings": str(out / "findings.json"),
        "tables": {k.split(":", 1)[1]: str(p) for k, p in paths.items() if k.startswith("csv:")}}, indent=2))
    ctx.progress(f"report: {paths['html']}", 1.0)
