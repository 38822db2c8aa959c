"""Turn a spec into a validated plan: arms from the sweeps, stages expanded per arm, topological order.

:func:`build_plan` checks everything that can be checked before anything runs: unknown ``needs``,
cycles (the message shows the cycle), unregistered kinds, and the config of every stage of every arm
(an invalid sweep value fails naming the arm and the field path). Per-arm stage ids are
``<stage>@<arm>``, the arm id derived from the swept values (``shaping=difference,seed=1``). A per-arm
stage needing another per-arm stage depends on the same arm; a stage that is not per arm depends on
every arm of a per-arm dependency.

Configs with a ``train`` section validate as ``parley.training.config.TrainRunConfig``; others as
:class:`parley.config.ParleyConfig`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from parley.config import ConfigError, ParleyConfig, config_hash
from parley.config.loading import validate_section
from parley.experiments.errors import SpecError
from parley.experiments.registry import get_stage_kind, load_kind_modules
from parley.experiments.spec import ExperimentSpec, OutputSpec, RetryPolicy


@dataclass(frozen=True)
class Arm:
    """One combination of sweep values: ``values`` maps config path -> value."""

    id: str
    values: dict[str, Any]


@dataclass(frozen=True)
class PlannedStage:
    """One runnable stage of the plan (a per-arm stage expanded for one arm)."""

    id: str
    base_id: str
    kind: str
    arm: Arm | None
    needs: tuple[str, ...]
    params: dict[str, Any]
    outputs: tuple[OutputSpec, ...]
    config: BaseModel
    config_data: dict[str, Any]
    config_hash: str
    dir_name: str
    retry: RetryPolicy
    timeout_s: float | None
    estimated_rollouts: int | None


@dataclass(frozen=True)
class ExperimentPlan:
    """Stages in topological order, the arms, and the spec they came from."""

    spec: ExperimentSpec
    spec_hash: str
    arms: tuple[Arm, ...]
    stages: tuple[PlannedStage, ...]
    _by_id: dict[str, PlannedStage] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id.update({s.id: s for s in self.stages})

    def stage(self, stage_id: str) -> PlannedStage:
        """The planned stage with this id (KeyError when unknown)."""
        return self._by_id[stage_id]

    def dependents(self, stage_id: str) -> list[str]:
        """Every stage that transitively needs ``stage_id``, in topological order."""
        found: set[str] = {stage_id}
        for s in self.stages:
            if any(n in found for n in s.needs):
                found.add(s.id)
        return [s.id for s in self.stages if s.id in found and s.id != stage_id]

    @property
    def total_rollouts(self) -> int | None:
        """Sum of the stages' estimates (None when no stage could estimate)."""
        known = [s.estimated_rollouts for s in self.stages if s.estimated_rollouts is not None]
        return sum(known) if known else None


def config_model_for(data: Mapping[str, Any]) -> type[BaseModel]:
    """``TrainRunConfig`` for a mapping with a ``train`` section (when importable), else ``ParleyConfig``."""
    if "train" in data:
        try:
            from parley.training.config import TrainRunConfig
        except ImportError as exc:
            raise SpecError(f"config.train: the training config cannot be imported here ({exc})") from exc
        return TrainRunConfig
    return ParleyConfig


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Write ``value`` at dotted ``path`` in ``data`` (creating sections), in place."""
    parts = path.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SpecError(f"{path}: {'.'.join(parts[: i + 1])} is a value, not a section")
        node = child
    node[parts[-1]] = json.loads(json.dumps(value))


def _key_labels(paths: list[str]) -> dict[str, str]:
    """Short label per sweep path: the last part (or the one before a trailing ``name``), else the path."""
    def short(path: str) -> str:
        parts = path.split(".")
        return parts[-2] if parts[-1] == "name" and len(parts) > 1 else parts[-1]

    labels = {p: short(p) for p in paths}
    counts = list(labels.values())
    return {p: (lab if counts.count(lab) == 1 else p) for p, lab in labels.items()}


def _value_label(value: Any) -> str:
    if isinstance(value, dict) and "name" in value and set(value) == {"name"}:
        return str(value["name"])
    if isinstance(value, str | int | float | bool) or value is None:
        return json.dumps(value) if isinstance(value, bool) or value is None else str(value)
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:6]
    prefix = f"{value['name']}#" if isinstance(value, dict) and "name" in value else "#"
    return prefix + digest


def expand_arms(sweeps: Mapping[str, list[Any]]) -> list[Arm]:
    """The cartesian product of the sweeps in spec order; one arm ``base`` when there are none."""
    if not sweeps:
        return [Arm("base", {})]
    paths = list(sweeps)
    keys = _key_labels(paths)
    labels: dict[str, list[str]] = {}
    for p in paths:
        labs = [_value_label(v) for v in sweeps[p]]
        if len(set(labs)) != len(labs):  # fall back to a content hash where short labels collide
            labs = [f"{lab}#{hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()[:6]}"
                    if labs.count(lab) > 1 else lab for lab, v in zip(labs, sweeps[p], strict=True)]
        labels[p] = labs
    arms = []
    for combo in itertools.product(*(range(len(sweeps[p])) for p in paths)):
        values = {p: sweeps[p][i] for p, i in zip(paths, combo, strict=True)}
        arm_id = ",".join(f"{keys[p]}={labels[p][i]}" for p, i in zip(paths, combo, strict=True))
        arms.append(Arm(arm_id, values))
    ids = [a.id for a in arms]
    if len(set(ids)) != len(ids):
        raise SpecError("sweeps: two arms would get the same id; give distinct values")
    return arms


def dir_name(stage_id: str) -> str:
    """A filesystem-safe directory name for a stage id (a hash suffix when characters were replaced)."""
    safe = re.sub(r"[^A-Za-z0-9_.,=@-]", "_", stage_id)
    if safe != stage_id:
        safe += "-" + hashlib.sha256(stage_id.encode()).hexdigest()[:8]
    return safe


def topological_order(spec: ExperimentSpec, source: str = "spec") -> list[int]:
    """Stage indices in dependency order (spec order among ready stages); errors name needs and cycles."""
    index = {s.id: i for i, s in enumerate(spec.stages)}
    for i, s in enumerate(spec.stages):
        for need in s.needs:
            if need not in index:
                raise SpecError(f"{source}: stages.{i}.needs: unknown stage {need!r}; "
                                f"known: {', '.join(index)}")
            if need == s.id:
                raise SpecError(f"{source}: stages.{i}.needs: stage {s.id!r} needs itself")
    done: list[int] = []
    placed: set[str] = set()
    while len(done) < len(spec.stages):
        ready = [i for i, s in enumerate(spec.stages) if s.id not in placed and all(n in placed for n in s.needs)]
        if not ready:
            raise SpecError(f"{source}: stages: dependency cycle {' -> '.join(_find_cycle(spec, placed))}")
        done.append(ready[0])
        placed.add(spec.stages[ready[0]].id)
    return done


def _find_cycle(spec: ExperimentSpec, placed: set[str]) -> list[str]:
    needs = {s.id: [n for n in s.needs if n not in placed] for s in spec.stages if s.id not in placed}
    node = next(iter(needs))
    path: list[str] = []
    while node not in path:
        path.append(node)
        node = needs[node][0]
    return [*path[path.index(node):], node]


def _validate(data: dict[str, Any], source: str) -> BaseModel:
    try:
        return validate_section(config_model_for(data), data, source)
    except ConfigError as exc:
        raise SpecError(str(exc)) from None


def build_plan(spec: ExperimentSpec, source: str = "spec", *, load_plugins: bool = True) -> ExperimentPlan:
    """Validate ``spec`` completely and expand it into an :class:`ExperimentPlan`.

    Raises:
        SpecError: unknown need, cycle, unknown kind (``stages.<i>.kind``), or an invalid config of
            some arm/stage (``arm shaping=bogus,seed=1: stage train: config: train.shaping.name: ...``).
    """
    if load_plugins:
        load_kind_modules(spec.plugins)
    order = topological_order(spec, source)
    arms = expand_arms(spec.sweeps)
    _validate(json.loads(json.dumps(spec.config)), f"{source}: config")
    per_arm = {s.id for s in spec.stages if s.per_arm}
    planned: list[PlannedStage] = []
    for i in order:
        s = spec.stages[i]
        try:
            kind = get_stage_kind(s.kind)
        except SpecError as exc:
            raise SpecError(f"{source}: stages.{i}.kind: {exc}") from None
        for arm in arms if s.per_arm else [None]:
            data: dict[str, Any] = json.loads(json.dumps(spec.config))
            for path, value in (arm.values if arm else {}).items():
                set_path(data, path, value)
            for path, value in s.overrides.items():
                set_path(data, path, value)
            where = f"{source}: arm {arm.id}: stage {s.id}: config" if arm else f"{source}: stage {s.id}: config"
            cfg = _validate(data, where)
            needs: list[str] = []
            for n in s.needs:
                if n not in per_arm:
                    needs.append(n)
                elif arm is not None:
                    needs.append(f"{n}@{arm.id}")
                else:
                    needs.extend(f"{n}@{a.id}" for a in arms)
            stage_id = f"{s.id}@{arm.id}" if arm else s.id
            estimate = kind.estimate(cfg, s.params) if kind.estimate else None
            planned.append(PlannedStage(
                id=stage_id, base_id=s.id, kind=s.kind, arm=arm, needs=tuple(needs), params=dict(s.params),
                outputs=tuple(s.outputs), config=cfg, config_data=cfg.model_dump(mode="json", by_alias=True),
                config_hash=config_hash(cfg), dir_name=dir_name(stage_id), retry=s.retry or spec.retry,
                timeout_s=s.timeout_s, estimated_rollouts=estimate))
    return ExperimentPlan(spec=spec, spec_hash=spec.content_hash(), arms=tuple(arms), stages=tuple(planned))


def estimate_train_rollouts(config: BaseModel, params: Mapping[str, Any]) -> int | None:
    """Debates a training run generates: steps x problems_per_step x group_size, plus counterfactuals.

    ``difference`` adds ``k`` re-runs per shaped role per debate, ``coma`` ``m`` per turn of a shaped
    role (turns estimated as ``protocol.max_rounds`` per role), both on ``counterfactual.fraction`` of the
    debates. Returns None for a config without a ``train`` section.
    """
    train = getattr(config, "train", None)
    if train is None:
        return None
    debates = int(params.get("steps", train.steps)) * train.problems_per_step * train.group_size
    shaping = train.shaping
    roles_of = getattr(shaping, "roles", None)
    from parley.debate import protocol_roles
    from parley.rewards.shaping import required_inputs

    roles = len(roles_of) if roles_of else len(protocol_roles(config.protocol))  # type: ignore[attr-defined]
    cf = train.counterfactual
    needs = required_inputs(shaping)
    if "counterfactual_outcomes" in needs:
        return debates + round(debates * cf.fraction * cf.k * roles)
    if "baselines" in needs:
        turns = roles * config.protocol.max_rounds  # type: ignore[attr-defined]
        return debates + round(debates * cf.fraction * cf.m * turns)
    return debates


def estimate_eval_rollouts(config: BaseModel, params: Mapping[str, Any]) -> int | None:
    """Debates an evaluation generates: problems x samples per problem.

    Problems come from ``params.limit``, else ``dataset.limit``, else ``dataset.size`` for generated
    (``reasoning_gym:``) datasets; None when the count is only known after loading.
    """
    dataset = config.dataset  # type: ignore[attr-defined]
    problems = params.get("limit") or dataset.limit
    if problems is None and dataset.name.startswith("reasoning_gym:"):
        problems = dataset.size
    if problems is None:
        return None
    samples = int(params.get("samples", config.generation.samples_per_problem))  # type: ignore[attr-defined]
    return int(problems) * samples
