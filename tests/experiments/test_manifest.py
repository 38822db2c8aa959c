"""The reproducibility manifest and ``reproduce``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from parley.cli.app import app
from parley.config import config_hash
from parley.experiments import ExperimentRunner, build_plan, reproduce, spec_from_mapping
from tests.experiments.conftest import make_spec

OUT = [{"path": "out.json", "format": "json"}]


def _run(problems: Path, root: Path) -> tuple[ExperimentRunner, str]:
    spec = spec_from_mapping(make_spec(problems, [
        {"id": "prepare", "kind": "prepare", "outputs": ["problems.jsonl"]},
        {"id": "arm", "kind": "write_value", "per_arm": True, "needs": ["prepare"], "outputs": OUT},
    ], sweeps={"generation.seed": [3, 4]}, labels=["m"]))
    runner = ExperimentRunner(root)
    record = runner.run(spec, command=["parley", "experiment", "run", "spec.yaml"])
    assert record.status == "succeeded"
    return runner, record.id


def test_manifest_fields(problems_file: Path, tmp_path: Path) -> None:
    runner, exp_id = _run(problems_file, tmp_path / "root")
    manifest = json.loads((tmp_path / "root" / exp_id / "manifest.json").read_text())
    assert manifest["experiment_id"] == exp_id and manifest["labels"] == ["m"]
    assert manifest["command"] == ["parley", "experiment", "run", "spec.yaml"]
    git = manifest["git"]
    assert (isinstance(git["commit"], str) and len(git["commit"]) == 40 and isinstance(git["dirty"], bool)) or \
        (git["commit"] is None and git["reason"])
    assert manifest["spec"]["sweeps"] == {"generation.seed": [3, 4]}
    plan = build_plan(spec_from_mapping(manifest["spec"]))
    assert manifest["spec_hash"] == plan.spec_hash
    hashes = {s["id"]: s["config_hash"] for s in manifest["stages"]}
    assert hashes == {s.id: config_hash(s.config) for s in plan.stages}
    assert [a["id"] for a in manifest["arms"]] == ["seed=3", "seed=4"]
    assert manifest["seeds"]["arm@seed=4"]["generation.seed"] == 4
    assert manifest["packages"]["pydantic"] and "torch" in manifest["packages"]
    plat = manifest["platform"]
    assert plat["python"] and plat["cpu_count"] >= 1 and isinstance(plat["cuda_available"], bool) and plat["torch"]
    (fingerprint,) = manifest["datasets"].values()
    assert fingerprint["num_problems"] == 6 and len(fingerprint["sha256"]) == 64
    prepared = json.loads((runner.store.stage(exp_id, "prepare").dir.parent.parent / "stages" / "prepare" /
                           "dataset.json").read_text())
    assert prepared["sha256"] == fingerprint["sha256"]  # the prepare stage and the manifest agree
    arts = {(sid, a.path): a.sha256 for sid, a in runner.store.artifacts(exp_id)}
    assert manifest["artifacts"]["arm@seed=3"]["out.json"]["sha256"] == arts[("arm@seed=3", "out.json")]


def test_reproduce_reports_package_mismatch_and_reruns(problems_file: Path, tmp_path: Path) -> None:
    runner, exp_id = _run(problems_file, tmp_path / "root")
    manifest = json.loads((tmp_path / "root" / exp_id / "manifest.json").read_text())
    same = reproduce(tmp_path / "root" / exp_id / "manifest.json", runner, dry_run=True).environment
    assert [m for m in same if not m.field.startswith("git.")] == []  # others may commit meanwhile
    manifest["packages"]["pydantic"] = "0.0.1"
    copied = tmp_path / "copied-manifest.json"
    copied.write_text(json.dumps(manifest))

    dry = CliRunner().invoke(app, ["experiment", "reproduce", str(copied), "--dry-run", "--root",
                                   str(tmp_path / "root")])
    assert dry.exit_code == 0, dry.output
    assert "packages.pydantic" in dry.output and "0.0.1" in dry.output
    strict = CliRunner().invoke(app, ["experiment", "reproduce", str(copied), "--strict", "--root",
                                      str(tmp_path / "root")])
    assert strict.exit_code == 2 and "environment differs" in strict.output

    result = reproduce(copied, runner)
    assert [m.field for m in result.environment if not m.field.startswith("git.")] == ["packages.pydantic"]
    assert result.experiment_id == f"{exp_id}-repro-1"
    assert result.record is not None and result.record.status == "succeeded"
    assert result.artifact_mismatches == []  # the stages are deterministic: identical bytes
    new_manifest = json.loads((tmp_path / "root" / result.experiment_id / "manifest.json").read_text())
    assert new_manifest["spec_hash"] == manifest["spec_hash"]
