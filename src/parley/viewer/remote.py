"""W&B (public API) and MLflow (tracking URI) as viewer sources: runs, learning curves, step tables.

Both read what :mod:`parley.tracking` logged: metric histories, and per-step debate tables (MLflow:
``tables/debates/step-NNNNNN.json`` artifacts; W&B: the ``debates`` table files of the run history).
Every failure to reach or read the source is a :class:`SourceError` whose message names the source and
the cause, which the app shows instead of an empty page.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from parley.errors import WorkFailedError
from parley.viewer.model import DebateView, RunRef, debates_from_rows


class SourceError(WorkFailedError, RuntimeError):
    """The source cannot be reached or read; the message says which and why."""


class MlflowSource:
    """Runs logged by parley to an MLflow tracking URI (parent runs become groups)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
        try:
            from parley.tracking.mlflow_tracker import mlflow_client

            self.client = mlflow_client(uri)
            self.experiments = self.client.search_experiments()
        except Exception as exc:  # any failure to open/reach the store is shown, with the URI
            raise SourceError(f"MLflow at {uri!r} cannot be read: {exc}") from exc

    def runs(self) -> list[RunRef]:
        from parley.tracking.mlflow_tracker import GROUP_PARENT_TAG, SUPERSEDED_TAG

        try:
            found = self.client.search_runs([e.experiment_id for e in self.experiments], max_results=5000)
        except Exception as exc:  # shown to the user, with the URI
            raise SourceError(f"MLflow at {self.uri!r}: cannot list runs: {exc}") from exc
        names = {r.info.run_id: r.info.run_name for r in found}
        refs = []
        for r in found:
            tags = r.data.tags
            if GROUP_PARENT_TAG in tags or SUPERSEDED_TAG in tags:
                continue
            parent = tags.get("mlflow.parentRunId")
            group = names.get(parent, tags.get("parley.group", "")) if parent else "(no group)"
            refs.append(RunRef(r.info.run_id, r.info.run_name or r.info.run_id, str(group),
                               r.info.run_name or r.info.run_id, kind=tags.get("parley.job_type", "train")))
        return sorted(refs, key=lambda x: (x.group, x.name))

    def metrics(self, run: RunRef) -> list[dict[str, Any]]:
        try:
            keys = list(self.client.get_run(run.key).data.metrics)
            by_step: dict[int, dict[str, Any]] = {}
            for key in keys:
                for m in self.client.get_metric_history(run.key, key):
                    by_step.setdefault(int(m.step), {"step": int(m.step)})[key] = m.value
        except Exception as exc:  # shown to the user
            raise SourceError(f"MLflow run {run.key}: cannot read metrics: {exc}") from exc
        return [by_step[s] for s in sorted(by_step)]

    def steps(self, run: RunRef) -> list[int]:
        try:
            files = self.client.list_artifacts(run.key, "tables/debates")
        except Exception as exc:  # shown to the user
            raise SourceError(f"MLflow run {run.key}: cannot list tables: {exc}") from exc
        return sorted(int(Path(f.path).stem.removeprefix("step-")) for f in files if f.path.endswith(".json"))

    def step_debates(self, run: RunRef, step: int) -> list[DebateView]:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = self.client.download_artifacts(run.key, f"tables/debates/step-{step:06d}.json", tmp)
            except Exception as exc:  # shown to the user
                raise SourceError(f"MLflow run {run.key}: cannot read the step {step} table: {exc}") from exc
            data = json.loads(Path(local).read_text())
        return debates_from_rows([dict(zip(data["columns"], row, strict=True)) for row in data["data"]])


class WandbSource:
    """Runs of one W&B project through the public API (``wandb.Api``; needs credentials and network)."""

    def __init__(self, project: str, entity: str | None = None, timeout_s: int = 15) -> None:
        self.path = f"{entity}/{project}" if entity else project
        try:
            import wandb

            self.api = wandb.Api(timeout=timeout_s)
            self._runs = list(self.api.runs(self.path, per_page=200))
        except Exception as exc:  # no key, no network, unknown project: all shown, with the project
            raise SourceError(f"W&B project {self.path!r} cannot be read through the W&B API: {exc}") from exc
        self._by_id = {r.id: r for r in self._runs}

    def runs(self) -> list[RunRef]:
        refs = [RunRef(r.id, r.name or r.id, r.group or "(no group)", r.name or r.id, kind=r.job_type or "train")
                for r in self._runs]
        return sorted(refs, key=lambda x: (x.group, x.name))

    def _history(self, run: RunRef) -> list[dict[str, Any]]:
        try:
            return [dict(row) for row in self._by_id[run.key].scan_history()]
        except Exception as exc:  # shown to the user
            raise SourceError(f"W&B run {self.path}/{run.key}: cannot read its history: {exc}") from exc

    def metrics(self, run: RunRef) -> list[dict[str, Any]]:
        out = []
        for row in self._history(run):
            values = {k: v for k, v in row.items() if not k.startswith("_") and isinstance(v, int | float)}
            if values:
                out.append({"step": int(row.get("_step", 0)), **values})
        return out

    def steps(self, run: RunRef) -> list[int]:
        return [int(r.get("_step", 0)) for r in self._history(run) if isinstance(r.get("debates"), dict)]

    def step_debates(self, run: RunRef, step: int) -> list[DebateView]:
        rows = [r for r in self._history(run) if int(r.get("_step", -1)) == step and isinstance(r.get("debates"), dict)]
        if not rows:
            return []
        with tempfile.TemporaryDirectory() as tmp:
            try:
                handle = self._by_id[run.key].file(rows[0]["debates"]["path"]).download(root=tmp, replace=True)
                data = json.loads(Path(handle.name).read_text())
                handle.close()
            except Exception as exc:  # shown to the user
                raise SourceError(f"W&B run {self.path}/{run.key}: cannot read the step {step} table: {exc}") from exc
        return debates_from_rows([dict(zip(data["columns"], row, strict=True)) for row in data["data"]])
