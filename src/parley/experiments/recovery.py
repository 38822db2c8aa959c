"""What ``resume`` does with the attempts a dead runner left behind, and the run state it rebuilds.

- A local attempt (a process group on this machine) stopped itself when its runner died, or is
  stopped now; if its stage function had returned, its outputs are checked and the stage completes
  without re-running; otherwise it is ``interrupted`` and the stage runs again.
- A Ray or Kubernetes attempt outlives its runner. If the job still runs on the same executor, the new
  runner adopts it: it follows the job's events again and the stage is not started twice. If the job
  has ended, its ``result.json`` is imported and handled as if the runner had seen it end. A job
  whose submission was never recorded (the runner died inside ``submit``) is looked up by its
  deterministic id. Jobs on another executor than the one resuming are stopped and re-run.
- Completed stages' artifacts are re-hashed; a missing or changed one marks the stage failed and it
  re-runs.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path

from parley.executors import Executor, ExecutorError, JobEvent
from parley.experiments.control import stop_attempt
from parley.experiments.outputs import checksum
from parley.experiments.plan import ExperimentPlan, PlannedStage
from parley.experiments.stage_jobs import import_outcome, job_name
from parley.experiments.state import AttemptRecord, ExperimentStore

log = logging.getLogger("parley.experiments.runner")


@dataclass
class _Running:
    stage: PlannedStage
    job_id: str
    attempt_id: int
    number: int
    deadline: float | None
    remote: bool
    stop_sent: bool = False


@dataclass
class _RunState:
    todo: list[str]
    tries: dict[str, int] = field(default_factory=dict)
    not_before: dict[str, float] = field(default_factory=dict)
    running: dict[str, _Running] = field(default_factory=dict)
    old_checksums: dict[str, dict[str, str]] = field(default_factory=dict)
    events: queue.Queue[tuple[str, int, JobEvent]] = field(default_factory=queue.Queue)
    next_progress: float = 0.0


class Recovery:
    """The recovery half of :class:`~parley.experiments.runner.ExperimentRunner`."""

    store: ExperimentStore
    term_grace_s: float

    def _complete_or_fail(self, exp_id: str, plan: ExperimentPlan, stage: PlannedStage, attempt_id: int,
                          state: _RunState) -> None:
        raise NotImplementedError

    @staticmethod
    def _watch(executor: Executor, state: _RunState, sid: str, attempt_id: int, job_id: str) -> None:
        raise NotImplementedError

    def _recover(self, exp_id: str, plan: ExperimentPlan, state: _RunState, executor: Executor) -> None:
        for rec in self.store.stages(exp_id):
            stage = plan.stage(rec.stage_id)
            if rec.status == "running":
                for attempt in self.store.attempts(exp_id, rec.stage_id):
                    if attempt.status not in ("running", "returned", "stopped"):
                        continue
                    if self._adopt_or_import(exp_id, plan, stage, attempt, state, executor):
                        continue
                    attempt = self.store.attempt(attempt.id)
                    stopped = False if attempt.status == "returned" else stop_attempt(attempt, self.term_grace_s)
                    if attempt.status == "returned":
                        self._complete_or_fail(exp_id, plan, stage, attempt.id, state)
                        continue
                    note = " (its orphaned job was stopped)" if stopped else ""
                    self.store.finish_attempt(attempt.id, "interrupted", error=f"runner died{note}")
                    self.store.set_stage(exp_id, rec.stage_id, status="failed",
                                         error=f"interrupted: runner died during attempt {attempt.number}{note}")
            elif rec.status == "succeeded":
                problem = self._verify_artifacts(exp_id, rec.stage_id, rec.dir, stage)
                if problem is not None:
                    state.old_checksums[rec.stage_id] = {a.path: a.sha256
                                                         for _, a in self.store.artifacts(exp_id, rec.stage_id)}
                    log.warning("stage %s: %s; re-running it", rec.stage_id, problem)
                    self.store.set_stage(exp_id, rec.stage_id, status="failed", error=f"re-verify: {problem}")

    def _adopt_or_import(self, exp_id: str, plan: ExperimentPlan, stage: PlannedStage, attempt: AttemptRecord,
                         state: _RunState, executor: Executor) -> bool:
        """Adopt a remote job that still runs on ``executor`` (True); import the outcome of one that ended."""
        recorded = attempt.executor or {}
        if recorded.get("backend", "local") == "local" or recorded != executor.describe() \
                or attempt.status != "running":
            return False
        job_id = attempt.job_id or executor.job_id_for(job_name(exp_id, stage.id, attempt.number))
        if job_id is None:
            return False
        try:
            now = executor.status(job_id)
        except ExecutorError as exc:
            log.warning("stage %s: %s job %s not found (%s); re-running the stage", stage.id, executor.backend,
                        job_id, exc)
            return False
        if not now.state.terminal:
            left = None if stage.timeout_s is None else stage.timeout_s - (time.time() - attempt.started_at)
            self.store.set_attempt(attempt.id, job_id=job_id)
            state.running[stage.id] = _Running(stage, job_id, attempt.id, attempt.number,
                                               None if left is None else time.monotonic() + left, True)
            self._watch(executor, state, stage.id, attempt.id, job_id)
            log.info("stage %s: adopted %s job %s (still %s)", stage.id, executor.backend, job_id, now.state)
            return True
        import_outcome(self.store, exp_id, stage, attempt.id, attempt.number)
        return False

    def _verify_artifacts(self, exp_id: str, stage_id: str, stage_dir: Path, stage: PlannedStage) -> str | None:
        recorded = {a.path: a for _, a in self.store.artifacts(exp_id, stage_id)}
        for out in stage.outputs:
            art = recorded.get(out.path)
            path = stage_dir / out.path
            if art is None:
                return f"artifact {out.path}: no checksum recorded"
            if not path.exists():
                return f"artifact {out.path}: missing"
            sha, _ = checksum(path)
            if sha != art.sha256:
                return f"artifact {out.path}: checksum changed (recorded {art.sha256[:12]}, now {sha[:12]})"
        return None
