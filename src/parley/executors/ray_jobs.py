"""The ``ray`` backend: each job is a Ray Job on an existing cluster (``JobSubmissionClient``).

- ``submit``: ``submit_job`` with a deterministic ``submission_id`` (so a job is found again after the
  runner restarts), the job's labels as ``metadata``, its resources as ``entrypoint_num_cpus`` /
  ``entrypoint_num_gpus`` / ``entrypoint_memory`` and a runtime environment whose ``working_dir`` is
  this parley project (shipped to the cluster by Ray; ``.gitignore``, ``.venv``, ``.git``, secrets
  files and the experiments root are left out). The entrypoint puts the shipped ``src`` first on
  ``PYTHONPATH``, so the cluster runs the code that was submitted, with the cluster's interpreter
  (``ray.python``, default ``python`` on the PATH ``ray start`` had) and installed dependencies.
- ``events``: Ray has no push notification of job state changes. parley follows the job's log stream
  (``tail_job_logs``: a websocket the job server holds open from the moment the job's supervisor
  starts until the job ends) and writes it to the job's log file; the first output means RUNNING and
  the end of the stream means the job ended, whose final state and driver exit code are then read
  with ``get_job_info``. Only when the stream drops or ends early does it read the status, with
  bounded backoff (0.1 s doubling to 5 s); no fixed polling interval.
- ``cancel``: ``stop_job`` (SIGTERM to the entrypoint, SIGKILL after ``RAY_JOB_STOP_WAIT_TIME_S``, 3 s by
  default on the cluster), then waits (bounded) until Ray reports the job stopped.
- Environment variables given to a job are parley's own (threads, ``PYTHONPATH``); a runtime
  environment with secret-looking variables is refused: Ray stores ``env_vars`` in the job's spec and
  shows them on its dashboard. Secrets reach Ray workers through the nodes' environment or a secrets
  file on the shared volume (``model.secrets_file``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import shlex
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from parley.executors.base import Executor, ExecutorError, JobEvent, JobInfo, JobSpec, JobState
from parley.executors.config import RaySettings, secret_looking
from parley.executors.local import THREAD_ENV

log = logging.getLogger(__name__)

SHIP_EXCLUDES = [".git", ".venv", "**/__pycache__", "*.pyc", ".env", "*.env", ".parley-cache", "runs",
                 "secrets", "*.secrets", "*.key"]
_STATES = {"PENDING": JobState.PENDING, "RUNNING": JobState.RUNNING, "STOPPED": JobState.STOPPED,
           "SUCCEEDED": JobState.SUCCEEDED, "FAILED": JobState.FAILED}
LOG_PATH_KEY = "parley.log_path"
PACKAGE = Path(__file__).resolve().parents[1]  # the parley package directory (src/parley in a checkout)


def project_root() -> Path | None:
    """The parley source checkout this process imports from (None for an installed wheel)."""
    root = PACKAGE.parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "src" / "parley").is_dir() else None


def check_no_secrets(env_vars: Mapping[str, Any], where: str) -> None:
    """Refuse environment variables whose names look like secrets (they would be stored in the job spec)."""
    bad = secret_looking(env_vars)
    if bad:
        raise ExecutorError(f"{where}: {bad} look like secrets; a Ray job's env_vars are stored in its spec and shown "
                            "on the dashboard. Set them in the cluster nodes' environment, or use a secrets file on "
                            "the shared volume (model.secrets_file)")


def submission_id(name: str) -> str:
    """A Ray submission id for a job name: readable, unique per name, only ``[A-Za-z0-9_-]``."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:80]
    return f"parley-{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _state(status: Any) -> JobState:
    return _STATES[str(getattr(status, "value", status))]


class RayJobsExecutor(Executor):
    """Runs jobs as Ray Jobs (see the module docstring).

    Args:
        settings: the spec's ``executor.ray`` section (``address`` is required here).
        root: the experiments root: never shipped (when it lies inside the project), and seen by jobs at
            the same absolute path (a shared filesystem on multi-node clusters, see docs/scale-out.md).
    """

    backend = "ray"

    def __init__(self, settings: RaySettings, root: Path | None = None) -> None:
        if not settings.address:
            raise ExecutorError("ray: no cluster address; pass --ray-address http://HEAD:8265 (the Ray dashboard / "
                                "job server) or set executor.ray.address in the spec")
        check_no_secrets(settings.runtime_env.get("env_vars", {}), "executor.ray.runtime_env.env_vars")
        self.settings = settings
        self.python = settings.python
        self.root = root.resolve() if root is not None else None
        self.project = project_root()
        self.extra_excludes = []
        if self.root is not None and self.project is not None and self.root.is_relative_to(self.project):
            self.extra_excludes.append(self.root.relative_to(self.project).as_posix())
        from ray.job_submission import JobSubmissionClient

        try:
            self.client = JobSubmissionClient(settings.address)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ExecutorError(f"ray: cannot reach the Ray job server at {settings.address} ({exc}); start a "
                                "cluster with `ray start --head --dashboard-host=127.0.0.1` or fix --ray-address") \
                from exc

    # submit -------------------------------------------------------------------------------------
    def runtime_env(self, job: JobSpec) -> dict[str, Any]:
        """The job's runtime environment: the shipped project, parley's env vars, the spec's extras."""
        env = dict(self.settings.runtime_env)
        env_vars = {**{k: str(job.resources.threads) for k in THREAD_ENV}, **job.env,
                    **env.pop("env_vars", {})}
        check_no_secrets(job.env, f"ray job {job.name}: env")
        root = self.project
        if root is None:
            env["py_modules"] = [str(PACKAGE), *env.get("py_modules", [])]
        else:
            env["working_dir"] = str(root)
            env["excludes"] = [*SHIP_EXCLUDES, *self.extra_excludes, *self.settings.excludes,
                               *env.get("excludes", [])]
        env["env_vars"] = env_vars
        return env

    def entrypoint(self, job: JobSpec) -> str:
        """The shell command Ray runs: the shipped ``src`` first on ``PYTHONPATH``, then the job's argv."""
        return 'PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" exec ' + shlex.join(job.argv)

    def job_id_for(self, name: str) -> str:
        """Submission ids are derived from job names (:func:`submission_id`)."""
        return submission_id(name)

    def job_path(self, local: Path) -> str:
        """Files of the shipped project: relative to the job's working directory (its copy of the project);
        everything else (the experiments root): the same absolute path."""
        local = local.resolve()
        inside_root = self.root is not None and local.is_relative_to(self.root)
        if self.project is not None and local.is_relative_to(self.project) and not inside_root:
            return local.relative_to(self.project).as_posix()
        return str(local)

    def submit(self, job: JobSpec) -> str:
        """Submit the job (idempotent per job name: an existing job with the same id is reused)."""
        sid = submission_id(job.name)
        metadata = {**job.labels, "parley.job": job.name}
        if job.log_path is not None:
            metadata[LOG_PATH_KEY] = str(job.log_path)
        memory = int(job.resources.memory_gb * 2**30) if job.resources.memory_gb else None
        try:
            return str(self.client.submit_job(
                entrypoint=self.entrypoint(job), submission_id=sid, runtime_env=self.runtime_env(job),
                metadata=metadata, entrypoint_num_cpus=job.resources.cpus,
                entrypoint_num_gpus=job.resources.gpus or None, entrypoint_memory=memory))
        except RuntimeError as exc:
            if "already exists" in str(exc):
                log.info("ray job %s already submitted; following it", sid)
                return sid
            raise ExecutorError(f"ray: submitting {job.name} to {self.settings.address} failed: {exc}") from exc

    # follow -------------------------------------------------------------------------------------
    def status(self, job_id: str) -> JobEvent:
        """The job's state, message and driver exit code from ``get_job_info``."""
        try:
            info = self.client.get_job_info(job_id)
        except RuntimeError as exc:
            raise ExecutorError(f"ray: job {job_id} on {self.settings.address}: {exc}") from exc
        return JobEvent(job_id, _state(info.status), getattr(info, "driver_exit_code", None), info.message or "")

    def _settle(self, job_id: str, bound_s: float = 120.0) -> JobEvent:
        """The terminal state after the log stream ended (Ray marks the job a moment after its output ends)."""
        deadline = time.monotonic() + bound_s
        sleep = 0.1
        while True:
            event = self.status(job_id)
            if event.state.terminal or time.monotonic() > deadline:
                return event
            time.sleep(sleep)
            sleep = min(5.0, sleep * 2)

    def events(self, job_id: str) -> Iterator[JobEvent]:
        """PENDING/RUNNING as seen, the log stream written to the job's log file, then the final state."""
        first = self.status(job_id)
        yield first
        if first.state.terminal:
            return
        log_path = self._log_path(job_id)
        running = first.state == JobState.RUNNING
        loop = asyncio.new_event_loop()
        try:
            with contextlib.ExitStack() as stack:
                out = stack.enter_context(log_path.open("w", encoding="utf-8")) if log_path else None
                tail = self.client.tail_job_logs(job_id)
                while True:
                    try:
                        chunk = loop.run_until_complete(tail.__anext__())
                    except StopAsyncIteration:
                        break
                    except (RuntimeError, OSError) as exc:  # the stream dropped: fall back to status reads
                        log.warning("ray: log stream of %s dropped (%s); following its status", job_id, exc)
                        break
                    if out is not None:
                        out.write(chunk)
                        out.flush()
                    if not running:
                        running = True
                        yield JobEvent(job_id, JobState.RUNNING)
                aclose = getattr(tail, "aclose", None)  # an async generator: close its websocket session
                if aclose is not None:
                    loop.run_until_complete(aclose())
        finally:
            loop.close()
        yield self._settle(job_id, bound_s=float("inf"))

    def _log_path(self, job_id: str) -> Path | None:
        try:
            metadata = self.client.get_job_info(job_id).metadata or {}
        except RuntimeError:
            return None
        path = metadata.get(LOG_PATH_KEY)
        if not path:
            return None
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Path(path)

    def logs(self, job_id: str, follow: bool = False) -> Iterator[str]:
        """The job's output from Ray (``get_job_logs``; with ``follow``, ``tail_job_logs`` until it ends)."""
        if not follow:
            try:
                yield from self.client.get_job_logs(job_id).splitlines()
            except RuntimeError as exc:
                raise ExecutorError(f"ray: logs of {job_id}: {exc}") from exc
            return
        loop = asyncio.new_event_loop()
        pending = ""
        try:
            tail = self.client.tail_job_logs(job_id)
            while True:
                try:
                    pending += loop.run_until_complete(tail.__anext__())
                except StopAsyncIteration:
                    break
                *lines, pending = pending.split("\n")
                yield from lines
        finally:
            loop.close()
        if pending:
            yield pending

    # control ------------------------------------------------------------------------------------
    def cancel(self, job_id: str, grace_s: float = 5.0) -> bool:
        """``stop_job``, then wait (bounded by ``grace_s`` + 60 s) until Ray reports the job ended."""
        try:
            was_running = bool(self.client.stop_job(job_id))
        except RuntimeError as exc:
            raise ExecutorError(f"ray: stopping {job_id}: {exc}") from exc
        if was_running:
            self._settle(job_id, bound_s=grace_s + 60.0)
        return was_running

    def list(self, labels: Mapping[str, str] | None = None) -> list[JobInfo]:
        """Submitted Ray jobs whose metadata carries all of ``labels``."""
        want = dict(labels or {})
        found = []
        for info in self.client.list_jobs():
            meta = info.metadata or {}
            if info.submission_id and all(meta.get(k) == v for k, v in want.items()):
                found.append(JobInfo(info.submission_id, meta.get("parley.job", info.submission_id),
                                     _state(info.status), dict(meta)))
        return found

    def describe(self) -> dict[str, Any]:
        """Address and interpreter (no runtime environment: it is rebuilt from the spec when needed)."""
        return {"backend": self.backend, "address": self.settings.address, "python": self.settings.python}

    def __repr__(self) -> str:
        return f"RayJobsExecutor({json.dumps(self.describe())})"
