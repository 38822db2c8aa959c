"""Metrics tracking: the :class:`Tracker` interface, the local JSONL sink, debate-dynamics metrics.

Metric names are part of parley's interface: ``docs/metrics.md`` lists every one.
"""

from parley.tracking.base import Tracker
from parley.tracking.dynamics import debate_dynamics_metrics
from parley.tracking.local import LocalTracker, MetricsFileError, read_metrics

__all__ = ["LocalTracker", "MetricsFileError", "Tracker", "debate_dynamics_metrics", "read_metrics"]
