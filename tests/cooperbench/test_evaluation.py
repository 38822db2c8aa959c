"""Patch evaluation on a real git repository: conflict, clean merge + tests, evaluation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.cooperbench.dataset import load_task
from parley.cooperbench.evaluation import evaluate_pair
from parley.cooperbench.runners import LocalTestRunner, RunnerUnavailableError, SandboxTestRunner, make_runner

from .conftest import TASK_DIR


def _task(demo_repo: tuple[Path, str]):  # type: ignore[no-untyped-def]
    repo, sha = demo_repo
    return load_task(TASK_DIR, repo_path=repo, base_commit=sha)


def test_task_layout_is_read(demo_repo: tuple[Path, str]) -> None:
    task = _task(demo_repo)
    assert (task.repo, task.task_id) == ("demo_task", 1)
    assert sorted(task.features) == [1, 2, 3]
    assert "float" in task.features[1].gold_patch and "test_feature1" in task.features[1].tests_patch
    assert task.run_tests is not None and task.runner is not None
    # Without an override the base commit comes from setup.sh's `git checkout <sha>` line.
    assert load_task(TASK_DIR).base_commit == "0000000"


def test_conflicting_pair_is_a_conflict(demo_repo: tuple[Path, str]) -> None:
    task = _task(demo_repo)
    out = evaluate_pair(
        task,
        (1, 2),
        [("agent1", task.features[1].gold_patch), ("agent2", task.features[2].gold_patch)],
        "coop-comm",
        LocalTestRunner(),
    )
    assert out.merge_status == "conflict"
    assert out.conflict_files == ["calc.py"]
    assert out.error is None
    assert [r.status for r in out.feature_results] == ["not_run", "not_run"]
    assert not out.both_passed
    assert out.to_eval_json()["merge"]["status"] == "conflicts"


def test_compatible_pair_merges_cleanly_and_tests_run_on_merged_tree(demo_repo: tuple[Path, str]) -> None:
    task = _task(demo_repo)
    out = evaluate_pair(
        task,
        (1, 3),
        [("agent1", task.features[1].gold_patch), ("agent2", task.features[3].gold_patch)],
        "coop-nocomm",
        LocalTestRunner(),
    )
    assert out.merge_status == "clean", out.error
    assert [r.status for r in out.feature_results] == ["passed", "passed"], [r.test_output for r in out.feature_results]
    assert "test_numeric_strings" in out.feature_results[0].test_output
    assert out.both_passed


def test_tests_fail_when_the_feature_is_missing_from_the_merge(demo_repo: tuple[Path, str]) -> None:
    # agent2 "implements" feature 3 with an unrelated edit: merge is clean, feature 3's tests fail.
    task = _task(demo_repo)
    out = evaluate_pair(
        task,
        (1, 3),
        [("agent1", task.features[1].gold_patch), ("agent2", task.features[2].gold_patch.replace("add", "add"))],
        "coop-comm",
        LocalTestRunner(),
    )
    assert out.merge_status == "conflict"  # feature 2's patch edits add(), like feature 1's
    solo = evaluate_pair(task, (1, 3), [("solo", task.features[1].gold_patch)], "solo", LocalTestRunner())
    assert solo.merge_status == "not_applicable"
    assert [r.status for r in solo.feature_results] == ["passed", "failed"]
    assert not solo.both_passed


def test_empty_patch_is_an_evaluation_error_not_a_conflict(demo_repo: tuple[Path, str]) -> None:
    task = _task(demo_repo)
    out = evaluate_pair(
        task, (1, 3), [("agent1", task.features[1].gold_patch), ("agent2", "")], "coop-comm", LocalTestRunner()
    )
    assert out.merge_status == "error"
    assert out.error is not None and "empty patch" in out.error
    assert out.to_eval_json()["error"]


def test_malformed_and_non_applying_patches_are_evaluation_errors(demo_repo: tuple[Path, str]) -> None:
    task = _task(demo_repo)
    garbage = evaluate_pair(task, (1, 3), [("solo", "this is not a diff\n")], "solo", LocalTestRunner())
    assert garbage.merge_status == "error" and "malformed patch" in (garbage.error or "")
    stale = task.features[1].gold_patch.replace("return a + b\n", "return a - b\n")
    out = evaluate_pair(task, (1, 3), [("solo", stale)], "solo", LocalTestRunner())
    assert out.merge_status == "error" and "does not apply" in (out.error or "")


def test_crlf_patch_is_normalised(demo_repo: tuple[Path, str]) -> None:
    task = _task(demo_repo)
    crlf = task.features[3].gold_patch.replace("\n", "\r\n")
    out = evaluate_pair(task, (3, 1), [("solo", crlf)], "solo", LocalTestRunner())
    assert out.merge_status == "not_applicable", out.error
    assert any("CRLF" in n for n in out.notes)
    assert out.feature_results[0].status == "passed"


def test_missing_base_commit_is_an_error(demo_repo: tuple[Path, str]) -> None:
    repo, _ = demo_repo
    task = load_task(TASK_DIR, repo_path=repo, base_commit="deadbeef")
    out = evaluate_pair(task, (1, 3), [("solo", task.features[1].gold_patch)], "solo", LocalTestRunner())
    assert out.merge_status == "error" and "base commit" in (out.error or "")


def test_docker_runner_says_when_docker_is_unavailable() -> None:
    try:
        make_runner("docker", docker_image="cooperbench/demo:latest")
    except RunnerUnavailableError as exc:
        assert "docker" in str(exc).lower()
    else:  # Docker really works here: nothing to check about the unavailable path
        pytest.skip("Docker is available on this machine")


def test_compatible_pair_in_the_real_sandbox(demo_repo: tuple[Path, str]) -> None:
    from parley.sandbox import SandboxConfig

    try:
        runner = SandboxTestRunner(SandboxConfig(cgroups="off", timeout_s=60, cpu_time_s=60))
    except RunnerUnavailableError as exc:
        pytest.skip(f"sandbox unavailable here: {exc}")
    task = _task(demo_repo)
    out = evaluate_pair(
        task,
        (1, 3),
        [("agent1", task.features[1].gold_patch), ("agent2", task.features[3].gold_patch)],
        "coop-comm",
        runner,
    )
    assert out.merge_status == "clean"
    assert [r.status for r in out.feature_results] == ["passed", "passed"], [r.test_output for r in out.feature_results]
    assert out.feature_results[0].isolation and "bwrap" in out.feature_results[0].isolation
