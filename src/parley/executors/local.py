"""The ``local`` backend: each job is a child process of this one, leader of its own process group.

- ``submit`` starts the process at once with ``start_new_session=True`` (so stopping it stops
  everything it started), its output appended to ``job.log_path``, ``OMP_NUM_THREADS`` /
  ``MKL_NUM_THREADS`` set to the job's whole CPUs (so parallel jobs do not oversubscribe the cores, and
  a stage computes with the same thread count on every backend) and ``CUDA_VISIBLE_DEVICES`` to the
  GPUs reserved for it.
- ``events`` blocks in ``wait()`` on the child (no polling); for a process this executor did not
  start (found again after a restart) it waits through psutil.
- ``cancel`` sends SIGTERM to the group, SIGKILL after the grace period. A pid is only signalled when
  its start time matches the recorded one, so a reused pid is never hit.
- Capacity ("what the machine can hold"): the CPUs this process may run on (its affinity), the
  machine's memory and its visible GPUs. :meth:`LocalExecutor.admits` says whether a job fits beside
  the running ones; a job larger than the whole machine still runs, alone.

Job ids are ``<pid>@<start time>``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import IO

import psutil

from parley.executors.base import Executor, ExecutorError, JobEvent, JobInfo, JobSpec, JobState, Resources

log = logging.getLogger(__name__)

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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


def parse_job_id(job_id: str) -> tuple[int, float | None]:
    """``(pid, start time)`` from a local job id ``<pid>@<start time>``."""
    pid, _, created = job_id.partition("@")
    try:
        return int(pid), (float(created) if created else None)
    except ValueError:
        raise ExecutorError(f"local: {job_id!r} is not a local job id (expected <pid>@<start time>)") from None


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """GPU indices jobs may use: ``CUDA_VISIBLE_DEVICES`` when set, else those ``nvidia-smi -L`` lists."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]


@dataclass
class _Job:
    spec: JobSpec
    proc: subprocess.Popen[bytes]
    created: float | None
    log_file: IO[bytes] | None
    gpus: list[str]
    cancelled: bool = False
    done: JobEvent | None = None


class LocalExecutor(Executor):
    """Runs jobs as local process groups (see the module docstring).

    Args:
        cpus: CPUs to schedule on (default: :func:`usable_cpus`).
        memory_gb: memory to schedule on (default: the machine's total).
        gpus: GPU indices to hand out (default: :func:`visible_gpus`).
    """

    backend = "local"

    def __init__(self, cpus: int | None = None, memory_gb: float | None = None,
                 gpus: list[str] | None = None) -> None:
        self.cpus = cpus or usable_cpus()
        self.memory_gb = memory_gb or psutil.virtual_memory().total / 2**30
        self.gpus = list(visible_gpus() if gpus is None else gpus)
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    # scheduling ---------------------------------------------------------------------------------
    def capacity(self, resources: Resources) -> int:
        """Jobs of this size the machine holds at once (at least 1: a job too large runs alone)."""
        fits = [self.cpus / resources.cpus] if resources.cpus > 0 else []
        if resources.memory_gb:
            fits.append(self.memory_gb / resources.memory_gb)
        if resources.gpus > 0:
            fits.append(len(self.gpus) / math.ceil(resources.gpus))
        return max(1, int(min(fits))) if fits else len(self.gpus) or self.cpus

    def admits(self, resources: Resources) -> bool:
        """Whether a job of this size fits beside the running ones (always, when nothing runs)."""
        with self._lock:
            running = [j for j in self._jobs.values() if j.done is None]
        if not running:
            return len(self.gpus) >= math.ceil(resources.gpus)
        cpus = sum(j.spec.resources.cpus for j in running) + resources.cpus
        memory = sum(j.spec.resources.memory_gb or 0 for j in running) + (resources.memory_gb or 0)
        free_gpus = len(self.gpus) - sum(len(j.gpus) for j in running)
        return cpus <= self.cpus and memory <= self.memory_gb and free_gpus >= math.ceil(resources.gpus)

    # the interface ------------------------------------------------------------------------------
    def submit(self, job: JobSpec) -> str:
        """Start the job's process now (it is the leader of a new process group)."""
        want = math.ceil(job.resources.gpus)
        with self._lock:
            busy = {g for j in self._jobs.values() if j.done is None for g in j.gpus}
            free = [g for g in self.gpus if g not in busy]
            if want > len(free):
                raise ExecutorError(
                    f"local: job {job.name} needs {want} GPU(s); {len(free)} of {len(self.gpus)} visible are free "
                    "here (set resources.gpus: 0, or run on --executor ray / kubernetes)")
            gpus = free[:want]
        env = {**os.environ, **{k: str(job.resources.threads) for k in THREAD_ENV}, **job.env}
        if gpus:  # a job that asks for no GPU keeps the environment's (resources.gpus is for scheduling)
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
        log_file = None
        if job.log_path is not None:
            job.log_path.parent.mkdir(parents=True, exist_ok=True)
            log_file = job.log_path.open("ab")
        try:
            proc = subprocess.Popen(job.argv, stdout=log_file or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, env=env, cwd=job.cwd)
        except OSError as exc:
            if log_file is not None:
                log_file.close()
            raise ExecutorError(f"local: cannot start job {job.name} ({job.argv[0]}): {exc}") from exc
        created = process_created(proc.pid)
        job_id = f"{proc.pid}@{created!r}" if created is not None else str(proc.pid)
        with self._lock:
            self._jobs[job_id] = _Job(job, proc, created, log_file, gpus)
        log.debug("local job %s started: pid %d", job.name, proc.pid)
        return job_id

    def _finish(self, job_id: str, job: _Job, code: int) -> JobEvent:
        with self._lock:
            if job.done is None:
                if job.log_file is not None:
                    job.log_file.close()
                if code == 0:
                    state, message = JobState.SUCCEEDED, "exited with code 0"
                elif job.cancelled:
                    state, message = JobState.STOPPED, "stopped by cancel"
                else:
                    state = JobState.FAILED
                    message = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
                job.done = JobEvent(job_id, state, code, message)
            return job.done

    def status(self, job_id: str) -> JobEvent:
        """The job's state now (children: ``poll()``; other processes: whether the pid still runs)."""
        job = self._jobs.get(job_id)
        if job is not None:
            code = job.proc.poll()
            return JobEvent(job_id, JobState.RUNNING) if code is None else self._finish(job_id, job, code)
        pid, created = parse_job_id(job_id)
        if process_alive(pid, created):
            return JobEvent(job_id, JobState.RUNNING)
        return JobEvent(job_id, JobState.FAILED, None, "process ended (not a child of this process: exit code unknown)")

    def events(self, job_id: str) -> Iterator[JobEvent]:
        """``RUNNING`` at once, then the terminal event when ``wait()`` on the process returns."""
        yield JobEvent(job_id, JobState.RUNNING)
        job = self._jobs.get(job_id)
        if job is not None:
            yield self._finish(job_id, job, job.proc.wait())
            return
        pid, created = parse_job_id(job_id)
        if process_alive(pid, created):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).wait()
        yield self.status(job_id)

    def logs(self, job_id: str, follow: bool = False) -> Iterator[str]:
        """Lines of the job's log file; with ``follow`` keeps reading until the process has ended."""
        job = self._jobs.get(job_id)
        if job is None or job.spec.log_path is None:
            raise ExecutorError(f"local: no log for job {job_id} in this process (read the stage's log file)")
        path = job.spec.log_path
        sleep = 0.05
        with path.open("rb") as fh:
            pending = b""
            while True:
                chunk = fh.read(1 << 16)
                if chunk:
                    sleep = 0.05
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        yield line.decode("utf-8", "replace")
                    continue
                if not follow or self.status(job_id).state.terminal:
                    if fh.read(1):  # written between the last read and the end check
                        fh.seek(-1, os.SEEK_CUR)
                        continue
                    break
                time.sleep(sleep)
                sleep = min(0.5, sleep * 2)
            if pending:
                yield pending.decode("utf-8", "replace")

    def cancel(self, job_id: str, grace_s: float = 5.0) -> bool:
        """SIGTERM the job's process group, SIGKILL after ``grace_s``."""
        job = self._jobs.get(job_id)
        if job is not None:
            job.cancelled = True
            return terminate_group(job.proc.pid, job.created, grace_s)
        pid, created = parse_job_id(job_id)
        return terminate_group(pid, created, grace_s)

    def list(self, labels: Mapping[str, str] | None = None) -> list[JobInfo]:
        """Jobs started by this executor (a local process has no registry beyond its parent)."""
        want = dict(labels or {})
        with self._lock:
            items = list(self._jobs.items())
        return [JobInfo(jid, j.spec.name, self.status(jid).state, dict(j.spec.labels)) for jid, j in items
                if all(j.spec.labels.get(k) == v for k, v in want.items())]

    def describe(self) -> dict[str, object]:
        """``{"backend": "local"}`` (a local job is found again by its pid and start time)."""
        return {"backend": self.backend}

    def close(self) -> None:
        """Stop jobs that are still running (only reached when the caller gives up on them)."""
        for job_id, job in list(self._jobs.items()):
            if job.done is None and job.proc.poll() is None:
                self.cancel(job_id, grace_s=5.0)
                self._finish(job_id, job, job.proc.wait())
