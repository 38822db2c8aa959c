"""Multi-stage experiments: a YAML spec, sweeps into arms, a DAG runner with SQLite state, a manifest.

Public API::

    spec = load_spec("experiment.yaml")             # ExperimentSpec, errors name the field path
    plan = build_plan(spec)                          # every arm's config validated; topological order
    runner = ExperimentRunner("experiments/")        # state in experiments/experiments.db
    record = runner.run(spec)                        # or runner.resume(experiment_id)
    cancel(runner.store, record.id, stage="train", cascade=True)

Stage kinds are functions registered with :func:`register_stage_kind`; see ``docs/experiments.md``.
"""

from parley.experiments.control import CancelResult, cancel, cancel_label
from parley.experiments.errors import (
    ExperimentError,
    OutputCheckError,
    SpecError,
    StageConfigError,
    StageDataError,
    StageStopped,
    TransientStageError,
    is_transient,
)
from parley.experiments.manifest import Mismatch, build_manifest, compare_environment, read_manifest
from parley.experiments.outputs import Artifact, check_outputs, checksum
from parley.experiments.plan import (
    Arm,
    ExperimentPlan,
    PlannedStage,
    build_plan,
    estimate_eval_rollouts,
    estimate_train_rollouts,
    expand_arms,
)
from parley.experiments.registry import (
    StageContext,
    StageInput,
    get_stage_kind,
    known_stage_kinds,
    register_stage_kind,
)
from parley.experiments.reproduce import ReproduceResult, reproduce
from parley.experiments.runner import DB_NAME, ExperimentRunner, experiment_id_for
from parley.experiments.spec import ExperimentSpec, OutputSpec, RetryPolicy, StageSpec, load_spec, spec_from_mapping
from parley.experiments.state import ExperimentRecord, ExperimentStore, StageRecord, wait_for_change

__all__ = [
    "DB_NAME",
    "Arm",
    "Artifact",
    "CancelResult",
    "ExperimentError",
    "ExperimentPlan",
    "ExperimentRecord",
    "ExperimentRunner",
    "ExperimentSpec",
    "ExperimentStore",
    "Mismatch",
    "OutputCheckError",
    "OutputSpec",
    "PlannedStage",
    "ReproduceResult",
    "RetryPolicy",
    "SpecError",
    "StageConfigError",
    "StageContext",
    "StageDataError",
    "StageInput",
    "StageRecord",
    "StageSpec",
    "StageStopped",
    "TransientStageError",
    "build_manifest",
    "build_plan",
    "cancel",
    "cancel_label",
    "check_outputs",
    "checksum",
    "compare_environment",
    "estimate_eval_rollouts",
    "estimate_train_rollouts",
    "expand_arms",
    "experiment_id_for",
    "get_stage_kind",
    "is_transient",
    "known_stage_kinds",
    "load_spec",
    "read_manifest",
    "register_stage_kind",
    "reproduce",
    "spec_from_mapping",
    "wait_for_change",
]
