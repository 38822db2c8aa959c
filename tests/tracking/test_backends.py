"""The W&B and MLflow sinks, read back from the real stores (W&B offline run files, MLflow sqlite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from parley.config import ParleyConfig
from parley.tracking import TrackingError, create_tracker, read_metrics, read_table
from parley.tracking.readback import find_wandb_offline_runs, read_wandb_offline_run
from tests.tracking.conftest import mlflow_experiment

pytest.importorskip("wandb", reason="the 'tracking' extra is not installed")
pytest.importorskip("mlflow", reason="the 'tracking' extra is not installed")

ROWS = [{"step": 1, "role": "solver", "text": "The answer is 4.", "verdict": None, "reward": 1.0, "advantage": 0.5},
        {"step": 1, "role": "verifier", "text": "VERDICT: PASS", "verdict": "pass", "reward": 1.0,
         "advantage": None}]


def _config(uri: str, experiment: str, backends: list[str]) -> ParleyConfig:
    return ParleyConfig.model_validate({"tracking": {"backends": backends, "mlflow": {
        "tracking_uri": uri, "experiment": experiment}}})


def _log_steps(tracker: Any, steps: range) -> dict[int, dict[str, float]]:
    logged = {}
    for step in steps:
        metrics = {"reward/solver": step / 10, "kl/shared": 0.01 * step, "debate/termination/max_rounds": 0.25}
        tracker.log_metrics(step, metrics)
        logged[step] = metrics
    return logged


def _mlflow_history(uri: str, run_id: str) -> dict[str, list[tuple[int, float]]]:
    from parley.tracking.mlflow_tracker import mlflow_client

    client = mlflow_client(uri)
    keys = client.get_run(run_id).data.metrics
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in keys}


def _local_history(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for record in read_metrics(run_dir):
        for k, v in record.items():
            if k != "step":
                out.setdefault(k, []).append((record["step"], v))
    return out


def test_three_backends_store_the_same_metrics_params_tables_and_artifacts(tmp_path: Path, mlflow_uri: str) -> None:
    run_dir = tmp_path / "run"
    report = tmp_path / "report.md"
    report.write_text("# report\n")
    with create_tracker(_config(mlflow_uri, "same", ["local", "wandb", "mlflow"]), run_dir, run_name="arm-a",
                        group="exp-1") as tracker:
        tracker.log_params({"config": {"train": {"lr": 0.001}}, "run_id": "train-x"})
        _log_steps(tracker, range(1, 4))
        tracker.log_table(3, "debates", ROWS)
        tracker.log_artifact(report)
    local = _local_history(run_dir)
    assert set(local) == {"reward/solver", "kl/shared", "debate/termination/max_rounds"}
    assert read_table(run_dir, "debates") == ROWS
    assert json.loads((run_dir / "params.json").read_text())["config"]["train"]["lr"] == 0.001

    state = json.loads((run_dir / "tracking.json").read_text())
    run_id = state["mlflow"]["run_id"]
    assert _mlflow_history(mlflow_uri, run_id) == local
    from parley.tracking.mlflow_tracker import mlflow_client

    client = mlflow_client(mlflow_uri)
    run = client.get_run(run_id)
    assert run.data.params["config.train.lr"] == "0.001" and run.info.status == "FINISHED"
    assert run.info.run_name == "arm-a" and run.data.tags["parley.group"] == "exp-1"
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.run_name == "exp-1"
    table = json.loads(Path(client.download_artifacts(run_id, "tables/debates/step-000003.json", str(tmp_path)))
                       .read_text())
    assert [dict(zip(table["columns"], row, strict=True)) for row in table["data"]] == ROWS
    assert {f.path for f in client.list_artifacts(run_id)} >= {"report.md", "tables"}

    (wandb_run,) = find_wandb_offline_runs(run_dir)
    wb = read_wandb_offline_run(wandb_run)
    assert wb.run_id == state["wandb"]["run_id"] and wb.name == "arm-a" and wb.group == "exp-1"
    assert wb.config["config"]["train"]["lr"] == 0.001
    wb_history = {k: [(row["_step"], row[k]) for row in wb.history if k in row] for k in wb.metric_names()}
    assert wb_history == local
    assert wb.tables["debates"] == ROWS


def test_grouped_runs_share_one_mlflow_parent(tmp_path: Path, mlflow_uri: str) -> None:
    cfg = _config(mlflow_uri, "grouped", ["mlflow"])
    parents = set()
    for arm in ("identity", "coma"):
        with create_tracker(cfg, tmp_path / arm, run_name=arm, group="exp-2") as tracker:
            tracker.log_metrics(1, {"reward/mean": 0.5})
        run_id = json.loads((tmp_path / arm / "tracking.json").read_text())["mlflow"]["run_id"]
        from parley.tracking.mlflow_tracker import mlflow_client

        parents.add(mlflow_client(mlflow_uri).get_run(run_id).data.tags["mlflow.parentRunId"])
    assert len(parents) == 1
    runs = mlflow_client(mlflow_uri).search_runs([mlflow_experiment(mlflow_uri, "grouped")])
    assert sorted(r.info.run_name for r in runs) == ["coma", "exp-2", "identity"]


def test_resume_replays_history_into_a_fresh_mlflow_run_without_duplicates(tmp_path: Path, mlflow_uri: str) -> None:
    cfg = _config(mlflow_uri, "resume", ["mlflow"])
    run_dir = tmp_path / "run"
    with create_tracker(cfg, run_dir, run_name="r") as tracker:
        _log_steps(tracker, range(1, 4))  # steps 1-3 logged; the checkpoint was at step 2
    first = json.loads((run_dir / "tracking.json").read_text())["mlflow"]["run_id"]
    with create_tracker(cfg, run_dir, run_name="r", resume_step=2) as tracker:
        _log_steps(tracker, range(3, 5))
    second = json.loads((run_dir / "tracking.json").read_text())["mlflow"]["run_id"]
    assert second != first
    history = _mlflow_history(mlflow_uri, second)
    assert [s for s, _ in history["reward/solver"]] == [1, 2, 3, 4]
    assert history == _local_history(run_dir)
    from parley.tracking.mlflow_tracker import mlflow_client

    assert mlflow_client(mlflow_uri).get_run(first).data.tags["parley.superseded_by"] == second


def test_unreachable_mlflow_server_is_a_clear_error_and_the_local_record_survives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    cfg = _config(f"http://127.0.0.1:{port}", "down", ["mlflow"])
    with pytest.raises(TrackingError, match=f"127.0.0.1:{port}"):
        create_tracker(cfg, tmp_path / "run", run_name="r")
