"""Fixtures: a real git repository for the demo task, built from ``fixtures/repo_src``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
TASK_DIR = FIXTURES / "dataset" / "demo_task" / "task1"
RECORDS = Path(__file__).resolve().parents[2] / "data" / "cooperbench" / "runs_command_a_lite.json"


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )
    return out.stdout.decode().strip()


@pytest.fixture
def demo_repo(tmp_path: Path) -> tuple[Path, str]:
    """A git repository holding the fixture's base commit; returns (path, sha)."""
    repo = tmp_path / "demo_repo"
    shutil.copytree(FIXTURES / "repo_src", repo)
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    return repo, _git(repo, "rev-parse", "HEAD")
