"""A real experiment (tests/run_outputs.quick_experiment) with ``tracking.backends: [local, wandb, mlflow]``:
each training run's MLflow run has the local sink's metric keys and values, its W&B offline history is
read back and equals the local one, and the arms are grouped (one MLflow parent, one W&B group)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parley.tracking import read_metrics, read_table
from parley.tracking.readback import find_wandb_offline_runs, read_wandb_offline_run
from tests import run_outputs

pytest.importorskip("wandb", reason="the 'tracking' extra is not installed")
pytest.importorskip("mlflow", reason="the 'tracking' extra is not installed")


@pytest.fixture(scope="module")
def exp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_outputs.experiment_dir(tmp_path_factory)


def _local(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for record in read_metrics(run_dir):
        for k, v in record.items():
            if k != "step":
                out.setdefault(k, []).append((record["step"], v))
    return out


def _same(a: dict[str, list[tuple[int, float]]], b: dict[str, list[tuple[int, float]]]) -> bool:
    return a.keys() == b.keys() and all(
        len(a[k]) == len(b[k]) and all(sa == sb and (va == vb or (va != va and vb != vb))  # NaN == NaN
                                       for (sa, va), (sb, vb) in zip(a[k], b[k], strict=True)) for k in a)


def test_training_runs_land_in_mlflow_with_the_local_metric_keys(exp: Path) -> None:
    from parley.tracking.mlflow_tracker import mlflow_client

    uri = f"sqlite:///{exp / 'mlflow.db'}"
    client = mlflow_client(uri)
    parents = set()
    for arm in run_outputs.ARMS:
        run_dir = exp / "stages" / f"train@shaping={arm}" / "run"
        run_id = json.loads((run_dir / "tracking.json").read_text())["mlflow"]["run_id"]
        run = client.get_run(run_id)
        local = _local(run_dir)
        assert set(run.data.metrics) == set(local)
        mlflow_history = {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in local}
        assert _same(mlflow_history, local)
        train_run_id = json.loads((run_dir / "train_run.json").read_text())["run_id"]
        assert run.info.run_name == f"train@shaping={arm}/{train_run_id}"
        assert run.data.params["config.train.shaping.name"] == arm
        parents.add(run.data.tags["mlflow.parentRunId"])
        steps = {int(Path(f.path).stem.split("-")[1]) for f in client.list_artifacts(run_id, "tables/debates")}
        assert steps == {1, 2} == {r["step"] for r in read_table(run_dir, "debates")}
    (parent,) = parents
    assert client.get_run(parent).info.run_name == exp.name
    logged = {f.path for f in client.list_artifacts(parent)}
    assert "manifest.json" in logged and "report" in logged  # the experiment's own record on the parent


def test_training_runs_w_and_b_history_is_read_back(exp: Path) -> None:
    groups = set()
    for arm in run_outputs.ARMS:
        run_dir = exp / "stages" / f"train@shaping={arm}" / "run"
        (path,) = find_wandb_offline_runs(run_dir)
        wb = read_wandb_offline_run(path)
        groups.add(wb.group)
        local = _local(run_dir)
        assert wb.metric_names() == set(local)
        history = {k: [(int(row["_step"]), float(row[k])) for row in wb.history if k in row] for k in local}
        assert _same(history, local)
        assert wb.config["config"]["train"]["shaping"]["name"] == arm
        table = [r for r in read_table(run_dir, "debates")]
        assert wb.tables["debates"] == table
    assert groups == {exp.name}
