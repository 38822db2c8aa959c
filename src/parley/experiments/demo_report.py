"""The ``demo_report`` stage kind: turn the demo's stage outputs into ``report.html`` and friends.

It computes the findings (:mod:`parley.experiments.findings`: every arm x seed against the warm start
and against identity, paired over problems and seeds; per-role metrics; debate vs single vs
compute-matched self-consistency; flags for degenerate comparisons) and writes ``findings.json``,
``headline.json``, ``report.html`` and ``report.md``. Sections: the findings paragraph and flags; the
arm comparison; per-role effects; debate vs baselines; learning curves per arm with seed bands (reward,
shaped vs raw reward, per-role reward, verifier balanced accuracy, KL, entropy); cost and throughput.
Every number comes from the stage outputs (per-problem results and ``metrics.jsonl``), none is typed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from parley.experiments.registry import StageContext, register_stage_kind

CURVES = ("reward/mean", "shaping/mean_reward", "reward/solver", "shaped_reward/solver", "shaped_reward/verifier",
          "debate/verifier_balanced_accuracy", "debate/verifier_pass_rate", "approx_kl/solver", "entropy/solver")


def _arm(train_dir: Path) -> tuple[str, int]:
    info = json.loads((train_dir / "arm.json").read_text())
    return str(info["strategy"]), int(info["seed"])


def _fmt(stat: dict[str, Any]) -> str:
    return f"{100 * stat['value']:.1f}% [{100 * stat['ci_low']:.1f}, {100 * stat['ci_high']:.1f}]"


def _fmt_diff(d: dict[str, Any] | None) -> str:
    if d is None:
        return ""
    p = f"{d['p']:.2g}" if d["p"] >= 0.001 else "<0.001"
    return f"{100 * d['diff']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] p={p}"


@register_stage_kind("demo_report")
def demo_report(ctx: StageContext) -> None:
    from parley.evaluation.report import Section, learning_curve_figure, write_report
    from parley.experiments.findings import ArmRun, compute_findings
    from parley.tracking import read_metrics

    out = ctx.output_dir
    base_dir = ctx.input_dir("baseline")
    baseline = json.loads((base_dir / "baseline.json").read_text())
    prep = json.loads((ctx.input_dir("prepare") / "model.json").read_text())
    trains = ctx.input_dirs("train")
    evals = ctx.input_dirs("evaluate")
    runs, names = [], {}
    for arm_id, train_dir in sorted(trains.items()):
        name, seed = _arm(train_dir)
        names[arm_id] = (name, seed)
        runs.append(ArmRun(name, seed, evals[arm_id] / "svj", evals[arm_id] / "single"))
    findings = compute_findings(baseline_dir=base_dir, arms=runs, sc_k=int(baseline["self_consistency_k"]),
                                sc_temperature=float(baseline["self_consistency_temperature"]),
                                held_out={"n": prep["heldout"], "unseen_in_training": True,
                                          "train_problems": prep["train"]})
    (out / "findings.json").write_text(json.dumps(findings, indent=2))
    arms = findings["arms"]
    table = [{"arm": "warm start", "seeds": 0, "debate accuracy": _fmt(findings["warm_start"]["debate_accuracy"]),
              "single accuracy": _fmt(findings["warm_start"]["single_accuracy"]), "vs warm start (points)": "",
              "vs identity (points)": ""}]
    for name, a in arms.items():
        table.append({"arm": name, "seeds": len(a["seeds"]), "debate accuracy": _fmt(a["debate_accuracy"]),
                      "single accuracy": _fmt(a["single_accuracy"]),
                      "vs warm start (points)": _fmt_diff(a["vs_warm_start"]),
                      "vs identity (points)": _fmt_diff(a["vs_identity"])})
    role_rows = []
    for name, roles in [("warm start", findings["warm_start"]["per_role"]),
                        *((n, a["per_role"]) for n, a in arms.items())]:
        row: dict[str, Any] = {"arm": name}
        for metric, stat in roles.items():
            row[metric.replace("_", " ")] = (f"{stat['value']:.2f} [{stat['ci_low']:.2f}, {stat['ci_high']:.2f}]")
        role_rows.append(row)
    sc = findings["baselines"]["self_consistency"]
    protocol_rows = [
        {"protocol": "svj (debate)", "accuracy": _fmt(findings["warm_start"]["debate_accuracy"]),
         "vs debate (points)": ""},
        {"protocol": "single", "accuracy": _fmt(findings["warm_start"]["single_accuracy"]),
         "vs debate (points)": _fmt_diff(_negate(findings["baselines"]["debate_vs_single"]))},
        {"protocol": f"self-consistency (k={sc['k']}, T={sc['temperature']:g})", "accuracy": _fmt(sc["accuracy"]),
         "vs debate (points)": _fmt_diff(_negate(findings["baselines"]["debate_vs_self_consistency"]))},
    ]
    by_name: dict[str, list[list[dict[str, Any]]]] = {}
    cost_rows = []
    for arm_id, train_dir in sorted(trains.items()):
        name, seed = names[arm_id]
        records = [r for r in read_metrics(train_dir / "run") if r["step"] > 0]
        by_name.setdefault(name, []).append(records)
        cost_rows.append({
            "arm": f"{name} (seed {seed})", "steps": len(records),
            "train seconds": round(sum(r.get("time/step_s", 0.0) for r in records), 1),
            "generation s": round(sum(r.get("time/generation_s", 0.0) for r in records), 1),
            "counterfactual s": round(sum(r.get("time/counterfactual_s", 0.0) for r in records), 1),
            "optimisation s": round(sum(r.get("time/optimisation_s", 0.0) for r in records), 1),
            "counterfactual rollouts": int(sum(r.get("counterfactual/rollouts", 0.0) for r in records)),
        })
    curves = []
    for metric in CURVES:
        if any(metric in r for recs in by_name.values() for seed in recs for r in seed):
            curves.append(learning_curve_figure(by_name, metric, out / f"curve_{metric.replace('/', '_')}.png",
                                                band="minmax"))
    flags = findings["flags"]
    sections = [
        Section(title="Findings", text=findings["paragraph"] + (
            " Flags: " + " | ".join(flags) if flags else " No comparison was flagged as degenerate.")),
        Section(title="Held-out accuracy by training arm (svj protocol)",
                text=f"{prep['heldout']} held-out problems whose questions occur neither in RL training nor in the "
                     "warm start's SFT data. Intervals: two-level bootstrap over seeds and problems; differences are "
                     "paired on the same problems, p from a sign-flip permutation test.", table=table),
        Section(title="Per-role metrics on the held-out debates (seeds pooled)", table=role_rows),
        Section(title="Debate vs single agent vs compute-matched self-consistency (warm start)", table=protocol_rows),
        Section(title="Learning curves per arm (mean over seeds, band: range)", figures=curves),
        Section(title="Cost and throughput", table=cost_rows),
    ]
    html, md = write_report(out, "parley demo: credit assignment for a debate team", sections)
    headline = [{"arm": name, **{k: a["debate_accuracy"][k] for k in ("value", "ci_low", "ci_high", "n")},
                 "seeds": a["seeds"], "vs_warm_start": a["vs_warm_start"], "vs_identity": a["vs_identity"]}
                for name, a in arms.items()]
    (out / "headline.json").write_text(json.dumps({
        "reference": findings["reference"], "warm_start": findings["warm_start"]["debate_accuracy"], "rows": headline,
        "report": str(html), "markdown": str(md), "findings": str(out / "findings.json")}, indent=2))


def _negate(d: dict[str, Any]) -> dict[str, Any]:
    """``b - a`` from the paired difference ``a - b`` (interval mirrored; same p)."""
    return {**d, "diff": -d["diff"], "ci_low": -d["ci_high"], "ci_high": -d["ci_low"]}
