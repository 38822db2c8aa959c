"""``run_experiment``: the Python call behind ``parley experiment run SPEC``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from parley.experiments.runner import ExperimentRunner
from parley.experiments.spec import ExperimentSpec, load_spec
from parley.experiments.state import ExperimentRecord


def run_experiment(spec: str | Path | ExperimentSpec, *, root: str | Path = "experiments",
                   labels: Sequence[str] = (), experiment_id: str | None = None) -> ExperimentRecord:
    """Run an experiment to its end (rerunning the same spec resumes it: the id is deterministic).

    Args:
        spec: a spec YAML path, or an already loaded :class:`ExperimentSpec`.
        root: directory holding the experiments database and one directory per experiment.
        labels: extra labels recorded on the experiment.
        experiment_id: the id (default: the spec's name plus its hash).

    Returns:
        The final record; ``record.status`` is ``"succeeded"`` only when every stage succeeded.

    Raises:
        SpecError: the spec or one of its arms' configs is invalid (nothing runs).
        ExperimentError: the experiment exists with another spec, or could not be run.
    """
    if isinstance(spec, ExperimentSpec):
        loaded, source = (spec.model_copy(update={"labels": [*spec.labels, *labels]}) if labels else spec), "spec"
    else:
        loaded, source = load_spec(spec, list(labels)), str(spec)
    runner = ExperimentRunner(root)
    try:
        return runner.run(loaded, experiment_id, list(sys.argv), source=source)
    finally:
        runner.close()
