"""Read back what the W&B and MLflow sinks stored, from the real stores (tests and the viewer use these).

- W&B offline runs: the run's ``.wandb`` transaction log through ``wandb leet inspect --json`` (one JSON
  record per line; the old datastore reader is gone from wandb), reduced to the config, the history
  rows and the tables (``files/media/table/*.table.json``).
- MLflow: ``MlflowClient`` against the tracking URI (metric histories, params, table artifacts).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley.tracking.base import TrackingError


@dataclass
class WandbOfflineRun:
    """What one offline W&B run recorded."""

    path: Path
    run_id: str
    name: str | None
    group: str | None
    job_type: str | None
    config: dict[str, Any]
    history: list[dict[str, Any]]
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def metric_names(self) -> set[str]:
        """Every logged scalar name (W&B's own ``_step`` / ``_runtime`` ... and table refs excluded)."""
        return {k for row in self.history for k, v in row.items()
                if not k.startswith("_") and isinstance(v, int | float) and "." not in k and k != "step"}


def find_wandb_offline_runs(directory: str | Path) -> list[Path]:
    """The ``offline-run-*`` directories under ``directory`` (any depth), oldest first."""
    return sorted(Path(directory).rglob("offline-run-*"), key=lambda p: p.name)


def wandb_records(run_path: str | Path, *, timeout_s: float = 120.0) -> list[dict[str, Any]]:
    """Every record of an offline run's transaction log, via ``wandb leet inspect --json``."""
    cmd = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(run_path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise TrackingError(f"cannot read W&B run {run_path}: {exc}") from exc
    if proc.returncode != 0:
        raise TrackingError(f"`wandb leet inspect` failed on {run_path} (exit {proc.returncode}): "
                            f"{proc.stderr.strip()[-500:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def read_wandb_offline_run(run_path: str | Path) -> WandbOfflineRun:
    """Config, history and tables of one offline run directory (``.../wandb/offline-run-*``)."""
    path = Path(run_path)
    records = wandb_records(path)
    run: dict[str, Any] = next((r["run"] for r in records if r.get("type") == "run"), {})
    config: dict[str, Any] = dict(run.get("config", {}).get("update", {}))
    history: list[dict[str, Any]] = []
    for r in records:
        if r.get("type") == "config":
            config.update(r["config"].get("update", {}))
        elif r.get("type") == "history":
            history.append(dict(r["history"]["item"]))
    config.pop("_wandb", None)
    tables: dict[str, list[dict[str, Any]]] = {}
    for row in history:
        for key, value in row.items():
            if key.endswith(".path") and row.get(key.removesuffix(".path") + "._type") == "table-file":
                name = key.removesuffix(".path")
                data = json.loads((path / "files" / value).read_text())
                tables.setdefault(name, []).extend(dict(zip(data["columns"], r, strict=True)) for r in data["data"])
    return WandbOfflineRun(path=path, run_id=str(run.get("run_id", "")), name=run.get("display_name"),
                           group=run.get("run_group"), job_type=run.get("job_type"), config=config,
                           history=history, tables=tables)
