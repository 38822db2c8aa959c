"""The sections of the demo report, built from :class:`parley.experiments.demo_report.DemoInputs`.

Order (a results section, top-down): arm comparison (table beside its figure) with the held-out
questions never seen in training; debate vs single agent vs compute-matched self-consistency; learning
curves (one panel per metric, arms in the same colours throughout); cost and throughput. Numbers are
computed from per-problem results with :mod:`parley.evaluation.report` and drawn with :mod:`parley.report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from parley.evaluation import EvalResult, compare
from parley.evaluation.report import (
    accuracy_cell,
    accuracy_table,
    arm_estimates,
    band_sentence,
    diff_cell,
    learning_curves,
    mcnemar_cell,
    paired_row,
    subset,
    tokens_per_problem,
    total_cost,
)
from parley.evaluation.statistics import DEFAULT_RESAMPLES
from parley.experiments.demo_report import WARM_START, DemoInputs
from parley.report import (
    Column,
    Estimate,
    Palette,
    Paragraph,
    Report,
    Section,
    SideBySide,
    Table,
    bar_chart,
    interval_chart,
    numbers,
    render,
)

# Training metrics drawn as learning curves, in panel order (only those some arm logged are drawn).
CURVES: list[tuple[str, str]] = [
    ("reward/mean", "Outcome reward (mean over debates)"),
    ("shaped_reward/solver", "Shaped reward: solver"),
    ("shaped_reward/verifier", "Shaped reward: verifier"),
    ("shaped_reward/judge", "Shaped reward: judge"),
    ("debate/verifier_accuracy", "Verifier accuracy (training batches)"),
    ("debate/judge_accuracy", "Judge accuracy (training batches)"),
    ("debate/rounds_used", "Rounds per debate"),
    ("shaping/mean_abs_delta", "Mean |shaped \u2212 outcome| reward"),
    ("approx_kl/shared", "KL(old \u2016 new), shared policy"),
    ("approx_kl/solver", "KL(old \u2016 new), solver"),
    ("entropy/shared", "Entropy (nats), shared policy"),
    ("entropy/solver", "Entropy (nats), solver"),
]


def _vs(prefix: str, reference: str) -> list[Column]:
    return [
        Column(f"\u0394 vs {reference}, points [95% CI]", f"{prefix}diff_vs_ref",
               format=lambda r: diff_cell(r, prefix, f"{prefix}reference"), missing="reference"),
        Column("p", f"{prefix}mcnemar_p", format=lambda r: mcnemar_cell(r, prefix, f"{prefix}reference"), missing="",
               tooltip="exact McNemar test on the problems where exactly one of the two teams was right"),
    ]


def _arm_rows(results: Mapping[str, EvalResult], reference: str | None) -> list[dict[str, Any]]:
    """Accuracy rows paired against the warm start and (when given) against ``reference``."""
    rows = accuracy_table(results, WARM_START)
    for row in rows:
        row["ref_reference"] = reference
        if reference is not None:
            other = None if row["arm"] == reference else compare(
                results[row["arm"]], results[reference], n_resamples=DEFAULT_RESAMPLES)
            row.update(paired_row(other, "ref_"))
    return rows


def _arm_columns(reference: str | None) -> list[Column]:
    columns = [Column("Team", "arm", align="left"),
               Column("Debate accuracy [95% CI]", "accuracy", format=accuracy_cell), *_vs("", WARM_START)]
    if reference is not None:
        columns += _vs("ref_", reference)
    return columns


def arm_section(inputs: DemoInputs, palette: Palette) -> tuple[Section, list[dict[str, Any]]]:
    """Held-out debate accuracy of every team, paired against the warm start and the identity arm."""
    teams = {WARM_START: inputs.baseline["svj"], **{label: r.debate for label, r in inputs.by_label().items()}}
    reference = inputs.reference_label() if len(teams) > 2 else None
    rows = _arm_rows(teams, reference)
    n = rows[0]["n"]
    overlap = inputs.prep.get("heldout_question_overlap")
    notes = ["Intervals: 95% Wilson for accuracies, 95% paired bootstrap "
             f"({numbers.count(DEFAULT_RESAMPLES)} resamples) for differences; p: exact McNemar test "
             "(hover a p-value for its discordant counts b and c)."]
    table = Table("arms", _arm_columns(reference), rows, notes=notes,
                  caption=f"Held-out accuracy with the debate protocol (svj) on the same {n} problems; "
                          "differences are paired on problems.")
    figure = render(interval_chart(arm_estimates(rows), palette, xlabel="held-out debate accuracy (%)",
                                   reference=rows[0]["accuracy"], reference_label="warm start accuracy"),
                    "arms", f"Held-out debate accuracy of each team on the same {n} problems: dots are accuracies, "
                            "lines their 95% Wilson intervals, the dashed line marks the warm start.")
    blocks: list[Any] = []
    if overlap is not None:
        blocks.append(Paragraph(
            f"The {inputs.prep['heldout']} held-out problems are instances never trained on; "
            f"{numbers.percent(overlap, 0)} of them repeat a question that also occurs among the "
            f"{inputs.prep['train']} training problems, so the second table keeps only the others."))
    blocks.append(SideBySide(table, figure))
    blocks += unseen_blocks(inputs, teams)
    return Section("Which credit-assignment strategy trains the better team", blocks, id="arms"), rows


def unseen_blocks(inputs: DemoInputs, teams: Mapping[str, EvalResult]) -> list[Any]:
    """The arm comparison restricted to held-out questions absent from training (own n, tokens, cost)."""
    unseen = set(inputs.prep.get("heldout_unseen_ids", []))
    if "heldout_unseen_ids" not in inputs.prep:
        return []
    if not unseen:
        return [Paragraph("Every held-out question also occurs in training, so there is no unseen-question subset.")]
    rows = accuracy_table({name: subset(res, unseen) for name, res in teams.items()}, WARM_START)
    columns = [Column("Team", "arm", align="left"),
               Column("Debate accuracy [95% CI]", "accuracy", format=accuracy_cell), *_vs("", WARM_START),
               Column("Tokens per problem", "tokens_per_problem",
                      format=lambda r: numbers.count(r["tokens_per_problem"])),
               Column("Cost", "cost_usd", format=lambda r: numbers.usd(r["cost_usd"]), zero_is_uninformative=True)]
    return [Table("unseen", columns, rows,
                  caption=f"The same comparison on the {len(unseen)} held-out problems whose question never occurs in "
                          "training (tokens and cost of these problems only).")]


def baseline_section(inputs: DemoInputs) -> Section:
    """Debate vs single agent vs self-consistency, paired on problems, for the warm start and each arm."""
    k = inputs.baseline_info.get("self_consistency_k")
    temperature = inputs.baseline_info.get("self_consistency_temperature")
    sc_label = f"self-consistency (k={k}" + (f", T={temperature:g})" if temperature is not None else ")")
    teams: dict[str, dict[str, EvalResult]] = {
        WARM_START: {"debate (svj)": inputs.baseline["svj"], "single agent": inputs.baseline["single"],
                     sc_label: inputs.baseline["self_consistency"]}}
    for label, run in inputs.by_label().items():
        teams[label] = {"debate (svj)": run.debate, **({"single agent": run.single} if run.single else {})}
    rows = []
    for team, protocols in teams.items():
        debate = protocols["debate (svj)"]
        for protocol, result in protocols.items():
            c = None if result is debate else compare(debate, result, n_resamples=DEFAULT_RESAMPLES)
            acc = accuracy_table({protocol: result}, protocol)[0]
            completion = sum(p.completion_tokens for p in result.problems) / len(result.problems)
            rows.append({"team": team, "protocol": protocol, "arm": "debate", "reference": protocol,
                         **{key: acc[key] for key in ("n", "correct", "accuracy", "ci_low", "ci_high")},
                         **paired_row(c), "completion_tokens_per_problem": completion})
    columns = [Column("Team", "team", align="left"), Column("Protocol", "protocol", align="left"),
               Column("Accuracy [95% CI]", "accuracy", format=accuracy_cell),
               Column("Debate minus this, points [95% CI]", "diff_vs_ref", format=diff_cell, missing="reference"),
               Column("p", "mcnemar_p", format=mcnemar_cell, missing=""),
               Column("Completion tokens per problem", "completion_tokens_per_problem",
                      format=lambda r: numbers.count(r["completion_tokens_per_problem"]))]
    n = rows[0]["n"]
    table = Table("protocols", columns, rows,
                  caption=f"Each team under each protocol on the same {n} held-out problems; the difference is the "
                          "debate's accuracy minus the row's, paired on problems.",
                  notes=[f"Self-consistency samples k={k} answers and takes the majority; k is chosen so its "
                         "completion tokens match the debate's. It was run for the warm start only."])
    groups = list(teams)
    names = ["debate (svj)", "single agent", sc_label]
    series = {p: [(_estimate(teams[g][p]) if p in teams[g] else Estimate(p, None, note="not run")) for g in groups]
              for p in names}
    proto_palette = Palette(names)
    figure = render(bar_chart(groups, series, proto_palette, ylabel="held-out accuracy (%)",
                              width_in=9.6, height_in=3.2),
                    "protocols", f"Held-out accuracy of each team with the debate, with a single agent and with "
                                 f"{sc_label} on the same {n} problems; error bars are 95% Wilson intervals.")
    return Section("Is debate worth its compute: debate vs single agent vs self-consistency", [table, figure],
                   id="baselines")


def _estimate(result: EvalResult) -> Estimate:
    row = accuracy_table({result.label: result}, result.label)[0]
    return Estimate(result.label, row["accuracy"], row["ci_low"], row["ci_high"])


def curves_section(inputs: DemoInputs, palette: Palette) -> Section | None:
    runs: dict[str, list[list[dict[str, Any]]]] = {}
    for run in inputs.runs:
        if run.metrics:
            runs.setdefault(run.name, []).append(run.metrics)
    if not runs:
        return None
    figure = learning_curves(runs, CURVES, palette)
    if figure is None:
        return None
    caption = ("Training metrics at every step for each arm, one panel per metric, arms in the same colours as "
               f"above. {band_sentence(runs)} Rewards and accuracies are over the training batches, not the held-out "
               "problems.")
    return Section("Learning curves", [render(figure, "learning_curves", caption)], id="curves")


def _sum(records: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if isinstance(r.get(key), int | float)]
    return float(sum(values)) if values else None


def cost_section(inputs: DemoInputs) -> Section:
    rows = []
    for label, run in inputs.by_label().items():
        m = run.metrics
        rates = [r["perf/rollouts_per_s"] for r in m if isinstance(r.get("perf/rollouts_per_s"), int | float)]
        rows.append({"arm": label, "steps": len(m), "train_s": _sum(m, "time/step_s"),
                     "generation_s": _sum(m, "time/generation_s"), "counterfactual_s": _sum(m, "time/counterfactual_s"),
                     "optimisation_s": _sum(m, "time/optimisation_s"),
                     "counterfactual_rollouts": _sum(m, "counterfactual/rollouts"),
                     "rollouts_per_s": sum(rates) / len(rates) if rates else None,
                     "eval_tokens_per_problem": tokens_per_problem(run.debate),
                     "eval_cost_usd": total_cost(run.debate)})

    def secs(key: str) -> Column:
        return Column({"train_s": "Training time", "generation_s": "Generation",
                       "optimisation_s": "Optimisation"}[key], key,
                      format=lambda r: numbers.seconds(r[key]), zero_is_uninformative=True, missing="\u2014")

    def counterfactuals(r: Mapping[str, Any]) -> str:
        return f"{numbers.count(r['counterfactual_rollouts'])} in {numbers.seconds(r['counterfactual_s'])}"

    columns = [Column("Arm", "arm", align="left"),
               Column("Steps", "steps", format=lambda r: numbers.count(r["steps"]),
                      constant_note="Every arm trained for {value} steps."),
               secs("train_s"), secs("generation_s"), secs("optimisation_s"),
               Column("Counterfactual rollouts", "counterfactual_rollouts", zero_is_uninformative=True,
                      missing="\u2014", format=counterfactuals,
                      tooltip="extra rollouts run for difference / coma, and their time"),
               Column("Rollouts per s", "rollouts_per_s", format=lambda r: numbers.number(r["rollouts_per_s"])),
               Column("Held-out tokens per problem", "eval_tokens_per_problem",
                      format=lambda r: numbers.count(r["eval_tokens_per_problem"])),
               Column("Held-out cost", "eval_cost_usd", format=lambda r: numbers.usd(r["eval_cost_usd"]),
                      zero_is_uninformative=True,
                      omitted_note="Cost is left out: every call ran on a local model (no price).")]
    table = Table("cost", columns, rows, caption="Wall time and throughput of each arm's training (summed over its "
                                                 "steps from metrics.jsonl) and the size of its held-out evaluation.")
    return Section("Cost and throughput", [table], id="cost")


def build_report(inputs: DemoInputs) -> tuple[Report, list[dict[str, Any]]]:
    """The demo report and the raw rows of its arm table (for ``headline.json``)."""
    palette = Palette([WARM_START, *inputs.arm_names], reference=[WARM_START])
    for label, run in inputs.by_label().items():
        palette.alias(label, run.name)
    arms, rows = arm_section(inputs, palette)
    sections = [arms, baseline_section(inputs)]
    curves = curves_section(inputs, palette)
    if curves is not None:
        sections.append(curves)
    sections.append(cost_section(inputs))
    subtitle = (f"{len(inputs.arm_names)} credit-assignment strategies trained from one warm start on the embedded "
                f"tiny model; {inputs.prep['train']} training problems, {rows[0]['n']} held-out problems.")
    return Report("parley demo: which credit assignment trains a better debate team", sections,
                  subtitle=subtitle), rows
