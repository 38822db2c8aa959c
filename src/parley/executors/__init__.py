"""Where experiment stages run: one interface (submit, status, events, logs, cancel, wait, list) and
three backends: ``local`` (process groups on this machine, in parallel up to what it holds), ``ray``
(Ray Jobs on an existing cluster) and ``kubernetes`` (batch/v1 Jobs). See ``docs/scale-out.md``.

Executors run commands; they know nothing about experiments (``parley.experiments`` builds the job of
each stage attempt and decides whether the stage completed).
"""

from parley.executors.base import (
    Executor,
    ExecutorError,
    JobEvent,
    JobInfo,
    JobSpec,
    JobState,
    Resources,
)
from parley.executors.config import ExecutorSpec, KubernetesSettings, RaySettings, ResourceSpec
from parley.executors.factory import create_executor, executor_from_description
from parley.executors.local import LocalExecutor

__all__ = [
    "Executor",
    "ExecutorError",
    "ExecutorSpec",
    "JobEvent",
    "JobInfo",
    "JobSpec",
    "JobState",
    "KubernetesSettings",
    "LocalExecutor",
    "RaySettings",
    "ResourceSpec",
    "Resources",
    "create_executor",
    "executor_from_description",
]
