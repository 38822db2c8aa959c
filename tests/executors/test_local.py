"""The local executor on real processes: events, logs, cancel, wait, list, capacity and admission."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from parley.executors import ExecutorError, JobSpec, JobState, LocalExecutor, Resources
from parley.executors.local import parse_job_id, process_alive

PY = sys.executable


def _job(name: str, code: str, tmp_path: Path, **kw: object) -> JobSpec:
    return JobSpec(name=name, argv=[PY, "-c", code], log_path=tmp_path / f"{name}.log", **kw)  # type: ignore[arg-type]


def test_events_logs_and_exit_code(tmp_path: Path) -> None:
    ex = LocalExecutor()
    job_id = ex.submit(_job("fails", "print('hello'); print('world', flush=True); raise SystemExit(3)", tmp_path,
                            labels={"team": "a"}))
    events = list(ex.events(job_id))
    assert [e.state for e in events] == [JobState.RUNNING, JobState.FAILED]
    assert events[-1].exit_code == 3 and "code 3" in events[-1].message
    assert list(ex.logs(job_id)) == ["hello", "world"]
    assert ex.status(job_id).state == JobState.FAILED
    assert [j.name for j in ex.list({"team": "a"})] == ["fails"] and ex.list({"team": "b"}) == []
    ok = ex.submit(_job("ok", "pass", tmp_path))
    assert ex.wait(ok, timeout_s=60).state == JobState.SUCCEEDED


def test_follow_logs_until_the_end(tmp_path: Path) -> None:
    ex = LocalExecutor()
    code = "import time\nfor i in range(5):\n    print(i, flush=True); time.sleep(0.05)"
    job_id = ex.submit(_job("counter", code, tmp_path))
    assert list(ex.logs(job_id, follow=True)) == ["0", "1", "2", "3", "4"]


def test_cancel_stops_the_process_group_and_wait_times_out(tmp_path: Path) -> None:
    ex = LocalExecutor()
    code = "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n" \
           "print('up', flush=True)\ntime.sleep(300)"
    job_id = ex.submit(_job("sleeper", code, tmp_path))
    with pytest.raises(TimeoutError):
        ex.wait(job_id, timeout_s=0.3)
    assert ex.cancel(job_id, grace_s=5) is True
    final = ex.wait(job_id, timeout_s=60)
    assert final.state == JobState.STOPPED
    pid, created = parse_job_id(job_id)
    assert not process_alive(pid, created)
    assert ex.cancel(job_id) is False  # already ended


def test_threads_follow_the_declared_cpus(tmp_path: Path) -> None:
    ex = LocalExecutor()
    code = "import os; print(os.environ['OMP_NUM_THREADS'], os.environ['MKL_NUM_THREADS'])"
    job_id = ex.submit(_job("threads", code, tmp_path, resources=Resources(cpus=3)))
    ex.wait(job_id, timeout_s=60)
    assert list(ex.logs(job_id)) == ["3 3"]


def test_capacity_and_admission(tmp_path: Path) -> None:
    ex = LocalExecutor(cpus=2, memory_gb=8, gpus=[])
    assert ex.capacity(Resources(cpus=1)) == 2
    assert ex.capacity(Resources(cpus=1, memory_gb=6)) == 1
    assert ex.capacity(Resources(cpus=4)) == 1  # larger than the machine: runs, alone
    assert ex.admits(Resources(cpus=4))
    assert not ex.admits(Resources(gpus=1))
    with pytest.raises(ExecutorError, match="GPU"):
        ex.submit(_job("gpu", "pass", tmp_path, resources=Resources(gpus=1)))
    first = ex.submit(_job("a", "import time; time.sleep(300)", tmp_path, resources=Resources(cpus=1)))
    assert ex.admits(Resources(cpus=1)) and not ex.admits(Resources(cpus=2))
    second = ex.submit(_job("b", "import time; time.sleep(300)", tmp_path, resources=Resources(cpus=1)))
    assert not ex.admits(Resources(cpus=1))
    for job_id in (first, second):
        ex.cancel(job_id, grace_s=2)
        ex.wait(job_id, timeout_s=60)
    assert ex.admits(Resources(cpus=2))


def test_gpus_are_handed_out_one_job_each(tmp_path: Path) -> None:
    ex = LocalExecutor(cpus=4, gpus=["0", "1"])
    code = "import os, time; print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); time.sleep(300)"
    a = ex.submit(_job("g0", code, tmp_path, resources=Resources(gpus=1)))
    b = ex.submit(_job("g1", code, tmp_path, resources=Resources(gpus=1)))
    assert not ex.admits(Resources(gpus=1))
    seen = []
    for job_id in (a, b):
        seen.append(next(iter(ex.logs(job_id, follow=True))))
        ex.cancel(job_id, grace_s=2)
    assert sorted(seen) == ["0", "1"]


def test_a_job_that_cannot_start_is_a_clear_error(tmp_path: Path) -> None:
    ex = LocalExecutor()
    with pytest.raises(ExecutorError, match="cannot start job missing"):
        ex.submit(JobSpec(name="missing", argv=[str(tmp_path / "no-such-program")]))
