"""``create_tracker``: one :class:`~parley.tracking.base.Tracker` that fans out to every configured backend.

The local JSONL sink (``metrics.jsonl``, ``params.json``, ``tables/``) is always on and is written
first, so a backend failure never loses the local record. Backends come from
``config.tracking.backends`` (``wandb``, ``mlflow``; ``local`` is implied).

Grouping: ``group`` (else ``tracking.group``, else the ``PARLEY_TRACKING_GROUP`` environment variable
that the experiment runner sets for its stage processes) becomes the W&B group and the MLflow parent
run. The default MLflow store is ``mlflow.db`` in ``PARLEY_TRACKING_DIR`` (the experiment directory,
set by the runner) or else in the run directory, so an experiment's arms share one store.
``PARLEY_TRACKING_STAGE`` (set by the runner) prefixes run names, so ``train[shaping=coma]/svj`` says
which arm an evaluation belongs to.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parley.config.models import TrackingConfig
from parley.tracking.base import TableRow, Tracker
from parley.tracking.local import LocalTracker

logger = logging.getLogger(__name__)

GROUP_ENV = "PARLEY_TRACKING_GROUP"
DIR_ENV = "PARLEY_TRACKING_DIR"
STAGE_ENV = "PARLEY_TRACKING_STAGE"


class FanOutTracker:
    """Forwards every call to each tracker in order (the local sink first)."""

    def __init__(self, trackers: Sequence[Tracker]) -> None:
        self.trackers = list(trackers)

    @property
    def local(self) -> LocalTracker:
        first = self.trackers[0]
        assert isinstance(first, LocalTracker)
        return first

    def log_params(self, params: Mapping[str, Any]) -> None:
        for t in self.trackers:
            t.log_params(params)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        for t in self.trackers:
            t.log_metrics(step, metrics)

    def log_table(self, step: int, name: str, rows: Sequence[TableRow]) -> None:
        if not rows:
            return
        for t in self.trackers:
            t.log_table(step, name, rows)

    def log_artifact(self, path: str | Path, *, name: str | None = None) -> None:
        for t in self.trackers:
            t.log_artifact(path, name=name)

    def close(self) -> None:
        errors: list[BaseException] = []
        for t in self.trackers:
            try:
                t.close()
            except Exception as exc:  # noqa: BLE001 - close every sink, then re-raise the first failure
                logger.error("closing %s failed: %s", type(t).__name__, exc)
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> FanOutTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _tracking_section(config: Any) -> TrackingConfig:
    section = getattr(config, "tracking", None)
    if section is None:
        return TrackingConfig()
    if not isinstance(section, TrackingConfig):
        raise TypeError(f"config.tracking must be a TrackingConfig, got {type(section).__name__}")
    return section


def create_tracker(config: Any, run_dir: str | Path, *, run_name: str, group: str | None = None,
                   resume_step: int | None = None, job_type: str = "train") -> FanOutTracker:
    """The tracker of one run in ``run_dir``: the local sink plus ``config.tracking.backends``.

    Args:
        config: any config with a ``tracking`` section (``ParleyConfig``, ``TrainRunConfig``); ``None`` or a
            config without one means local only.
        run_dir: the run's directory (the local sink writes there).
        run_name: the run's display name in W&B / MLflow (prefixed by ``PARLEY_TRACKING_STAGE`` when set).
        group: groups runs (W&B group, MLflow parent run); default ``tracking.group`` or ``PARLEY_TRACKING_GROUP``.
        resume_step: continuing a run from this step: later local records are dropped, and W&B / MLflow get a
            fresh run with the local history up to this step replayed (see the backends' docstrings).
        job_type: what the run is (``train``, ``eval``, ``generate``, ``experiment``); a W&B job type and an
            MLflow tag.

    Raises:
        parley.tracking.TrackingError: a configured backend is not installed or cannot be reached.
    """
    cfg = _tracking_section(config)
    run_dir = Path(run_dir)
    stage = os.environ.get(STAGE_ENV)
    name = f"{stage}/{run_name}" if stage and not run_name.startswith(stage) else run_name
    group = group or cfg.group or os.environ.get(GROUP_ENV) or None
    local = LocalTracker(run_dir, resume_step=resume_step)
    trackers: list[Tracker] = [local]
    try:
        replay = _replay(run_dir) if resume_step is not None else []
        if "wandb" in cfg.backends:
            from parley.tracking.wandb_tracker import WandbTracker

            trackers.append(WandbTracker(cfg.wandb, run_dir, run_name=name, group=group, resume_step=resume_step,
                                         replay=replay, job_type=job_type))
        if "mlflow" in cfg.backends:
            from parley.tracking.mlflow_tracker import MlflowTracker

            store_dir = Path(os.environ.get(DIR_ENV) or run_dir)
            trackers.append(MlflowTracker(cfg.mlflow, run_dir, run_name=name, group=group, store_dir=store_dir,
                                          resume_step=resume_step, replay=replay, job_type=job_type))
    except BaseException:
        for t in trackers:
            t.close()
        raise
    return FanOutTracker(trackers)


def _replay(run_dir: Path) -> list[dict[str, Any]]:
    from parley.tracking.local import read_metrics

    return read_metrics(run_dir)
