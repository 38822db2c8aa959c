"""Patch evaluation: apply, three-way merge, run each feature's tests on the merged tree.

CooperBench's success criterion (arXiv 2601.13295, Sec. 3.3): the agents' patches are merged and the
tests of *both* features must pass on the merged code. parley does exactly that, in a scratch clone:

1. clone the task repository and check out its base commit;
2. apply each agent's patch on its own branch from the base (an empty, malformed or non-applying patch
   is an **evaluation error**, never a merge conflict; CRLF patches are retried with LF line ends);
3. coop: ``git merge`` the second branch into the first (git's three-way merge): ``clean``,
   ``conflict`` (conflicting files listed; no tests run, both features fail) or ``error``. Solo: the
   one patch is the merged tree. Nothing is ever concatenated;
4. for each feature, in a fresh worktree of the merged tree: apply its ``tests.patch``, copy
   ``run_tests.sh`` in and run it through a :class:`~parley.cooperbench.runners.TestRunner`; exit code
   0 means the feature passed.

:meth:`EvalOutcome.to_eval_json` writes the upstream ``eval.json`` shape, so the loaders read it back.
"""

from __future__ import annotations

import datetime as _dt
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from parley.cooperbench.dataset import TaskSpec
from parley.cooperbench.diffs import parse_patch
from parley.cooperbench.runners import TestRunner
from parley.cooperbench.types import Setting

RUN_TESTS_NAME = ".cooperbench_run_tests.sh"
_FATAL_PARSE = ("empty patch", "no file headers", "malformed hunk header", "truncated", "hunk ended early")


class FeatureResult(BaseModel):
    """Tests of one feature on the merged tree."""

    feature_id: int
    passed: bool
    status: Literal["passed", "failed", "not_run", "error"]
    detail: str = ""
    test_output: str = ""
    isolation: str | None = None


class EvalOutcome(BaseModel):
    """Result of evaluating one pair in one setting."""

    repo: str
    task_id: int
    features: tuple[int, int]
    setting: Setting
    merge_status: Literal["clean", "conflict", "error", "not_applicable"]
    conflict_files: list[str] = Field(default_factory=list)
    feature_results: list[FeatureResult] = Field(default_factory=list)
    error: str | None = None
    notes: list[str] = Field(default_factory=list)

    @property
    def both_passed(self) -> bool:
        return len(self.feature_results) == 2 and all(f.passed for f in self.feature_results)

    def to_eval_json(self) -> dict[str, Any]:
        """The upstream ``eval.json`` shape (``merge.status`` uses upstream's ``conflicts`` spelling)."""
        merge = None
        if self.setting != "solo":
            status = {"conflict": "conflicts"}.get(self.merge_status, self.merge_status)
            merge = {"status": status, "strategy": "git-three-way", "conflict_files": self.conflict_files}
        feats = {f"feature{i + 1}": r.model_dump() for i, r in enumerate(self.feature_results)}
        return {
            "repo": self.repo,
            "task_id": self.task_id,
            "features": list(self.features),
            "setting": self.setting,
            "merge": merge,
            **feats,
            "both_passed": self.both_passed,
            "error": self.error,
            "notes": self.notes,
            "evaluated_at": _dt.datetime.now(_dt.UTC).isoformat(),
            "evaluator": "parley.cooperbench.evaluation",
        }


class _Git:
    def __init__(self, repo: Path, home: Path) -> None:
        self.repo = repo
        self.env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "LANG": "C.UTF-8",
        }

    def __call__(
        self, *args: str, cwd: Path | None = None, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = ["git", "-c", "user.name=parley", "-c", "user.email=parley@localhost", "-c", "core.autocrlf=false", *args]
        return subprocess.run(cmd, cwd=cwd or self.repo, env=self.env, input=stdin, capture_output=True, check=False)


def _err(proc: subprocess.CompletedProcess[bytes]) -> str:
    return (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()[:800]


def _apply(git: _Git, patch: str, who: str, cwd: Path | None = None) -> tuple[str | None, list[str]]:
    """Apply ``patch`` to the index and tree; returns an error message (or None) and notes."""
    notes: list[str] = []
    if not patch.strip():
        return f"{who}: empty patch", notes
    problems = [p for p in parse_patch(patch).problems if any(k in p for k in _FATAL_PARSE)]
    if problems:
        return f"{who}: malformed patch: {'; '.join(problems)}", notes
    args = ["apply", "--index", "--binary", "--whitespace=nowarn", "-"]
    proc = git(*args, cwd=cwd, stdin=patch.encode("utf-8", "surrogateescape"))
    if proc.returncode != 0 and "\r\n" in patch:
        proc = git(*args, cwd=cwd, stdin=patch.replace("\r\n", "\n").encode("utf-8", "surrogateescape"))
        if proc.returncode == 0:
            notes.append(f"{who}: CRLF line ends normalised to LF to apply")
    if proc.returncode != 0:
        return f"{who}: patch does not apply at the base commit: {_err(proc)}", notes
    return None, notes


def evaluate_pair(
    task: TaskSpec,
    features: tuple[int, int],
    patches: list[tuple[str, str | None]],
    setting: Setting,
    runner: TestRunner,
    *,
    timeout_s: float = 600.0,
    work_dir: Path | None = None,
) -> EvalOutcome:
    """Evaluate one pair; ``patches`` is ``[(agent_id, patch)]`` (one for solo, two for coop)."""
    out = EvalOutcome(
        repo=task.repo,
        task_id=task.task_id,
        features=features,
        setting=setting,
        merge_status="not_applicable" if setting == "solo" else "error",
    )
    expected = 1 if setting == "solo" else 2
    if len(patches) != expected:
        out.merge_status = "error"
        out.error = f"{setting} needs {expected} agent patch(es), got {len(patches)}"
        return out
    if task.repo_path is None or task.base_commit is None:
        out.merge_status = "error"
        out.error = "task has no repository or base commit (give <task>/repo and base_commit, or --repo/--base-commit)"
        return out
    missing = [f for f in features if f not in task.features]
    if missing or task.run_tests is None:
        out.merge_status = "error"
        out.error = f"task lacks feature(s) {missing} or run_tests.sh" if missing else "task has no run_tests.sh"
        return out
    with tempfile.TemporaryDirectory(prefix="parley-cb-", dir=work_dir) as tmp:
        root = Path(tmp)
        _evaluate_in(root, task, features, patches, setting, runner, timeout_s, out)
    return out


def _evaluate_in(
    root: Path,
    task: TaskSpec,
    features: tuple[int, int],
    patches: list[tuple[str, str | None]],
    setting: Setting,
    runner: TestRunner,
    timeout_s: float,
    out: EvalOutcome,
) -> None:
    repo = root / "repo"
    git = _Git(repo, root)
    clone = git("clone", "-q", "--no-checkout", str(task.repo_path), str(repo), cwd=root)
    if clone.returncode != 0:
        out.merge_status, out.error = "error", f"cannot clone {task.repo_path}: {_err(clone)}"
        return
    base = git("checkout", "-q", "-b", "cb-base", str(task.base_commit))
    if base.returncode != 0:
        out.merge_status, out.error = "error", f"base commit {task.base_commit} not found: {_err(base)}"
        return
    branches: list[str] = []
    for i, (agent_id, patch) in enumerate(patches):
        branch = f"cb-agent{i + 1}"
        git("checkout", "-q", "-b", branch, "cb-base")
        error, notes = _apply(git, patch or "", agent_id)
        out.notes += notes
        if error:
            out.merge_status, out.error = "error", error
            return
        commit = git("commit", "-q", "--allow-empty", "-m", f"{agent_id} patch")
        if commit.returncode != 0:
            out.merge_status, out.error = "error", f"{agent_id}: cannot commit the patch: {_err(commit)}"
            return
        branches.append(branch)
    git("checkout", "-q", "-b", "cb-merged", branches[0])
    if setting != "solo":
        merge = git("merge", "--no-ff", "--no-edit", branches[1])
        if merge.returncode != 0:
            unmerged = git("diff", "--name-only", "--diff-filter=U").stdout.decode("utf-8", "replace").split()
            git("merge", "--abort")
            if unmerged:
                out.merge_status, out.conflict_files = "conflict", sorted(unmerged)
                out.feature_results = [
                    FeatureResult(feature_id=f, passed=False, status="not_run", detail="merge conflict")
                    for f in features
                ]
            else:
                out.merge_status, out.error = "error", f"git merge failed without conflicts: {_err(merge)}"
            return
        out.merge_status = "clean"
    for fid in features:
        out.feature_results.append(_run_feature(root, git, task, fid, runner, timeout_s))
    errors = [f"feature{r.feature_id}: {r.detail}" for r in out.feature_results if r.status == "error"]
    if errors:
        out.error = "; ".join(errors)


def _run_feature(
    root: Path, git: _Git, task: TaskSpec, fid: int, runner: TestRunner, timeout_s: float
) -> FeatureResult:
    wt = root / f"feature{fid}"
    add = git("worktree", "add", "-q", "--detach", str(wt), "cb-merged")
    if add.returncode != 0:
        return FeatureResult(feature_id=fid, passed=False, status="error", detail=f"worktree: {_err(add)}")
    error, _ = _apply(git, task.features[fid].tests_patch, f"tests.patch of feature {fid}", cwd=wt)
    if error:
        return FeatureResult(
            feature_id=fid,
            passed=False,
            status="error",
            detail=error.replace("at the base commit", "to the merged tree"),
        )
    assert task.run_tests is not None
    shutil.copyfile(task.run_tests, wt / RUN_TESTS_NAME)
    run = runner.run(["bash", RUN_TESTS_NAME], workdir=wt, timeout_s=timeout_s)
    passed = run.status == "ok"
    return FeatureResult(
        feature_id=fid,
        passed=passed,
        status="passed" if passed else "failed",
        detail=f"{run.status} (exit {run.exit_code}) in {run.duration_s:.1f}s",
        test_output=run.output,
        isolation=run.isolation,
    )
