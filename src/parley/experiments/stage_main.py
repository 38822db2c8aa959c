"""Entry point of one stage process: ``python -m parley.experiments.stage_main --db ... --stage ...``.

Started by the runner as the leader of a new process group. It rebuilds the plan from the spec stored
in the database, imports the kind's module, runs the stage function and reports on its attempt row:
``returned`` (the runner then checks the outputs), ``stopped`` (it returned after a stop request, so
its outputs are not trusted) or ``failed`` with the error class and whether it is transient. SIGTERM
makes ``ctx.should_stop()`` true; so does the death of the runner (its pid is in
``PARLEY_EXPERIMENT_RUNNER_PID``). Exit codes: 0 returned, 3 transient failure, 4 permanent failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import traceback
from types import FrameType

from parley.experiments.errors import SpecError, StageStopped, is_transient
from parley.experiments.plan import build_plan
from parley.experiments.registry import StageContext, StageInput, get_stage_kind, import_plugin, load_kind_modules
from parley.experiments.runner import RUNNER_PID_ENV
from parley.experiments.spec import spec_from_mapping
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


def main(argv: list[str] | None = None) -> int:
    """Run one stage attempt; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="parley.experiments.stage_main")
    parser.add_argument("--db", required=True)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--attempt-id", type=int, required=True)
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("PARLEY_LOG_LEVEL", "INFO"))
    runner_pid = os.environ.get(RUNNER_PID_ENV)
    stop = _StopFlag(int(runner_pid) if runner_pid else None)
    signal.signal(signal.SIGTERM, stop.handle)
    store = ExperimentStore(args.db)
    try:
        exp = store.get_experiment(args.experiment)
        if exp is None:
            raise LookupError(f"no experiment {args.experiment} in {args.db}")
        rec = store.stage(args.experiment, args.stage)
        spec = spec_from_mapping(exp.spec, f"experiment {exp.id}")
        load_kind_modules(spec.plugins)
        try:
            get_stage_kind(rec.kind)
        except SpecError:
            if not rec.kind_module:
                raise
            try:
                import_plugin(rec.kind_module)
            except (ImportError, SpecError):
                if not rec.kind_file:
                    raise
                import_plugin(rec.kind_file, module_name=rec.kind_module)
        plan = build_plan(spec, f"experiment {exp.id}", load_plugins=False)
        stage = plan.stage(args.stage)
        records = {s.stage_id: s for s in store.stages(exp.id)}
        attempt = store.attempt(args.attempt_id)
        last_progress = [0.0]

        def progress(message: str, fraction: float | None) -> None:
            now = time.monotonic()
            if now - last_progress[0] >= 0.2 or (fraction is not None and fraction >= 1):
                last_progress[0] = now
                store.set_stage(exp.id, stage.id, progress=message, progress_fraction=fraction)

        ctx = StageContext(
            experiment_id=exp.id, stage_id=stage.id, base_id=stage.base_id, kind=stage.kind,
            arm_id=stage.arm.id if stage.arm else None, arm_values=dict(stage.arm.values) if stage.arm else {},
            params=dict(stage.params), config=stage.config, config_data=stage.config_data,
            config_hash=stage.config_hash, output_dir=rec.dir,
            inputs={n: StageInput(n, records[n].base_id, records[n].arm_id, records[n].dir) for n in stage.needs},
            attempt=attempt.number, previous_attempts=attempt.number - 1, logger=log,
            _should_stop=stop, _progress=progress)
        ctx.output_dir.mkdir(parents=True, exist_ok=True)
        log.info("stage %s (%s) attempt %d starting in %s", stage.id, stage.kind, attempt.number, rec.dir)
        get_stage_kind(stage.kind).fn(ctx)
    except (StageStopped, KeyboardInterrupt) as exc:
        # A stage that honoured a stop request (or was interrupted) stopped; it did not crash.
        store.report_attempt(args.attempt_id, "stopped")
        log.warning("stage %s stopped before finishing (%s); its outputs are not trusted", args.stage,
                    type(exc).__name__)
        return 0
    except Exception as exc:  # noqa: BLE001 - logged with traceback and reported to the runner (retry policy)
        transient = is_transient(exc)
        log.error("stage %s failed: %s", args.stage, "".join(traceback.format_exception(exc)))
        store.report_attempt(args.attempt_id, "failed", error=f"{exc}", transient=int(transient),
                             error_type=f"{type(exc).__module__}.{type(exc).__qualname__}")
        return 3 if transient else 4
    if stop():
        store.report_attempt(args.attempt_id, "stopped")
        log.warning("stage %s returned after a stop request; its outputs are not trusted", args.stage)
        return 0
    store.report_attempt(args.attempt_id, "returned")
    log.info("stage %s returned", args.stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
