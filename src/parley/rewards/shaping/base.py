"""Shaping strategy registry, batch inputs, results and errors (docs/algorithms.md section 6).

A strategy is a function ``(config, batch) -> list[list[float]]`` giving one reward per turn of each
transcript (aligned with ``transcript.turns``), registered under a name with its pydantic config model
and the extra inputs it needs (:data:`INPUTS`: counterfactual outcomes, COMA baselines, a potential
function). Those inputs travel in :class:`ShapingBatch`; callers ask :func:`required_inputs` which
ones to compute. A strategy whose input is missing raises :class:`MissingShapingInputError` naming it
and never falls back to the raw reward.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from parley.debate.types import Transcript
from parley.registry import Entry, Registry
from parley.rewards.signals import DebateSignals

PotentialFn = Callable[[Transcript, DebateSignals, int], float]
"""User potential: ``phi(transcript, signals, t)`` of the state after the first ``t`` turns (0..T)."""


class ShapingError(ValueError):
    """Base class for shaping errors."""


class UnknownShapingStrategyError(ShapingError):
    """A strategy name that is not registered."""


class MissingShapingInputError(ShapingError):
    """A strategy's required input (counterfactual outcome, baseline, potential) is missing."""


class ShapingStrategyConfig(BaseModel):
    """Base of every strategy's config: ``name`` selects the strategy; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)

    name: str


@dataclass(frozen=True)
class ShapingBatch:
    """What a strategy maps to per-turn rewards.

    Attributes:
        transcripts: the debates.
        signals: their :class:`DebateSignals`, in the same order.
        counterfactual_outcomes: ``(debate_id, role) -> G(z without role)`` for ``difference``.
        baselines: ``(debate_id, turn_index) -> b`` (mean G over alternative samples of that turn)
            for ``coma``.
        potential_fn: the user potential for ``potential`` with ``phi: callable``.
    """

    transcripts: Sequence[Transcript]
    signals: Sequence[DebateSignals]
    counterfactual_outcomes: Mapping[tuple[str, str], float] = field(default_factory=dict)
    baselines: Mapping[tuple[str, int], float] = field(default_factory=dict)
    potential_fn: PotentialFn | None = None

    def __post_init__(self) -> None:
        if len(self.transcripts) != len(self.signals):
            raise ShapingError(
                f"{len(self.transcripts)} transcripts but {len(self.signals)} signals; pass one each")
        for transcript, signals in zip(self.transcripts, self.signals, strict=True):
            if transcript.debate_id != signals.debate_id or len(transcript.turns) != signals.num_turns:
                raise ShapingError(
                    f"signals for {signals.debate_id!r} ({signals.num_turns} turns) do not match transcript "
                    f"{transcript.debate_id!r} ({len(transcript.turns)} turns)")


@dataclass(frozen=True)
class ShapingResult:
    """Per-turn rewards and diagnostics of one strategy on one batch.

    ``diagnostics``: ``turns`` (count), ``changed_turns`` (turns whose reward differs from identity's
    G by more than 1e-9), ``changed_fraction``, ``mean_reward``, ``mean_abs_delta`` (mean |r - G|).
    """

    strategy: str
    rewards: list[list[float]]
    diagnostics: dict[str, float]


StrategyFn = Callable[[Any, ShapingBatch], list[list[float]]]
C = TypeVar("C", bound=ShapingStrategyConfig)

INPUTS = ("counterfactual_outcomes", "baselines", "potential_fn")
"""The extra inputs a strategy can declare (the :class:`ShapingBatch` fields beyond the debates):
``counterfactual_outcomes`` (G without a role: ``difference``), ``baselines`` (per-turn counterfactual
baselines: ``coma``) and ``potential_fn`` (a user potential: ``potential`` with ``phi: callable``)."""

NeedsFn = Callable[[Any], "frozenset[str]"]

STRATEGIES: Registry[StrategyFn] = Registry(
    "shaping strategy", field="train.shaping.name", error=UnknownShapingStrategyError,
    hint="register one with @parley.rewards.shaping.register(name, ConfigModel)")
"""Strategies by name; metadata ``config_cls`` (its pydantic config model) and ``needs``."""


def register(name: str, config_cls: type[C], *, needs: Iterable[str] | Callable[[C], Iterable[str]] = ()
             ) -> Callable[[Callable[[C, ShapingBatch], list[list[float]]]],
                           Callable[[C, ShapingBatch], list[list[float]]]]:
    """Register a strategy function under ``name`` with its config model and the inputs it needs.

    Args:
        name: the strategy's name (``train.shaping.name``); ``config_cls.name`` should default to it.
        config_cls: its config model (a :class:`ShapingStrategyConfig` subclass).
        needs: the :data:`INPUTS` it reads from the batch, or a function of its config giving them
            (``potential`` needs ``potential_fn`` only with ``phi: callable``).

    Raises:
        ShapingError: ``needs`` names an input that is not one of :data:`INPUTS`.
        parley.registry.DuplicateNameError: ``name`` is taken by another strategy.
    """
    if callable(needs):
        fn = needs

        def needs_fn(cfg: Any) -> frozenset[str]:
            return _check_inputs(name, fn(cfg))
    else:
        fixed = _check_inputs(name, needs)

        def needs_fn(cfg: Any) -> frozenset[str]:
            return fixed

    def deco(fn: Callable[[C, ShapingBatch], list[list[float]]]) -> Callable[[C, ShapingBatch], list[list[float]]]:
        STRATEGIES.add(name, fn, config_cls=config_cls, needs=needs_fn)
        return fn

    return deco


def _check_inputs(name: str, needs: Iterable[str]) -> frozenset[str]:
    inputs = frozenset(needs)
    unknown = sorted(inputs - set(INPUTS))
    if unknown:
        raise ShapingError(f"shaping strategy {name!r} needs {unknown}: not shaping inputs; known: {', '.join(INPUTS)}")
    return inputs


def known_strategies() -> list[str]:
    return STRATEGIES.names()


def _entry(name: str) -> Entry[StrategyFn]:
    return STRATEGIES.entry(name)


def required_inputs(config: ShapingStrategyConfig | Mapping[str, Any]) -> frozenset[str]:
    """The :data:`INPUTS` the strategy ``config`` selects needs for a batch (empty: the debates suffice).

    The trainer asks this instead of knowing strategy names: ``counterfactual_outcomes`` means run
    difference counterfactuals, ``baselines`` COMA baselines, ``potential_fn`` supply a potential.
    """
    cfg = parse_shaping_config(config)
    needs: NeedsFn = _entry(cfg.name).meta("needs")
    return needs(cfg)


def parse_shaping_config(data: Mapping[str, Any] | ShapingStrategyConfig) -> ShapingStrategyConfig:
    """Validate ``data`` (a mapping with ``name``) into that strategy's config model.

    Raises:
        UnknownShapingStrategyError: ``name`` is not registered (the message lists known names).
        pydantic.ValidationError: a field is invalid (the error names it).
    """
    if isinstance(data, ShapingStrategyConfig):
        _entry(data.name)
        return data
    if not isinstance(data, Mapping):
        raise ShapingError(f"train.shaping: expected a mapping with a 'name', got {type(data).__name__}")
    name = data.get("name", "identity")
    config_cls: type[ShapingStrategyConfig] = _entry(str(name)).meta("config_cls")
    return config_cls.model_validate({**data, "name": name})


def validate_shaping_field(data: Any) -> ShapingStrategyConfig:
    """:func:`parse_shaping_config` for a pydantic field: errors carry their location inside the field.

    An unknown ``name`` is reported at ``<field>.name`` with the known names; an unknown key at
    ``<field>.<key>`` with the fields that strategy accepts (its own model's, not the base's).
    """
    if isinstance(data, Mapping):
        name = str(data.get("name", "identity"))
        if name not in STRATEGIES:
            raise _field_error(("name",), str(STRATEGIES.unknown(name)), name)
        config_cls: type[ShapingStrategyConfig] = _entry(name).meta("config_cls")
        extra = [k for k in data if k not in config_cls.model_fields]
        if extra:
            allowed = ", ".join(sorted(config_cls.model_fields))
            raise _field_error((str(extra[0]),), f"unknown field of shaping strategy {name!r}; allowed fields here: "
                               f"{allowed}", data[extra[0]])
    return parse_shaping_config(data)


def _field_error(loc: tuple[str, ...], message: str, value: Any) -> ValidationError:
    return ValidationError.from_exception_data("ShapingConfig", [
        {"type": PydanticCustomError("shaping_config", "{message}", {"message": message}), "loc": loc, "input": value}])


def shape(config: ShapingStrategyConfig | Mapping[str, Any], batch: ShapingBatch) -> ShapingResult:
    """Per-turn rewards of ``batch`` under the strategy ``config`` names, with diagnostics."""
    cfg = parse_shaping_config(config)
    rewards = _entry(cfg.name).obj(cfg, batch)
    turns = changed = 0
    total = abs_delta = 0.0
    for transcript, signals, row in zip(batch.transcripts, batch.signals, rewards, strict=True):
        if len(row) != len(transcript.turns):
            raise ShapingError(f"strategy {cfg.name!r} returned {len(row)} rewards for "
                               f"{len(transcript.turns)} turns of {transcript.debate_id!r}")
        for r in row:
            turns += 1
            total += r
            delta = abs(r - signals.outcome)
            abs_delta += delta
            changed += delta > 1e-9
    diagnostics = {
        "turns": float(turns),
        "changed_turns": float(changed),
        "changed_fraction": changed / turns if turns else 0.0,
        "mean_reward": total / turns if turns else 0.0,
        "mean_abs_delta": abs_delta / turns if turns else 0.0,
    }
    return ShapingResult(cfg.name, rewards, diagnostics)
