"""Shared stores for the tracker tests: one MLflow sqlite store per session (its schema migrations take
tens of seconds on this machine, so every test logs to its own MLflow experiment in the same store)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("mlflow", reason="the 'tracking' extra is not installed")
    from parley.tracking.mlflow_tracker import mlflow_client

    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    uri = f"sqlite:///{path}"
    mlflow_client(uri).search_experiments()  # creates the schema once
    return uri


def mlflow_experiment(uri: str, name: str) -> str:
    from parley.tracking.mlflow_tracker import mlflow_client

    exp = mlflow_client(uri).get_experiment_by_name(name)
    assert exp is not None, f"no MLflow experiment {name!r} in {uri}"
    return str(exp.experiment_id)


def artifact_root(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts"
