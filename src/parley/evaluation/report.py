"""Evaluation results as report blocks: accuracy rows, tables, interval charts, learning curves, and the
``parley eval compare --report`` page. Drawing and layout come from :mod:`parley.report`; every number is
computed here from the per-problem results (or ``metrics.jsonl`` records) passed in, never typed.

Intervals: accuracies carry Wilson intervals (Wilson 1927); a difference against a reference arm a paired
percentile bootstrap interval (Efron 1979) and an exact McNemar p-value (McNemar 1947), whose discordant
counts ``b`` / ``c`` are shown in the cell's tooltip. Learning-curve bands are Student-t intervals of the
mean over seeds (or the min-max range), drawn where a step has at least two seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from matplotlib.figure import Figure

from parley.evaluation.compare import Comparison, compare
from parley.evaluation.results import EvalResult, Metric
from parley.evaluation.statistics import DEFAULT_ALPHA, DEFAULT_RESAMPLES, mean_ci, proportion
from parley.report import (
    Cell,
    Column,
    Estimate,
    Palette,
    Panel,
    Paragraph,
    Report,
    Section,
    Series,
    SideBySide,
    Table,
    curve_grid,
    interval_chart,
    numbers,
    render,
)

Band = Literal["t_ci", "minmax"]


def tokens_per_problem(result: EvalResult) -> float:
    """Prompt + completion tokens per problem, from this result's problems (a subset has its own)."""
    return sum(p.prompt_tokens + p.completion_tokens for p in result.problems) / len(result.problems)


def total_cost(result: EvalResult) -> float | None:
    """Dollar cost of this result's problems; ``None`` when any call's price is unknown."""
    costs = [p.cost_usd for p in result.problems]
    return None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None))


def subset(result: EvalResult, problem_ids: set[str]) -> EvalResult:
    """The same arm restricted to ``problem_ids`` (tokens and cost then come from the subset)."""
    return EvalResult(result.label, result.directory, [p for p in result.problems if p.problem_id in problem_ids],
                      result.summary)


def accuracy_table(
    results: Mapping[str, EvalResult],
    reference_arm: str,
    *,
    metric: Metric = "first",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
) -> list[dict[str, Any]]:
    """Raw rows, one per arm: accuracy with its Wilson interval and, for the other arms, the paired
    difference ``arm - reference`` (bootstrap interval, exact McNemar: ``b`` problems only the arm got
    right, ``c`` only the reference). The reference row has ``None`` in the paired columns. Tokens and
    cost are computed from each result's own problems.

    Raises:
        KeyError: ``reference_arm`` is not in ``results``.
        EvaluationError: an arm was run on different problems than the reference.
    """
    if reference_arm not in results:
        raise KeyError(f"reference arm {reference_arm!r} not among {sorted(results)}")
    rows = []
    for arm, result in results.items():
        outcomes = list(result.outcomes(metric).values())
        prop = proportion(sum(outcomes), len(outcomes), alpha)
        row: dict[str, Any] = {"arm": arm, "reference": reference_arm, "n": prop.n, "correct": prop.successes,
                               "accuracy": prop.rate, "ci_low": prop.low, "ci_high": prop.high,
                               "tokens_per_problem": tokens_per_problem(result), "cost_usd": total_cost(result)}
        row.update(paired_row(compare(result, results[reference_arm], metric=metric, n_resamples=n_resamples,
                                      seed=seed, alpha=alpha) if arm != reference_arm else None))
        rows.append(row)
    return rows


def paired_row(c: Comparison | None, prefix: str = "") -> dict[str, Any]:
    """The paired columns of a row, keys prefixed with ``prefix`` (all ``None`` for the reference itself)."""
    keys = ("diff_vs_ref", "diff_ci_low", "diff_ci_high", "bootstrap_p", "mcnemar_b", "mcnemar_c", "mcnemar_p")
    if c is None:
        return {prefix + k: None for k in keys}
    values = (c.diff, c.bootstrap.low, c.bootstrap.high, c.bootstrap.p_value, c.mcnemar.b, c.mcnemar.c,
              c.mcnemar.p_value)
    return {prefix + k: v for k, v in zip(keys, values, strict=True)}


def accuracy_cell(row: Mapping[str, Any], prefix: str = "") -> Cell:
    """``23.7% [19.2, 28.8]`` with ``correct of n`` in the tooltip (keys ``accuracy``/``ci_low``/... with
    an optional ``prefix``)."""
    text = numbers.percent_interval(row[f"{prefix}accuracy"], row.get(f"{prefix}ci_low"), row.get(f"{prefix}ci_high"))
    correct, n = row.get(f"{prefix}correct"), row.get(f"{prefix}n")
    tip = f"{correct} of {n} problems correct; 95% Wilson interval" if correct is not None else "95% Wilson interval"
    return Cell(text, tooltip=tip)


def diff_cell(row: Mapping[str, Any], prefix: str = "", reference_key: str = "reference") -> Cell:
    """``+3.3 [−1.0, +7.7]`` (points) with what was subtracted from what in the tooltip."""
    return Cell(numbers.points_interval(row[f"{prefix}diff_vs_ref"], row[f"{prefix}diff_ci_low"],
                                        row[f"{prefix}diff_ci_high"]),
                tooltip=f"accuracy difference in percentage points, {row['arm']} minus {row[reference_key]}, "
                        f"with its paired bootstrap 95% interval over the same {row['n']} problems")


def mcnemar_cell(row: Mapping[str, Any], prefix: str = "", reference_key: str = "reference") -> Cell:
    """The exact McNemar p (two significant figures) with its discordant counts in the tooltip."""
    return Cell(numbers.p_value(row[f"{prefix}mcnemar_p"]),
                tooltip=f"exact McNemar test: b = {row[f'{prefix}mcnemar_b']} problems only {row['arm']} solved, "
                        f"c = {row[f'{prefix}mcnemar_c']} only {row[reference_key]} solved")


def arm_columns(reference: str, *, first_header: str = "Arm", reference_text: str = "reference") -> list[Column]:
    """Columns for :func:`accuracy_table` rows: arm, accuracy, difference vs the reference, McNemar p,
    tokens per problem and cost (dropped when every call ran on a local model)."""
    return [
        Column(first_header, "arm", align="left"),
        Column("Accuracy [95% CI]", "accuracy", format=accuracy_cell),
        Column(f"\u0394 vs {reference}, points [95% CI]", "diff_vs_ref", format=diff_cell, missing=reference_text),
        Column("McNemar p", "mcnemar_p", format=mcnemar_cell, missing=""),
        Column("Tokens per problem", "tokens_per_problem", format=lambda r: numbers.count(r["tokens_per_problem"])),
        Column("Cost", "cost_usd", format=lambda r: numbers.usd(r["cost_usd"]), zero_is_uninformative=True,
               omitted_note="Cost is left out: every call ran on a local model (no price)."),
    ]


def arm_estimates(rows: Sequence[Mapping[str, Any]]) -> list[Estimate]:
    """Chart rows (accuracy and Wilson interval) for :func:`parley.report.interval_chart`."""
    return [Estimate(str(r["arm"]), r["accuracy"], r["ci_low"], r["ci_high"]) for r in rows]


def seed_series(seeds: Sequence[Sequence[Mapping[str, Any]]], metric: str, label: str, *, x_key: str = "step",
                band: Band = "t_ci", alpha: float = DEFAULT_ALPHA) -> Series | None:
    """The mean of ``metric`` over seeds at each ``x_key`` with a band where a step has >= 2 seeds;
    ``None`` when no record has the metric."""
    points: dict[float, list[float]] = {}
    for records in seeds:
        for record in records:
            value, x = record.get(metric), record.get(x_key)
            if isinstance(value, int | float) and isinstance(x, int | float) and math.isfinite(value):
                points.setdefault(float(x), []).append(float(value))
    if not points:
        return None
    xs = sorted(points)
    means: list[float] = []
    lows: list[float | None] = []
    highs: list[float | None] = []
    for x in xs:
        values = points[x]
        stats = mean_ci(values, alpha)
        means.append(stats.mean)
        if len(values) < 2:
            lows.append(None)
            highs.append(None)
        elif band == "minmax":
            lows.append(min(values))
            highs.append(max(values))
        else:
            lows.append(stats.low)
            highs.append(stats.high)
    return Series(label, xs, means, lows, highs, seeds=len(seeds))


def band_sentence(runs: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]], band: Band = "t_ci",
                  alpha: float = DEFAULT_ALPHA) -> str:
    """How to read the bands of a curve grid over ``runs`` (arm -> records per seed)."""
    counts = sorted({len(seeds) for seeds in runs.values()})
    if counts == [1]:
        return "Each arm ran one seed, so there is no band over seeds."
    seeds = "/".join(str(c) for c in counts)
    kind = f"the {1 - alpha:.0%} Student-t interval of the mean" if band == "t_ci" else "the min-max range"
    return f"Lines are means over {seeds} seeds; shaded bands are {kind} over seeds at each step."


def learning_curves(runs: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]], metrics: Sequence[tuple[str, str]],
                    palette: Palette, *, band: Band = "t_ci", alpha: float = DEFAULT_ALPHA,
                    columns: int = 3) -> Figure | None:
    """A small-multiples grid, one panel per ``(metric, title)`` that some arm logged; ``None`` if none."""
    panels = []
    for metric, title in metrics:
        series = [s for arm, seeds in runs.items() if (s := seed_series(seeds, metric, arm, band=band, alpha=alpha))]
        if series:
            panels.append(Panel(title, series))
    return curve_grid(panels, palette, columns=columns) if panels else None


def comparison_report(a: EvalResult, b: EvalResult, out_dir: str | Path, *, metric: Metric = "first",
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> dict[str, Path]:
    """``parley eval compare --report DIR``: the paired comparison of ``a`` and ``b`` as ``report.html``
    (with ``report.md``, ``arms.csv`` and the figure), ``b`` as the reference."""
    names = {a.label: a, b.label: b} if a.label != b.label else {f"A: {a.label}": a, f"B: {b.label}": b}
    (name_a, res_a), (name_b, res_b) = names.items()
    rows = accuracy_table({name_a: res_a, name_b: res_b}, name_b, metric=metric, n_resamples=n_resamples, seed=seed)
    c = compare(res_a, res_b, metric=metric, n_resamples=n_resamples, seed=seed)
    palette = Palette([name_a, name_b])
    row = rows[0]
    summary = (f"On the same {c.n} problems ({'first sample' if metric == 'first' else 'majority vote'} of each), "
               f"{name_a} solved {numbers.percent_interval(row['accuracy'], row['ci_low'], row['ci_high'])} and "
               f"{name_b} {numbers.percent_interval(rows[1]['accuracy'], rows[1]['ci_low'], rows[1]['ci_high'])} "
               f"(95% Wilson intervals). The paired difference is "
               f"**{numbers.points_interval(c.diff, c.bootstrap.low, c.bootstrap.high)} points** (95% paired "
               f"bootstrap, {numbers.count(c.bootstrap.n_resamples)} resamples, seed {c.bootstrap.seed}); "
               f"exact McNemar p = {numbers.p_value(c.mcnemar.p_value)} with {c.mcnemar.b} problems only {name_a} "
               f"solved and {c.mcnemar.c} only {name_b} solved.")
    table = Table("arms", arm_columns(name_b), rows, caption=f"Accuracy of each arm; differences are {name_a} minus "
                                                      f"{name_b}, paired on the {c.n} problems.")
    figure = render(interval_chart(arm_estimates(rows), palette, xlabel="accuracy (%)", xlim=(0.0, 1.0)), "arms",
                    f"Accuracy of {name_a} and {name_b} on the same {c.n} problems: dots are accuracies, lines "
                    "their 95% Wilson intervals.")
    report = Report(f"{name_a} vs {name_b}", [Section("Paired comparison", [Paragraph(summary),
                                                                             SideBySide(table, figure)])],
                    subtitle=f"parley eval compare: {a.directory} vs {b.directory}")
    return report.write(out_dir)
