"""The job of one stage attempt: what an executor runs for it, and how its outcome comes back.

- ``local``: ``python -m parley.experiments.stage_main --db ... --attempt-id N``. The stage process
  reports to the experiment database itself and stops on its own when the runner dies (it knows the
  runner's pid from ``PARLEY_EXPERIMENT_RUNNER_PID``).
- ``ray`` / ``kubernetes``: the database stays with the runner. The runner writes the attempt's
  ``task.json`` into ``<experiment>/attempts/<stage>.<N>/`` (spec, stage, attempt number, input and
  output directories as the job sees them: :meth:`~parley.executors.Executor.job_path`), the job runs
  ``stage_main --task`` and writes ``result.json`` / ``progress.json`` beside it on the shared
  volume; :func:`import_outcome` copies them into the database when the job ends. Nothing a stage
  writes lives only on the worker or pod.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from parley.executors import Executor, JobSpec, Resources
from parley.experiments.plan import ExperimentPlan, PlannedStage
from parley.experiments.state import ExperimentStore

RUNNER_PID_ENV = "PARLEY_EXPERIMENT_RUNNER_PID"
LABEL_EXPERIMENT = "parley.experiment"
LABEL_STAGE = "parley.stage"
LABEL_ATTEMPT = "parley.attempt"


def read_json(path: Path) -> Any:
    """Parse a JSON file."""
    return json.loads(path.read_text(encoding="utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace`` (readers never see half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def stage_resources(plan: ExperimentPlan, stage: PlannedStage) -> Resources:
    """The stage's declared ``resources`` (default: one CPU, no GPU, memory not declared)."""
    spec = next(s for s in plan.spec.stages if s.id == stage.base_id)
    return spec.resources.to_resources() if spec.resources is not None else Resources()


def attempt_dir(store: ExperimentStore, exp_id: str, stage: PlannedStage, number: int) -> Path:
    """``<experiment dir>/attempts/<stage dir>.<number>``: the task and outcome files of a remote attempt."""
    rec = store.stage(exp_id, stage.id)
    return rec.dir.parent.parent / "attempts" / f"{stage.dir_name}.{number}"


def stage_job(store: ExperimentStore, exp_id: str, plan: ExperimentPlan, stage: PlannedStage, attempt_id: int,
              number: int, python: str, executor: Executor) -> JobSpec:
    """The :class:`~parley.executors.JobSpec` running attempt ``number`` of ``stage`` on ``executor``."""
    rec = store.stage(exp_id, stage.id)
    log_path = rec.dir.parent.parent / "logs" / f"{stage.dir_name}.attempt{number}.log"
    labels = {LABEL_EXPERIMENT: exp_id, LABEL_STAGE: stage.dir_name, LABEL_ATTEMPT: str(number)}
    name = f"{exp_id}/{stage.id}/{number}"
    resources = stage_resources(plan, stage)
    if executor.backend == "local":
        argv = [python, "-m", "parley.experiments.stage_main", "--db", str(store.path), "--experiment", exp_id,
                "--stage", stage.id, "--attempt-id", str(attempt_id)]
        return JobSpec(name=name, argv=argv, env={RUNNER_PID_ENV: str(os.getpid())}, resources=resources,
                       labels=labels, log_path=log_path)
    exp = store.get_experiment(exp_id)
    assert exp is not None
    records = {s.stage_id: s for s in store.stages(exp_id)}
    spec = dict(exp.spec)
    spec["plugins"] = [executor.job_path(Path(p)) if p.endswith(".py") else p for p in plan.spec.plugins]
    task = {
        "experiment_id": exp_id, "stage_id": stage.id, "attempt": number, "spec": spec, "kind": rec.kind,
        "kind_module": rec.kind_module,
        "kind_file": executor.job_path(Path(rec.kind_file)) if rec.kind_file else None,
        "stage_dir": executor.job_path(rec.dir),
        "inputs": {n: {"base_id": records[n].base_id, "arm_id": records[n].arm_id,
                       "dir": executor.job_path(records[n].dir)} for n in stage.needs},
    }
    adir = attempt_dir(store, exp_id, stage, number)
    adir.mkdir(parents=True, exist_ok=True)
    for stale in ("result.json", "progress.json"):
        (adir / stale).unlink(missing_ok=True)
    write_json_atomic(adir / "task.json", task)
    argv = [executor.python or python, "-m", "parley.experiments.stage_main", "--task",
            executor.job_path(adir / "task.json")]
    return JobSpec(name=name, argv=argv, resources=resources, labels=labels, log_path=log_path)


def import_outcome(store: ExperimentStore, exp_id: str, stage: PlannedStage, attempt_id: int, number: int) -> bool:
    """Copy a remote attempt's ``result.json`` (and last progress) into the database; False when the job
    ended without writing one (it crashed or was killed before reporting)."""
    adir = attempt_dir(store, exp_id, stage, number)
    progress = adir / "progress.json"
    if progress.exists():
        data = read_json(progress)
        store.set_stage(exp_id, stage.id, progress=data.get("message"), progress_fraction=data.get("fraction"))
    result = adir / "result.json"
    if not result.exists():
        return False
    data = read_json(result)
    fields = {k: data[k] for k in ("error", "error_type", "transient") if k in data}
    store.report_attempt(attempt_id, str(data["status"]), **fields)
    return True


def refresh_progress(store: ExperimentStore, exp_id: str, stage: PlannedStage, number: int) -> None:
    """Show a running remote attempt's latest ``progress.json`` in the database (for ``status --watch``)."""
    progress = attempt_dir(store, exp_id, stage, number) / "progress.json"
    try:
        data = read_json(progress)
    except (FileNotFoundError, json.JSONDecodeError):
        return
    store.set_stage(exp_id, stage.id, progress=data.get("message"), progress_fraction=data.get("fraction"))
