"""The ``kubernetes`` backend: each job is a batch/v1 Job, through the official ``kubernetes`` client.

- The Job (:func:`job_manifest`): the image built from the repository's Dockerfile, the stage's
  command, CPU / memory / ``nvidia.com/gpu`` requests and limits, node selector, namespace and service
  account; the experiments root on a shared PersistentVolumeClaim mounted at ``volume.mount_path``
  (stage inputs, outputs, ``task.json`` and ``result.json`` all live there, so nothing is lost with the
  pod). Secrets only as references: ``env[].valueFrom.secretKeyRef`` and ``envFrom[].secretRef``;
  the only plain values are parley's own (thread counts), and a secret-looking name among them is
  refused.
- Pod failures and retries: ``backoffLimit: 0`` and a ``podFailurePolicy`` that ignores pod failures
  caused by disruptions (``DisruptionTarget``: preemption, eviction, node drain), so Kubernetes
  recreates a disrupted pod without spending an attempt (the stage resumes from its checkpoints on the
  volume); any other pod failure fails the Job, and parley's runner decides from the stage's
  ``result.json`` and exit code whether to retry (transient) or not (permanent).
- ``events``: the watch API (``watch.Watch().stream(list_namespaced_job, field_selector=
  metadata.name=...)``), re-opened when the server ends the stream; the Job's conditions (``Complete``,
  ``Failed`` with its reason: ``BackoffLimitExceeded``, ``DeadlineExceeded``, ``PodFailurePolicy``) and
  ``active`` / ``ready`` counts give the state; the exit code comes from the pod's terminated container.
  While it runs, the pod's log is streamed (``read_namespaced_pod_log(follow=True)``) into the job's
  log file.
- ``cancel``: ``delete_namespaced_job`` with ``propagationPolicy: Foreground`` (the pods go first) and
  the grace period.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from parley.executors.base import Executor, ExecutorError, JobEvent, JobInfo, JobSpec, JobState
from parley.executors.config import KubernetesSettings, secret_looking
from parley.executors.local import THREAD_ENV

log = logging.getLogger(__name__)

CONTAINER = "stage"
WORKDIR = "/app"
NAME_ANNOTATION = "parley.job"
LOG_ANNOTATION = "parley.log_path"
WATCH_TIMEOUT_S = 300


def k8s_name(name: str) -> str:
    """A DNS-1123 Job name (at most 52 characters, so pod names stay valid) derived from a job name."""
    safe = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:34].strip("-")
    return f"parley-{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def label_value(value: str) -> str:
    """A valid label value (63 characters of ``[A-Za-z0-9_.-]``, alphanumeric at both ends)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", value)
    if len(safe) > 63:
        safe = safe[:54] + "-" + hashlib.sha256(value.encode()).hexdigest()[:8]
    return safe.strip("_.-") or "x"


def _labels(labels: Mapping[str, str]) -> dict[str, str]:
    return {re.sub(r"[^A-Za-z0-9_.-]+", "_", k)[:63]: label_value(v) for k, v in labels.items()}


def job_manifest(job: JobSpec, settings: KubernetesSettings, argv: list[str]) -> dict[str, Any]:
    """The batch/v1 Job for ``job`` (a plain mapping, as ``kubectl apply`` would take it)."""
    if not settings.image:
        raise ExecutorError("kubernetes: executor.kubernetes.image is not set; build the image from the repository's "
                            "Dockerfile and push it (docs/scale-out.md)")
    bad = secret_looking(job.env)
    if bad:
        raise ExecutorError(f"kubernetes job {job.name}: {bad} look like secrets; give them as "
                            "executor.kubernetes.secret_env (secretKeyRef) or env_from_secrets, never as values")
    res = job.resources
    requests: dict[str, str] = {"cpu": f"{res.cpus:g}"}
    limits: dict[str, str] = {}
    if res.memory_gb:
        requests["memory"] = limits["memory"] = f"{math.ceil(res.memory_gb * 1024)}Mi"
    if res.gpus:
        limits["nvidia.com/gpu"] = str(math.ceil(res.gpus))
    env: list[dict[str, Any]] = [{"name": k, "value": str(res.threads)} for k in THREAD_ENV]
    if settings.volume is not None:  # caches (the tiny model, datasets) on the volume, not in the pod
        env.append({"name": "PARLEY_CACHE_DIR", "value": f"{settings.volume.mount_path.rstrip('/')}/.parley-cache"})
    env += [{"name": k, "value": v} for k, v in job.env.items()]
    env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}}
            for k, ref in settings.secret_env.items()]
    container: dict[str, Any] = {
        "name": CONTAINER, "image": settings.image, "imagePullPolicy": settings.image_pull_policy,
        "command": argv, "workingDir": WORKDIR, "env": env,
        "resources": {"requests": requests, **({"limits": limits} if limits else {})}}
    if settings.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in settings.env_from_secrets]
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container],
                           "terminationGracePeriodSeconds": settings.termination_grace_s}
    if settings.volume is not None:
        container["volumeMounts"] = [{"name": "experiments", "mountPath": settings.volume.mount_path}]
        pod["volumes"] = [{"name": "experiments", "persistentVolumeClaim": {"claimName": settings.volume.claim}}]
    if settings.fs_group is not None:  # the image's user (uid 1000) can write the volume
        pod["securityContext"] = {"fsGroup": settings.fs_group}
    if settings.service_account:
        pod["serviceAccountName"] = settings.service_account
    if settings.node_selector:
        pod["nodeSelector"] = dict(settings.node_selector)
    labels = _labels(job.labels)
    annotations = {NAME_ANNOTATION: job.name, **({LOG_ANNOTATION: str(job.log_path)} if job.log_path else {})}
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        "podFailurePolicy": {"rules": [{"action": "Ignore",
                                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]},
        "template": {"metadata": {"labels": labels}, "spec": pod}}
    if settings.active_deadline_s:
        spec["activeDeadlineSeconds"] = settings.active_deadline_s
    if settings.ttl_after_finished_s is not None:
        spec["ttlSecondsAfterFinished"] = settings.ttl_after_finished_s
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": k8s_name(job.name), "namespace": settings.namespace, "labels": labels,
                         "annotations": annotations},
            "spec": spec}


def job_state(job: Any) -> tuple[JobState, str]:
    """State and message from a V1Job: its conditions first, then its active / ready pod counts."""
    status = job.status
    for cond in (status.conditions if status and status.conditions else []):
        if cond.status != "True":
            continue
        if cond.type == "Complete":
            return JobState.SUCCEEDED, cond.message or "complete"
        if cond.type == "Failed":
            return JobState.FAILED, f"{cond.reason or 'Failed'}: {cond.message or ''}".strip(": ")
    if job.metadata and job.metadata.deletion_timestamp:
        return JobState.STOPPED, "job is being deleted"
    if status and (status.active or status.ready):
        return JobState.RUNNING, f"{status.active or 0} pod(s) active"
    return JobState.PENDING, "waiting for a pod (scheduling, image pull)"


class KubernetesExecutor(Executor):
    """Runs jobs as batch/v1 Jobs (see the module docstring).

    Args:
        settings: the spec's ``executor.kubernetes`` section.
        root: the experiments root as this process sees it (mapped onto ``volume.mount_path`` in pods).
        api_client: a configured ``kubernetes.client.ApiClient`` (default: kubeconfig ``context``, or the
            in-cluster service account).
    """

    backend = "kubernetes"

    def __init__(self, settings: KubernetesSettings, root: Path | None = None, api_client: Any = None) -> None:
        from kubernetes import client, config

        self.settings = settings
        self.python = settings.python
        local_root = settings.volume.local_root if settings.volume and settings.volume.local_root else root
        self.root = Path(local_root).resolve() if local_root else None
        if api_client is None:
            try:
                # KUBECONFIG as it is now (the client reads it once, at import)
                config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), context=settings.context)
            except (config.ConfigException, FileNotFoundError, TypeError) as exc:
                try:
                    config.load_incluster_config()
                except config.ConfigException:
                    raise ExecutorError(f"kubernetes: no cluster configuration ({exc}); set KUBECONFIG or "
                                        "executor.kubernetes.context, or run inside the cluster") from exc
            api_client = client.ApiClient()
        self.api = api_client
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self._deleted: set[str] = set()

    def job_id_for(self, name: str) -> str:
        """Job names are derived from parley job names (:func:`k8s_name`)."""
        return k8s_name(name)

    def job_path(self, local: Path) -> str:
        """The experiments root maps onto the volume's mount path; project files onto the image's copy."""
        local = local.resolve()
        if self.root is not None and self.settings.volume is not None and local.is_relative_to(self.root):
            return (Path(self.settings.volume.mount_path) / local.relative_to(self.root)).as_posix()
        from parley.executors.ray_jobs import project_root

        project = project_root()
        if project is not None and local.is_relative_to(project):
            return (Path(WORKDIR) / local.relative_to(project)).as_posix()
        return str(local)

    def _api_error(self, exc: Exception, what: str) -> ExecutorError:
        status = getattr(exc, "status", None)
        reason = getattr(exc, "reason", None) or exc
        return ExecutorError(f"kubernetes: {what} in namespace {self.settings.namespace} failed ({status} {reason})")

    # submit -------------------------------------------------------------------------------------
    def submit(self, job: JobSpec) -> str:
        """Create the Job (an existing Job of the same name is this job, submitted before a restart)."""
        from kubernetes.client.rest import ApiException

        if self.settings.volume is None:
            raise ExecutorError("kubernetes: executor.kubernetes.volume is not set; stage outputs would be lost with "
                                "the pod. Give a PersistentVolumeClaim for the experiments root (docs/scale-out.md)")
        manifest = job_manifest(job, self.settings, list(job.argv))
        try:
            self.batch.create_namespaced_job(self.settings.namespace, manifest)
        except ApiException as exc:
            if exc.status != 409:
                raise self._api_error(exc, f"creating job {manifest['metadata']['name']}") from exc
            log.info("kubernetes job %s exists already; following it", manifest["metadata"]["name"])
        return str(manifest["metadata"]["name"])

    # follow -------------------------------------------------------------------------------------
    def _read(self, name: str) -> Any:
        from kubernetes.client.rest import ApiException

        try:
            return self.batch.read_namespaced_job(name, self.settings.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise self._api_error(exc, f"reading job {name}") from exc

    def _event(self, name: str, job: Any) -> JobEvent:
        if job is None:
            return JobEvent(name, JobState.STOPPED if name in self._deleted else JobState.FAILED, None,
                            "job deleted" if name in self._deleted else "job not found")
        state, message = job_state(job)
        code = self._exit_code(name) if state.terminal else None
        return JobEvent(name, state, code, message)

    def status(self, job_id: str) -> JobEvent:
        """The Job's state from its conditions and pod counts (exit code from its pod once it ended)."""
        return self._event(job_id, self._read(job_id))

    def _pods(self, name: str) -> list[Any]:
        pods = self.core.list_namespaced_pod(self.settings.namespace, label_selector=f"job-name={name}").items
        # filtered here too: a selector is a request, and the Job controller's label is the contract
        return sorted((p for p in pods if (p.metadata.labels or {}).get("job-name") == name),
                      key=lambda p: str(p.metadata.creation_timestamp or ""))

    def _exit_code(self, name: str) -> int | None:
        for pod in reversed(self._pods(name)):
            for cs in (pod.status.container_statuses or []) if pod.status else []:
                if cs.name == CONTAINER and cs.state and cs.state.terminated:
                    return int(cs.state.terminated.exit_code)
        return None

    def events(self, job_id: str) -> Iterator[JobEvent]:
        """Watch the Job: one event per state change, re-opening the watch when the server ends it."""
        from kubernetes import watch

        last: JobState | None = None
        streamer: threading.Thread | None = None
        first = self._read(job_id)
        current = self._event(job_id, first)
        version = getattr(first.metadata, "resource_version", None) if first is not None else None
        while True:
            if current.state != last:
                last = current.state
                yield current
                if current.state.terminal:
                    return
                if current.state == JobState.RUNNING and streamer is None:
                    streamer = self._stream_log(job_id)
            w = watch.Watch()
            try:
                # from the version read above, so a change between that read and the watch is not missed
                for item in w.stream(self.batch.list_namespaced_job, self.settings.namespace,
                                     field_selector=f"metadata.name={job_id}", timeout_seconds=WATCH_TIMEOUT_S,
                                     **({"resource_version": version} if version else {})):
                    obj = item["object"]
                    if getattr(obj.metadata, "name", None) != job_id:  # a selector is a request, not a promise
                        continue
                    if item["type"] == "DELETED":  # deleted while running: cancelled (here or by another process)
                        current = JobEvent(job_id, JobState.STOPPED, None, "job deleted")
                    else:
                        current = self._event(job_id, obj)
                    if current.state != last:
                        break
                else:  # the server closed the watch: look once, then watch again from there
                    first = self._read(job_id)
                    current = self._event(job_id, first)
                    version = getattr(first.metadata, "resource_version", None) if first is not None else None
            finally:
                w.stop()

    def _stream_log(self, job_id: str) -> threading.Thread | None:
        job = self._read(job_id)
        path = (job.metadata.annotations or {}).get(LOG_ANNOTATION) if job is not None else None
        if not path:
            return None
        thread = threading.Thread(target=self._copy_log, args=(job_id, Path(path)), name=f"log-{job_id}",
                                  daemon=True)
        thread.start()
        return thread

    def _copy_log(self, job_id: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("w", encoding="utf-8") as out:
                for line in self.logs(job_id, follow=True):
                    out.write(line + "\n")
                    out.flush()
        except (ExecutorError, OSError) as exc:
            log.warning("kubernetes: streaming the log of %s stopped: %s", job_id, exc)

    def logs(self, job_id: str, follow: bool = False) -> Iterator[str]:
        """The pod's log (the latest pod of the Job); with ``follow`` streamed until the container ends."""
        from kubernetes.client.rest import ApiException

        pods = self._pods(job_id)
        if not pods:
            raise ExecutorError(f"kubernetes: job {job_id} has no pod yet")
        try:
            resp = self.core.read_namespaced_pod_log(pods[-1].metadata.name, self.settings.namespace,
                                                     container=CONTAINER, follow=follow, _preload_content=False)
        except ApiException as exc:
            raise self._api_error(exc, f"reading the log of {job_id}") from exc
        pending = b""
        try:
            for chunk in resp.stream(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace")
        finally:
            with contextlib.suppress(AttributeError):
                resp.release_conn()
        if pending:
            yield pending.decode("utf-8", "replace")

    # control ------------------------------------------------------------------------------------
    def cancel(self, job_id: str, grace_s: float = 5.0) -> bool:
        """Delete the Job with foreground propagation (its pods are deleted first)."""
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        job = self._read(job_id)
        if job is None or job_state(job)[0].terminal:
            return False
        self._deleted.add(job_id)
        body = client.V1DeleteOptions(propagation_policy="Foreground", grace_period_seconds=int(grace_s))
        try:
            self.batch.delete_namespaced_job(job_id, self.settings.namespace, body=body)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise self._api_error(exc, f"deleting job {job_id}") from exc
        return True

    def list(self, labels: Mapping[str, str] | None = None) -> list[JobInfo]:
        """parley's Jobs in the namespace carrying all of ``labels``."""
        want = _labels(labels or {})
        selector = ",".join(f"{k}={v}" for k, v in want.items()) or None
        jobs = self.batch.list_namespaced_job(self.settings.namespace, label_selector=selector).items
        found = []
        for job in jobs:
            have = job.metadata.labels or {}
            if all(have.get(k) == v for k, v in want.items()):
                name = (job.metadata.annotations or {}).get(NAME_ANNOTATION, job.metadata.name)
                found.append(JobInfo(job.metadata.name, name, job_state(job)[0], dict(have)))
        return found

    def describe(self) -> dict[str, Any]:
        """Namespace and kubeconfig context (enough to find and cancel the Job again)."""
        return {"backend": self.backend, "namespace": self.settings.namespace, "context": self.settings.context}

    def close(self) -> None:
        """Close the API client's connection pool."""
        with contextlib.suppress(AttributeError):
            self.api.close()
