"""LocalTracker: one record per step, fsynced appends, resume truncation, torn-line recovery."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from parley.tracking import LocalTracker, MetricsFileError, Tracker, read_metrics


def test_logs_params_and_metrics(tmp_path: Path) -> None:
    with LocalTracker(tmp_path / "run") as tracker:
        assert isinstance(tracker, Tracker)
        tracker.log_params({"lr": 1e-5, "path": tmp_path})
        tracker.log_metrics(0, {"reward/solver": 0.5})
        tracker.log_metrics(1, {"reward/solver": 0.75, "policy_loss/solver": float("nan")})
        with pytest.raises(ValueError, match="step 1 <= last logged step 1"):
            tracker.log_metrics(1, {"reward/solver": 1.0})
    records = read_metrics(tmp_path / "run")
    assert records[0] == {"step": 0, "reward/solver": 0.5}
    assert records[1]["step"] == 1 and math.isnan(records[1]["policy_loss/solver"])
    assert json.loads((tmp_path / "run" / "params.json").read_text())["lr"] == 1e-5
    # Reopening without resume continues after the last step and refuses to repeat steps.
    with LocalTracker(tmp_path / "run") as again, pytest.raises(ValueError, match="resume_step"):
        again.log_metrics(0, {"x": 1.0})


def test_resume_drops_later_steps(tmp_path: Path) -> None:
    with LocalTracker(tmp_path) as tracker:
        for step in range(5):
            tracker.log_metrics(step, {"x": float(step)})
    # The checkpoint was at step 2: records 3 and 4 are redone by the resumed run.
    with LocalTracker(tmp_path, resume_step=2) as tracker:
        tracker.log_metrics(3, {"x": 30.0})
    assert [(r["step"], r["x"]) for r in read_metrics(tmp_path)] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 30.0)]


def test_torn_last_line_is_dropped(tmp_path: Path) -> None:
    with LocalTracker(tmp_path) as tracker:
        tracker.log_metrics(0, {"x": 1.0})
    with open(tmp_path / "metrics.jsonl", "ab") as f:
        f.write(b'{"step": 1, "x"')  # a crash mid-write
    assert [r["step"] for r in read_metrics(tmp_path)] == [0]
    with LocalTracker(tmp_path) as tracker:
        tracker.log_metrics(1, {"x": 2.0})
    assert [r["step"] for r in read_metrics(tmp_path)] == [0, 1]


def test_corrupt_middle_line_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 0}\nnot json\n{"step": 1}\n')
    with pytest.raises(MetricsFileError, match=r"metrics\.jsonl:2"):
        read_metrics(tmp_path)
    assert read_metrics(tmp_path / "missing") == []
