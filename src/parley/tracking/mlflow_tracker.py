"""MLflow sink through ``MlflowClient`` (any tracking URI; a local sqlite store by default).

- One MLflow run per parley run, in experiment ``tracking.mlflow.experiment`` (created if missing; with a
  sqlite store its artifacts go to ``mlartifacts/`` beside the database file, never to the working dir).
- Grouped runs (an experiment's arms) are children of one parent run named after the group (tag
  ``mlflow.parentRunId``), found by the tag ``parley.group_parent`` and created once (under a file lock
  for sqlite stores, so parallel stage processes agree on one parent).
- Params: the config flattened to dotted keys (``train.lr``), values as strings (cut at MLflow's limit).
- Tables: ``tables/<name>/step-<step>.json`` artifacts in MLflow's table format (``columns``/``data``).
- Resume: the run id is kept in ``<run_dir>/tracking.json``. A resumed parley run starts a fresh MLflow
  run and replays the local sink's history up to the resume step, because MLflow cannot delete metric
  points that the redone steps would duplicate; the old run is ended as ``KILLED`` and tagged
  ``parley.superseded_by``.

Needs ``mlflow-skinny`` + ``sqlalchemy`` + ``alembic`` (the ``tracking`` extra).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from parley.config.models import MlflowConfig
from parley.tracking.base import TableRow, TrackingError, flatten_params, table_columns
from parley.tracking.state import read_state, write_state

logger = logging.getLogger(__name__)

GROUP_PARENT_TAG = "parley.group_parent"
GROUP_TAG = "parley.group"
SUPERSEDED_TAG = "parley.superseded_by"
_PARAM_LIMIT = 6000
_BATCH = 900  # MLflow accepts at most 1000 metrics per log_batch


def default_tracking_uri(directory: Path) -> str:
    """``sqlite:////abs/<directory>/mlflow.db``."""
    return f"sqlite:///{(directory / 'mlflow.db').resolve()}"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


@contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    path = _sqlite_path(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def mlflow_client(uri: str) -> Any:
    """An ``MlflowClient`` for ``uri``; :class:`TrackingError` when MLflow is missing or the store unusable."""
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise TrackingError("tracking.backends includes mlflow but MLflow is not installed; install the "
                            "'tracking' extra (pip install -c constraints.txt -e '.[tracking]')") from exc
    path = _sqlite_path(uri)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # The first use of a new sqlite store runs MLflow's schema migrations; parallel stage processes
        # would race on them ("table ... already exists"), so the first query runs under the store lock.
        with _store_lock(uri):
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)
        return client
    except Exception as exc:  # MLflow raises many types for a bad store; re-raised with the URI
        raise TrackingError(f"tracking.mlflow.tracking_uri {uri!r}: cannot open the MLflow store ({exc})") from exc


def experiment_id(client: Any, name: str, uri: str, artifact_location: str | None) -> str:
    """Id of MLflow experiment ``name``, created when missing (artifacts beside a sqlite store)."""
    with _store_lock(uri):
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        path = _sqlite_path(uri)
        location = artifact_location or ((path.parent / "mlartifacts").resolve().as_uri() if path else None)
        return str(client.create_experiment(name, artifact_location=location))


def group_parent_run(client: Any, exp_id: str, group: str, uri: str) -> str:
    """Run id of the parent run of ``group`` in ``exp_id`` (created once)."""
    with _store_lock(uri):
        found = client.search_runs([exp_id], filter_string=f"tags.`{GROUP_PARENT_TAG}` = '{_quote(group)}'",
                                   max_results=1, order_by=["attributes.start_time ASC"])
        if found:
            return str(found[0].info.run_id)
        run = client.create_run(exp_id, run_name=group, tags={GROUP_PARENT_TAG: group, GROUP_TAG: group})
        client.set_terminated(run.info.run_id, status="FINISHED")
        return str(run.info.run_id)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


class MlflowTracker:
    """Logs a parley run to MLflow; see the module docstring."""

    def __init__(self, cfg: MlflowConfig, run_dir: Path, *, run_name: str, group: str | None,
                 store_dir: Path, resume_step: int | None, replay: Sequence[Mapping[str, Any]] = (),
                 job_type: str = "train") -> None:
        self.uri = cfg.tracking_uri or default_tracking_uri(store_dir)
        self.client = mlflow_client(self.uri)
        try:
            self.experiment_id = experiment_id(self.client, cfg.experiment, self.uri, cfg.artifact_location)
            tags = {"parley.run_dir": str(run_dir.resolve()), "parley.job_type": job_type}
            parent = group_parent_run(self.client, self.experiment_id, group, self.uri) if group else None
            previous = read_state(run_dir).get("mlflow", {}).get("run_id")
            if job_type == "experiment" and parent is not None:
                run = self.client.get_run(parent)  # the group's own record: log onto the parent run
                previous = None
            else:
                if group and parent:
                    tags |= {GROUP_TAG: group, "mlflow.parentRunId": parent}
                run = self.client.create_run(self.experiment_id, run_name=run_name, tags=tags)
        except TrackingError:
            raise
        except Exception as exc:  # connection / store errors of any kind, named with the URI
            raise TrackingError(f"MLflow at {self.uri!r}: cannot create the run ({exc})") from exc
        self.run_id = str(run.info.run_id)
        if previous and previous != self.run_id:
            self._supersede(previous)
        write_state(run_dir, "mlflow", {"run_id": self.run_id, "tracking_uri": self.uri,
                                          "experiment_id": self.experiment_id})
        self._closed = False
        for record in replay:
            if resume_step is not None and record["step"] <= resume_step:
                self.log_metrics(int(record["step"]), {k: v for k, v in record.items() if k != "step"})

    def _supersede(self, previous: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.set_tag(previous, SUPERSEDED_TAG, self.run_id)
            if self.client.get_run(previous).info.status == "RUNNING":
                self.client.set_terminated(previous, status="KILLED")
        except MlflowException as exc:  # the old run may be gone; the new run is what matters
            logger.warning("could not mark the earlier MLflow run %s as superseded: %s", previous, exc)

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        flat = flatten_params(params)
        items = [Param(k, json.dumps(v, default=str) if not isinstance(v, str) else v) for k, v in flat.items()]
        items = [Param(p.key, p.value[:_PARAM_LIMIT]) for p in items]
        for i in range(0, len(items), 90):  # MLflow: at most 100 params per batch
            self.client.log_batch(self.run_id, params=items[i:i + 90])

    def log_metrics(self, step: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(name, float(value), now, int(step)) for name, value in metrics.items()]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, metrics=items[i:i + _BATCH])

    def log_table(self, step: int, name: str, rows: Sequence[TableRow]) -> None:
        columns = table_columns(name, rows)
        data = {"columns": columns, "data": [[row[c] for c in columns] for row in rows]}
        self.client.log_dict(self.run_id, data, f"tables/{name}/step-{step:06d}.json")

    def log_artifact(self, path: str | Path, *, name: str | None = None) -> None:
        target = Path(path)
        if target.is_dir():
            self.client.log_artifacts(self.run_id, str(target), artifact_path=name or target.name)
        else:  # MLflow keeps the file name; a name "dir/file" puts it under dir/
            folder = str(Path(name).parent) if name and Path(name).name == target.name else name
            self.client.log_artifact(self.run_id, str(target), artifact_path=None if folder in (None, ".") else folder)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.client.set_terminated(self.run_id, status="FINISHED")

