"""``parley eval``: evaluate an arm on held-out problems and compare two arms, paired.

    parley eval run CONFIG --label debate --out runs/eval [--set protocol.name=svj ...]
    parley eval compare runs/eval/debate runs/eval/single
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parley.cli.common import SetOption, command_group, console, fail, load_or_fail, stdout, writable_dir

app = command_group("Evaluate accuracy with confidence intervals and compare arms (paired).")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _interval(block: dict[str, Any]) -> str:
    return f"{_pct(block['accuracy'])} [{_pct(block['ci_low'])}, {_pct(block['ci_high'])}]"


def render_summary(summary: dict[str, Any]) -> list[Table]:
    """The summary of one evaluated arm: headline table, then one table per breakdown key."""
    level = f"{summary['ci_level']:.0%}"
    head = Table(title=f"evaluation {summary.get('label', '')}", show_header=False)
    head.add_row("protocol", str(summary.get("protocol")))
    head.add_row("dataset", str(summary.get("dataset")))
    head.add_row("problems", str(summary["n"]))
    head.add_row(f"accuracy [{level} Wilson]", f"{_interval(summary)} ({summary['correct']}/{summary['n']})")
    if "majority" in summary:
        head.add_row(f"majority of {summary['samples_per_problem']} samples", _interval(summary["majority"]))
    tokens = summary.get("tokens", {})
    if tokens:
        head.add_row("tokens per problem", f"{tokens['per_problem']:,.1f}")
    cost = summary.get("cost_usd")
    head.add_row("cost", "unknown (a model without a known price)" if cost is None else f"${cost:.4f}")
    head.add_row("terminations", json.dumps(summary.get("terminations", {})))
    tables = [head]
    for key, groups in summary.get("breakdown", {}).items():
        table = Table(title=f"accuracy by {key}")
        for column in (key, "n", f"accuracy [{level} Wilson]"):
            table.add_column(column)
        for value, block in groups.items():
            table.add_row(value, str(block["n"]), _interval(block))
        tables.append(table)
    return tables


@app.command("run")
def run_cmd(
    config: Path = typer.Argument(None, help="YAML config (defaults apply when omitted)."),
    overrides: list[str] = SetOption,
    label: str = typer.Option(..., "--label", help="Name of this arm (its directory under --out)."),
    out: Path = typer.Option(..., "--out", help="Directory holding one sub-directory per arm."),
) -> None:
    """Run the configured protocol on the dataset and print accuracy with its confidence interval.

    Results go to OUT/LABEL (store/, results.jsonl, summary.json); rerunning resumes. A missing model,
    dataset or verifier is an error, never a zero score.
    """
    from parley.evaluation import evaluate

    cfg = load_or_fail(config, overrides)
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)
    task_id = progress.add_task(f"{label}: {cfg.protocol.name} on {cfg.dataset.name}", total=None)

    def on_progress(stats: Any, _transcript: Any) -> None:
        progress.update(task_id, total=stats.total, completed=stats.already_done + stats.completed)

    writable_dir(out)
    with progress:
        result = evaluate(cfg, label=label, out_dir=out, progress=on_progress)
    for table in render_summary(result.summary):
        stdout.print(table)
    stdout.print(f"results: {result.directory}")


@app.command("compare")
def compare_cmd(
    dir_a: Path = typer.Argument(..., help="Evaluation directory of arm A (OUT/LABEL)."),
    dir_b: Path = typer.Argument(..., help="Evaluation directory of arm B."),
    metric: str = typer.Option("first", "--metric", help="first (first sample) or majority (vote)."),
    resamples: int = typer.Option(10_000, "--resamples", min=1, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    report: Path = typer.Option(None, "--report", help="Also write an HTML report (report.html, report.md, "
                                "arms.csv, figures/) into this directory."),
) -> None:
    """Compare two evaluated arms on the same problems: paired bootstrap CI and exact McNemar test."""
    from parley.evaluation import compare, load_eval

    if metric not in ("first", "majority"):
        fail(f"--metric: use 'first' or 'majority', not {metric!r}")
    c = compare(dir_a, dir_b, metric=metric, n_resamples=resamples, seed=seed)  # type: ignore[arg-type]
    if report is not None:
        from parley.evaluation.report import comparison_report

        if report.exists() and not report.is_dir():
            fail(f"--report {report}: not a directory; give a directory for report.html and its files")
        written = comparison_report(load_eval(dir_a), load_eval(dir_b), report, metric=metric,  # type: ignore[arg-type]
                                    n_resamples=resamples, seed=seed)
        console.print(f"report: {written['html']}", markup=False, highlight=False)
    if as_json:
        stdout.print_json(json.dumps(c.as_dict()))
        return
    level = f"{1 - c.bootstrap.alpha:.0%}"
    table = Table(title=f"{c.label_a} vs {c.label_b} ({c.n} paired problems, metric {c.metric})",
                  show_header=False)
    for label, acc in ((c.label_a, c.accuracy_a), (c.label_b, c.accuracy_b)):
        table.add_row(f"{label} accuracy [{level} Wilson]",
                      f"{_pct(acc.rate)} [{_pct(acc.low)}, {_pct(acc.high)}] ({acc.successes}/{acc.n})")
    table.add_row(f"difference A - B [{level} paired bootstrap]",
                  f"{c.diff:+.1%} [{c.bootstrap.low:+.1%}, {c.bootstrap.high:+.1%}] "
                  f"({c.bootstrap.n_resamples} resamples, seed {c.bootstrap.seed})")
    table.add_row("bootstrap p (two-sided)", f"{c.bootstrap.p_value:.4g}")
    table.add_row("McNemar exact", f"b={c.mcnemar.b} (only A right), c={c.mcnemar.c} (only B right), "
                                   f"p={c.mcnemar.p_value:.4g}")
    stdout.print(table)
