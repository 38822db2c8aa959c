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
    out: Path | None = typer.Option(None, "--out", help="Directory for the experiment and its report (default "
                                    "runs/demo, or runs/demo-<model> for another --model)."),
    seed: int = typer.Option(0, "--seed", help="Offset of the training seeds (the arms train seeds S and S+1)."),
    model: str = typer.Option("tiny", "--model", help="tiny (the embedded model) or smollm2 (SmolLM2-135M-Instruct "
                              "with LoRA, after `parley model fetch smollm2`; docs/smollm2.md)."),
) -> None:
    """Train five credit-assignment strategies on the embedded tiny model, evaluate, compare, report.

    Stages: build the warm-started tiny model, evaluate the warm start (svj, single, compute-matched
    self-consistency), train identity / difference / coma / potential / mixing with two seeds each and the
    same budget, evaluate every arm on held-out problems (svj and single), then write findings.json and
    report.html. Rerunning the command resumes where it stopped. ``--model smollm2`` runs the same
    comparison on SmolLM2-135M-Instruct with its own, smaller budget (docs/smollm2.md).
    """
    from parley.cli.demo_view import demo_table
    from parley.experiments import ExperimentError, ExperimentRunner, SpecError, spec_from_mapping
    from parley.experiments.demo import UnknownDemoModelError, demo_spec

    if out is None:
        out = Path("runs/demo") if model == "tiny" else Path(f"runs/demo-{model}")
    try:
        mapping = demo_spec(quick=quick, seed=seed, model=model)
    except UnknownDemoModelError as exc:
        fail(str(exc))
    if model != "tiny":
        from parley.llm.catalog import ModelNotAvailableError, resolve_model

        try:
            resolve_model(model)
        except ModelNotAvailableError as exc:
            fail(str(exc))
    try:
        spec = spec_from_mapping(mapping, "parley demo")
        runner = ExperimentRunner(out)
        exp_id, _plan = runner.create(spec, command=sys.argv, source="parley demo")
    except (SpecError, ExperimentError) as exc:
        fail(str(exc))
    console.print(f"experiment {exp_id} in {out} (rerun the same command to resume; log: {out / 'demo.log'})")
    _log_to_file(out / "demo.log")
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["record"] = runner.resume(exp_id, sys.argv)
        except (SpecError, ExperimentError) as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="parley-demo-runner", daemon=True)
    thread.start()
    started = time.monotonic()
    with Live(demo_table(runner.store.stages(exp_id), 0.0), console=console, refresh_per_second=2,
              transient=True) as live:
        while thread.is_alive():
            thread.join(timeout=1.0)
            live.update(demo_table(runner.store.stages(exp_id), time.monotonic() - started))
    elapsed = time.monotonic() - started
    console.print(demo_table(runner.store.stages(exp_id), elapsed, title="parley demo finished"))
    if "error" in outcome:
        fail(str(outcome["error"]))
    record = runner.store.get_experiment(exp_id)
    if record is None or record.status != "succeeded":
        fail(f"demo did not complete (status {record.status if record else 'unknown'}); see the stage logs under "
             f"{out / exp_id} and rerun `parley demo{' --quick' if quick else ''}"
             f"{f' --model {model}' if model != 'tiny' else ''} --out {out}` to resume", code=1)
    report_dir = next(s.dir for s in runner.store.stages(exp_id) if s.stage_id == "report")
    findings = json.loads((Path(report_dir) / "findings.json").read_text())
    stdout.print(summary_table(findings))
    stdout.print(findings["paragraph"])
    for flag in findings["flags"]:
        stdout.print(f"flag: {flag}")
    stdout.print("report:", soft_wrap=True)
    stdout.print(str(Path(report_dir) / "report.html"), soft_wrap=True, overflow="ignore", crop=False)
    stdout.print("findings:", str(Path(report_dir) / "findings.json"), soft_wrap=True, overflow="ignore",
                 crop=False)
    stdout.print(f"view runs and debates: parley view {out}", soft_wrap=True)


def _log_to_file(path: Path) -> None:
    """Send parley's INFO logs to ``path`` and keep only warnings on the terminal (under the live table)."""
    import logging

    root = logging.getLogger("parley")
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)
    path.parent.mkdir(parents=True, exist_ok=True)
    file_handler = logging.FileHandler(path)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)


def _acc(s: dict[str, float]) -> str:
    return f"{100 * s['value']:.1f} [{100 * s['ci_low']:.0f},{100 * s['ci_high']:.0f}]"


def _diff(d: dict[str, float] | None) -> str:
    if d is None:
        return ""
    p = f"={d['p']:.2g}".replace("=0.", "=.") if d["p"] >= 0.001 else "<.001"
    return f"{100 * d['diff']:+.1f} p{p}"


def summary_table(findings: dict[str, object]) -> Table:
    """The headline table (fits 80 columns): debate / single accuracy per arm, vs warm start and identity."""
    from rich import box

    warm = findings["warm_start"]
    arms = findings["arms"]
    assert isinstance(warm, dict) and isinstance(arms, dict)
    seeds = sorted({len(a["seeds"]) for a in arms.values()})
    title = f"held-out accuracy % [95% CI], {'/'.join(map(str, seeds))} seeds per arm; differences in points"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("arm", "debate", "single", "vs warm start", "vs identity"):
        table.add_column(col, no_wrap=True)
    table.add_row("warm start", _acc(warm["debate_accuracy"]), _acc(warm["single_accuracy"]), "", "")
    for name, a in arms.items():
        table.add_row(name, _acc(a["debate_accuracy"]), _acc(a["single_accuracy"]),
                      _diff(a["vs_warm_start"]), _diff(a["vs_identity"]))
    return table
