"""The CooperBench dataset layout, for patch evaluation (arXiv 2601.13295, Sec. 3.1).

``<dataset>/<repo>_task/task<id>/`` holds ``setup.sh`` (prepares the repository at its base commit),
``run_tests.sh`` (runs the tests in the current directory), ``runner.sh`` (the Docker entry point of
upstream images) and ``feature<N>/{feature.md, feature.patch, tests.patch}``.

parley evaluates locally, so it needs a git repository holding the base commit: ``<task>/repo`` when
present, or one passed by the caller. The base commit is read from ``<task>/base_commit`` or from the
first ``git checkout <sha>`` / ``git reset --hard <sha>`` in ``setup.sh`` (which is read, not run: it
clones from the network).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from parley.cooperbench.errors import CooperBenchInputError


@dataclass
class FeatureSpec:
    """One feature: its description, gold patch and test patch (texts; empty when missing)."""

    feature_id: int
    description: str
    gold_patch: str
    tests_patch: str


@dataclass
class TaskSpec:
    """One task of the dataset layout, with what evaluation needs."""

    repo: str
    task_id: int
    path: Path
    features: dict[int, FeatureSpec] = field(default_factory=dict)
    run_tests: Path | None = None
    setup: Path | None = None
    runner: Path | None = None
    repo_path: Path | None = None
    base_commit: str | None = None


_SHA_IN_SETUP = re.compile(r"git\s+(?:checkout(?:\s+-q)?|reset\s+--hard)\s+([0-9a-f]{7,40})\b")


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def load_task(task_dir: str | Path, *, repo_path: Path | None = None, base_commit: str | None = None) -> TaskSpec:
    """Read ``task_dir``; ``repo_path``/``base_commit`` override what the layout provides."""
    task_dir = Path(task_dir)
    if not task_dir.is_dir():
        raise CooperBenchInputError(f"{task_dir}: task directory not found")
    match = re.fullmatch(r"task(\d+)", task_dir.name)
    if match is None:
        raise CooperBenchInputError(f"{task_dir}: expected a directory named task<id>")
    spec = TaskSpec(repo=task_dir.parent.name, task_id=int(match.group(1)), path=task_dir)
    for name, attr in (("run_tests.sh", "run_tests"), ("setup.sh", "setup"), ("runner.sh", "runner")):
        if (task_dir / name).is_file():
            setattr(spec, attr, task_dir / name)
    for fdir in sorted(task_dir.glob("feature*")):
        fm = re.fullmatch(r"feature(\d+)", fdir.name)
        if fm and fdir.is_dir():
            fid = int(fm.group(1))
            spec.features[fid] = FeatureSpec(
                feature_id=fid,
                description=_read(fdir / "feature.md"),
                gold_patch=_read(fdir / "feature.patch"),
                tests_patch=_read(fdir / "tests.patch"),
            )
    spec.repo_path = repo_path or (task_dir / "repo" if (task_dir / "repo").exists() else None)
    spec.base_commit = base_commit or _read(task_dir / "base_commit").strip() or None
    if spec.base_commit is None and spec.setup is not None:
        sha = _SHA_IN_SETUP.search(_read(spec.setup))
        spec.base_commit = sha.group(1) if sha else None
    return spec


def find_task(dataset: str | Path, repo: str, task_id: int) -> Path:
    """``<dataset>/<repo>/task<id>`` (``repo`` as in run logs, e.g. ``pallets_jinja_task``)."""
    path = Path(dataset) / repo / f"task{task_id}"
    if not path.is_dir():
        raise CooperBenchInputError(f"{path}: task not found in the dataset")
    return path
