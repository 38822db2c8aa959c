"""``parley.run_experiment``: the public call behind ``parley experiment run`` (a YAML spec, resumable)."""

from __future__ import annotations

import json
from pathlib import Path

import parley
from parley.experiments import ExperimentRunner
from tests.experiments.conftest import make_spec, write_spec

OUT = [{"path": "out.json", "format": "json"}]


def test_run_experiment_from_a_yaml_spec_and_rerun_resumes(tmp_path: Path, problems_file: Path) -> None:
    spec = write_spec(tmp_path / "exp.yaml", make_spec(problems_file, [
        {"id": "a", "kind": "write_value", "outputs": OUT, "params": {"value": 5}},
        {"id": "b", "kind": "write_value", "needs": ["a"], "outputs": OUT, "params": {"sum": ["a"]}},
    ]))
    record = parley.run_experiment(spec, root=tmp_path / "root", labels=["api"])
    assert record.status == "succeeded"
    runner = ExperimentRunner(tmp_path / "root")
    try:
        b = runner.store.stage(record.id, "b")
        assert json.loads((Path(b.dir) / "out.json").read_text())["value"] == 5
        assert "api" in runner.store.get_experiment(record.id).labels  # type: ignore[union-attr]
    finally:
        runner.close()
    again = parley.run_experiment(spec, root=tmp_path / "root")
    assert again.id == record.id and again.status == "succeeded"
