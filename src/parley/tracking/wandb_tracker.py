"""Weights & Biases sink (offline by default: run files under the run directory, no network, no key).

- One W&B run per parley run (``wandb.init`` with ``reinit="create_new"``, so several runs can live in
  one process), grouped by ``group`` (an experiment's arms share the experiment id as group).
- Config: the params as W&B config; metrics with ``run.log(..., step=step)``; tables as ``wandb.Table``
  (columns from the rows); artifacts as ``wandb.Artifact`` of type ``parley-output``.
- Resume: the run id is kept in ``<run_dir>/tracking.json``; a resumed parley run starts a fresh W&B run
  and replays the local history up to the resume step (W&B offline runs cannot drop the steps the
  resumed run will redo), with ``resumed_from`` in its config.
- ``mode: online`` streams to the server and needs credentials (``WANDB_API_KEY`` or ``wandb login``).

Offline run files are read back with ``wandb leet inspect --json <run dir>`` (see :mod:`parley.tracking.readback`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parley.config.models import WandbConfig
from parley.tracking.base import TableRow, TrackingError, table_columns
from parley.tracking.state import read_state, write_state

logger = logging.getLogger(__name__)


def import_wandb() -> Any:
    """The ``wandb`` module, or :class:`TrackingError` saying how to install it."""
    try:
        import wandb
    except ImportError as exc:
        raise TrackingError("tracking.backends includes wandb but wandb is not installed; install the "
                            "'tracking' extra (pip install -c constraints.txt -e '.[tracking]')") from exc
    return wandb


class WandbTracker:
    """Logs a parley run to W&B; see the module docstring."""

    def __init__(self, cfg: WandbConfig, run_dir: Path, *, run_name: str, group: str | None,
                 resume_step: int | None, replay: Sequence[Mapping[str, Any]] = (),
                 job_type: str = "train") -> None:
        wandb = import_wandb()
        self._wandb = wandb
        directory = (cfg.dir or run_dir).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        previous = read_state(run_dir).get("wandb", {}).get("run_id")
        settings = wandb.Settings(console="off", silent=True, save_code=False, disable_git=True,
                                  x_disable_stats=True)
        try:
            self.run = wandb.init(project=cfg.project, entity=cfg.entity, group=cfg.group or group, name=run_name,
                                  dir=str(directory), mode=cfg.mode, tags=list(cfg.tags) or None,
                                  job_type=job_type, reinit="create_new", settings=settings,
                                  config={"resumed_from": previous} if previous and resume_step is not None
                                  else None)
        except Exception as exc:  # wandb raises its own errors (auth, network) and others
            raise TrackingError(f"W&B (mode {cfg.mode}, project {cfg.project!r}): cannot start the run ({exc})"
                                ) from exc
        write_state(run_dir, "wandb", {"run_id": self.run.id, "dir": str(directory), "mode": cfg.mode,
                                       "project": cfg.project})
        self._closed = False
        for record in replay:
            if resume_step is not None and record["step"] <= resume_step:
                self.log_metrics(int(record["step"]), {k: v for k, v in record.items() if k != "step"})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.run.config.update(dict(params), allow_val_change=True)

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        self.run.log({name: float(value) for name, value in metrics.items()}, step=int(step))

    def log_table(self, step: int, name: str, rows: Sequence[TableRow]) -> None:
        columns = table_columns(name, rows)
        table = self._wandb.Table(columns=columns, data=[[row[c] for c in columns] for row in rows])
        self.run.log({name: table}, step=int(step))

    def log_artifact(self, path: str | Path, *, name: str | None = None) -> None:
        target = Path(path)
        artifact = self._wandb.Artifact(_artifact_name(name or target.name), type="parley-output")
        if target.is_dir():
            artifact.add_dir(str(target))
        else:
            artifact.add_file(str(target))
        self.run.log_artifact(artifact)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.run.finish()


def _artifact_name(name: str) -> str:
    """W&B artifact names allow letters, digits, '-', '_' and '.'."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


