"""The three sources behind one small interface (runs, metrics, steps, step debates), cached for Streamlit."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import streamlit as st

from parley.viewer import local
from parley.viewer.catalog import Catalog, scan
from parley.viewer.model import DebateView, RunRef
from parley.viewer.remote import MlflowSource, SourceError, WandbSource


class RunSource(Protocol):
    def runs(self) -> list[RunRef]: ...

    def metrics(self, run: RunRef) -> list[dict[str, Any]]: ...

    def steps(self, run: RunRef) -> list[int]: ...

    def step_debates(self, run: RunRef, step: int) -> list[DebateView]: ...


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


@st.cache_data(show_spinner=False, max_entries=64)
def _catalog(root: str, stamp: float) -> Catalog:
    return scan(root)


def catalog(root: str) -> Catalog:
    """The (cached) catalog of ``root``; rescanned when the directory or its experiments database changes."""
    path = Path(root)
    stamp = max([_mtime(path), _mtime(path / "experiments.db"), _mtime(path / "experiments.db-wal")])
    return _catalog(str(path.resolve()), stamp)


@st.cache_data(show_spinner=False, max_entries=256)
def _local_metrics(key: str, stamp: float) -> list[dict[str, Any]]:
    return local.local_metrics(RunRef(key, "", "", ""))


@st.cache_data(show_spinner=False, max_entries=256)
def _local_steps(key: str, stamp: float) -> list[int]:
    return local.local_steps(RunRef(key, "", "", ""))


@st.cache_data(show_spinner=False, max_entries=64)
def _local_step_debates(key: str, step: int, stamp: float) -> list[DebateView]:
    return local.local_step_debates(RunRef(key, "", "", ""), step)


def _run_stamp(key: str) -> float:
    path = Path(key)
    return max(_mtime(path / "metrics.jsonl"), _mtime(path / "rollouts"), _mtime(path / "tables" / "debates.jsonl"))


@dataclass
class LocalRuns:
    """Training runs of a local directory."""

    root: str

    def runs(self) -> list[RunRef]:
        return local.train_run_refs(catalog(self.root))

    def metrics(self, run: RunRef) -> list[dict[str, Any]]:
        return _local_metrics(run.key, _run_stamp(run.key))

    def steps(self, run: RunRef) -> list[int]:
        return _local_steps(run.key, _run_stamp(run.key))

    def step_debates(self, run: RunRef, step: int) -> list[DebateView]:
        return _local_step_debates(run.key, step, _run_stamp(run.key))


@st.cache_resource(show_spinner=False, ttl=60)
def mlflow_source(uri: str) -> MlflowSource:
    return MlflowSource(uri)


@st.cache_resource(show_spinner=False, ttl=60)
def wandb_source(project: str, entity: str | None) -> WandbSource:
    return WandbSource(project, entity)


def default_dir() -> str:
    return os.environ.get("PARLEY_VIEW_DIR", "runs/demo")


def default_mlflow_uri(root: str) -> str:
    """``PARLEY_VIEW_MLFLOW_URI``, else the first ``mlflow.db`` under the local directory, else its would-be path."""
    if os.environ.get("PARLEY_VIEW_MLFLOW_URI"):
        return os.environ["PARLEY_VIEW_MLFLOW_URI"]
    base = Path(root).resolve()
    found = next(iter(sorted(base.rglob("mlflow.db"))), None) if base.is_dir() else None
    return f"sqlite:///{found or base / 'mlflow.db'}"


__all__ = ["LocalRuns", "RunSource", "SourceError", "catalog", "default_dir", "default_mlflow_uri", "mlflow_source",
           "wandb_source"]
