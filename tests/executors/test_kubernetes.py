"""The Kubernetes executor: the Job it builds, and contract tests with the official client against kmock's
emulator (create, watch, pod failure, logs, list, delete with propagation). What the emulator cannot do
is listed in tests/k8s_emulator.py; a real cluster is only reached by tests marked ``cluster``."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from parley.executors import ExecutorError, JobEvent, JobSpec, JobState, KubernetesSettings, Resources

pytest.importorskip("kubernetes", reason="the k8s extra is not installed (pip install -e '.[k8s]')")
PLANTED = "sk-planted-k8s-0123456789"


def _settings(**extra: Any) -> KubernetesSettings:
    return KubernetesSettings.model_validate({
        "namespace": "parley", "image": "registry.example/parley:0.1.0", "service_account": "parley-runner",
        "node_selector": {"pool": "cpu"}, "context": "emulator",
        "volume": {"claim": "parley-experiments", "mount_path": "/experiments"},
        "env_from_secrets": ["parley-api-keys"],
        "secret_env": {"OPENAI_API_KEY": {"secret": "openai", "key": "api-key"}}, **extra})  # pragma: allowlist secret


def _job(tmp_path: Path, name: str = "exp-1/train@seed=1/1", **extra: Any) -> JobSpec:
    fields: dict[str, Any] = {"resources": Resources(cpus=2, gpus=1, memory_gb=3),
                              "labels": {"parley.experiment": "exp-1"}, "log_path": tmp_path / "stage.log", **extra}
    return JobSpec(name=name, argv=["python", "-m", "parley.experiments.stage_main", "--task", "/experiments/t.json"],
                   **fields)


def test_job_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from parley.executors.kubernetes import job_manifest, k8s_name

    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)
    job = _job(tmp_path)
    m = job_manifest(job, _settings(), list(job.argv))
    assert PLANTED not in json.dumps(m)
    assert m["metadata"]["name"] == k8s_name(job.name) and len(m["metadata"]["name"]) <= 52
    spec = m["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["podFailurePolicy"]["rules"][0] == {"action": "Ignore", "onPodConditions": [
        {"type": "DisruptionTarget", "status": "True"}]}
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["serviceAccountName"] == "parley-runner"
    assert pod["nodeSelector"] == {"pool": "cpu"}
    assert pod["volumes"] == [{"name": "experiments", "persistentVolumeClaim": {"claimName": "parley-experiments"}}]
    (c,) = pod["containers"]
    assert c["volumeMounts"] == [{"name": "experiments", "mountPath": "/experiments"}]
    assert c["resources"] == {"requests": {"cpu": "2", "memory": "3072Mi"},
                              "limits": {"memory": "3072Mi", "nvidia.com/gpu": "1"}}
    env = {e["name"]: e for e in c["env"]}
    assert env["OPENAI_API_KEY"] == {"name": "OPENAI_API_KEY",
                                     "valueFrom": {"secretKeyRef": {"name": "openai", "key": "api-key"}}}
    assert env["OMP_NUM_THREADS"]["value"] == "2"
    assert all("valueFrom" in e or "KEY" not in e["name"] for e in c["env"])
    assert c["envFrom"] == [{"secretRef": {"name": "parley-api-keys"}}]
    assert m["metadata"]["labels"] == {"parley.experiment": "exp-1"}


def test_manifest_refuses_plain_secrets_and_missing_settings(tmp_path: Path) -> None:
    from parley.executors.kubernetes import job_manifest

    with pytest.raises(ExecutorError, match="look like secrets"):
        job_manifest(_job(tmp_path, env={"HF_TOKEN": "x"}), _settings(), ["python"])
    with pytest.raises(ExecutorError, match="image is not set"):
        job_manifest(_job(tmp_path), _settings(image=None), ["python"])
    with pytest.raises(ValueError, match="not environment variable names"):
        _settings(secret_env={"bad-name": {"secret": "s", "key": "k"}})


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from tests.k8s_emulator import kubernetes_emulator

    with kubernetes_emulator(tmp_path, pod_log=b"stage starting\nstage returned\n") as emu:
        monkeypatch.setenv("KUBECONFIG", str(emu.kubeconfig))
        yield emu


def _follow(ex: Any, job_id: str) -> tuple[list[JobEvent], threading.Thread]:
    seen: list[JobEvent] = []
    thread = threading.Thread(target=lambda: seen.extend(ex.events(job_id)), daemon=True)
    thread.start()
    return seen, thread


def _wait_for(cond: Any, what: str, bound_s: float = 30) -> None:
    import time

    deadline = time.monotonic() + bound_s
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_contract_with_the_emulator(emulator: Any, tmp_path: Path) -> None:
    from parley.executors.kubernetes import KubernetesExecutor
    from tests.k8s_emulator import JobController

    ex = KubernetesExecutor(_settings())
    controller = JobController(ex.batch, ex.core, "parley")
    with pytest.raises(ExecutorError, match="volume is not set"):
        KubernetesExecutor(_settings(volume=None)).submit(_job(tmp_path))
    job_id = ex.submit(_job(tmp_path))
    assert ex.submit(_job(tmp_path)) == job_id  # already there (a restarted runner): the same job
    created = emulator.requests("POST", r"/apis/batch/v1/namespaces/parley/jobs$")
    assert len(created) == 2 and created[0].data["metadata"]["name"] == job_id
    assert ex.status(job_id).state == JobState.PENDING
    seen, thread = _follow(ex, job_id)
    _wait_for(lambda: [e.state for e in seen] == [JobState.PENDING], "no PENDING event")
    controller.start(job_id)
    _wait_for(lambda: JobState.RUNNING in [e.state for e in seen], "the watch did not report RUNNING")
    _wait_for(lambda: (tmp_path / "stage.log").exists() and "stage returned" in (tmp_path / "stage.log").read_text(),
              "the pod log was not streamed to the log file")
    controller.finish(job_id, exit_code=3)
    thread.join(timeout=30)
    assert not thread.is_alive()
    final = seen[-1]
    assert final.state == JobState.FAILED and final.exit_code == 3 and "BackoffLimitExceeded" in final.message
    assert list(ex.logs(job_id)) == ["stage starting", "stage returned"]
    watches = emulator.requests("GET", r"/apis/batch/v1/namespaces/parley/jobs$")
    assert any(r.params.get("fieldSelector") == f"metadata.name={job_id}" for r in watches)
    other = ex.submit(_job(tmp_path, name="exp-2/x/1", labels={"parley.experiment": "exp-2"}))
    assert [j.job_id for j in ex.list({"parley.experiment": "exp-1"})] == [job_id]
    assert [j.job_id for j in ex.list({"parley.experiment": "exp-2"})] == [other]


def test_cancel_deletes_with_foreground_propagation(emulator: Any, tmp_path: Path) -> None:
    from parley.executors import executor_from_description
    from parley.executors.kubernetes import KubernetesExecutor
    from tests.k8s_emulator import JobController

    ex = KubernetesExecutor(_settings())
    job_id = ex.submit(_job(tmp_path))
    JobController(ex.batch, ex.core, "parley").start(job_id)
    seen, thread = _follow(ex, job_id)
    _wait_for(lambda: JobState.RUNNING in [e.state for e in seen], "not running")
    # the emulator cannot replay events from a resourceVersion (a real API server does): wait for the watch
    _wait_for(lambda: any(r.params.get("watch") == "true" for r in emulator.requests("GET", r"/jobs$")), "no watch")
    again = executor_from_description(ex.describe())  # how `parley experiment cancel` reaches it
    assert again.cancel(job_id, grace_s=7) is True
    (delete,) = emulator.requests("DELETE", rf"/jobs/{job_id}$")
    assert delete.data["propagationPolicy"] == "Foreground" and delete.data["gracePeriodSeconds"] == 7
    thread.join(timeout=30)
    assert seen[-1].state == JobState.STOPPED and seen[-1].message == "job deleted"
    assert again.cancel(job_id) is False  # gone
    assert os.environ["KUBECONFIG"] == str(emulator.kubeconfig)


@pytest.mark.cluster
def test_real_cluster_job_runs(tmp_path: Path) -> None:
    """Needs a real cluster (kind or a cloud) and PARLEY_K8S_IMAGE / PARLEY_K8S_CLAIM; skipped in CI."""
    image, claim = os.environ.get("PARLEY_K8S_IMAGE"), os.environ.get("PARLEY_K8S_CLAIM")
    if not (image and claim and os.environ.get("KUBECONFIG")):
        pytest.skip("needs KUBECONFIG, PARLEY_K8S_IMAGE and PARLEY_K8S_CLAIM (a real cluster)")
    from parley.executors.kubernetes import KubernetesExecutor

    ex = KubernetesExecutor(KubernetesSettings.model_validate(
        {"namespace": os.environ.get("PARLEY_K8S_NAMESPACE", "default"), "image": image, "volume": {"claim": claim}}))
    job_id = ex.submit(JobSpec(name=f"cluster-test/{tmp_path.name}/1", argv=["python", "-c", "print('hello')"]))
    assert ex.wait(job_id, timeout_s=600).state == JobState.SUCCEEDED
    assert "hello" in list(ex.logs(job_id))
