"""``potential``: potential-based shaping (Ng, Harada & Russell 1999, "Policy invariance under reward
transformations"), docs/algorithms.md section 6.

The debate is an episode of T turns; state s_t is the transcript after its first t turns (s_0: none).
Base per-step reward: r_t = G on the last turn (t = T - 1) and 0 elsewhere, so the undiscounted raw
return of every turn's episode is G, as in ``identity``. Shaped: r'_t = r_t + gamma * Phi(s_{t+1}) -
Phi(s_t), with Phi one of

- ``answer_correct``: 1 if the latest answer proposed in s_t is correct (``DebateSignals.
  latest_answer_correct[t]``), else 0; Phi(s_0) = 0;
- ``length``: -length_penalty * t;
- ``callable``: a user function ``phi(transcript, signals, t)`` passed as ``ShapingBatch.potential_fn``.

Telescoping: sum_t gamma^t r'_t = sum_t gamma^t r_t + gamma^T Phi(s_T) - Phi(s_0).

``target`` selects what each turn is trained on: ``return_to_go`` (the default): R'_t = sum_{k >= t}
gamma^(k - t) r'_k (= gamma^(T-1-t) G + gamma^(T-t) Phi(s_T) - Phi(s_t)), which lets every turn see the
outcome when advantages are computed per turn, or ``step``: the per-step formula above. With
``phi: answer_correct`` a verifier turn never changes the latest proposed answer, so under ``step`` its
reward is 0 by construction and it would learn nothing; the trainer refuses that combination for a
trained verifier.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from parley.debate.types import Transcript
from parley.rewards.shaping.base import MissingShapingInputError, ShapingBatch, ShapingStrategyConfig, register
from parley.rewards.signals import DebateSignals


class PotentialConfig(ShapingStrategyConfig):
    """``potential``: discount ``gamma``, potential ``phi``, and the per-turn ``target``."""

    name: Literal["potential"] = Field(default="potential", description="Selects this strategy.")
    gamma: float = Field(default=1.0, ge=0.0, le=1.0, description="Discount gamma of the shaped step reward.")
    phi: Literal["answer_correct", "length", "callable"] = Field(
        default="answer_correct", description="The potential: `answer_correct` (1 when the latest proposed answer is "
        "correct), `length` (-length_penalty * turns so far) or `callable` (a user function, `ShapingBatch."
        "potential_fn`).")
    length_penalty: float = Field(default=0.0, ge=0.0, description="phi=length: Phi(s_t) = -penalty * t.")
    target: Literal["step", "return_to_go"] = Field(
        default="return_to_go", description="What each turn is trained on: its discounted return to go (the "
        "default: every turn sees the outcome) or the shaped step reward alone.")

    @model_validator(mode="after")
    def _length_needs_penalty(self) -> PotentialConfig:
        if self.phi == "length" and self.length_penalty <= 0.0:
            raise ValueError("length_penalty: phi=length needs length_penalty > 0 (0 would shape nothing)")
        return self


def potentials(cfg: PotentialConfig, transcript: Transcript, signals: DebateSignals,
               batch: ShapingBatch) -> list[float]:
    """Phi(s_0), ..., Phi(s_T) of one transcript."""
    steps = range(signals.num_turns + 1)
    if cfg.phi == "answer_correct":
        return [1.0 if signals.latest_answer_correct[t] else 0.0 for t in steps]
    if cfg.phi == "length":
        return [-cfg.length_penalty * t for t in steps]
    if batch.potential_fn is None:
        raise MissingShapingInputError(
            f"potential: phi=callable but ShapingBatch.potential_fn is None (debate {transcript.debate_id!r})")
    return [float(batch.potential_fn(transcript, signals, t)) for t in steps]


def base_step_rewards(signals: DebateSignals) -> list[float]:
    """r_t: G on the last turn, 0 elsewhere."""
    rewards = [0.0] * signals.num_turns
    if rewards:
        rewards[-1] = signals.outcome
    return rewards


def _potential_needs(cfg: PotentialConfig) -> tuple[str, ...]:
    return ("potential_fn",) if cfg.phi == "callable" else ()


@register("potential", PotentialConfig, needs=_potential_needs)
def potential(cfg: PotentialConfig, batch: ShapingBatch) -> list[list[float]]:
    out: list[list[float]] = []
    for transcript, s in zip(batch.transcripts, batch.signals, strict=True):
        phi = potentials(cfg, transcript, s, batch)
        step = [r + cfg.gamma * phi[t + 1] - phi[t] for t, r in enumerate(base_step_rewards(s))]
        if cfg.target == "return_to_go":
            acc = 0.0
            rtg = [0.0] * len(step)
            for t in range(len(step) - 1, -1, -1):
                acc = step[t] + cfg.gamma * acc
                rtg[t] = acc
            step = rtg
        out.append(step)
    return out
