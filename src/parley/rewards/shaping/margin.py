"""``margin`` and ``quality`` shaping (MAPoRL, Park et al. 2025; MARTI), docs/algorithms.md section 6.

Per turn t of a role: R_t is the turn's reward (``base: local``, the local signal of section 2, or
``base: outcome``, G), Q_t the mean of R over the same role's previous turns in the debate, and
R'_t = R_t + alpha * Delta_t (+ beta * G when ``beta > 0``), with

- ``margin``: Delta_t = R_t - Q_t (improvement over the role's own history);
- ``quality``: Delta_t = Q_t * R_t - (1 - Q_t) * (1 - R_t) (rewards staying right, penalises staying wrong).

With ``base: local`` the verifier's signal is class-balanced by default (``verifier_signal``, as in
``mixing``). A role's first turn has no history: Q = ``first_turn_q`` (default 0.5, an uninformative prior; for
binary R both Deltas then equal R - 0.5).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from parley.rewards.shaping.base import ShapingBatch, ShapingStrategyConfig, register


class MarginConfig(ShapingStrategyConfig):
    """``margin``: ``alpha`` weights Delta, ``beta`` adds the outcome."""

    name: Literal["margin"] = Field(default="margin", description="Selects this strategy.")
    alpha: float = Field(default=1.0, ge=0.0, description="Weight of Delta_t in R'_t = R_t + alpha * Delta_t.")
    beta: float = Field(default=0.0, ge=0.0, description="Weight of the final outcome G added to every turn.")
    first_turn_q: float = Field(default=0.5, ge=0.0, le=1.0, description="Q for a role's first turn.")
    base: Literal["local", "outcome"] = Field(
        default="local", description="R_t: the turn's local signal (`local`) or the outcome G (`outcome`).")
    verifier_signal: Literal["balanced", "balanced_group", "plain"] = Field(
        default="balanced", description="base=local: the verifier's local signal, class-balanced (default) or plain.")


class QualityConfig(MarginConfig):
    """``quality``: same fields as ``margin``."""

    name: Literal["quality"] = Field(default="quality", description="Selects this strategy.")  # type: ignore[assignment]


def _shape(cfg: MarginConfig, batch: ShapingBatch, quality: bool) -> list[list[float]]:
    from parley.rewards.shaping.strategies import local_signals

    locals_ = local_signals(batch, cfg.verifier_signal)
    out: list[list[float]] = []
    for transcript, s, local_row in zip(batch.transcripts, batch.signals, locals_, strict=True):
        history: dict[str, list[float]] = {}
        row = []
        for turn, local in zip(transcript.turns, local_row, strict=True):
            r = local if cfg.base == "local" else s.outcome
            previous = history.setdefault(turn.role, [])
            q = sum(previous) / len(previous) if previous else cfg.first_turn_q
            delta = q * r - (1.0 - q) * (1.0 - r) if quality else r - q
            row.append(r + cfg.alpha * delta + cfg.beta * s.outcome)
            previous.append(r)
        out.append(row)
    return out


@register("margin", MarginConfig)
def margin(cfg: MarginConfig, batch: ShapingBatch) -> list[list[float]]:
    return _shape(cfg, batch, quality=False)


@register("quality", QualityConfig)
def quality(cfg: QualityConfig, batch: ShapingBatch) -> list[list[float]]:
    return _shape(cfg, batch, quality=True)
