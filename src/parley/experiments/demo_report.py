"""The ``demo_report`` stage kind: turn the demo's stage outputs into ``report.html`` and friends.

Sections: headline accuracy of every arm on the held-out problems (debate protocol) with Wilson
intervals and paired tests against the identity arm; debate vs single agent vs compute-matched
self-consistency for the warm start and the single-agent accuracy of each arm; learning curves per arm
(reward, shaped vs raw reward, per-role reward, KL/approx-KL, entropy); cost and throughput. Every number
comes from the stage outputs (per-problem results and ``metrics.jsonl``), none is typed.
"""

from __future__ import annotations

import json
from typing import Any

from parley.experiments.registry import StageContext, register_stage_kind


def _arm_name(arm_id: str) -> str:
    return (arm_id.split("=", 1)[1].split(",")[0] if "=" in arm_id else arm_id).split("#")[0]


@register_stage_kind("demo_report")
def demo_report(ctx: StageContext) -> None:
    from parley.evaluation import EvalResult, compare, load_eval
    from parley.evaluation.report import Section, accuracy_table, bar_figure, learning_curve_figure, write_report
    from parley.tracking import read_metrics

    out = ctx.output_dir
    base_dir = ctx.input_dir("baseline")
    baseline = {name: load_eval(base_dir / name) for name in ("svj", "single", "self_consistency")}
    k = json.loads((base_dir / "baseline.json").read_text())["self_consistency_k"]
    evals = ctx.input_dirs("evaluate")
    trains = ctx.input_dirs("train")
    debate = {"warm start": baseline["svj"]}
    single = {}
    for arm_id, directory in sorted(evals.items()):
        name = _arm_name(arm_id)
        debate[name] = load_eval(directory / "svj")
        single[name] = load_eval(directory / "single")
    reference = "identity" if "identity" in debate else next(iter(debate))
    table = accuracy_table(debate, reference_arm=reference)
    prep = json.loads((ctx.input_dir("prepare") / "model.json").read_text())
    unseen = set(prep["heldout_unseen_ids"])
    unseen_debate = {name: EvalResult(res.label, res.directory, [p for p in res.problems if p.problem_id in unseen],
                                      res.summary) for name, res in debate.items()}
    unseen_table = accuracy_table(unseen_debate, reference_arm=reference) if unseen else []
    fig_acc = bar_figure(debate, out / "accuracy_debate.png", title="held-out accuracy, svj protocol")
    protocols = {"svj (debate)": baseline["svj"], "single": baseline["single"],
                 f"self-consistency (k={k})": baseline["self_consistency"]}
    fig_protocols = bar_figure(protocols, out / "protocols_warm_start.png",
                               title="warm start: debate vs single vs compute-matched self-consistency")
    protocol_rows = []
    for label, res in protocols.items():
        s = res.summary
        protocol_rows.append({"protocol": label, "accuracy": s["accuracy"], "ci_low": s["ci_low"],
                              "ci_high": s["ci_high"], "n": s["n"],
                              "completion_tokens_per_problem": s["tokens"]["completion_per_sample"]
                              * s["samples_per_problem"]})
    for name, res in single.items():
        c = compare(debate[name], res)
        protocol_rows.append({"protocol": f"{name}: svj vs single", "accuracy": c.accuracy_a.rate,
                              "ci_low": c.accuracy_a.low, "ci_high": c.accuracy_a.high, "n": c.n,
                              "single_accuracy": c.accuracy_b.rate, "diff": c.bootstrap.diff,
                              "mcnemar_p": c.mcnemar.p_value})
    runs = {_arm_name(a): [read_metrics(d / "run")] for a, d in sorted(trains.items())}
    curves = []
    for metric in ("reward/mean", "shaping/mean_reward", "reward/solver", "shaped_reward/solver",
                   "shaped_reward/verifier", "approx_kl/solver", "entropy/solver"):
        if any(metric in r for recs in runs.values() for seed in recs for r in seed):
            curves.append(learning_curve_figure(runs, metric, out / f"curve_{metric.replace('/', '_')}.png"))
    cost_rows = []
    for name, recs in runs.items():
        rows = recs[0]
        cost_rows.append({
            "arm": name, "steps": len(rows),
            "train_seconds": sum(r.get("time/step_s", 0.0) for r in rows),
            "generation_s": sum(r.get("time/generation_s", 0.0) for r in rows),
            "counterfactual_s": sum(r.get("time/counterfactual_s", 0.0) for r in rows),
            "optimisation_s": sum(r.get("time/optimisation_s", 0.0) for r in rows),
            "counterfactual_rollouts": sum(r.get("counterfactual/rollouts", 0.0) for r in rows),
            "mean_rollouts_per_s": sum(r.get("perf/rollouts_per_s", 0.0) for r in rows) / max(len(rows), 1),
            "final_shaped_minus_raw": rows[-1].get("shaping/mean_abs_delta") if rows else None,
        })
    sections = [
        Section(title=f"Held-out accuracy by training arm (svj protocol; paired tests vs {reference})",
                text="Wilson 95% intervals; paired bootstrap of the difference and exact McNemar test on the same "
                     f"{prep['heldout']} held-out problems (distinct instances never trained on; "
                     f"{prep['heldout_question_overlap']:.0%} of them repeat a training question).",
                table=table, figures=[fig_acc]),
        Section(title="The same comparison on held-out questions that never occur in training",
                text=f"{len(unseen)} of {prep['heldout']} held-out problems "
                     f"({1 - prep['heldout_question_overlap']:.0%}) "
                     f"ask a question absent from the {prep['train']} training problems; the tiny task family has few "
                     "distinct questions, so this subset measures generalisation to unseen arithmetic facts.",
                table=unseen_table),
        Section(title="Debate vs single agent vs compute-matched self-consistency", table=protocol_rows,
                figures=[fig_protocols]),
        Section(title="Learning curves per arm", figures=curves),
        Section(title="Cost and throughput", table=cost_rows),
    ]
    html, md = write_report(out, "parley demo: credit assignment for a debate team", sections)
    headline = [{"arm": r["arm"], "accuracy": r["accuracy"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                 "diff_vs_ref": r["diff_vs_ref"], "diff_ci_low": r["diff_ci_low"], "diff_ci_high": r["diff_ci_high"],
                 "mcnemar_p": r["mcnemar_p"]} for r in table]
    (out / "headline.json").write_text(json.dumps({"reference": reference, "rows": headline,
                                                   "report": str(html), "markdown": str(md)}, indent=2,
                                                  default=_jsonable))


def _jsonable(value: Any) -> Any:
    return str(value)
