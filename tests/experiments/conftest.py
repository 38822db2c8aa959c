"""Fixtures: a tiny local dataset and a spec builder using the test stage kinds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.experiments.kinds_for_tests  # noqa: F401 - registers the test kinds

REPO = Path(__file__).resolve().parents[2]
FAST_RETRY = {"max_attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.05, "jitter": 0.5}


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    path = tmp_path / "problems.jsonl"
    rows = [{"id": f"p{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i)} for i in range(6)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_spec(problems: Path, stages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A spec mapping over ``problems`` that loads the test kinds as a plugin."""
    return {
        "name": extra.pop("name", "unit"),
        "plugins": ["tests.experiments.kinds_for_tests"],
        "config": {"dataset": {"name": str(problems)}, "generation": {"seed": 0}},
        "retry": FAST_RETRY,
        "stages": stages,
        **extra,
    }


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture(autouse=True)
def _repo_on_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stage processes import ``tests.experiments.kinds_for_tests`` by module name."""
    import os

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
