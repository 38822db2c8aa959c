"""``identity``, ``mixing``, ``difference`` and ``coma`` shaping (docs/algorithms.md section 6).

- ``identity``: every turn gets the outcome G.
- ``mixing``: r_t = alpha * G + (1 - alpha) * L_t with L_t the turn's local signal (section 2),
  optionally blended with the format signal: L_t = (1 - format_weight) * local + format_weight * format.
  The verifier's local signal is class-balanced by default (``verifier_signal: balanced``,
  :func:`parley.rewards.signals.class_balanced_local`): a correct verdict earns 1 / (2 * share of its
  truth class in the batch), so a constant verdict earns chance and only checking earns more.
- ``difference`` (difference rewards, Wolpert & Tumer 2002, "Optimal payoff functions for members of
  collectives"): every turn of role i gets D_i = G(z) - G(z without i), where G(z without i) is the
  mean outcome of K counterfactual rollouts with i's turns replaced by a null contribution
  (:func:`parley.training.counterfactuals.difference_counterfactuals`).
- ``coma`` (counterfactual baseline, Foerster et al. 2018, "Counterfactual Multi-Agent Policy
  Gradients"): turn t of role i gets G(z) - b_t, with b_t the mean G over M alternative samples of that
  turn from the current policy at the same context and the rest of the debate re-rolled
  (:func:`parley.training.counterfactuals.coma_baselines`); an unbiased Monte-Carlo estimate of the
  COMA baseline instead of a learned critic.

For ``difference`` and ``coma``, ``roles`` selects the shaped roles (``None``: every role in the batch);
turns of unselected roles get G (stated in the config, never a silent fallback). A selected turn whose
input is missing raises :class:`MissingShapingInputError` naming the debate and the role / turn.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Literal, TypeVar

from pydantic import Field

from parley.debate.types import Transcript, Turn
from parley.rewards.shaping.base import MissingShapingInputError, ShapingBatch, ShapingStrategyConfig, register
from parley.rewards.signals import class_balanced_local

K = TypeVar("K", bound=Hashable)


class IdentityConfig(ShapingStrategyConfig):
    """``identity``: no parameters."""

    name: Literal["identity"] = Field(default="identity", description="Selects this strategy.")


class MixingConfig(ShapingStrategyConfig):
    """``mixing``: ``alpha`` weights the outcome G against the local signal."""

    name: Literal["mixing"] = Field(default="mixing", description="Selects this strategy.")
    alpha: float = Field(default=0.5, ge=0.0, le=1.0, description="Weight of G; 1 - alpha weights L_role.")
    format_weight: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Share of the format signal inside L_role.")
    verifier_signal: Literal["balanced", "balanced_group", "plain"] = Field(
        default="balanced", description="Verifier local signal: class-balanced over the batch (default) or the "
        "problem's group, or plain agreement with the truth (falls for the class-imbalance trap).")


class DifferenceConfig(ShapingStrategyConfig):
    """``difference``: needs ``counterfactual_outcomes[(debate_id, role)]`` for each shaped role."""

    name: Literal["difference"] = Field(default="difference", description="Selects this strategy.")
    roles: tuple[str, ...] | None = Field(
        default=None, description="Roles that get D_role; None = all. Other roles' turns get G.")


class ComaConfig(ShapingStrategyConfig):
    """``coma``: needs ``baselines[(debate_id, turn_index)]`` for each turn of a shaped role."""

    name: Literal["coma"] = Field(default="coma", description="Selects this strategy.")
    roles: tuple[str, ...] | None = Field(
        default=None, description="Roles that get G - b; None = all. Other roles' turns get G.")


@register("identity", IdentityConfig)
def identity(cfg: IdentityConfig, batch: ShapingBatch) -> list[list[float]]:
    return [[s.outcome] * s.num_turns for s in batch.signals]


@register("mixing", MixingConfig)
def mixing(cfg: MixingConfig, batch: ShapingBatch) -> list[list[float]]:
    locals_ = local_signals(batch, cfg.verifier_signal)
    out: list[list[float]] = []
    for s, local_row in zip(batch.signals, locals_, strict=True):
        row = []
        for local, fmt in zip(local_row, s.format_ok, strict=True):
            blended = (1.0 - cfg.format_weight) * local + cfg.format_weight * fmt
            row.append(cfg.alpha * s.outcome + (1.0 - cfg.alpha) * blended)
        out.append(row)
    return out


def local_signals(batch: ShapingBatch, verifier_signal: str) -> list[list[float]]:
    """Per-turn local signals of ``batch``, the verifier's class-balanced unless ``verifier_signal='plain'``."""
    if verifier_signal == "plain":
        return [list(s.local) for s in batch.signals]
    scope = "group" if verifier_signal == "balanced_group" else "batch"
    return class_balanced_local(batch.signals, batch.transcripts, scope=scope)


def _outcome_minus(batch: ShapingBatch, roles: tuple[str, ...] | None, values: Mapping[K, float],
                   key: Callable[[Transcript, Turn], K], missing: Callable[[Transcript, Turn], str]
                   ) -> list[list[float]]:
    """``G - values[key(turn)]`` for turns of ``roles`` (every role when ``None``), ``G`` for the others.

    Raises:
        MissingShapingInputError: a shaped turn's value is absent (the message is ``missing(turn)``).
    """
    out: list[list[float]] = []
    for transcript, s in zip(batch.transcripts, batch.signals, strict=True):
        row = []
        for turn in transcript.turns:
            if roles is not None and turn.role not in roles:
                row.append(s.outcome)
                continue
            k = key(transcript, turn)
            if k not in values:
                raise MissingShapingInputError(missing(transcript, turn))
            row.append(s.outcome - values[k])
        out.append(row)
    return out


@register("difference", DifferenceConfig, needs=("counterfactual_outcomes",))
def difference(cfg: DifferenceConfig, batch: ShapingBatch) -> list[list[float]]:
    return _outcome_minus(
        batch, cfg.roles, batch.counterfactual_outcomes, lambda t, turn: (t.debate_id, turn.role),
        lambda t, turn: f"difference: no counterfactual outcome G(z without role) for debate {t.debate_id!r}, "
                        f"role {turn.role!r}; run difference_counterfactuals on this debate (or restrict "
                        f"shaping.roles)")


@register("coma", ComaConfig, needs=("baselines",))
def coma(cfg: ComaConfig, batch: ShapingBatch) -> list[list[float]]:
    return _outcome_minus(
        batch, cfg.roles, batch.baselines, lambda t, turn: (t.debate_id, turn.index),
        lambda t, turn: f"coma: no counterfactual baseline b_role for debate {t.debate_id!r}, role {turn.role!r}, "
                        f"turn {turn.index}; run coma_baselines on this debate (or restrict shaping.roles)")
