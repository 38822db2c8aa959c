"""``parley experiment``: run, resume, watch, list, cancel and reproduce multi-stage experiments.

State lives in ``<root>/experiments.db`` (``--root``, default ``$PARLEY_EXPERIMENTS_ROOT`` or
``experiments``). ``run`` and ``resume`` take ``--executor local|ray|kubernetes``, ``--ray-address``
and ``--max-parallel`` (they override the spec's ``executor`` and ``max_parallel``, which are not part
of the experiment's id). ``status --watch`` re-renders whenever the database changes (it polls SQLite's
``PRAGMA data_version`` with backoff from 50 ms to 2 s, not a fixed interval).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.live import Live
from rich.table import Table

from parley.cli.common import fail, stdout
from parley.executors.config import BACKENDS, ExecutorSpec
from parley.experiments import (
    ExperimentError,
    ExperimentPlan,
    ExperimentRunner,
    ExperimentStore,
    Mismatch,
    SpecError,
    build_plan,
    cancel,
    cancel_label,
    load_spec,
    reproduce,
    wait_for_change,
)
from parley.experiments.runner import DB_NAME

app = typer.Typer(help="Run multi-stage experiments (spec -> DAG of stages) that survive crashes.",
                  no_args_is_help=True)

RootOption = typer.Option(Path("experiments"), "--root", envvar="PARLEY_EXPERIMENTS_ROOT",
                          help="Directory holding experiments.db and one directory per experiment.")
_DONE = ("succeeded", "failed", "cancelled")
_STYLE = {"succeeded": "green", "failed": "red", "blocked": "yellow", "cancelled": "magenta", "running": "cyan"}


def plan_table(plan: ExperimentPlan) -> Table:
    """Stages in topological order with their arm, needs and estimated rollouts."""
    table = Table(title=f"plan: {plan.spec.name} ({len(plan.stages)} stages, {len(plan.arms)} arms)")
    for col in ("#", "stage", "kind", "arm", "needs", "config", "est. rollouts"):
        table.add_column(col)
    for i, s in enumerate(plan.stages, 1):
        est = "-" if s.estimated_rollouts is None else f"{s.estimated_rollouts:,}"
        table.add_row(str(i), s.id, s.kind, s.arm.id if s.arm else "", ", ".join(s.needs), s.config_hash, est)
    total = plan.total_rollouts
    table.caption = f"estimated rollouts: {'unknown' if total is None else f'{total:,}'}"
    return table


def status_table(store: ExperimentStore, experiment_id: str) -> Table:
    """One row per stage: status, attempts, completions, progress and the last error."""
    exp = store.get_experiment(experiment_id)
    if exp is None:
        fail(f"no experiment {experiment_id!r} in {store.path}")
    table = Table(title=f"{exp.id}: {exp.status}" + (f" ({', '.join(exp.labels)})" if exp.labels else ""))
    for col in ("stage", "kind", "status", "attempts", "done", "progress", "error"):
        table.add_column(col, overflow="fold")
    for s in store.stages(experiment_id):
        progress = s.progress or ""
        if s.progress_fraction is not None:
            progress = f"{s.progress_fraction:.0%} {progress}".strip()
        style = _STYLE.get(s.status, "")
        table.add_row(s.stage_id, s.kind, f"[{style}]{s.status}[/]" if style else s.status, str(s.attempts),
                      str(s.completions), progress, s.error or "")
    return table


ExecutorOption = typer.Option(None, "--executor", help="Where stages run: local, ray or kubernetes "
                              "(default: the spec's executor.backend, else local).")
RayAddressOption = typer.Option(None, "--ray-address", envvar="PARLEY_RAY_ADDRESS",
                                help="Ray job server (dashboard) address, e.g. http://127.0.0.1:8265.")
MaxParallelOption = typer.Option(None, "--max-parallel", min=1,
                                 help="Stages at once (default: the spec's max_parallel, else what the "
                                      "executor can hold).")


def _executor_override(spec: ExecutorSpec | None, backend: str | None, ray_address: str | None) -> ExecutorSpec | None:
    """The spec's executor settings with the command line's backend / Ray address applied (None: unchanged)."""
    if backend is None and ray_address is None:
        return None
    if backend is not None and backend not in BACKENDS:
        fail(f"--executor {backend!r}: choose one of {', '.join(BACKENDS)}")
    base = spec or ExecutorSpec()
    chosen = backend or ("ray" if ray_address else base.backend)
    if ray_address is not None and chosen != "ray":
        fail(f"--ray-address applies to --executor ray, not {chosen}")
    ray = base.ray.model_copy(update={"address": ray_address}) if ray_address else base.ray
    return base.model_copy(update={"backend": chosen, "ray": ray})


def _runner(root: Path, executor: ExecutorSpec | None = None, max_parallel: int | None = None) -> ExperimentRunner:
    return ExperimentRunner(root, executor=executor, max_parallel=max_parallel)


def _store(root: Path) -> ExperimentStore:
    if not (root / DB_NAME).exists():
        fail(f"{root / DB_NAME}: no experiments here (use --root)")
    return ExperimentStore(root / DB_NAME)


def _finish(store: ExperimentStore, experiment_id: str, status: str) -> None:
    stdout.print(status_table(store, experiment_id))
    if status != "succeeded":
        raise typer.Exit(1)


@app.command("run")
def run_cmd(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Experiment spec (YAML)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate every arm and print the plan; run nothing."),
    root: Path = RootOption,
    labels: list[str] = typer.Option(None, "--label", help="Extra label (repeatable)."),
    experiment_id: str = typer.Option(None, "--id", help="Experiment id (default: name + spec hash)."),
    executor: str = ExecutorOption,
    ray_address: str = RayAddressOption,
    max_parallel: int = MaxParallelOption,
) -> None:
    """Run an experiment; rerunning the same spec resumes it (same deterministic id)."""
    try:
        spec = load_spec(spec_path, labels or [])
        override = _executor_override(spec.executor, executor, ray_address)
        if dry_run:
            plan = build_plan(spec, str(spec_path))
            stdout.print(plan_table(plan))
            for arm in plan.arms:
                stdout.print(f"arm {arm.id}: {arm.values}", markup=False, highlight=False)
            return
        runner = _runner(root, override, max_parallel)
        record = runner.run(spec, experiment_id, sys.argv, source=str(spec_path))
    except (SpecError, ExperimentError) as exc:
        fail(str(exc))
    _finish(runner.store, record.id, record.status)


@app.command("resume")
def resume_cmd(
    experiment_id: str = typer.Argument(..., metavar="ID"),
    root: Path = RootOption,
    executor: str = ExecutorOption,
    ray_address: str = RayAddressOption,
    max_parallel: int = MaxParallelOption,
) -> None:
    """Continue an experiment: interrupted or failed stages re-run, completed ones are re-verified."""
    store = _store(root)
    exp = store.get_experiment(experiment_id)
    store.close()
    spec_executor = ExecutorSpec.model_validate(exp.spec.get("executor") or {}) if exp is not None else None
    runner = _runner(root, _executor_override(spec_executor, executor, ray_address), max_parallel)
    try:
        record = runner.resume(experiment_id, sys.argv)
    except (SpecError, ExperimentError) as exc:
        fail(str(exc))
    _finish(runner.store, record.id, record.status)


@app.command("status")
def status_cmd(
    experiment_id: str = typer.Argument(..., metavar="ID"),
    root: Path = RootOption,
    watch: bool = typer.Option(False, "--watch", help="Keep the view live until the experiment ends."),
) -> None:
    """Show each stage's status, attempts, progress and error."""
    store = _store(root)
    if not watch:
        stdout.print(status_table(store, experiment_id))
        return
    with Live(status_table(store, experiment_id), console=stdout, auto_refresh=False) as live:
        while True:
            exp = store.get_experiment(experiment_id)
            if exp is not None and exp.status in _DONE:
                break
            wait_for_change(store, timeout_s=30.0)
            live.update(status_table(store, experiment_id), refresh=True)


@app.command("list")
def list_cmd(root: Path = RootOption, label: str = typer.Option(None, "--label", help="Only this label.")) -> None:
    """List experiments with their status and stage counts."""
    store = _store(root)
    table = Table(title=f"experiments in {root}")
    for col in ("id", "status", "stages", "labels"):
        table.add_column(col)
    for exp in store.list_experiments(label):
        stages = store.stages(exp.id)
        done = sum(s.status == "succeeded" for s in stages)
        table.add_row(exp.id, exp.status, f"{done}/{len(stages)}", ", ".join(exp.labels))
    stdout.print(table)


@app.command("cancel")
def cancel_cmd(
    experiment_id: str = typer.Argument(None, metavar="[ID]"),
    root: Path = RootOption,
    stage: str = typer.Option(None, "--stage", help="Only this stage (a base id cancels all its arms)."),
    cascade: bool = typer.Option(False, "--cascade", help="Also cancel the stage's dependents."),
    label: str = typer.Option(None, "--label", help="Cancel every unfinished experiment with this label."),
    grace_s: float = typer.Option(5.0, "--grace", help="Seconds between SIGTERM and SIGKILL."),
) -> None:
    """Stop running stages (SIGTERM, then SIGKILL to the process group) and mark them cancelled."""
    if (experiment_id is None) == (label is None):
        fail("give an experiment ID or --label (not both)")
    store = _store(root)
    try:
        results = (cancel_label(store, label, grace_s) if label is not None
                   else [cancel(store, experiment_id, stage, cascade, grace_s)])
    except ExperimentError as exc:
        fail(str(exc))
    for r in results:
        stdout.print(f"{r.experiment_id}: cancelled {len(r.cancelled)} stage(s) "
                     f"({', '.join(r.cancelled) or 'none'}); signalled {', '.join(r.signalled) or 'none'}",
                     markup=False, highlight=False)


@app.command("reproduce")
def reproduce_cmd(
    manifest: Path = typer.Argument(..., metavar="MANIFEST", help="manifest.json of an experiment."),
    root: Path = RootOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report environment differences and the plan."),
    strict: bool = typer.Option(False, "--strict", help="Refuse to run when the environment differs."),
) -> None:
    """Re-run a manifest's spec into a new experiment, reporting environment differences first."""
    runner = _runner(root)
    try:
        result = reproduce(manifest, runner, dry_run=True)
        _report_mismatches("environment", result.environment)
        if dry_run:
            stdout.print(plan_table(result.plan))
            return
        result = reproduce(manifest, runner, strict=strict, command=sys.argv)
    except (ValueError, ExperimentError) as exc:
        fail(str(exc))
    _report_mismatches("artifacts", result.artifact_mismatches)
    assert result.record is not None
    _finish(runner.store, result.record.id, result.record.status)


def _report_mismatches(what: str, mismatches: list[Mismatch]) -> None:
    if not mismatches:
        stdout.print(f"{what}: no differences", markup=False)
        return
    table = Table(title=f"{what} differences ({len(mismatches)})")
    for col in ("field", "recorded", "now"):
        table.add_column(col, overflow="fold")
    for m in mismatches:
        table.add_row(m.field, str(m.recorded), str(m.current))
    stdout.print(table)
