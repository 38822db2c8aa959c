"""``parley generate CONFIG``: run a protocol over a dataset into a trajectory store (resumable)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from parley.cli.common import SetOption, console, fail, load_or_fail


def _status_line(stats: Any) -> str:
    elapsed = max(stats.elapsed_s, 1e-9)
    cost = "unknown" if stats.cost_usd is None else f"${stats.cost_usd:.4f}"
    acc = "" if stats.accuracy is None else f" acc {stats.accuracy:.1%}"
    return (f"{stats.completed / elapsed * 3600:,.0f} prob/h · {stats.completion_tokens / elapsed:,.0f} tok/s · "
            f"{stats.prompt_tokens + stats.completion_tokens:,} tok · cost {cost}{acc}")


def render_summary(summary: dict[str, Any]) -> Table:
    """The final summary as a rich table: the whole store first, then what this invocation did."""
    table = Table(title="generation summary (whole store)", show_header=False)
    for key in ("run_id", "config_hash", "total", "stored", "accuracy", "scored", "turns", "prompt_tokens",
                "completion_tokens", "cost_usd", "terminations", "errors", "skipped_lines"):
        value = summary.get(key)
        if key == "accuracy" and value is not None:
            value = f"{value:.3f} ({summary['correct']}/{summary['scored']} scored)"
        elif key == "cost_usd" and value is None:
            value = "unknown (a model without a known price)"
        elif key == "accuracy" and value is None:
            value = ("n/a (no debate scored yet)" if summary.get("verifier_available")
                     else "n/a (no verifier for this domain)")
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    run = summary.get("this_run", {})
    table.add_row("this run", f"{summary.get('completed', 0)} debates completed ({summary.get('already_done', 0)} "
                  f"already done, {run.get('retried', 0)} retried) in {run.get('wall_s', 0):.1f} s; "
                  f"{run.get('problems_per_hour')} problems/h, {run.get('completion_tokens_per_s')} tok/s")
    return table


def generate_cmd(
    config: Path = typer.Argument(None, help="YAML config (defaults apply when omitted)."),
    overrides: list[str] = SetOption,
    skip_bad_lines: bool = typer.Option(False, "--skip-bad-lines", help="Skip malformed dataset lines."),
    no_score: bool = typer.Option(False, "--no-score", help="Do not score final answers."),
    executor: str = typer.Option("local", "--executor", help="local, or ray: debates on Ray workers."),
    ray_address: str = typer.Option(None, "--ray-address", envvar="RAY_ADDRESS",
                                    help="Ray cluster address for --executor ray (HOST:6379, ray://HOST:10001, auto)."),
    ray_workers: int = typer.Option(2, "--ray-workers", min=1, help="Ray worker actors (--executor ray)."),
    retry_errors: bool = typer.Option(
        False, "--retry-errors", help="Run again the debates stored with an error (a failed model call)."
    ),
) -> None:
    """Run protocol.name over dataset.name into output.dir.

    Rerunning the same command after an interruption resumes: every (problem, sample) ends up in the
    store exactly once. Debates that ended with an error stay stored (and the command exits 1) until a
    rerun with --retry-errors runs them again. An endpoint that refuses connections stops the run at
    once, naming the endpoint.

    Example (the embedded tiny model on 12 arithmetic problems):

        parley generate --set dataset.limit=12 --set output.dir=runs/quick
    """
    from parley.generation import GenerationInterrupted, run_generation

    cfg = load_or_fail(config, overrides)
    if executor not in ("local", "ray"):
        fail(f"--executor {executor!r}: choose local or ray")
    if executor == "ray" and not ray_address:
        fail("--executor ray needs --ray-address (the Ray cluster, e.g. 127.0.0.1:6379) or RAY_ADDRESS")
    if skip_bad_lines:
        cfg.dataset.skip_bad_lines = True
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TextColumn("{task.fields[status]}"), console=console)
    task_id = progress.add_task(f"{cfg.protocol.name} on {cfg.dataset.name}", total=None, status="")

    def on_progress(stats: Any, _transcript: Any) -> None:
        progress.update(task_id, total=stats.total, completed=stats.already_done + stats.completed,
                        status=_status_line(stats))

    try:
        with progress:
            if executor == "ray":
                from parley.generation.ray_fanout import run_generation_on_ray

                if retry_errors:
                    fail("--retry-errors runs with the local executor only; rerun without --executor ray")
                result = run_generation_on_ray(cfg, address=ray_address, workers=ray_workers,
                                               progress=on_progress, score=not no_score)
            else:
                result = run_generation(cfg, progress=on_progress, score=not no_score, retry_errors=retry_errors)
    except GenerationInterrupted as exc:
        fail(str(exc), code=130)
    console.print(render_summary(result.summary))
    for kind, example in result.summary.get("error_examples", {}).items():
        count = result.summary["errors"].get(kind, 0)
        console.print(f"[bold red]{kind}[/] ({count} debate(s)), e.g. {example}", markup=True, highlight=False)
    console.print(f"store: {result.output_dir}  (view: parley trajectories show {result.output_dir})",
                  highlight=False)
    if result.errored:
        fail(f"{result.errored} of {result.summary['stored']} stored debates ended with an error (see above); "
             f"fix the cause, then rerun with --retry-errors to run them again", code=1)
