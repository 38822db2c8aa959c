"""Stop stage jobs and cancel experiments or stages (``parley experiment cancel``).

A local stage runs as the leader of its own process group, so stopping it stops everything it
started: SIGTERM to the group (the stage's ``ctx.should_stop()`` turns true), then SIGKILL after a
grace period. A pid is only signalled when its process start time matches the one recorded for the
attempt, so a reused pid is never hit. A Ray or Kubernetes stage is stopped through its executor
(``stop_job``; Job deletion with foreground propagation), reached from the settings stored with the
attempt, so ``cancel`` works from any process that can reach the cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from parley.executors.local import process_alive, process_created, terminate_group
from parley.experiments.errors import ExperimentError
from parley.experiments.state import TERMINAL_STAGE, AttemptRecord, ExperimentStore, StageRecord

__all__ = ["CancelResult", "cancel", "cancel_label", "process_alive", "process_created", "stop_attempt",
           "terminate_group"]


@dataclass(frozen=True)
class CancelResult:
    """Stages marked cancelled, and those among them whose process was signalled."""

    experiment_id: str
    cancelled: list[str]
    signalled: list[str]


def stop_attempt(attempt: AttemptRecord, grace_s: float = 5.0) -> bool:
    """Stop an attempt's job on the executor it ran on; True when it was still running.

    Local attempts are signalled by pid (checked against the recorded start time); Ray and Kubernetes
    attempts are cancelled through their executor, rebuilt from the settings stored with the attempt.
    """
    backend = (attempt.executor or {}).get("backend", "local")
    if backend == "local" or attempt.job_id is None:
        return terminate_group(attempt.pid, attempt.pid_created, grace_s)
    from parley.executors import ExecutorError, executor_from_description

    try:
        executor = executor_from_description(attempt.executor or {})
        try:
            return executor.cancel(attempt.job_id, grace_s)
        finally:
            executor.close()
    except ExecutorError as exc:
        raise ExperimentError(f"stage {attempt.stage_id}: cannot stop {backend} job {attempt.job_id}: {exc}") from exc


def _dependents(stages: list[StageRecord], roots: set[str]) -> set[str]:
    found = set(roots)
    for s in stages:  # plan order is topological
        if any(n in found for n in s.needs):
            found.add(s.stage_id)
    return found


def cancel(store: ExperimentStore, experiment_id: str, stage: str | None = None, cascade: bool = False,
           grace_s: float = 5.0) -> CancelResult:
    """Cancel a whole experiment, or one stage (by id, or by base id: all its arms).

    Cancelled stages are marked ``cancelled`` before their processes are signalled, so the runner
    records the attempt as cancelled rather than retrying it. With ``cascade``, the stage's transitive
    dependents are marked cancelled too; without it they end ``blocked`` when the runner reaches them.
    ``resume`` runs cancelled stages again.
    """
    exp = store.get_experiment(experiment_id)
    if exp is None:
        raise ExperimentError(f"no experiment {experiment_id!r} in {store.path}")
    stages = store.stages(experiment_id)
    if stage is None:
        targets = {s.stage_id for s in stages}
        store.set_experiment(experiment_id, cancel_requested=1)
    else:
        roots = {s.stage_id for s in stages if stage in (s.stage_id, s.base_id)}
        if not roots:
            known = sorted({s.base_id for s in stages} | {s.stage_id for s in stages})
            raise ExperimentError(f"experiment {experiment_id}: no stage {stage!r}; known: {', '.join(known)}")
        targets = _dependents(stages, roots) if cascade else roots
    cancelled: list[str] = []
    signalled: list[str] = []
    running: list[str] = []
    with store.transaction():  # all at once, so the runner never sees a half-cancelled cascade
        for s in stages:
            if s.stage_id in targets and s.status not in TERMINAL_STAGE and store.set_stage_if(
                    experiment_id, s.stage_id, ("pending", "running"), status="cancelled", error="cancelled by user"):
                cancelled.append(s.stage_id)
                if s.status == "running":
                    running.append(s.stage_id)
    for stage_id in running:
        for attempt in store.attempts(experiment_id, stage_id):
            if attempt.status not in ("running", "returned", "stopped"):
                continue
            if stop_attempt(attempt, grace_s):
                signalled.append(stage_id)
            store.finish_attempt(attempt.id, "cancelled", error="cancelled by user")
    if stage is None and not process_alive(exp.runner_pid, None):
        store.set_experiment(experiment_id, status="cancelled", runner_pid=None)
    return CancelResult(experiment_id, cancelled, signalled)


def cancel_label(store: ExperimentStore, label: str, grace_s: float = 5.0) -> list[CancelResult]:
    """Cancel every experiment carrying ``label`` that has not finished."""
    return [cancel(store, e.id, grace_s=grace_s) for e in store.list_experiments(label)
            if e.status not in ("succeeded", "failed", "cancelled")]
