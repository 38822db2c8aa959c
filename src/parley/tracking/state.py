"""``<run_dir>/tracking.json``: which backend run a parley run logs to (kept across resumes)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "tracking.json"


def read_state(run_dir: Path) -> dict[str, Any]:
    """The backends' records (``{"mlflow": {"run_id": ...}, "wandb": {...}}``), ``{}`` when none."""
    path = run_dir / STATE_FILE
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def write_state(run_dir: Path, backend: str, value: dict[str, Any]) -> None:
    """Replace ``backend``'s record atomically."""
    state = read_state(run_dir)
    state[backend] = value
    tmp = run_dir / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, run_dir / STATE_FILE)
