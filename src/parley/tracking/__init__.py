"""Metrics tracking: the :class:`Tracker` interface, its sinks and debate-dynamics metrics.

- :func:`create_tracker` -> one tracker fanning out to the local JSONL sink (always) and the configured
  ``tracking.backends`` (Weights & Biases offline/online, MLflow on any tracking URI);
- :class:`LocalTracker` / :func:`read_metrics` / :func:`read_table`: the local sink and its reader;
- :func:`debate_table_rows`: a step's debates as table rows (one per turn);
- :func:`debate_dynamics_metrics`: the ``debate/*`` metrics of a batch.

Metric names are part of parley's interface: ``docs/metrics.md`` lists every one. This package imports
no higher layer (training, experiments); W&B and MLflow are imported only when configured.
"""

from parley.tracking.base import Tracker, TrackingError
from parley.tracking.dynamics import debate_dynamics_metrics
from parley.tracking.fanout import FanOutTracker, create_tracker
from parley.tracking.local import LocalTracker, MetricsFileError, read_metrics, read_table
from parley.tracking.tables import TABLE_COLUMNS, debate_table_rows

__all__ = [
    "TABLE_COLUMNS",
    "FanOutTracker",
    "LocalTracker",
    "MetricsFileError",
    "Tracker",
    "TrackingError",
    "create_tracker",
    "debate_dynamics_metrics",
    "debate_table_rows",
    "read_metrics",
    "read_table",
]
