"""Stop stage processes and cancel experiments or stages (``parley experiment cancel``).

Each stage runs as the leader of its own process group, so stopping it stops everything it started.
A stop is SIGTERM to the group (the stage's ``ctx.should_stop()`` turns true), then SIGKILL after a
grace period. A pid is only signalled when its process start time matches the one recorded for the
attempt, so a reused pid is never hit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass

import psutil

from parley.experiments.errors import ExperimentError
from parley.experiments.state import TERMINAL_STAGE, ExperimentStore, StageRecord


def process_created(pid: int) -> float | None:
    """The process's start time (psutil ``create_time``), or None when it does not exist."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def process_alive(pid: int | None, created: float | None) -> bool:
    """Whether ``pid`` still runs (not a zombie) and is the process that started at ``created``."""
    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        if created is not None and abs(proc.create_time() - created) > 0.01:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def terminate_group(pid: int | None, created: float | None, grace_s: float = 5.0) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``grace_s``; True if it was running."""
    if pid is None or not process_alive(pid, created):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace_s
    sleep = 0.01
    while time.monotonic() < deadline and process_alive(pid, created):
        time.sleep(sleep)
        sleep = min(0.2, sleep * 2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


@dataclass(frozen=True)
class CancelResult:
    """Stages marked cancelled, and those among them whose process was signalled."""

    experiment_id: str
    cancelled: list[str]
    signalled: list[str]


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
            if terminate_group(attempt.pid, attempt.pid_created, grace_s):
                signalled.append(stage_id)
            store.finish_attempt(attempt.id, "cancelled", error="cancelled by user")
    if stage is None and not process_alive(exp.runner_pid, None):
        store.set_experiment(experiment_id, status="cancelled", runner_pid=None)
    return CancelResult(experiment_id, cancelled, signalled)


def cancel_label(store: ExperimentStore, label: str, grace_s: float = 5.0) -> list[CancelResult]:
    """Cancel every experiment carrying ``label`` that has not finished."""
    return [cancel(store, e.id, grace_s=grace_s) for e in store.list_experiments(label)
            if e.status not in ("succeeded", "failed", "cancelled")]
