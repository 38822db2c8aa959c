"""The demo's live table: a true clock, one row per arm, and 80 columns at most."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from parley.cli.demo_view import clock, demo_table
from parley.experiments.state import StageRecord


def _stage(stage_id: str, kind: str, status: str, arm: str | None = None, progress: str | None = None) -> StageRecord:
    return StageRecord(experiment_id="e", stage_id=stage_id, position=0, base_id=stage_id.split("@")[0], arm_id=arm,
                       kind=kind, needs=(), kind_module=None, kind_file=None, dir=Path("."), status=status,
                       error=None, attempts=1, completions=0, progress=progress,
                       progress_fraction=0.5 if progress else None, updated_at=0.0)


def test_clock_truncates_minutes() -> None:
    assert clock(770.0) == "12:50"  # 12.83 min: rounding the minutes would print 13:50
    assert clock(59.9) == "0:59"
    assert clock(3600) == "60:00"


def test_table_has_one_row_per_arm_and_fits_80_columns() -> None:
    stages = [_stage("prepare", "tiny_prepare", "succeeded"), _stage("baseline", "baseline", "succeeded")]
    for name in ("identity", "difference", "coma#1a2b3c", "potential#445566", "mixing#778899"):
        for seed in (0, 1):
            arm = f"shaping={name},seed={seed}"
            stages.append(_stage(f"train@{arm}", "train", "running", arm, "step 13/24 reward 0.500 loss 0.1"))
            stages.append(_stage(f"evaluate@{arm}", "evaluate", "pending", arm))
    stages.append(_stage("report", "demo_report", "pending"))
    console = Console(width=80, record=True)
    console.print(demo_table(stages, 770.0))
    lines = console.export_text().splitlines()
    assert "12:50 elapsed" in lines[0]
    assert max(len(line) for line in lines) <= 80
    assert sum("step 13/24 r=0.500" in line for line in lines) == 10
    assert any(line.startswith("coma s1") for line in lines)
