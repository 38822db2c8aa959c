"""Executor settings as they appear in an experiment spec (``executor:``) and per stage (``resources:``).

```yaml
executor:
  backend: ray                     # local | ray | kubernetes
  ray: {address: "http://127.0.0.1:8265"}
  kubernetes:
    namespace: parley
    image: ghcr.io/me/parley:0.1.0
    service_account: parley-runner
    node_selector: {pool: cpu}
    volume: {claim: parley-experiments, mount_path: /experiments, local_root: /mnt/parley}
    env_from_secrets: [parley-api-keys]                      # envFrom.secretRef
    secret_env: {OPENAI_API_KEY: {secret: openai, key: api-key}}   # env.valueFrom.secretKeyRef
stages:
  - {id: train, kind: train, resources: {cpus: 4, gpus: 1, memory_gb: 16}, ...}
```

These settings say where stages run, not what they compute: they are left out of the spec's content
hash, so the same experiment can be resumed on another backend. Secrets are only ever named
(secret + key), never given as values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator

from parley.config.models import StrictModel
from parley.executors.base import Resources

BACKENDS = ("local", "ray", "kubernetes")
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_K8S_NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


def secret_looking(names: Mapping[str, Any] | list[str]) -> list[str]:
    """The names among ``names`` that look like secrets (API keys, tokens, passwords)."""
    return sorted(k for k in names if SECRET_NAME.search(k))


class ResourceSpec(StrictModel):
    """What one stage needs: CPU cores (also its thread count), GPUs, memory in GiB."""

    cpus: float = Field(default=1.0, gt=0, le=1024)
    gpus: float = Field(default=0.0, ge=0, le=64)
    memory_gb: float | None = Field(default=None, gt=0)

    def to_resources(self) -> Resources:
        """The executor-level :class:`~parley.executors.base.Resources`."""
        return Resources(cpus=self.cpus, gpus=self.gpus, memory_gb=self.memory_gb)


class RaySettings(StrictModel):
    """Ray Jobs: ``address`` of the dashboard / job server (``http://HEAD:8265``), the interpreter the
    job runs (``python``: on the cluster's PATH), extra ``runtime_env`` keys (``env_vars`` may not hold
    secrets: see docs/scale-out.md) and ``excludes`` for the shipped working directory."""

    address: str | None = None
    python: str = "python"
    runtime_env: dict[str, Any] = Field(default_factory=dict)
    excludes: list[str] = Field(default_factory=list)

    @field_validator("runtime_env")
    @classmethod
    def _no_working_dir(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "working_dir" in value:
            raise ValueError("runtime_env.working_dir is set by parley (the project is shipped); leave it out")
        return value


class SecretKeyRef(StrictModel):
    """A key of a Kubernetes Secret (``env.valueFrom.secretKeyRef``)."""

    secret: str = Field(pattern=_K8S_NAME)
    key: str = Field(min_length=1)


class VolumeSettings(StrictModel):
    """The shared volume holding the experiment directory: a PersistentVolumeClaim mounted at
    ``mount_path`` in every pod, seen by the runner at ``local_root`` (default: the experiments root)."""

    claim: str = Field(pattern=_K8S_NAME)
    mount_path: str = "/experiments"
    local_root: str | None = None


class KubernetesSettings(StrictModel):
    """batch/v1 Jobs: where and as what each stage pod runs (see docs/scale-out.md)."""

    namespace: str = Field(default="default", pattern=_K8S_NAME)
    image: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    service_account: str | None = Field(default=None, pattern=_K8S_NAME)
    node_selector: dict[str, str] = Field(default_factory=dict)
    volume: VolumeSettings | None = None
    env_from_secrets: list[str] = Field(default_factory=list)
    secret_env: dict[str, SecretKeyRef] = Field(default_factory=dict)
    context: str | None = None
    python: str = "python"
    active_deadline_s: int | None = Field(default=None, gt=0)
    ttl_after_finished_s: int | None = Field(default=86400, ge=0)
    termination_grace_s: int = Field(default=30, ge=0)
    fs_group: int | None = Field(default=1000, ge=0)

    @field_validator("secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, SecretKeyRef]) -> dict[str, SecretKeyRef]:
        bad = [k for k in value if not re.match(_ENV_NAME, k)]
        if bad:
            raise ValueError(f"secret_env: {bad} are not environment variable names")
        return value

    @field_validator("env_from_secrets")
    @classmethod
    def _secret_names(cls, value: list[str]) -> list[str]:
        bad = [k for k in value if not re.match(_K8S_NAME, k)]
        if bad:
            raise ValueError(f"env_from_secrets: {bad} are not Kubernetes object names")
        return value


class ExecutorSpec(StrictModel):
    """Which backend runs the stages, and its settings (only the chosen backend's are used)."""

    backend: Literal["local", "ray", "kubernetes"] = "local"
    ray: RaySettings = Field(default_factory=RaySettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
