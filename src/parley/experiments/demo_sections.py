"""The sections of the demo report, drawn from the findings dict and the stage outputs.

Order (a results section, top-down): the findings paragraph and flags; which strategy trains the better
team (table beside its figure); per-role effects; debate vs single agent vs self-consistency; learning
curves (one panel per metric, arms in the same colours throughout, bands over seeds); cost and
throughput. Accuracies, differences and per-role metrics are the ones of
:func:`parley.experiments.findings.compute_findings` (paired over problems and seeds); token counts and
times come from the per-problem results and ``metrics.jsonl``. Nothing here computes a finding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from parley.evaluation.report import band_sentence, learning_curves, tokens_per_problem, total_cost
from parley.experiments.demo_report import WARM_START, ArmSeed, DemoInputs
from parley.report import (
    Cell,
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
    interval_grid,
    numbers,
    render,
)

# Training metrics drawn as learning curves, in panel order (only those some arm logged are drawn).
CURVES: list[tuple[str, str]] = [
    ("reward/mean", "Outcome reward (mean over debates)"),
    ("shaping/mean_reward", "Shaped reward (mean over turns)"),
    ("reward/solver", "Outcome reward: solver turns"),
    ("shaped_reward/solver", "Shaped reward: solver"),
    ("shaped_reward/verifier", "Shaped reward: verifier"),
    ("debate/verifier_balanced_accuracy", "Verifier balanced accuracy (training batches)"),
    ("debate/verifier_pass_rate", "Verifier pass rate (training batches)"),
    ("approx_kl/solver", "KL(old \u2016 new), solver"),
    ("entropy/solver", "Entropy (nats), solver"),
]

# Per-role held-out metrics (findings' per_role), their names for people, whether they are rates, and
# what they are a share of (the tooltip).
ROLE_METRICS: list[tuple[str, str, bool, str]] = [
    ("solver_first_accuracy", "Solver: first attempt right", True, "share of debates whose first answer is right"),
    ("verifier_balanced_accuracy", "Verifier: balanced accuracy", True,
     "(pass rate on right attempts + fail rate on wrong attempts) / 2 over verifier checks"),
    ("verifier_accuracy", "Verifier: verdict matches the truth", True, "share of verifier checks"),
    ("verifier_pass_rate", "Verifier: says PASS", True, "share of verifier checks"),
    ("judge_accuracy", "Judge: own answer right", True, "share of judge turns"),
    ("flip_wrong_to_right", "Debate repairs a wrong first attempt", True,
     "share of debates with a wrong first attempt whose final answer is right"),
    ("flip_right_to_wrong", "Debate breaks a right first attempt", True,
     "share of debates with a right first attempt whose final answer is wrong"),
    ("rounds_used", "Rounds per debate", False, "mean rounds, t interval"),
]


def _order(inputs: DemoInputs, findings: Mapping[str, Any]) -> list[str]:
    """Arm names: the reference first, then the order the plan ran them."""
    names = [n for n in inputs.arms() if n in findings["arms"]]
    reference = findings.get("reference")
    return sorted(names, key=lambda n: n != reference)


def _stat(s: Mapping[str, Any] | None, percent: bool = True) -> Cell:
    if s is None:
        return Cell(numbers.MISSING)
    if percent:
        return Cell(numbers.percent_interval(s["value"], s["ci_low"], s["ci_high"]), tooltip=f"n = {s['n']}")
    return Cell(f"{numbers.significant(s['value'], 3)} [{numbers.significant(s['ci_low'], 3)}, "
                f"{numbers.significant(s['ci_high'], 3)}]", tooltip=f"n = {s['n']}")


def _diff_cell(d: Mapping[str, Any], a: str, b: str) -> Cell:
    seeds = f" ({d['seeds_a']} vs {d['seeds_b']} seeds)" if d.get("seeds_a") is not None else ""
    return Cell(numbers.points_interval(d["diff"], d["ci_low"], d["ci_high"]),
                tooltip=f"{a} minus {b} in percentage points over the same {d['n']} problems; 95% two-level "
                        f"bootstrap over problems and seeds{seeds}")


def p_test(d: Mapping[str, Any]) -> str:
    """Which test gave ``d["p"]`` (:func:`parley.evaluation.seeds.seeded_difference`)."""
    several = (d.get("seeds_a") or 1) > 1 or (d.get("seeds_b") or 1) > 1
    return "two-level bootstrap over problems and seeds" if several else "paired sign-flip test"


def _p_cell(d: Mapping[str, Any], a: str, b: str) -> Cell:
    return Cell(numbers.p_value(d["p"]), tooltip=f"{p_test(d)}; {a} ahead on {d['wins']} problems, "
                                                 f"{b} ahead on {d['losses']}")


def _flat(prefix: str, d: Mapping[str, Any] | None) -> dict[str, Any]:
    keys = ("diff", "ci_low", "ci_high", "p", "n", "wins", "losses", "seeds_a", "seeds_b")
    return {f"{prefix}_{k}": (d or {}).get(k) for k in keys}


def _unflat(row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) + 1:]: v for k, v in row.items() if k.startswith(prefix + "_")}


def _vs(prefix: str, reference: str) -> list[Column]:
    return [
        Column(f"\u0394 vs {reference}, points [95% CI]", f"{prefix}_diff",
               missing=lambda r: "reference" if r["arm"] == reference else "\u2014",
               format=lambda r: _diff_cell(_unflat(r, prefix), r["arm"], reference)),
        Column("p", f"{prefix}_p", missing="", format=lambda r: _p_cell(_unflat(r, prefix), r["arm"], reference),
               tooltip="two-level bootstrap over problems and seeds (a paired sign-flip test for one seed)"),
    ]


def arm_section(inputs: DemoInputs, findings: Mapping[str, Any], palette: Palette) -> Section:
    warm, arms, reference = findings["warm_start"], findings["arms"], findings["reference"]
    names = _order(inputs, findings)
    rows: list[dict[str, Any]] = [{"arm": WARM_START, "seeds": None, **_acc("debate", warm["debate_accuracy"]),
                                   **_flat("vs_warm", None), **_flat("vs_ref", None)}]
    for name in names:
        a = arms[name]
        rows.append({"arm": name, "seeds": len(a["seeds"]), **_acc("debate", a["debate_accuracy"]),
                     **_flat("vs_warm", a["vs_warm_start"]), **_flat("vs_ref", a["vs_identity"])})
    ref_columns = _vs("vs_ref", reference) if reference in arms else []
    table = Table("arms", [
        Column("Team", "arm", align="left"),
        Column("Seeds", "seeds", format=lambda r: str(r["seeds"]), missing="\u2014",
               constant_note="Every arm trained {value} seeds; accuracies pool their held-out debates."),
        Column("Debate accuracy [95% CI]", "debate", format=lambda r: _stat(_unflat(r, "debate"))),
        *_vs("vs_warm", WARM_START), *ref_columns,
    ], rows, caption=f"Held-out accuracy with the debate protocol (svj) on the same {warm['debate_accuracy']['n']} "
                     "problems; differences are paired on problems.",
        notes=["Intervals: 95% two-level bootstrap over problems and seeds (Wilson for one seed); p: from the "
               "same bootstrap when an arm has several seeds, a paired sign-flip permutation test for one seed "
               "(hover for the problems each side is ahead on)."])
    estimates = [Estimate(WARM_START, warm["debate_accuracy"]["value"], warm["debate_accuracy"]["ci_low"],
                          warm["debate_accuracy"]["ci_high"])]
    for name in names:
        s = arms[name]["debate_accuracy"]
        seeds = tuple(v["debate_accuracy"] for v in arms[name].get("per_seed", {}).values())
        estimates.append(Estimate(name, s["value"], s["ci_low"], s["ci_high"], points=seeds if len(seeds) > 1 else ()))
    figure = render(interval_chart(estimates, palette, xlabel="held-out debate accuracy (%)",
                                   reference=warm["debate_accuracy"]["value"], reference_label="warm start accuracy"),
                    "arms", "Held-out debate accuracy of each team: filled dots are accuracies over all seeds, lines "
                            "their 95% intervals, open circles single seeds; the dashed line marks the warm start.")
    held = findings.get("held_out", {})
    text = (f"The {held.get('n', warm['debate_accuracy']['n'])} held-out problems ask questions that occur neither in "
            f"the {held.get('train_problems', inputs.prep['train'])} RL training problems nor in the warm start's "
            "supervised data.")
    if inputs.prep.get("supervised_warm_start") is False:  # a pretrained model: the warm start is the model itself
        text = (f"The {held.get('n', warm['debate_accuracy']['n'])} held-out problems ask questions that do not occur "
                f"in the {held.get('train_problems', inputs.prep['train'])} RL training problems; the warm start is "
                f"the pretrained {inputs.prep.get('label', 'model')} itself.")
    return Section("Which credit-assignment strategy trains the better team",
                   [Paragraph(text), SideBySide(table, figure)], id="arms")


def _acc(prefix: str, s: Mapping[str, Any]) -> dict[str, Any]:
    return {prefix: s["value"], **{f"{prefix}_{k}": s[k] for k in ("value", "ci_low", "ci_high", "n")}}


def roles_section(inputs: DemoInputs, findings: Mapping[str, Any], palette: Palette) -> Section | None:
    teams = {WARM_START: findings["warm_start"]["per_role"],
             **{n: findings["arms"][n]["per_role"] for n in _order(inputs, findings)}}
    metrics = [m for m in ROLE_METRICS if any(m[0] in roles for roles in teams.values())]
    if not metrics:
        return None
    rows = []
    for key, label, _, meaning in metrics:
        row: dict[str, Any] = {"metric": label, "key": key, "definition": meaning}
        for team, roles in teams.items():
            s = roles.get(key)
            row.update({f"{team}": None if s is None else s["value"],
                        **{f"{team} {k}": None if s is None else s[k] for k in ("ci_low", "ci_high", "n")}})
        rows.append(row)

    def team_column(team: str) -> Column:
        def cell(r: Mapping[str, Any]) -> Cell:
            s = {"value": r[team], "ci_low": r[f"{team} ci_low"], "ci_high": r[f"{team} ci_high"], "n": r[f"{team} n"]}
            pct = next(m[2] for m in ROLE_METRICS if m[0] == r["key"])
            return _stat(s, percent=pct)
        return Column(team, team, format=cell)

    table = Table("roles", [Column("Held-out metric", "metric", align="left", format=lambda r: Cell(
        r["metric"], tooltip=r["definition"])), *(team_column(t) for t in teams)], rows,
        caption="What each role did in the held-out debates (seeds pooled), with 95% intervals.",
        notes=["Rates with Wilson intervals; the verifier's balanced accuracy with a bootstrap over debates; a metric "
               "with no applicable turn is n/a, never 0."])
    panels = []
    for key, label, percent, _ in metrics:
        if key in ("verifier_accuracy", "rounds_used"):
            continue
        ests = [Estimate(team, roles[key]["value"], roles[key]["ci_low"], roles[key]["ci_high"]) if key in roles
                else Estimate(team, None) for team, roles in teams.items()]
        panels.append((label + (" (%)" if percent else ""), ests, percent))
    blocks: list[Any] = [table]
    if panels:
        blocks.append(render(interval_grid(panels, palette), "roles",
                             "Per-role held-out metrics of each team (one panel per metric, same colours as above): "
                             "dots are values over the pooled seeds, lines their 95% intervals."))
    return Section("Per-role effects: what credit assignment changed in each role", blocks, id="roles")


def baseline_section(inputs: DemoInputs, findings: Mapping[str, Any]) -> Section:
    warm, base, arms = findings["warm_start"], findings["baselines"], findings["arms"]
    sc = base["self_consistency"]
    sc_label = f"self-consistency (k={sc['k']}, T={sc['temperature']:g})"
    rows = [_protocol_row(WARM_START, "debate (svj)", warm["debate_accuracy"], None, [inputs.baseline["svj"]]),
            _protocol_row(WARM_START, "single agent", warm["single_accuracy"], base["debate_vs_single"],
                          [inputs.baseline["single"]]),
            _protocol_row(WARM_START, sc_label, sc["accuracy"], base["debate_vs_self_consistency"],
                          [inputs.baseline["self_consistency"]])]
    runs = inputs.arms()
    for name in _order(inputs, findings):
        a = arms[name]
        rows.append(_protocol_row(name, "debate (svj)", a["debate_accuracy"], None, [r.debate for r in runs[name]]))
        rows.append(_protocol_row(name, "single agent", a["single_accuracy"], a["debate_vs_single"],
                                  [r.single for r in runs[name]]))
    n = warm["debate_accuracy"]["n"]
    table = Table("protocols", [
        Column("Team", "team", align="left"), Column("Protocol", "protocol", align="left"),
        Column("Accuracy [95% CI]", "accuracy", format=lambda r: _stat(_unflat(r, "accuracy"))),
        Column("Debate minus this, points [95% CI]", "vs_debate_diff", missing="reference",
               format=lambda r: _diff_cell(_unflat(r, "vs_debate"), "debate", r["protocol"])),
        Column("p", "vs_debate_p", missing="", format=lambda r: _p_cell(_unflat(r, "vs_debate"), "debate",
                                                                          r["protocol"])),
        Column("Completion tokens per problem", "completion_tokens", format=lambda r: numbers.count(
            r["completion_tokens"])),
    ], rows, caption=f"Each team under each protocol on the same {n} held-out problems; the difference is the "
                     "debate's accuracy minus the row's, paired on problems (and seeds).",
        notes=[f"Self-consistency samples k={sc['k']} answers at temperature {sc['temperature']:g} and takes the "
               "majority; k matches its completion tokens to the debate's. It was run for the warm start only; its k "
               f"samples agreed on {numbers.percent(sc['samples_identical_share'], 0)} of the problems."])
    teams = [WARM_START, *_order(inputs, findings)]
    series: dict[str, list[Estimate | None]] = {}
    for label, key in (("debate (svj)", "debate_accuracy"), ("single agent", "single_accuracy")):
        series[label] = [_estimate(warm[key]), *(_estimate(arms[t][key]) for t in teams[1:])]
    series[sc_label] = [_estimate(sc["accuracy"]), *(Estimate(sc_label, None, note="not run") for _ in teams[1:])]
    figure = render(bar_chart(teams, series, Palette(list(series)), ylabel="held-out accuracy (%)", width_in=9.6,
                              height_in=3.2),
                    "protocols", f"Held-out accuracy of each team with the debate, with a single agent and (warm start "
                                 f"only) with {sc_label} on the same {n} problems; error bars are 95% intervals.")
    blocks: list[Any] = [table, figure]
    return Section("Is debate worth its compute: debate vs single agent vs self-consistency", blocks, id="baselines")


def _estimate(s: Mapping[str, Any]) -> Estimate:
    return Estimate("", s["value"], s["ci_low"], s["ci_high"])


def _protocol_row(team: str, protocol: str, acc: Mapping[str, Any], vs_debate: Mapping[str, Any] | None,
                  results: Sequence[Any]) -> dict[str, Any]:
    completion = sum(sum(p.completion_tokens for p in r.problems) / len(r.problems) for r in results) / len(results)
    return {"team": team, "protocol": protocol, "arm": "debate", **_acc("accuracy", acc),
            **_flat("vs_debate", vs_debate), "completion_tokens": completion}


def curves_section(inputs: DemoInputs, palette: Palette) -> Section | None:
    runs = {name: [r.metrics for r in seeds if r.metrics] for name, seeds in inputs.arms().items()}
    runs = {name: seeds for name, seeds in runs.items() if seeds}
    if all(len(seed) < 2 for seeds in runs.values() for seed in seeds):
        return None  # one step per arm (a smoke run) draws no curve
    figure = learning_curves(runs, CURVES, palette, band="minmax") if runs else None
    if figure is None:
        return None
    caption = ("Training metrics at every step for each arm, one panel per metric, arms in the same colours as above. "
               f"{band_sentence(runs, 'minmax')} Rewards and verifier rates are over the training batches, not the "
               "held-out problems.")
    return Section("Learning curves", [render(figure, "learning_curves", caption)], id="curves")


def _sum(records: Sequence[Mapping[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if isinstance(r.get(key), int | float)]
    return float(sum(values)) if values else None


def _cost_row(run: ArmSeed) -> dict[str, Any]:
    m = run.metrics
    rates = [r["perf/rollouts_per_s"] for r in m if isinstance(r.get("perf/rollouts_per_s"), int | float)]
    return {"arm": run.label, "steps": len(m), "train_s": _sum(m, "time/step_s"),
            "generation_s": _sum(m, "time/generation_s"), "counterfactual_s": _sum(m, "time/counterfactual_s"),
            "optimisation_s": _sum(m, "time/optimisation_s"),
            "counterfactual_rollouts": _sum(m, "counterfactual/rollouts"),
            "rollouts_per_s": sum(rates) / len(rates) if rates else None,
            "eval_tokens_per_problem": tokens_per_problem(run.debate), "eval_cost_usd": total_cost(run.debate)}


def cost_section(inputs: DemoInputs) -> Section:
    rows = [_cost_row(run) for runs in inputs.arms().values() for run in runs]

    def secs(header: str, key: str) -> Column:
        return Column(header, key, format=lambda r: numbers.seconds(r[key]), zero_is_uninformative=True,
                      missing="\u2014")

    def counterfactuals(r: Mapping[str, Any]) -> str:
        return f"{numbers.count(r['counterfactual_rollouts'])} in {numbers.seconds(r['counterfactual_s'])}"

    columns = [Column("Arm", "arm", align="left"),
               Column("Steps", "steps", format=lambda r: numbers.count(r["steps"]),
                      constant_note="Every arm trained for {value} steps."),
               secs("Training time", "train_s"), secs("Generation", "generation_s"),
               secs("Optimisation", "optimisation_s"),
               Column("Counterfactual rollouts", "counterfactual_rollouts", zero_is_uninformative=True,
                      missing="\u2014", format=counterfactuals,
                      tooltip="extra rollouts run for difference / coma, and their time"),
               Column("Rollouts per s", "rollouts_per_s", format=lambda r: numbers.number(r["rollouts_per_s"])),
               Column("Held-out tokens per problem", "eval_tokens_per_problem",
                      format=lambda r: numbers.count(r["eval_tokens_per_problem"])),
               Column("Held-out cost", "eval_cost_usd", format=lambda r: numbers.usd(r["eval_cost_usd"]),
                      zero_is_uninformative=True,
                      omitted_note="Cost is left out: every call ran on a local model (no price).")]
    table = Table("cost", columns, rows, caption="Wall time and throughput of each arm's training at each seed (summed "
                                                 "over its steps from metrics.jsonl) and the size of its held-out "
                                                 "evaluation (debate protocol).")
    return Section("Cost and throughput", [table], id="cost")


def findings_section(findings: Mapping[str, Any]) -> Section:
    blocks: list[Any] = [Paragraph(findings["paragraph"])]
    blocks += [Paragraph(flag, kind="warning") for flag in findings["flags"]]
    if not findings["flags"]:
        blocks.append(Paragraph("No comparison was flagged as degenerate."))
    return Section("Findings", blocks, id="findings")


def build_report(inputs: DemoInputs, findings: Mapping[str, Any]) -> Report:
    """The demo report from its inputs and the findings computed from them."""
    names = _order(inputs, findings)
    palette = Palette([WARM_START, *names], reference=[WARM_START])
    sections = [findings_section(findings), arm_section(inputs, findings, palette)]
    roles = roles_section(inputs, findings, palette)
    if roles is not None:
        sections.append(roles)
    sections.append(baseline_section(inputs, findings))
    curves = curves_section(inputs, palette)
    if curves is not None:
        sections.append(curves)
    sections.append(cost_section(inputs))
    csvs = ", ".join(f"{t.id}.csv" for s in sections for t in Report("", [s]).tables())
    sections[0].blocks.append(Paragraph(f"Full-precision values lie beside this report: findings.json (every number "
                                        f"above) and one CSV per table ({csvs})."))
    seeds = sorted({len(findings["arms"][n]["seeds"]) for n in names})
    model = inputs.prep.get("label", "the embedded tiny model")
    subtitle = (f"{len(names)} credit-assignment strategies trained from one warm start on {model} "
                f"({'/'.join(map(str, seeds))} seeds each); {inputs.prep['train']} training problems, "
                f"{findings['warm_start']['debate_accuracy']['n']} held-out problems.")
    return Report("parley demo: which credit assignment trains a better debate team", sections, subtitle=subtitle)
