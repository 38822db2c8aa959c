"""A quick-mode demo report from a small real run, built once per test session.

The demo's quick spec (:func:`parley.experiments.demo.demo_spec`) with two strategies instead of five
(identity and difference, each at the quick demo's seeds) and 24 held-out problems runs through the
real experiment runner: the warm-started tiny model (cached by recipe), real evaluations of the warm
start (svj, single, self-consistency), real RL arms, their held-out evaluations and the
``demo_report`` stage. No number in the report is synthetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from parley.experiments import ExperimentRunner, spec_from_mapping
from parley.experiments.demo import demo_spec

STRATEGIES = ("identity", "difference")
# The session fixture's run is charged to the first test that uses it (pytest-timeout counts setup):
# those tests get this limit instead of the suite's 600 s (measured: 294 s of setup on a loaded 2-core
# machine, 466 s while the whole suite ran beside other jobs).
DEMO_TIMEOUT_S = 1800
HELDOUT = 24  # held-out problems (the quick demo has 40): every evaluation stage costs less


@dataclass(frozen=True)
class DemoRun:
    """Where the stages of the quick demo wrote their outputs."""

    root: Path
    stages: dict[str, Path]  # stage id -> output directory

    @property
    def report(self) -> Path:
        return self.stages["report"]

    def stage(self, prefix: str) -> Path:
        """The output directory of a stage that is not per arm (``prepare``, ``baseline``)."""
        return self.stages[prefix]

    def arm_stages(self, prefix: str, strategy: str) -> list[Path]:
        """The output directories of a per-arm stage for ``strategy``, one per seed."""
        found = [d for sid, d in sorted(self.stages.items())
                 if sid.split("@")[0] == prefix and f"shaping={strategy}," in sid + ","]
        assert found, f"{prefix} {strategy}: {sorted(self.stages)}"
        return found


@pytest.fixture(scope="session")
def quick_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    spec = demo_spec(quick=True)
    spec["name"] = "parley-demo-report-test"
    spec["sweeps"]["train.shaping"] = [s for s in spec["sweeps"]["train.shaping"] if s["name"] in STRATEGIES]
    prepare = next(stage for stage in spec["stages"] if stage["id"] == "prepare")
    prepare["params"]["heldout_size"] = HELDOUT
    root = tmp_path_factory.mktemp("demo")
    runner = ExperimentRunner(root)
    try:
        record = runner.run(spec_from_mapping(spec, "report test"), command=["pytest"], source="report test")
        stages = {s.stage_id: Path(s.dir) for s in runner.store.stages(record.id)}
        failed = [s.stage_id for s in runner.store.stages(record.id) if s.status != "succeeded"]
    finally:
        runner.close()
    assert record.status == "succeeded", f"quick demo failed at {failed}; logs under {root}"
    return DemoRun(root, stages)
