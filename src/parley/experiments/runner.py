"""Run an experiment plan, each stage attempt a job on an executor, with state in SQLite.

- Ids: ``<name>-<first 12 hex of the spec's content hash>`` unless given, so running the same spec
  again, or ``resume``, finds the same experiment (running an existing id with the same spec resumes
  it; with a different spec it is an error).
- A stage is ``succeeded`` only when its process returned normally AND every declared output exists
  and passes its checks; the checksums go to ``artifacts`` in the same transaction.
- A stage whose dependency did not succeed is marked ``blocked`` and never started.
- Transient failures (see :mod:`parley.experiments.errors`) are retried up to ``retry.max_attempts``
  times per run with capped exponential backoff and jitter; other failures fail the stage at once.
- Stages run on an executor (:mod:`parley.executors`: ``local`` process groups, ``ray`` jobs,
  ``kubernetes`` jobs), chosen in the spec (``executor:``) or by the caller. Independent stages run at
  the same time, up to ``max_parallel`` (default: what the executor can hold, e.g. the local machine's
  CPUs, memory and GPUs against each stage's ``resources``). The runner waits on the jobs' event
  streams (one follower thread per running job), not on a fixed polling interval.
- ``resume`` first recovers: stage processes left by a dead runner are stopped; a stage whose process
  had returned is checked and completed without re-running; other interrupted stages run again in the
  same output directory (a training stage resumes from its checkpoints). Completed stages' artifacts
  are re-hashed; a missing or changed artifact marks the stage failed with the reason, and it re-runs
  (its completed dependents re-run too if the new outputs differ from the recorded ones).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from parley.executors import Executor, ExecutorError, ExecutorSpec, JobEvent, JobState, create_executor
from parley.executors.local import parse_job_id, process_alive
from parley.experiments.control import stop_attempt
from parley.experiments.errors import ExperimentError
from parley.experiments.manifest import build_manifest, write_manifest
from parley.experiments.outputs import OutputCheckError, check_outputs, checksum
from parley.experiments.plan import ExperimentPlan, PlannedStage, build_plan
from parley.experiments.registry import get_stage_kind
from parley.experiments.spec import ExperimentSpec, RetryPolicy, spec_from_mapping
from parley.experiments.stage_jobs import (
    RUNNER_PID_ENV,
    import_outcome,
    refresh_progress,
    stage_job,
    stage_resources,
)
from parley.experiments.state import ExperimentRecord, ExperimentStore

log = logging.getLogger(__name__)

DB_NAME = "experiments.db"
__all__ = ["DB_NAME", "RUNNER_PID_ENV", "ExperimentRunner", "backoff_delay", "experiment_id_for"]


def experiment_id_for(spec: ExperimentSpec) -> str:
    """The deterministic id of a spec: its name and the first 12 hex digits of its content hash."""
    return f"{spec.name}-{spec.content_hash()[:12]}"


def backoff_delay(policy: RetryPolicy, failures: int, rng: random.Random) -> float:
    """Seconds to wait after the ``failures``-th transient failure (capped exponential, jittered)."""
    delay = min(policy.backoff_max_s, policy.backoff_base_s * 2 ** max(0, failures - 1))
    return delay * (1 - policy.jitter * rng.random())


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


class ExperimentRunner:
    """Runs and resumes experiments under ``root`` (state in ``root/experiments.db``).

    Args:
        root: directory holding the database and one directory per experiment.
        python: interpreter for local stage processes.
        poll_s: longest wait for a job event before the database is re-read (cancel requests from
            other processes); job ends and retry times wake the runner at once.
        term_grace_s: seconds between SIGTERM and SIGKILL when stopping a stage.
        seed: seeds the retry jitter.
        executor: where stages run, overriding the spec's ``executor`` (settings or a ready executor).
        max_parallel: stages at once, overriding the spec's ``max_parallel``.
    """

    def __init__(self, root: str | Path, *, python: str = sys.executable, poll_s: float = 0.25,
                 term_grace_s: float = 5.0, seed: int | None = None,
                 executor: ExecutorSpec | Executor | None = None, max_parallel: int | None = None) -> None:
        self.root = Path(root).resolve()
        self.store = ExperimentStore(self.root / DB_NAME)
        self.python = python
        self.poll_s = poll_s
        self.term_grace_s = term_grace_s
        self.executor_override = executor
        if max_parallel is not None and max_parallel < 1:
            raise ExperimentError(f"max_parallel must be at least 1, got {max_parallel}")
        self.max_parallel = max_parallel
        self._rng = random.Random(seed)

    def close(self) -> None:
        """Close the database connection."""
        self.store.close()

    # public API ----------------------------------------------------------------------------------
    def create(self, spec: ExperimentSpec, experiment_id: str | None = None,
               command: list[str] | None = None, source: str = "spec") -> tuple[str, ExperimentPlan]:
        """Validate the whole plan and record the experiment (or find the existing one with this spec)."""
        plan = build_plan(spec, source)
        exp_id = experiment_id or experiment_id_for(spec)
        existing = self.store.get_experiment(exp_id)
        if existing is not None:
            if existing.spec_hash != plan.spec_hash:
                raise ExperimentError(f"experiment {exp_id} exists with a different spec; give a new --id or "
                                      f"resume it with `parley experiment resume {exp_id}`")
            self.store.add_labels(exp_id, spec.labels)
            return exp_id, plan
        exp_dir = self.root / exp_id
        rows = []
        for s in plan.stages:
            kind = get_stage_kind(s.kind)
            rows.append({"stage_id": s.id, "base_id": s.base_id, "arm_id": s.arm.id if s.arm else None,
                         "kind": s.kind, "needs": list(s.needs), "kind_module": kind.module,
                         "kind_file": kind.file, "dir": exp_dir / "stages" / s.dir_name})
        exp_dir.mkdir(parents=True, exist_ok=True)
        (exp_dir / "spec.json").write_text(json.dumps(spec.model_dump(mode="json"), indent=2), encoding="utf-8")
        self.store.create_experiment(exp_id, spec.name, plan.spec_hash, spec.model_dump(mode="json"), exp_dir,
                                     spec.labels, json.dumps(command or sys.argv), rows)
        return exp_id, plan

    def run(self, spec: ExperimentSpec, experiment_id: str | None = None, command: list[str] | None = None,
            source: str = "spec") -> ExperimentRecord:
        """Create (or find) the experiment and run it to the end; returns its final record."""
        exp_id, plan = self.create(spec, experiment_id, command, source)
        return self._execute(exp_id, plan, command)

    def resume(self, experiment_id: str, command: list[str] | None = None) -> ExperimentRecord:
        """Continue an experiment: recover interrupted stages, re-verify artifacts, run what is left."""
        exp = self.store.get_experiment(experiment_id)
        if exp is None:
            known = ", ".join(e.id for e in self.store.list_experiments()) or "none"
            raise ExperimentError(f"no experiment {experiment_id!r} under {self.root}; known: {known}")
        plan = build_plan(spec_from_mapping(exp.spec, f"experiment {experiment_id}"), f"experiment {experiment_id}")
        return self._execute(experiment_id, plan, command)

    # the loop ------------------------------------------------------------------------------------
    def _execute(self, exp_id: str, plan: ExperimentPlan, command: list[str] | None) -> ExperimentRecord:
        exp = self.store.get_experiment(exp_id)
        assert exp is not None
        if exp.runner_pid not in (None, os.getpid()) and process_alive(exp.runner_pid, None) \
                and exp.status == "running":
            raise ExperimentError(f"experiment {exp_id} is already being run by pid {exp.runner_pid}")
        if [s.stage_id for s in self.store.stages(exp_id)] != [s.id for s in plan.stages]:
            raise ExperimentError(f"experiment {exp_id}: the stored stages differ from the spec's plan")
        self.store.set_experiment(exp_id, status="running", error=None, runner_pid=os.getpid(), cancel_requested=0)
        manifest_path = exp.dir / "manifest.json"
        previous = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
        argv = command or sys.argv
        write_manifest(manifest_path, build_manifest(plan, exp_id, list(exp.labels), argv, self.store, previous))
        state = _RunState(todo=[])
        executor = self._executor(plan.spec)
        try:
            self._recover(exp_id, plan, state)
            for rec in self.store.stages(exp_id):
                if rec.status != "succeeded":
                    state.todo.append(rec.stage_id)
                    self.store.set_stage(exp_id, rec.stage_id, status="pending")
            self._loop(exp_id, plan, state, executor)
        finally:
            for run in state.running.values():  # only on an exception in the loop itself
                executor.cancel(run.job_id, self.term_grace_s)
            if not isinstance(self.executor_override, Executor):
                executor.close()
        statuses = {s.status for s in self.store.stages(exp_id)}
        final = self.store.get_experiment(exp_id)
        assert final is not None
        if statuses == {"succeeded"}:
            status = "succeeded"
        elif final.cancel_requested or (statuses & {"cancelled"} and not statuses & {"failed"}):
            status = "cancelled"
        else:
            status = "failed"
        self.store.set_experiment(exp_id, status=status, runner_pid=None)
        previous = json.loads(manifest_path.read_text())
        write_manifest(manifest_path, build_manifest(plan, exp_id, list(final.labels), argv, self.store, previous))
        done = self.store.get_experiment(exp_id)
        assert done is not None
        return done

    def _executor(self, spec: ExperimentSpec) -> Executor:
        override = self.executor_override
        if isinstance(override, Executor):
            return override
        try:
            return create_executor(override or spec.executor, self.root)
        except ExecutorError as exc:
            raise ExperimentError(str(exc)) from exc

    def _limit(self, plan: ExperimentPlan, executor: Executor) -> int:
        """Stages at once: the override, the spec's ``max_parallel``, else the executor's capacity."""
        given = self.max_parallel or plan.spec.max_parallel
        if given is not None:
            return given
        sizes = [executor.capacity(stage_resources(plan, s)) for s in plan.stages]
        known = [c for c in sizes if c is not None]
        return max(known) if known else len(plan.stages)

    def _loop(self, exp_id: str, plan: ExperimentPlan, state: _RunState, executor: Executor) -> None:
        max_parallel = self._limit(plan, executor)
        log.info("experiment %s: up to %d stage(s) at once on %s", exp_id, max_parallel, executor.backend)
        while state.todo or state.running:
            exp = self.store.get_experiment(exp_id)
            statuses = {s.stage_id: s.status for s in self.store.stages(exp_id)}
            for sid in list(state.todo):
                if statuses[sid] == "cancelled" or (exp is not None and exp.cancel_requested):
                    self.store.set_stage_if(exp_id, sid, ("pending",), status="cancelled", error="cancelled by user")
                    state.todo.remove(sid)
                    continue
                stage = plan.stage(sid)
                bad = [n for n in stage.needs if statuses[n] in ("failed", "blocked", "cancelled")]
                if bad:
                    why = ", ".join(f"{n} {statuses[n]}" for n in bad)
                    self.store.set_stage(exp_id, sid, status="blocked", error=f"not started: dependency {why}")
                    state.todo.remove(sid)
                    continue
                ready = all(statuses[n] == "succeeded" for n in stage.needs)
                if ready and len(state.running) < max_parallel and time.monotonic() >= state.not_before.get(sid, 0) \
                        and executor.admits(stage_resources(plan, stage)):
                    state.todo.remove(sid)
                    self._launch(exp_id, plan, stage, state, executor)
            now = time.monotonic()
            for sid, run in state.running.items():
                if statuses.get(sid) == "cancelled" and not run.stop_sent:  # cancelled by another process
                    self._stop(executor, run)
                if run.deadline is not None and now > run.deadline and not run.stop_sent:
                    log.warning("stage %s exceeded timeout_s=%s; stopping it", sid, run.stage.timeout_s)
                    self.store.report_attempt(run.attempt_id, "failed", error_type="TimeoutError", transient=1,
                                              error=f"stage exceeded timeout_s={run.stage.timeout_s}")
                    self._stop(executor, run)
            if not (state.running or state.todo):
                break
            if now >= state.next_progress:
                state.next_progress = now + 1.0
                for run in state.running.values():
                    if run.remote:
                        refresh_progress(self.store, exp_id, run.stage, run.number)
            wake = [self.poll_s, *(r.deadline - now for r in state.running.values() if r.deadline and not r.stop_sent),
                    *(state.not_before[s] - now for s in state.todo if s in state.not_before)]
            try:
                item = state.events.get(timeout=max(0.0, min(wake)))
            except queue.Empty:
                continue
            while True:
                self._on_event(exp_id, plan, state, *item)
                try:
                    item = state.events.get_nowait()
                except queue.Empty:
                    break

    def _on_event(self, exp_id: str, plan: ExperimentPlan, state: _RunState, sid: str, attempt_id: int,
                  event: JobEvent) -> None:
        run = state.running.get(sid)
        if run is None or run.attempt_id != attempt_id:
            return
        if event.state == JobState.PENDING:
            self.store.set_stage(exp_id, sid, progress=f"queued: {event.message or 'waiting for resources'}")
        elif event.state.terminal:
            del state.running[sid]
            self._finish(exp_id, plan, run, event, state)

    def _stop(self, executor: Executor, run: _Running) -> None:
        """Cancel a job without blocking the loop (its end arrives as an event)."""
        run.stop_sent = True
        threading.Thread(target=executor.cancel, args=(run.job_id, self.term_grace_s),
                         name=f"stop-{run.stage.id}", daemon=True).start()

    def _follow(self, executor: Executor, state: _RunState, sid: str, attempt_id: int, job_id: str) -> None:
        """Thread body: forward the job's events to the runner; report a job it lost track of as failed."""
        failures = 0
        while True:
            try:
                for event in executor.events(job_id):
                    state.events.put((sid, attempt_id, event))
                    if event.state.terminal:
                        return
                event = executor.status(job_id)
                if event.state.terminal:
                    state.events.put((sid, attempt_id, event))
                    return
            except Exception as exc:  # noqa: BLE001 - a client error while following: retried, then reported
                failures += 1
                log.warning("stage %s: following %s job %s failed (%s: %s)", sid, executor.backend, job_id,
                            type(exc).__name__, exc)
                if failures >= 5:
                    state.events.put((sid, attempt_id, JobEvent(job_id, JobState.FAILED, None,
                                                                f"lost track of the job: {exc}")))
                    return
                time.sleep(min(30.0, 0.5 * 2 ** failures))

    def _launch(self, exp_id: str, plan: ExperimentPlan, stage: PlannedStage, state: _RunState,
                executor: Executor) -> None:
        rec = self.store.stage(exp_id, stage.id)
        rec.dir.mkdir(parents=True, exist_ok=True)
        attempt_id = self.store.start_attempt(exp_id, stage.id)
        job = stage_job(self.store, exp_id, plan, stage, attempt_id, rec.attempts + 1, self.python, executor)
        state.tries[stage.id] = state.tries.get(stage.id, 0) + 1
        try:
            job_id = executor.submit(job)
        except ExecutorError as exc:
            self.store.finish_attempt(attempt_id, "failed", error=str(exc), error_type="ExecutorError", transient=0)
            self.store.set_stage(exp_id, stage.id, status="failed", error=f"ExecutorError: {exc} (not retried)")
            return
        fields: dict[str, object] = {"job_id": job_id, "executor": json.dumps(executor.describe())}
        if executor.backend == "local":
            fields["pid"], fields["pid_created"] = parse_job_id(job_id)
        self.store.set_attempt(attempt_id, **fields)
        deadline = time.monotonic() + stage.timeout_s if stage.timeout_s else None
        state.running[stage.id] = _Running(stage, job_id, attempt_id, rec.attempts + 1, deadline,
                                           executor.backend != "local")
        threading.Thread(target=self._follow, args=(executor, state, stage.id, attempt_id, job_id),
                         name=f"follow-{stage.id}", daemon=True).start()
        log.info("stage %s started (attempt %d, %s job %s)", stage.id, rec.attempts + 1, executor.backend, job_id)

    def _finish(self, exp_id: str, plan: ExperimentPlan, run: _Running, event: JobEvent, state: _RunState) -> None:
        sid, code = run.stage.id, event.exit_code
        if run.remote and self.store.attempt(run.attempt_id).status == "running":
            import_outcome(self.store, exp_id, run.stage, run.attempt_id, run.number)
        attempt = self.store.attempt(run.attempt_id)
        if self.store.stage(exp_id, sid).status == "cancelled":
            self.store.finish_attempt(run.attempt_id, "cancelled", exit_code=code, error="cancelled by user")
            return
        if attempt.status == "returned" and (code == 0 or (code is None and run.remote)):
            self._complete_or_fail(exp_id, plan, run.stage, run.attempt_id, state)
            return
        if attempt.status == "failed":
            error, transient = attempt.error or "failed", bool(attempt.transient)
            error_type = attempt.error_type
        elif attempt.status == "stopped":
            error, transient, error_type = "stopped before finishing (runner or cancel signal)", True, "Stopped"
        else:
            how = event.message or (f"killed by signal {-code}" if code is not None and code < 0
                                    else f"exited with code {code}")
            error, transient, error_type = f"stage job {how} without reporting an error", True, "Crashed"
        status = "crashed" if error_type == "Crashed" else "failed"
        self.store.finish_attempt(run.attempt_id, status, exit_code=code, error=error, error_type=error_type,
                                  transient=int(transient))
        policy = run.stage.retry
        tries = state.tries.get(sid, 1)
        if transient and tries < policy.max_attempts:
            delay = backoff_delay(policy, tries, self._rng)
            self.store.set_stage(exp_id, sid, status="pending",
                                 error=f"attempt failed ({error_type}: {error}); retry {tries + 1}/"
                                       f"{policy.max_attempts} in {delay:.2f}s")
            state.not_before[sid] = time.monotonic() + delay
            state.todo.insert(0, sid)
            return
        kind = "transient, out of retries" if transient else "not retried"
        self.store.set_stage(exp_id, sid, status="failed", error=f"{error_type}: {error} ({kind})")

    def _complete_or_fail(self, exp_id: str, plan: ExperimentPlan, stage: PlannedStage, attempt_id: int,
                          state: _RunState) -> None:
        rec = self.store.stage(exp_id, stage.id)
        try:
            artifacts = check_outputs(rec.dir, stage.outputs)
        except OutputCheckError as exc:
            self.store.finish_attempt(attempt_id, "failed", error=str(exc), error_type="OutputCheckError",
                                      transient=0)
            self.store.set_stage(exp_id, stage.id, status="failed",
                                 error=f"OutputCheckError: {exc} (the stage returned without writing it)")
            return
        self.store.complete_stage(exp_id, stage.id, attempt_id, artifacts)
        old = state.old_checksums.pop(stage.id, None)
        if old is not None and old != {a.path: a.sha256 for a in artifacts}:
            for dep in plan.dependents(stage.id):
                if self.store.set_stage_if(exp_id, dep, ("succeeded",), status="pending",
                                           error=f"re-run: input {stage.id} changed"):
                    state.todo.append(dep)
            order = [s.id for s in plan.stages]
            state.todo.sort(key=order.index)

    # recovery ------------------------------------------------------------------------------------
    def _recover(self, exp_id: str, plan: ExperimentPlan, state: _RunState) -> None:
        for rec in self.store.stages(exp_id):
            stage = plan.stage(rec.stage_id)
            if rec.status == "running":
                for attempt in self.store.attempts(exp_id, rec.stage_id):
                    if attempt.status not in ("running", "returned", "stopped"):
                        continue
                    stopped = stop_attempt(attempt, self.term_grace_s)
                    if attempt.status == "returned":
                        self._complete_or_fail(exp_id, plan, stage, attempt.id, state)
                        continue
                    note = " (its orphaned process was stopped)" if stopped else ""
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

