"""``parley demo``: the main job on the embedded default (see :mod:`parley.experiments.demo`)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import typer
from rich.live import Live
from rich.table import Table

from parley.cli.common import console, fail, stdout


def demo_cmd(
    quick: bool = typer.Option(False, "--quick", help="Tiny budgets for a smoke test (a few minutes)."),
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Directory for the experiment and its report."),
    seed: int = typer.Option(0, "--seed", help="Training seed shared by every arm."),
) -> None:
    """Train five credit-assignment strategies on the embedded tiny model, evaluate, compare, report.

    Stages: build the warm-started tiny model -> evaluate the warm start (svj, single, compute-matched
    self-consistency) -> train identity / difference / coma / potential / mixing with the same seed and
    budget -> evaluate each on held-out problems (svj and single) -> report.html. Rerunning the command
    resumes where it stopped.
    """
    from parley.cli.experiment import status_table
    from parley.experiments import ExperimentError, ExperimentRunner, SpecError, spec_from_mapping
    from parley.experiments.demo import demo_spec

    try:
        spec = spec_from_mapping(demo_spec(quick=quick, seed=seed), "parley demo")
        runner = ExperimentRunner(out)
        exp_id, _plan = runner.create(spec, command=sys.argv, source="parley demo")
    except (SpecError, ExperimentError) as exc:
        fail(str(exc))
    console.print(f"experiment {exp_id} in {out} (rerun the same command to resume)")
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["record"] = runner.resume(exp_id, sys.argv)
        except (SpecError, ExperimentError) as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="parley-demo-runner", daemon=True)
    thread.start()
    started = time.monotonic()
    with Live(status_table(runner.store, exp_id), console=console, refresh_per_second=2) as live:
        while thread.is_alive():
            thread.join(timeout=1.0)
            table = status_table(runner.store, exp_id)
            table.caption = f"elapsed {time.monotonic() - started:,.0f} s"
            live.update(table)
    if "error" in outcome:
        fail(str(outcome["error"]))
    record = runner.store.get_experiment(exp_id)
    if record is None or record.status != "succeeded":
        stdout.print(status_table(runner.store, exp_id))
        fail(f"demo did not complete (status {record.status if record else 'unknown'}); see the stage logs under "
             f"{out / exp_id} and rerun `parley demo{' --quick' if quick else ''} --out {out}` to resume", code=1)
    report_dir = next(s.dir for s in runner.store.stages(exp_id) if s.stage_id == "report")
    headline = json.loads((Path(report_dir) / "headline.json").read_text())
    table = Table(title=f"held-out accuracy (svj protocol), paired vs {headline['reference']}")
    for col in ("arm", "accuracy", "95% CI", "diff vs ref", "diff 95% CI", "McNemar p"):
        table.add_column(col)
    for row in headline["rows"]:
        ci = f"[{row['ci_low']:.1%}, {row['ci_high']:.1%}]"
        dci = "" if row["diff_ci_low"] is None else f"[{row['diff_ci_low']:+.1%}, {row['diff_ci_high']:+.1%}]"
        diff = "" if row["diff_vs_ref"] is None else f"{row['diff_vs_ref']:+.1%}"
        p = "" if row["mcnemar_p"] is None else f"{row['mcnemar_p']:.3f}"
        table.add_row(str(row["arm"]), f"{row['accuracy']:.1%}", ci, diff, dci, p)
    stdout.print(table)
    stdout.print(f"report: {headline['report']}")
    stdout.print(f"summary: {headline['markdown']}")
    stdout.print("open the report in a browser; the learning curves and transcripts are also under " + str(out))
