"""Spec validation, sweeps, DAG order and the dry-run plan (no stage runs here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.experiments import SpecError, build_plan, load_spec, spec_from_mapping
from tests.experiments.conftest import make_spec, write_spec

OUT = ["out.json"]


def test_topological_order_and_per_arm_expansion(problems_file: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "report", "kind": "write_value", "needs": ["compare"], "outputs": OUT},
        {"id": "compare", "kind": "write_value", "needs": ["train", "baseline"], "outputs": OUT},
        {"id": "train", "kind": "write_value", "needs": ["prepare"], "per_arm": True, "outputs": OUT},
        {"id": "baseline", "kind": "write_value", "needs": ["prepare"], "outputs": OUT},
        {"id": "prepare", "kind": "write_value", "outputs": OUT},
    ], sweeps={"generation.seed": [1, 2], "generation.temperature": [0.5, 1.0]}))
    plan = build_plan(spec)
    ids = [s.id for s in plan.stages]
    assert ids[0] == "prepare" and ids[-2:] == ["compare", "report"]
    arms = [a.id for a in plan.arms]
    assert arms == ["seed=1,temperature=0.5", "seed=1,temperature=1.0", "seed=2,temperature=0.5",
                    "seed=2,temperature=1.0"]
    assert set(plan.stage("compare").needs) == {f"train@{a}" for a in arms} | {"baseline"}
    train = plan.stage("train@seed=2,temperature=0.5")
    assert train.needs == ("prepare",)
    assert train.config.generation.seed == 2 and train.config.generation.temperature == 0.5  # type: ignore[attr-defined]
    assert len({plan.stage(f"train@{a}").config_hash for a in arms}) == 4
    for s in plan.stages:  # every dependency comes earlier
        assert all(ids.index(n) < ids.index(s.id) for n in s.needs)


def test_cycle_is_reported_with_its_path(problems_file: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "a", "kind": "write_value", "needs": ["c"], "outputs": OUT},
        {"id": "b", "kind": "write_value", "needs": ["a"], "outputs": OUT},
        {"id": "c", "kind": "write_value", "needs": ["b"], "outputs": OUT},
    ]))
    with pytest.raises(SpecError, match=r"dependency cycle a -> c -> b -> a"):
        build_plan(spec)


def test_unknown_need_and_unknown_kind_name_the_field(problems_file: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "a", "kind": "write_value", "outputs": OUT},
        {"id": "b", "kind": "write_value", "needs": ["nope"], "outputs": OUT},
    ]))
    with pytest.raises(SpecError, match=r"stages\.1\.needs: unknown stage 'nope'; known: a, b"):
        build_plan(spec)
    spec = spec_from_mapping(make_spec(problems_file, [{"id": "a", "kind": "wrte_value", "outputs": OUT}]))
    with pytest.raises(SpecError, match=r"stages\.0\.kind: unknown stage kind 'wrte_value'; known: .*write_value"):
        build_plan(spec)


def test_spec_field_errors(problems_file: Path, tmp_path: Path) -> None:
    bad = make_spec(problems_file, [{"id": "a", "kind": "write_value", "outputs": ["../escape.json"],
                                     "paramz": {}}])
    path = write_spec(tmp_path / "bad.yaml", bad)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    text = str(err.value)
    assert f"{path}: stages.0.outputs.0.path" in text and "without '..'" in text
    assert "stages.0.paramz: unknown field" in text
    with pytest.raises(SpecError, match="outputs: Field required"):
        spec_from_mapping(make_spec(problems_file, [{"id": "a", "kind": "write_value"}]))


def test_invalid_sweep_value_names_arm_and_field(problems_file: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "train", "kind": "write_value", "per_arm": True, "outputs": OUT},
    ], sweeps={"generation.seed": [0, 1], "generation.temperature": [0.7, 9.0]}))
    with pytest.raises(SpecError) as err:
        build_plan(spec)
    assert "arm seed=0,temperature=9.0: stage train: config: generation.temperature" in str(err.value)
    assert "less than or equal to 5" in str(err.value)


def test_invalid_training_sweep_names_arm_and_field(problems_file: Path) -> None:
    spec = spec_from_mapping(make_spec(problems_file, [
        {"id": "train", "kind": "toy_train", "per_arm": True, "outputs": OUT},
    ], sweeps={"train.shaping": [{"name": "identity"}, {"name": "bogus"}], "train.seed": [0]}))
    with pytest.raises(SpecError, match=r"arm shaping=bogus,seed=0: stage train: config: train\.shaping"):
        build_plan(spec)


def test_dry_run_prints_plan_and_rollout_estimates(problems_file: Path, tmp_path: Path) -> None:
    spec = make_spec(problems_file, [
        {"id": "baseline", "kind": "write_value", "outputs": OUT, "overrides": {"dataset.limit": 4},
         "params": {"samples": 3}},
        {"id": "train", "kind": "toy_train", "per_arm": True, "needs": ["baseline"], "outputs": OUT},
    ], sweeps={"train.shaping": [{"name": "identity"}, {"name": "difference"}], "train.seed": [0, 1]})
    spec["config"]["train"] = {"steps": 2, "problems_per_step": 3, "group_size": 4,
                               "counterfactual": {"k": 2}}
    spec["config"]["protocol"] = {"name": "svj"}
    plan = build_plan(spec_from_mapping(spec))
    assert plan.stage("baseline").estimated_rollouts == 4 * 3
    assert plan.stage("train@shaping=identity,seed=0").estimated_rollouts == 2 * 3 * 4
    # difference: 24 debates + 24 x k=2 x 3 roles (solver, verifier, judge) counterfactual re-runs
    assert plan.stage("train@shaping=difference,seed=1").estimated_rollouts == 24 + 24 * 2 * 3
    result = CliRunner().invoke(app, ["experiment", "run", str(write_spec(tmp_path / "s.yaml", spec)),
                                      "--dry-run", "--root", str(tmp_path / "root")])
    assert result.exit_code == 0, result.output
    assert "plan: unit (5 stages, 4 arms)" in result.output
    assert "estimated rollouts: 396" in result.output  # 12 + 2 x 24 + 2 x 168
    assert "arm shaping=difference,seed=1:" in result.output
    assert not (tmp_path / "root").exists()  # a dry run creates nothing


def _doc_spec_block() -> str:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "experiments.md").read_text(encoding="utf-8")
    marker = doc.index("Every field, with the built-in stage kinds")
    start = doc.index("```yaml\n", marker) + len("```yaml\n")
    return doc[start:doc.index("```", start)]


def test_docs_experiment_spec_validates() -> None:
    """The spec shown in docs/experiments.md uses only real stage kinds and fields (issue 12, point 4)."""
    import yaml

    spec = spec_from_mapping(yaml.safe_load(_doc_spec_block()), "docs/experiments.md")
    plan = build_plan(spec, "docs/experiments.md")
    assert len(plan.arms) == 4 and {s.kind for s in plan.stages} == {"tiny_prepare", "baseline", "train", "evaluate"}


def test_quick_example_spec_validates() -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "experiment_quick.yaml"
    plan = build_plan(load_spec(path), str(path))
    assert len(plan.arms) == 2 and len(plan.stages) == 5
