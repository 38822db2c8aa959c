"""The executor interface: run one command as a job somewhere, follow it, stop it.

An executor knows nothing about experiments: it runs a :class:`JobSpec` (argv, environment,
resources, labels, where the log goes) and reports what happens to it. The experiment runner builds
the job of each stage attempt (``python -m parley.experiments.stage_main ...``) and decides, from the
job's final :class:`JobEvent` and the stage's own report, whether the stage is complete.

Every backend offers the same six calls:

- ``submit(job) -> job_id``: start (or queue) the job; returns at once.
- ``events(job_id)``: an iterator of :class:`JobEvent` (state changes), ending with a terminal one.
  How each backend learns about changes is documented in its module (child-process wait, Ray log
  tail, Kubernetes watch); none polls at a fixed interval.
- ``status(job_id)``: the current state, once.
- ``logs(job_id, follow=False)``: the job's output lines; with ``follow`` until the job ends.
- ``cancel(job_id)``: stop it (a no-op returning False when it already ended).
- ``wait(job_id, timeout_s)``: block on ``events`` until the job ends.
- ``list(labels)``: the jobs this backend knows, optionally only those carrying ``labels``.

Errors: :class:`ExecutorError` for anything a user can fix (unreachable cluster, missing extra,
unknown job id); the message names the backend, the problem and the fix.
"""

from __future__ import annotations

import abc
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class ExecutorError(RuntimeError):
    """An executor cannot do what was asked; the message names the backend, the problem and the fix."""


class JobState(StrEnum):
    """Where a job is. ``PENDING``: accepted, not started (queued for resources, image pulling)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"

    @property
    def terminal(self) -> bool:
        """Whether the job has ended (it will not change state again)."""
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.STOPPED)


@dataclass(frozen=True)
class Resources:
    """What one job needs: CPU cores, GPUs and memory (GiB, None: not declared)."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_gb: float | None = None

    @property
    def threads(self) -> int:
        """Threads a job should use for its numeric libraries (``OMP_NUM_THREADS``): its whole CPUs."""
        return max(1, int(self.cpus))


@dataclass(frozen=True)
class JobSpec:
    """One job. ``name`` must be unique per executor; ``labels`` find it again (``list``)."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    resources: Resources = field(default_factory=Resources)
    labels: dict[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    cwd: Path | None = None


@dataclass(frozen=True)
class JobEvent:
    """A state of a job. ``exit_code`` is set on terminal events when the backend knows it."""

    job_id: str
    state: JobState
    exit_code: int | None = None
    message: str = ""
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class JobInfo:
    """A job as ``list`` reports it."""

    job_id: str
    name: str
    state: JobState
    labels: Mapping[str, str]


class Executor(abc.ABC):
    """Base class of the backends (see the module docstring for the contract)."""

    backend: str = "?"
    #: the interpreter jobs run (None: the caller's own, for local jobs)
    python: str | None = None

    @abc.abstractmethod
    def submit(self, job: JobSpec) -> str:
        """Start (or queue) ``job``; returns its id at once."""

    @abc.abstractmethod
    def status(self, job_id: str) -> JobEvent:
        """The job's current state."""

    @abc.abstractmethod
    def events(self, job_id: str) -> Iterator[JobEvent]:
        """State changes of the job, ending with a terminal event."""

    @abc.abstractmethod
    def logs(self, job_id: str, follow: bool = False) -> Iterator[str]:
        """The job's output lines (with ``follow``: until it ends)."""

    @abc.abstractmethod
    def cancel(self, job_id: str, grace_s: float = 5.0) -> bool:
        """Stop the job (SIGTERM-like, forced after ``grace_s``); True when it was still running."""

    @abc.abstractmethod
    def list(self, labels: Mapping[str, str] | None = None) -> list[JobInfo]:
        """Jobs known to this backend, optionally only those carrying all of ``labels``."""

    def wait(self, job_id: str, timeout_s: float | None = None) -> JobEvent:
        """Block until the job ends and return its terminal event.

        Raises:
            TimeoutError: the job had not ended after ``timeout_s`` seconds (it keeps running).
        """
        found: queue.Queue[JobEvent | BaseException] = queue.Queue()

        def follow() -> None:
            try:
                for event in self.events(job_id):
                    found.put(event)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread, which re-raises it
                found.put(exc)

        threading.Thread(target=follow, name=f"wait-{job_id}", daemon=True).start()
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        last: JobEvent | None = None
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = found.get(timeout=left)
            except queue.Empty:
                raise TimeoutError(f"{self.backend} job {job_id} still {last.state if last else 'unknown'} "
                                   f"after {timeout_s}s") from None
            if isinstance(item, BaseException):
                raise item
            last = item
            if item.state.terminal:
                return item

    def capacity(self, resources: Resources) -> int | None:
        """How many jobs of this size can run at once here (None: the cluster's scheduler decides)."""
        return None

    def job_path(self, local: Path) -> str:
        """Where a job sees the file or directory the caller has at ``local`` (local, Ray: the same path)."""
        return str(local)

    def admits(self, resources: Resources) -> bool:
        """Whether a job of this size may start now beside the running ones (cluster backends: always,
        their scheduler queues it)."""
        return True

    def describe(self) -> dict[str, Any]:
        """The settings needed to reach this executor again (stored with each attempt; no secrets)."""
        return {"backend": self.backend}

    def close(self) -> None:  # noqa: B027 - optional hook: backends without clients keep nothing open
        """Release clients and threads."""
