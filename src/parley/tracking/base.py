"""The tracker interface every metrics sink implements (local JSONL, Weights & Biases, MLflow).

A run's tracker receives, in order: ``log_params`` (the resolved config and run identity), then per
step one ``log_metrics`` call (names in ``docs/metrics.md``) and optionally ``log_table`` calls (debate
samples), ``log_artifact`` for finished files (report, manifest, findings), and ``close`` once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from parley.errors import UserError

TableRow = Mapping[str, Any]
"""One row of a logged table: column name -> str, int, float, bool or None."""


@runtime_checkable
class Tracker(Protocol):
    """A metrics sink. Metric names are documented in ``docs/metrics.md``.

    ``log_metrics`` is called once per step with all of that step's metrics; steps strictly increase.
    ``log_table`` logs a small table (e.g. the debates of a step, one row per turn) at ``step``, which
    must not be below the last metrics step (W&B drops out-of-order steps); every row has the same
    columns. ``log_artifact`` logs a file or a directory under ``name`` (default: its
    file name).
    """

    def log_params(self, params: Mapping[str, Any]) -> None: ...

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None: ...

    def log_table(self, step: int, name: str, rows: Sequence[TableRow]) -> None: ...

    def log_artifact(self, path: str | Path, *, name: str | None = None) -> None: ...

    def close(self) -> None: ...


class TrackingError(UserError, ValueError):
    """A configured tracking backend cannot be used (not installed, unreachable, misconfigured); the message
    says which and why. A ``ValueError`` because the fix is in the ``tracking:`` config or the install."""


def table_columns(name: str, rows: Sequence[TableRow]) -> list[str]:
    """The shared column list of ``rows``; raises ValueError when rows disagree (a table has one schema)."""
    if not rows:
        return []
    columns = list(rows[0])
    for i, row in enumerate(rows[1:], start=1):
        if list(row) != columns:
            raise ValueError(f"table {name!r}: row {i} has columns {list(row)}, row 0 has {columns}")
    return columns


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (``{"train": {"lr": 1e-3}}`` -> ``{"train.lr": 1e-3}``); lists kept."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_params(value, f"{name}."))
        else:
            out[name] = value
    return out
