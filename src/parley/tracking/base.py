"""The tracker interface every metrics sink implements (local JSONL now; W&B and MLflow later)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Tracker(Protocol):
    """A metrics sink. Metric names are documented in ``docs/metrics.md``.

    ``log_metrics`` is called once per step with all of that step's metrics; steps strictly increase.
    """

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None: ...

    def close(self) -> None: ...
