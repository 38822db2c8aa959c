"""Building blocks of an experiment report: learning curves, accuracy tables and bars, HTML/Markdown.

Every number that appears in a table or figure is computed here from the results passed in (never
typed by hand). Figures are drawn on matplotlib ``Figure`` objects, which render with the Agg
backend (no display, no pyplot global state). :func:`write_report` writes a
self-contained ``report.html`` (figures embedded as base64 PNG) and a ``report.md`` summary.

Intervals: accuracies carry Wilson intervals (Wilson 1927); differences against the reference arm a
paired bootstrap interval (Efron 1979) and an exact McNemar p-value (McNemar 1947); learning-curve
bands are Student-t intervals of the mean over seeds (or the min-max range), drawn where a step has at
least two seeds.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from matplotlib.figure import Figure

from parley.evaluation.compare import compare
from parley.evaluation.results import EvalResult, Metric
from parley.evaluation.statistics import DEFAULT_ALPHA, DEFAULT_RESAMPLES, mean_ci, proportion

Band = Literal["t_ci", "minmax"]


def _curve(seeds: Sequence[Sequence[Mapping[str, Any]]], metric: str, x_key: str) -> dict[float, list[float]]:
    points: dict[float, list[float]] = {}
    for records in seeds:
        for record in records:
            value, x = record.get(metric), record.get(x_key)
            if isinstance(value, int | float) and isinstance(x, int | float) and math.isfinite(value):
                points.setdefault(float(x), []).append(float(value))
    return points


def learning_curve_figure(
    runs: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]],
    metric: str,
    out: str | Path,
    *,
    x_key: str = "step",
    band: Band = "t_ci",
    alpha: float = DEFAULT_ALPHA,
    title: str | None = None,
) -> Path:
    """PNG of ``metric`` against ``x_key`` per arm: the mean over seeds and a band.

    Args:
        runs: arm -> one list of ``metrics.jsonl`` records per seed.
        band: ``t_ci`` (Student-t interval of the mean at level ``1 - alpha``) or ``minmax``; drawn at
            steps with at least two seeds.

    Raises:
        ValueError: no record of any arm has ``metric`` (an empty figure would hide a missing metric).
    """
    out = Path(out)
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    drawn = 0
    for arm, seeds in runs.items():
        points = _curve(seeds, metric, x_key)
        if not points:
            continue
        xs = sorted(points)
        means, lows, highs = [], [], []
        for x in xs:
            values = points[x]
            stats = mean_ci(values, alpha)
            means.append(stats.mean)
            if len(values) < 2:
                lows.append(math.nan)
                highs.append(math.nan)
            elif band == "minmax":
                lows.append(min(values))
                highs.append(max(values))
            else:
                lows.append(float(stats.low))  # type: ignore[arg-type]
                highs.append(float(stats.high))  # type: ignore[arg-type]
        (line,) = ax.plot(xs, means, label=f"{arm} ({len(seeds)} seed{'s' if len(seeds) != 1 else ''})")
        ax.fill_between(xs, lows, highs, color=line.get_color(), alpha=0.2, linewidth=0)
        drawn += 1
    if not drawn:
        raise ValueError(f"no record has metric {metric!r} (with a numeric {x_key!r}); nothing to plot")
    band_text = (f"{1 - alpha:.0%} t-interval over seeds" if band == "t_ci" else "min-max over seeds")
    ax.set_title(title or f"{metric} (band: {band_text})")
    ax.set_xlabel(x_key)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    return out


def accuracy_table(
    results: Mapping[str, EvalResult],
    reference_arm: str,
    *,
    metric: Metric = "first",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
) -> list[dict[str, Any]]:
    """One row per arm: accuracy with its Wilson interval and, for the other arms, the paired difference
    ``arm - reference`` with its bootstrap interval and the exact McNemar test (``b``: problems only the
    arm got right, ``c``: only the reference). The reference row has ``None`` in the paired columns.

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
        row: dict[str, Any] = {"arm": arm, "n": prop.n, "correct": prop.successes, "accuracy": prop.rate,
                               "ci_low": prop.low, "ci_high": prop.high,
                               "tokens_per_problem": result.summary.get("tokens", {}).get("per_problem"),
                               "cost_usd": result.summary.get("cost_usd")}
        paired: dict[str, Any] = dict.fromkeys(
            ("diff_vs_ref", "diff_ci_low", "diff_ci_high", "bootstrap_p", "mcnemar_b", "mcnemar_c", "mcnemar_p"))
        if arm != reference_arm:
            c = compare(result, results[reference_arm], metric=metric, n_resamples=n_resamples, seed=seed,
                        alpha=alpha)
            paired = {"diff_vs_ref": c.diff, "diff_ci_low": c.bootstrap.low, "diff_ci_high": c.bootstrap.high,
                      "bootstrap_p": c.bootstrap.p_value, "mcnemar_b": c.mcnemar.b, "mcnemar_c": c.mcnemar.c,
                      "mcnemar_p": c.mcnemar.p_value}
        row.update(paired)
        rows.append(row)
    return rows


def bar_figure(
    results: Mapping[str, EvalResult],
    out: str | Path,
    *,
    metric: Metric = "first",
    alpha: float = DEFAULT_ALPHA,
    title: str | None = None,
) -> Path:
    """PNG bar chart of each arm's accuracy (e.g. debate vs single vs self-consistency) with Wilson
    interval error bars and the computed accuracy written above each bar."""
    if not results:
        raise ValueError("bar_figure: no arms")
    out = Path(out)
    arms = list(results)
    props = []
    for arm in arms:
        outcomes = list(results[arm].outcomes(metric).values())
        props.append(proportion(sum(outcomes), len(outcomes), alpha))
    rates = [p.rate for p in props]
    errors = [[p.rate - p.low for p in props], [p.high - p.rate for p in props]]
    fig = Figure(figsize=(max(4.0, 1.4 * len(arms) + 1.5), 4.0))
    ax = fig.subplots()
    bars = ax.bar(arms, rates, yerr=errors, capsize=6, color="#4c72b0")
    for bar, p in zip(bars, props, strict=True):
        ax.annotate(f"{p.rate:.3f}\n(n={p.n})", (bar.get_x() + bar.get_width() / 2, p.high),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_ylim(0, 1.15)
    ax.set_ylabel(f"accuracy ({1 - alpha:.0%} Wilson interval)")
    ax.set_title(title or "accuracy by arm")
    ax.grid(axis="y", alpha=0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    return out


@dataclass
class Section:
    """One report section: a paragraph, an optional table (rows of equal keys) and figures (PNG paths)."""

    title: str
    text: str = ""
    table: list[dict[str, Any]] | None = None
    figures: list[Path] = field(default_factory=list)


def format_value(value: Any) -> str:
    """A table cell: ``None`` -> ``n/a``, floats to 4 significant digits, everything else ``str``."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        cols.extend(k for k in row if k not in cols)
    return cols


def _html_table(rows: Sequence[Mapping[str, Any]]) -> str:
    cols = _columns(rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(format_value(r.get(c)))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _md_table(rows: Sequence[Mapping[str, Any]]) -> str:
    cols = _columns(rows)

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(format_value(r.get(c))) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


_CSS = ("body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
        "text-align:right}th{background:#f3f3f3}img{max-width:100%}")


def write_report(out_dir: str | Path, title: str, sections: Sequence[Section]) -> tuple[Path, Path]:
    """Write ``out_dir/report.html`` (self-contained: PNGs embedded as base64) and ``out_dir/report.md``
    (the same text and tables, figures linked by path). Returns both paths.

    Raises:
        FileNotFoundError: a section names a figure that does not exist.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    md = [f"# {title}", ""]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        md += [f"## {section.title}", ""]
        if section.text:
            parts += [f"<p>{html.escape(p)}</p>" for p in section.text.split("\n\n")]
            md += [section.text, ""]
        if section.table:
            parts.append(_html_table(section.table))
            md += [_md_table(section.table), ""]
        for figure in section.figures:
            path = Path(figure)
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(path.name)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(path.name)}</figcaption></figure>")
            try:
                link = path.resolve().relative_to(out.resolve()).as_posix()
            except ValueError:
                link = str(path.resolve())
            md += [f"![{path.name}]({link})", ""]
    parts.append("</body></html>")
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text("\n".join(parts))
    md_path.write_text("\n".join(md).rstrip() + "\n")
    return html_path, md_path
