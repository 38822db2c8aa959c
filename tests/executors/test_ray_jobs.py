"""The Ray Jobs executor against a real local Ray cluster: events, logs, list, cancel; secrets refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from parley.executors import ExecutorError, JobSpec, JobState, RaySettings, Resources
from tests.ray_cluster import RayCluster

PY = sys.executable


def test_secret_looking_env_vars_are_refused() -> None:
    pytest.importorskip("ray.job_submission", reason="the ray extra is not installed")
    from parley.executors.ray_jobs import RayJobsExecutor, check_no_secrets

    with pytest.raises(ExecutorError, match="OPENAI_API_KEY"):
        RayJobsExecutor(RaySettings(address="http://127.0.0.1:9", runtime_env={"env_vars": {"OPENAI_API_KEY": "x"}}))
    with pytest.raises(ExecutorError, match="no cluster address"):
        RayJobsExecutor(RaySettings())
    check_no_secrets({"OMP_NUM_THREADS": "1"}, "env")  # ordinary names pass


def test_unreachable_cluster_is_a_clear_error() -> None:
    pytest.importorskip("ray.job_submission", reason="the ray extra is not installed")
    from parley.executors.ray_jobs import RayJobsExecutor

    with pytest.raises(ExecutorError, match="cannot reach the Ray job server"):
        RayJobsExecutor(RaySettings(address="http://127.0.0.1:9"))


def test_ray_job_lifecycle(ray_cluster: RayCluster, tmp_path: Path) -> None:
    from parley.executors.ray_jobs import RayJobsExecutor

    ex = RayJobsExecutor(RaySettings(address=ray_cluster.address, python=PY))
    code = "import os, sys; print('threads', os.environ['OMP_NUM_THREADS'], flush=True); sys.exit(3)"
    job_id = ex.submit(JobSpec(name=f"{tmp_path.name}/fails/1", argv=[PY, "-c", code], resources=Resources(cpus=1),
                               labels={"test": tmp_path.name}, log_path=tmp_path / "fails.log"))
    assert job_id == ex.job_id_for(f"{tmp_path.name}/fails/1")
    events = list(ex.events(job_id))
    assert events[-1].state == JobState.FAILED and events[-1].exit_code == 3
    assert JobState.RUNNING in [e.state for e in events]
    assert "threads 1" in (tmp_path / "fails.log").read_text()  # the tailed log, written as it streamed
    assert any("threads 1" in line for line in ex.logs(job_id))
    assert [j.job_id for j in ex.list({"test": tmp_path.name})] == [job_id]

    sleeper = ex.submit(JobSpec(name=f"{tmp_path.name}/sleeps/1", argv=[PY, "-c", "import time; time.sleep(600)"]))
    assert ex.status(sleeper).state in (JobState.PENDING, JobState.RUNNING)
    with pytest.raises(TimeoutError):
        ex.wait(sleeper, timeout_s=0.5)
    assert ex.cancel(sleeper, grace_s=5) is True
    assert ex.wait(sleeper, timeout_s=120).state == JobState.STOPPED
    assert ex.cancel(sleeper) is False
