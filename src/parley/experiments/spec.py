"""The experiment spec: a YAML file naming a base config, stages, their outputs and the sweeps.

```yaml
name: shaping-sweep
labels: [paper-fig-2]
plugins: [my_project.stage_kinds]      # modules (or .py files) that register stage kinds
config: {model: {name: tiny}, train: {steps: 10}}   # a parley config mapping
sweeps:                                  # config path -> values; the cartesian product makes the arms
  train.shaping: [{name: identity}, {name: difference}]
  train.seed: [0, 1]
stages:
  - {id: prepare, kind: prepare, outputs: [problems.jsonl]}
  - id: train
    kind: train
    per_arm: true                        # one stage per arm, e.g. train@shaping=difference,seed=1
    needs: [prepare]
    outputs: [{path: final, type: dir}]
  - {id: compare, kind: compare, needs: [train], outputs: [{path: compare.json, format: json}]}
```

Every model forbids unknown fields; :func:`load_spec` raises :class:`SpecError` naming the spec file
and the field path (``stages.2.needs``). Cross-stage rules (unknown needs, cycles, registered kinds,
every arm's config) are checked by :func:`parley.experiments.plan.build_plan` before anything runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from parley.config.loading import format_validation_error
from parley.config.models import StrictModel
from parley.executors.config import ExecutorSpec, ResourceSpec
from parley.experiments.errors import SpecError

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class RetryPolicy(StrictModel):
    """How often a stage is tried, and how long to wait between transient failures.

    The wait before attempt ``n+1`` is ``min(backoff_max_s, backoff_base_s * 2**(n-1))``, of which a
    random ``jitter`` fraction is drawn uniformly (so retries of parallel arms do not fire in step).
    """

    max_attempts: int = Field(default=3, ge=1, le=20)
    backoff_base_s: float = Field(default=2.0, ge=0)
    backoff_max_s: float = Field(default=120.0, ge=0)
    jitter: float = Field(default=0.5, ge=0, le=1)


class OutputSpec(StrictModel):
    """One declared output, relative to the stage's output directory, and the checks it must pass.

    ``type: dir`` outputs (a checkpoint) are checksummed over their files' relative paths and contents.
    ``format: json`` must parse (and hold ``required_keys`` at the top level); ``format: jsonl`` must
    have at least ``min_records`` lines, each valid JSON.
    """

    path: str
    type: Literal["file", "dir"] = "file"
    non_empty: bool = True
    format: Literal["any", "json", "jsonl"] = "any"
    required_keys: list[str] = Field(default_factory=list)
    min_records: int = Field(default=0, ge=0)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        pure = PurePosixPath(value)
        if not value or pure.is_absolute() or ".." in pure.parts:
            raise ValueError(f"output path {value!r} must be relative to the stage directory, without '..'")
        return str(pure)

    @model_validator(mode="after")
    def _formats(self) -> OutputSpec:
        if self.type == "dir" and self.format != "any":
            raise ValueError(f"output {self.path!r}: format {self.format!r} applies to files, not type: dir")
        return self


class StageSpec(StrictModel):
    """One stage: a registered ``kind`` run with ``params`` after the stages it ``needs``.

    ``per_arm: true`` expands the stage into one stage per sweep arm. ``overrides`` (config path ->
    value) change this stage's config only (e.g. more samples for evaluation).
    """

    id: str = Field(pattern=_ID_PATTERN)
    kind: str = Field(min_length=1)
    needs: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    outputs: list[OutputSpec] = Field(min_length=1)
    per_arm: bool = False
    overrides: dict[str, Any] = Field(default_factory=dict)
    retry: RetryPolicy | None = None
    timeout_s: float | None = Field(default=None, gt=0)
    resources: ResourceSpec | None = None

    @field_validator("outputs", mode="before")
    @classmethod
    def _plain_paths(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"path": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _unique_outputs(self) -> StageSpec:
        paths = [o.path for o in self.outputs]
        dupes = sorted({p for p in paths if paths.count(p) > 1})
        if dupes:
            raise ValueError(f"outputs: duplicate paths {dupes}")
        return self


class ExperimentSpec(StrictModel):
    """A whole experiment. ``labels`` group experiments (``parley experiment cancel --label``).

    ``executor`` (where stages run) and ``max_parallel`` (stages at once; None: what the executor can
    hold, see :meth:`parley.executors.Executor.capacity`) say how the experiment runs, not what it
    computes, so they are left out of :meth:`content_hash`.
    """

    name: str = Field(pattern=_ID_PATTERN)
    description: str = ""
    labels: list[str] = Field(default_factory=list)
    plugins: list[str] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)
    sweeps: dict[str, list[Any]] = Field(default_factory=dict)
    stages: list[StageSpec] = Field(min_length=1)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    max_parallel: int | None = Field(default=None, ge=1, le=256)
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)
    fingerprint_datasets: bool = True

    @field_validator("sweeps")
    @classmethod
    def _non_empty_sweeps(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path, values in value.items():
            if not path or any(not part for part in path.split(".")):
                raise ValueError(f"{path!r}: a sweep key is a dotted config path like train.seed")
            if not values:
                raise ValueError(f"{path}: a sweep needs at least one value")
        return value

    @model_validator(mode="after")
    def _check_stages(self) -> ExperimentSpec:
        ids = [s.id for s in self.stages]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"stages: duplicate stage ids {dupes}")
        if self.sweeps and not any(s.per_arm for s in self.stages):
            raise ValueError("sweeps: given, but no stage has per_arm: true, so no arm would run")
        return self

    def content_hash(self) -> str:
        """sha256 of everything that determines results (labels, description, executor and
        max_parallel left out; a stage's ``resources`` count only when given, since they set its threads)."""
        data = self.model_dump(mode="json", exclude={"labels", "description", "executor", "max_parallel"})
        for stage in data["stages"]:
            if stage.get("resources") is None:
                stage.pop("resources", None)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def spec_from_mapping(data: Any, source: str = "spec") -> ExperimentSpec:
    """Validate a spec mapping, raising :class:`SpecError` (one line per problem, naming field paths)."""
    if not isinstance(data, dict):
        raise SpecError(f"{source}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, ExperimentSpec, source)) from None


def load_spec(path: str | Path, labels: list[str] | None = None) -> ExperimentSpec:
    """Read and validate a spec file; ``labels`` are appended to the spec's own.

    Plugin entries ending in ``.py`` are resolved relative to the spec file's directory.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    spec = spec_from_mapping(data, str(path))
    plugins = [str((path.parent / p).resolve()) if p.endswith(".py") else p for p in spec.plugins]
    extra = [label for label in labels or [] if label not in spec.labels]
    return spec.model_copy(update={"plugins": plugins, "labels": [*spec.labels, *extra]})
