"""Build an executor from its spec settings, or from the description stored with an attempt.

The Ray and Kubernetes backends import their client libraries only here, when chosen; a missing extra
is an :class:`~parley.executors.base.ExecutorError` that names the ``pip install`` to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from parley.executors.base import Executor, ExecutorError
from parley.executors.config import ExecutorSpec
from parley.executors.local import LocalExecutor


def _not_built(exc: ImportError, backend: str) -> None:
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith("parley."):
        raise ExecutorError(f"{backend}: this parley build has no {backend} executor yet; use --executor local") \
            from exc


def create_executor(spec: ExecutorSpec, root: Path | None = None) -> Executor:
    """The executor ``spec`` names. ``root`` is the experiments root (Kubernetes maps it onto its volume)."""
    if spec.backend == "local":
        return LocalExecutor()
    if spec.backend == "ray":
        try:
            from parley.executors.ray_jobs import RayJobsExecutor
        except ImportError as exc:
            _not_built(exc, "ray")
            raise ExecutorError(f"ray: the Ray client is not installed ({exc}); "
                                "install it with pip install -c constraints.txt -e '.[ray]'") from exc
        return RayJobsExecutor(spec.ray)
    try:
        from parley.executors.kubernetes import KubernetesExecutor
    except ImportError as exc:
        _not_built(exc, "kubernetes")
        raise ExecutorError(f"kubernetes: the Kubernetes client is not installed ({exc}); "
                            "install it with pip install -c constraints.txt -e '.[k8s]'") from exc
    return KubernetesExecutor(spec.kubernetes, root)


def executor_from_description(description: dict[str, Any], root: Path | None = None) -> Executor:
    """Rebuild the executor an attempt ran on from :meth:`Executor.describe`'s mapping."""
    data = dict(description)
    backend = data.pop("backend", "local")
    if backend not in ("local", "ray", "kubernetes"):
        raise ExecutorError(f"unknown executor backend {backend!r} recorded for an attempt")
    return create_executor(ExecutorSpec.model_validate({"backend": backend, **({backend: data} if data else {})}),
                           root)
