"""One training step on a batch of debates: shape -> samples -> advantages -> optimise -> metrics.

:func:`train_step` is the same for online and offline training (docs/algorithms.md sections 3-6):

1. the kept debates' rewards are shaped per turn by the configured strategy
   (:func:`parley.rewards.shaping.shape`, with the batch's counterfactual inputs);
2. one :class:`~parley.training.samples.TrainingSample` per turn of a trainable role (exact context ids,
   sampled ids and sampling log-probs; other roles' text is context only);
3. advantages with agent- and turn-wise groups (AT-GRPO: same problem, role and turn position);
4. ``epochs`` of token-level PPO-clip on this process's shard of the samples
   (:func:`parley.training.optimise.optimise`; gradients all-reduced in a data-parallel group);
5. metrics named in docs/metrics.md, and each debate annotated for the rollout log with what training
   made of every turn (``metadata["training"]``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from parley.debate.types import Transcript
from parley.rewards.shaping import ShapingBatch, ShapingResult, shape
from parley.rewards.signals import DebateSignals
from parley.tracking.dynamics import debate_dynamics_metrics
from parley.training.advantages import AdvantageConfig, AdvantageResult, compute_advantages, with_advantages
from parley.training.config import TrainConfig
from parley.training.distributed import Group
from parley.training.optimise import optimise
from parley.training.policies import PolicySet
from parley.training.samples import TrainingSample, samples_from_transcripts
from parley.training.sources import StepBatch


@dataclass
class StepResult:
    """A step's metrics and the debates annotated for the rollout log (all of them, kept or not)."""

    metrics: dict[str, float]
    annotated: list[Transcript]


def train_step(batch: StepBatch, policies: PolicySet, cfg: TrainConfig, group: Group, pad_id: int) -> StepResult:
    """Train on ``batch`` (see the module docstring); every process of ``group`` calls this together."""
    transcripts, signals, outcomes = batch.kept_view()
    shaped = shape(cfg.shaping, ShapingBatch(transcripts, signals, baselines=batch.baselines,
                                             counterfactual_outcomes=batch.counterfactual_outcomes))
    metrics: dict[str, float] = dict(batch.metrics)
    metrics |= {f"shaping/{k}": float(v) for k, v in shaped.diagnostics.items()}
    samples = samples_from_transcripts(transcripts, shaped.rewards, None, outcomes=outcomes)
    trainable = policies.trainable_roles()
    samples = [s for s in samples if s.role in trainable]
    adv = compute_advantages(samples, AdvantageConfig(estimator=cfg.estimator, scale=cfg.scale,
                                                      group_size=cfg.group_size))
    samples = with_advantages(samples, adv)
    t0 = time.perf_counter()
    # On the policies' compute thread, where their samplers' forwards run too (one OpenMP team)
    metrics |= policies.run(optimise, policies, group.shard(samples), cfg, pad_id, dp=group)
    metrics["time/optimisation_s"] = time.perf_counter() - t0
    metrics["perf/trainer_tokens_per_s"] = sum(len(s.completion_ids) + len(s.context_ids) for s in samples
                                               ) / max(metrics["time/optimisation_s"], 1e-9)
    metrics |= step_metrics(samples, adv)
    metrics["reward/mean"] = _mean(outcomes)
    metrics["rollouts/kept_fraction"] = len(transcripts) / max(len(batch.transcripts), 1)
    metrics |= debate_dynamics_metrics(transcripts, signals)
    return StepResult(metrics, annotate(batch, transcripts, signals, shaped, samples))


def annotate(batch: StepBatch, kept: Sequence[Transcript], signals: Sequence[DebateSignals], shaped: ShapingResult,
             samples: Sequence[TrainingSample]) -> list[Transcript]:
    """Copies of every debate of ``batch`` with ``metadata["training"]`` filled (docs/training.md)."""
    rewards = {t.debate_id: row for t, row in zip(kept, shaped.rewards, strict=True)}
    advantage = {(s.debate_id, s.turn_index): s.advantage for s in samples}
    out = []
    for t, sig, outcome, keep in zip(batch.transcripts, batch.signals, batch.outcomes, batch.kept, strict=True):
        row = rewards.get(t.debate_id)
        turns = []
        for turn, local in zip(t.turns, sig.local, strict=True):
            a = advantage.get((t.debate_id, turn.index))
            turns.append({"index": turn.index, "role": turn.role, "policy_id": turn.policy_id, "local": local,
                          "shaped_reward": None if row is None else row[turn.index], "advantage": a,
                          "trained": a is not None})
        cf: dict[str, dict[str, float]] = {}
        roles = {turn.role for turn in t.turns}
        diff = {r: v for (d, r), v in batch.counterfactual_outcomes.items() if d == t.debate_id and r in roles}
        coma = {str(i): v for (d, i), v in batch.baselines.items() if d == t.debate_id}
        if diff:
            cf["difference"] = diff
        if coma:
            cf["coma"] = coma
        training: dict[str, Any] = {"step": None, "outcome": outcome, "kept": keep, "turns": turns,
                                    "counterfactuals": cf}
        out.append(t.model_copy(update={"metadata": {**t.metadata, "training": training}}))
    return out


def step_metrics(samples: Sequence[TrainingSample], adv: AdvantageResult) -> dict[str, float]:
    """Per-role reward, shaped reward, advantage and token metrics (names in docs/metrics.md)."""
    out: dict[str, float] = {}
    for role in sorted({s.role for s in samples}):
        rs = [s for s in samples if s.role == role]
        out[f"reward/{role}"] = _mean([s.raw_reward for s in rs])
        out[f"shaped_reward/{role}"] = _mean([s.shaped_reward for s in rs])
        out[f"advantage_mean/{role}"] = _mean([s.advantage for s in rs])
        out[f"advantage_std/{role}"] = _std([s.advantage for s in rs])
        out[f"generated_tokens/{role}"] = float(sum(len(s.completion_ids) for s in rs))
        stats = adv.per_role.get(role)
        if stats is not None:
            out[f"zero_variance_group_fraction/{role}"] = float(stats.zero_variance_group_fraction)
    out["samples"] = float(len(samples))
    return out


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    m = _mean(values)
    return float((sum((v - m) ** 2 for v in values) / (len(values) - 1)) ** 0.5)
