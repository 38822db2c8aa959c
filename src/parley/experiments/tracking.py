"""An experiment in the trackers: its arms grouped, its report and manifest logged at the end.

- :func:`tracking_env` is merged into every stage process's environment: the experiment id as the
  tracking group (W&B group, MLflow parent run), the experiment directory as the home of the default
  MLflow store, and the stage id as the run-name prefix (see :mod:`parley.tracking.fanout`).
- :func:`log_experiment` runs when the runner finishes: when the spec's config enables W&B or MLflow,
  it logs the spec as params and the manifest plus the report stages' files (report, headline, findings)
  as artifacts of the group (the MLflow parent run; a W&B run of job type ``experiment`` in the group).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from parley.config.models import TrackingConfig
from parley.experiments.plan import ExperimentPlan
from parley.experiments.state import ExperimentStore

logger = logging.getLogger(__name__)

REPORT_FILES = ("report.html", "report.md", "headline.json", "findings.json", "findings.md")


def tracking_env(experiment_id: str, experiment_dir: Path, stage_id: str) -> dict[str, str]:
    from parley.tracking.fanout import DIR_ENV, GROUP_ENV, STAGE_ENV

    return {GROUP_ENV: experiment_id, DIR_ENV: str(Path(experiment_dir).resolve()), STAGE_ENV: stage_id}


def log_experiment(plan: ExperimentPlan, experiment_id: str, experiment_dir: Path, store: ExperimentStore) -> None:
    """Log the finished experiment to its group (no-op with only the local sink configured)."""
    cfg = TrackingConfig.model_validate(plan.spec.config.get("tracking", {}))
    if set(cfg.backends) <= {"local"}:
        return
    from parley.tracking import TrackingError, create_tracker
    from parley.tracking.fanout import DIR_ENV

    os.environ.setdefault(DIR_ENV, str(Path(experiment_dir).resolve()))
    holder = type("Config", (), {"tracking": cfg})()
    try:
        with create_tracker(holder, Path(experiment_dir) / "tracking", run_name=experiment_id, group=experiment_id,
                            resume_step=-1, job_type="experiment") as tracker:
            tracker.log_params({"experiment_id": experiment_id, "spec": plan.spec.model_dump(mode="json")})
            tracker.log_artifact(Path(experiment_dir) / "manifest.json")
            for rec in store.stages(experiment_id):
                for name in REPORT_FILES:
                    path = Path(rec.dir) / name
                    if rec.status == "succeeded" and path.is_file():
                        tracker.log_artifact(path, name=f"{rec.stage_id}/{name}" if "/" not in name else name)
    except TrackingError as exc:  # the experiment's own results are complete; say what was not logged
        logger.error("experiment %s: not logged to the trackers: %s", experiment_id, exc)
