"""Entry point of one stage process: ``python -m parley.experiments.stage_main (--db ... | --task FILE)``.

Started by an executor as the leader of a new process group (locally) or as a Ray / Kubernetes job.
It rebuilds the plan from the spec, imports the kind's module, runs the stage function and reports the
attempt's outcome: ``returned`` (the runner then checks the outputs), ``stopped`` (it returned after a
stop request, so its outputs are not trusted) or ``failed`` with the error class and whether it is
transient. Two ways to report:

- ``--db DB --experiment ID --stage S --attempt-id N`` (local): straight into the experiment database.
  The death of the runner (its pid is in ``PARLEY_EXPERIMENT_RUNNER_PID``) also stops the stage.
- ``--task FILE`` (Ray, Kubernetes: the database stays with the runner): ``FILE`` is the attempt's
  ``task.json`` written by the runner (spec, stage, attempt number, directories as the job sees them);
  the outcome goes to ``result.json`` and progress to ``progress.json`` beside it, both replaced
  atomically; the runner imports them into the database when the job ends.

SIGTERM makes ``ctx.should_stop()`` true. Exit codes: 0 returned, 3 transient failure, 4 permanent
failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from parley.experiments.errors import SpecError, StageStopped, is_transient
from parley.experiments.plan import build_plan
from parley.experiments.registry import StageContext, StageInput, get_stage_kind, import_plugin, load_kind_modules
from parley.experiments.spec import spec_from_mapping
from parley.experiments.stage_jobs import RUNNER_PID_ENV, read_json, write_json_atomic
from parley.experiments.state import ExperimentStore
from parley.log import configure_logging

log = logging.getLogger("parley.experiments.stage")


class _StopFlag:
    def __init__(self, runner_pid: int | None) -> None:
        self.requested = False
        self.runner_pid = runner_pid

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def __call__(self) -> bool:
        if self.runner_pid is not None and os.getppid() != self.runner_pid:
            self.requested = True  # the runner died; we were re-parented
        return self.requested


class _Reporter(Protocol):
    def progress(self, message: str, fraction: float | None) -> None: ...

    def outcome(self, status: str, **fields: Any) -> None: ...


@dataclass
class _Task:
    """What a stage attempt needs, from the database or from a task file."""

    experiment_id: str
    stage_id: str
    attempt: int
    spec: dict[str, Any]
    stage_dir: Path
    inputs: dict[str, StageInput]
    kind: str
    kind_module: str | None
    kind_file: str | None


class _DbReporter:
    def __init__(self, store: ExperimentStore, exp_id: str, stage_id: str, attempt_id: int) -> None:
        self.store, self.exp_id, self.stage_id, self.attempt_id = store, exp_id, stage_id, attempt_id

    def progress(self, message: str, fraction: float | None) -> None:
        self.store.set_stage(self.exp_id, self.stage_id, progress=message, progress_fraction=fraction)

    def outcome(self, status: str, **fields: Any) -> None:
        self.store.report_attempt(self.attempt_id, status, **fields)


class _FileReporter:
    def __init__(self, attempt_dir: Path) -> None:
        self.dir = attempt_dir

    def progress(self, message: str, fraction: float | None) -> None:
        write_json_atomic(self.dir / "progress.json", {"message": message, "fraction": fraction, "time": time.time()})

    def outcome(self, status: str, **fields: Any) -> None:
        write_json_atomic(self.dir / "result.json", {"status": status, **fields, "time": time.time()})


def _from_db(args: argparse.Namespace) -> tuple[_Task, _Reporter]:
    store = ExperimentStore(args.db)
    exp = store.get_experiment(args.experiment)
    if exp is None:
        raise LookupError(f"no experiment {args.experiment} in {args.db}")
    rec = store.stage(args.experiment, args.stage)
    records = {s.stage_id: s for s in store.stages(exp.id)}
    inputs = {n: StageInput(n, records[n].base_id, records[n].arm_id, records[n].dir) for n in rec.needs}
    task = _Task(exp.id, rec.stage_id, store.attempt(args.attempt_id).number, exp.spec, rec.dir, inputs, rec.kind,
                 rec.kind_module, rec.kind_file)
    return task, _DbReporter(store, exp.id, rec.stage_id, args.attempt_id)


def _from_file(path: Path) -> tuple[_Task, _Reporter]:
    data = read_json(path)
    inputs = {sid: StageInput(sid, i["base_id"], i["arm_id"], Path(i["dir"])) for sid, i in data["inputs"].items()}
    task = _Task(data["experiment_id"], data["stage_id"], int(data["attempt"]), data["spec"], Path(data["stage_dir"]),
                 inputs, data["kind"], data.get("kind_module"), data.get("kind_file"))
    return task, _FileReporter(path.parent)


def _import_kind(task: _Task, plugins: list[str]) -> None:
    load_kind_modules(plugins)
    try:
        get_stage_kind(task.kind)
    except SpecError:
        if not task.kind_module:
            raise
        try:
            import_plugin(task.kind_module)
        except (ImportError, SpecError):
            if not task.kind_file:
                raise
            import_plugin(task.kind_file, module_name=task.kind_module)


def _run(task: _Task, reporter: _Reporter, stop: _StopFlag) -> None:
    spec = spec_from_mapping(task.spec, f"experiment {task.experiment_id}")
    _import_kind(task, spec.plugins)
    plan = build_plan(spec, f"experiment {task.experiment_id}", load_plugins=False)
    stage = plan.stage(task.stage_id)
    last_progress = [0.0]

    def progress(message: str, fraction: float | None) -> None:
        now = time.monotonic()
        if now - last_progress[0] >= 0.2 or (fraction is not None and fraction >= 1):
            last_progress[0] = now
            reporter.progress(message, fraction)

    ctx = StageContext(
        experiment_id=task.experiment_id, stage_id=stage.id, base_id=stage.base_id, kind=stage.kind,
        arm_id=stage.arm.id if stage.arm else None, arm_values=dict(stage.arm.values) if stage.arm else {},
        params=dict(stage.params), config=stage.config, config_data=stage.config_data,
        config_hash=stage.config_hash, output_dir=task.stage_dir, inputs=task.inputs,
        attempt=task.attempt, previous_attempts=task.attempt - 1, logger=log, _should_stop=stop, _progress=progress)
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    log.info("stage %s (%s) attempt %d starting in %s", stage.id, stage.kind, task.attempt, task.stage_dir)
    get_stage_kind(stage.kind).fn(ctx)


def main(argv: list[str] | None = None) -> int:
    """Run one stage attempt; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="parley.experiments.stage_main")
    parser.add_argument("--task", type=Path, help="task.json of the attempt (Ray / Kubernetes jobs)")
    parser.add_argument("--db")
    parser.add_argument("--experiment")
    parser.add_argument("--stage")
    parser.add_argument("--attempt-id", type=int)
    args = parser.parse_args(argv)
    if args.task is None and None in (args.db, args.experiment, args.stage, args.attempt_id):
        parser.error("give --task FILE, or all of --db, --experiment, --stage and --attempt-id")
    configure_logging(os.environ.get("PARLEY_LOG_LEVEL", "INFO"))
    runner_pid = os.environ.get(RUNNER_PID_ENV)
    stop = _StopFlag(int(runner_pid) if runner_pid and args.task is None else None)
    signal.signal(signal.SIGTERM, stop.handle)
    task, reporter = _from_file(args.task) if args.task is not None else _from_db(args)
    try:
        _run(task, reporter, stop)
    except (StageStopped, KeyboardInterrupt) as exc:
        # A stage that honoured a stop request (or was interrupted) stopped; it did not crash.
        reporter.outcome("stopped")
        log.warning("stage %s stopped before finishing (%s); its outputs are not trusted", task.stage_id,
                    type(exc).__name__)
        return 0
    except Exception as exc:  # noqa: BLE001 - logged with traceback and reported to the runner (retry policy)
        transient = is_transient(exc)
        log.error("stage %s failed: %s", task.stage_id, "".join(traceback.format_exception(exc)))
        reporter.outcome("failed", error=f"{exc}", transient=int(transient),
                         error_type=f"{type(exc).__module__}.{type(exc).__qualname__}")
        return 3 if transient else 4
    if stop():
        reporter.outcome("stopped")
        log.warning("stage %s returned after a stop request; its outputs are not trusted", task.stage_id)
        return 0
    reporter.outcome("returned")
    log.info("stage %s returned", task.stage_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
