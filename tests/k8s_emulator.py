"""kmock's KubernetesEmulator on 127.0.0.1 in a background thread, for contract tests with the official
client; plus a stand-in for the Job controller that moves Jobs through their states over the real API.

What the emulator (kmock 0.8) does not do, and how these tests deal with it:
- it runs nothing: no scheduler, no Job controller, no pods. :class:`JobController` creates the pod and
  patches the Job's status (``active``, conditions ``Complete`` / ``Failed``) through the same HTTP API
  a controller would use (it patches the Job object: the emulator has no ``/status`` subresource);
- it ignores label and field selectors (parley filters what it receives by name and label itself);
- it recognises only ``watch=true``, while the official client sends ``watch=True`` (a real API server
  parses both): :class:`_Emulator` lower-cases that one query parameter before kmock reads it;
- it has no pod logs: a reaction serves a fixed body at ``.../pods/<name>/log``;
- it ignores delete options: the tests read ``propagationPolicy`` from the recorded request body.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import yaml
from kmock import KubernetesEmulator, Server


class _Emulator(KubernetesEmulator):
    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if raw_request.query.get("watch") == "True":
            raw_request = raw_request.clone(rel_url=raw_request.rel_url.update_query(watch="true"))
        return await super().__call__(raw_request)


@dataclass
class Emulator:
    """A running emulator: its URL, a kubeconfig pointing at it, and the kmock object (requests, objects)."""

    url: str
    kubeconfig: Path
    kmock: Any

    def requests(self, method: str, pattern: str) -> list[Any]:
        """Recorded requests with this HTTP method whose path matches ``pattern``."""
        rx = re.compile(pattern)
        return [r for r in list(self.kmock._requests) if r.method.value == method and rx.search(r.url.path)]


@contextmanager
def kubernetes_emulator(tmp: Path, pod_log: bytes = b"") -> Iterator[Emulator]:
    """Start the emulator (bounded wait), write a kubeconfig for it, stop it on exit."""
    ready = threading.Event()
    box: dict[str, Any] = {}
    stop = threading.Event()

    async def serve() -> None:
        async with _Emulator() as emu, Server(emu) as srv:
            emu["get", re.compile(r"/api/v1/namespaces/[^/]+/pods/[^/]+/log")] << pod_log
            box["emu"], box["url"] = emu, str(srv.url).rstrip("/")
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=lambda: asyncio.run(serve()), name="kmock", daemon=True)
    thread.start()
    if not ready.wait(30):
        raise RuntimeError("the Kubernetes emulator did not start")
    kubeconfig = tmp / "kubeconfig.yaml"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": box["url"]}}],
        "users": [{"name": "tester", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "tester"}}]}))
    try:
        yield Emulator(box["url"], kubeconfig, box["emu"])
    finally:
        stop.set()
        thread.join(timeout=30)


class JobController:
    """Plays the Job controller for one Job over the API: a pod, then running, then an outcome."""

    def __init__(self, batch: Any, core: Any, namespace: str) -> None:
        self.batch, self.core, self.namespace = batch, core, namespace

    def start(self, name: str) -> None:
        job = self.batch.read_namespaced_job(name, self.namespace)
        container = job.spec.template.spec.containers[0].name
        self.core.create_namespaced_pod(self.namespace, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{name}-pod0", "namespace": self.namespace, "labels": {"job-name": name}},
            "spec": {"containers": [{"name": container, "image": job.spec.template.spec.containers[0].image}]},
            "status": {"phase": "Running"}})
        self.batch.patch_namespaced_job(name, self.namespace, {"status": {"active": 1, "ready": 1}})

    def finish(self, name: str, exit_code: int, reason: str = "BackoffLimitExceeded") -> None:
        pod = f"{name}-pod0"
        container = self.batch.read_namespaced_job(name, self.namespace).spec.template.spec.containers[0].name
        self.core.patch_namespaced_pod(pod, self.namespace, {"status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [{"name": container, "ready": False, "restartCount": 0, "image": "x", "imageID": "",
                                   "state": {"terminated": {"exitCode": exit_code}}}]}})
        failed = {"type": "Failed", "status": "True", "reason": reason,
                  "message": "Job has reached the specified backoff limit"}
        cond = {"type": "Complete", "status": "True"} if exit_code == 0 else failed
        count = "succeeded" if exit_code == 0 else "failed"
        self.batch.patch_namespaced_job(name, self.namespace,
                                        {"status": {"active": 0, "ready": 0, "conditions": [cond], count: 1}})
