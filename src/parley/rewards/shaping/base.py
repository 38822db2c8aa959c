"""Shaping strategy registry, batch inputs, results and errors (ALGORITHMS.md section 6).

A strategy is a function ``(config, batch) -> list[list[float]]`` giving one reward per turn of each
transcript (aligned with ``transcript.turns``), registered under a name with its pydantic config model.
Inputs that need extra rollouts (counterfactual outcomes, COMA baselines) travel in
:class:`ShapingBatch`; a strategy whose input is missing raises :class:`MissingShapingInputError`
naming it and never falls back to the raw reward.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from parley.debate.types import Transcript
from parley.errors import ParleyError, UserError
from parley.rewards.signals import DebateSignals

PotentialFn = Callable[[Transcript, DebateSignals, int], float]
"""User potential: ``phi(transcript, signals, t)`` of the state after the first ``t`` turns (0..T)."""


class ShapingError(ParleyError, ValueError):
    """Base class for shaping errors."""


class UnknownShapingStrategyError(UserError, ShapingError):
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


@dataclass(frozen=True)
class _Entry:
    config_cls: type[ShapingStrategyConfig]
    fn: StrategyFn


STRATEGIES: dict[str, _Entry] = {}


def register(name: str, config_cls: type[C]) -> Callable[[Callable[[C, ShapingBatch], list[list[float]]]],
                                                       Callable[[C, ShapingBatch], list[list[float]]]]:
    """Register a strategy function under ``name`` with its config model."""

    def deco(fn: Callable[[C, ShapingBatch], list[list[float]]]) -> Callable[[C, ShapingBatch], list[list[float]]]:
        STRATEGIES[name] = _Entry(config_cls, fn)
        return fn

    return deco


def known_strategies() -> list[str]:
    return sorted(STRATEGIES)


def _entry(name: str) -> _Entry:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise UnknownShapingStrategyError(
            f"shaping.name: unknown strategy {name!r}; known: {', '.join(known_strategies())}") from None


def parse_shaping_config(data: Mapping[str, Any] | ShapingStrategyConfig) -> ShapingStrategyConfig:
    """Validate ``data`` (a mapping with ``name``) into that strategy's config model.

    Raises:
        UnknownShapingStrategyError: ``name`` is not registered (the message lists known names).
        pydantic.ValidationError: a field is invalid (the error names it).
    """
    if isinstance(data, ShapingStrategyConfig):
        _entry(data.name)
        return data
    name = data.get("name", "identity")
    return _entry(str(name)).config_cls.model_validate({**data, "name": name})


def shape(config: ShapingStrategyConfig | Mapping[str, Any], batch: ShapingBatch) -> ShapingResult:
    """Per-turn rewards of ``batch`` under the strategy ``config`` names, with diagnostics."""
    cfg = parse_shaping_config(config)
    rewards = _entry(cfg.name).fn(cfg, batch)
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
