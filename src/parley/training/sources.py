"""Where a training step's debates come from: a :class:`RolloutSource` yields one :class:`StepBatch` per step.

- :class:`OnlineRollouts` (the default): ``problems_per_step`` problems x ``group_size`` fresh debates
  of the current policies (:func:`parley.training.rollouts.collect_rollouts`), plus the counterfactual
  rollouts the shaping strategy needs (``difference``: G without each role; ``coma``: per-turn
  baselines; :mod:`parley.training.counterfactuals`). Debates without their counterfactual inputs (a
  ``counterfactual.fraction`` below 1 selects whole problem groups) are marked not ``kept``: they are
  logged but never trained on, so no strategy falls back to the raw reward.
- :class:`parley.training.offline.OfflineRollouts` (``train.offline_store``): steps streamed from a
  trajectory store written earlier.

Both expose ``state()`` / ``restore(state)`` for the checkpoint's data position. In a data-parallel group
every rank draws the same problems and runs its shard of them; the batch is then gathered, so every rank
holds the same global :class:`StepBatch`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from parley.aio import run_coroutine
from parley.data.problem import Problem
from parley.debate.context import AgentPool, derive_seed
from parley.debate.prompts import PromptSet
from parley.debate.types import Transcript
from parley.llm.hf import HFChatModel
from parley.rewards.shaping import required_inputs
from parley.rewards.signals import DebateSignals
from parley.training.config import TrainRunConfig
from parley.training.counterfactuals import (
    CounterfactualResult,
    coma_baselines,
    difference_counterfactuals,
    protocol_run_fn,
)
from parley.training.data import ProblemSampler
from parley.training.distributed import Group, gather_counterfactuals, gather_rollouts
from parley.training.rollouts import AnswerScorer, RolloutBatch, collect_rollouts, sampling_params, step_seed

COUNTERFACTUAL_INPUTS = frozenset({"counterfactual_outcomes", "baselines"})
"""Shaping inputs that only extra rollouts of the current policy can produce."""


def counterfactual_inputs(shaping: Any) -> frozenset[str]:
    """The counterfactual inputs the configured shaping strategy declares it needs (empty: none)."""
    return required_inputs(shaping) & COUNTERFACTUAL_INPUTS


@dataclass
class StepBatch:
    """One step's debates, aligned by index, with what shaping needs and the source's metrics."""

    transcripts: list[Transcript]
    signals: list[DebateSignals]
    outcomes: list[float]
    kept: list[bool]
    counterfactual_outcomes: dict[tuple[str, str], float] = field(default_factory=dict)
    baselines: dict[tuple[str, int], float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def kept_view(self) -> tuple[list[Transcript], list[DebateSignals], list[float]]:
        """The debates that enter the update."""
        idx = [i for i, keep in enumerate(self.kept) if keep]
        return ([self.transcripts[i] for i in idx], [self.signals[i] for i in idx], [self.outcomes[i] for i in idx])


class RolloutSource(Protocol):
    """Produces the debates of each training step (see the module docstring)."""

    def next_batch(self, step: int) -> StepBatch: ...

    def state(self) -> dict[str, Any]: ...

    def restore(self, state: dict[str, Any]) -> None: ...


@contextmanager
def _windowed(*pools: AgentPool | None) -> Iterator[None]:
    """The pools' local samplers batch by their arrival window, not ``dispatch_when_idle``, meanwhile.

    Counterfactual rollouts start as the slots of their concurrency limit free up (after a finished
    rollout's scoring thread), so their requests trickle in rather than arrive as one burst per turn:
    starting a batch whenever the event loop is idle split them into many small batches (the demo's coma
    arm: 3.2 -> 7.9 s of counterfactuals per step); the window gathers them.
    """
    models = [m for pool in pools if pool is not None for m in pool.models() if isinstance(m, HFChatModel)]
    before = [m.dispatch_when_idle for m in models]
    for m in models:
        m.dispatch_when_idle = False
    try:
        yield
    finally:
        for m, value in zip(models, before, strict=True):
            m.dispatch_when_idle = value


class OnlineRollouts:
    """Fresh debates of the current policies each step, plus the counterfactuals shaping needs."""

    def __init__(self, cfg: TrainRunConfig, problems: Sequence[Problem], *, agents: AgentPool,
                 reference: AgentPool | None, scorer: AnswerScorer, run_id: str, digest: str, group: Group) -> None:
        if len(problems) < cfg.train.problems_per_step:
            raise ValueError(f"train.problems_per_step={cfg.train.problems_per_step} but dataset {cfg.dataset.name!r} "
                             f"has {len(problems)} problems: a step would repeat problems as identical debates; "
                             "lower train.problems_per_step or use more problems")
        self.cfg = cfg
        self.sampler = ProblemSampler(problems, cfg.train.seed)
        self.agents = agents
        self.reference = reference
        self.scorer = scorer
        self.run_id = run_id
        self.digest = digest
        self.group = group
        self.prompts = PromptSet(cfg.protocol.prompts_dir)

    def state(self) -> dict[str, Any]:
        return self.sampler.state()

    def restore(self, state: dict[str, Any]) -> None:
        self.sampler.restore(state)

    def next_batch(self, step: int) -> StepBatch:
        problems = self.sampler.next(self.cfg.train.problems_per_step)
        local = run_coroutine(collect_rollouts(self.group.shard(problems), agents=self.agents, cfg=self.cfg,
                                             scorer=self.scorer, step=step, run_id=self.run_id,
                                             config_hash=self.digest, prompts=self.prompts))
        batch = gather_rollouts(self.group, local)
        out = StepBatch(batch.transcripts, batch.signals, batch.outcomes, [True] * len(batch.transcripts),
                        metrics=dict(batch.timing) | batch.extra_metrics)
        needs = counterfactual_inputs(self.cfg.train.shaping)
        if needs:
            t0 = time.perf_counter()
            with _windowed(self.agents, self.reference):
                result = gather_counterfactuals(self.group, run_coroutine(self._counterfactuals(local, step)))
            keep = set(result.debate_ids)
            out.kept = [t.debate_id in keep for t in out.transcripts]
            out.counterfactual_outcomes, out.baselines = result.outcomes, result.baselines
            out.metrics |= result.cost.as_metrics()
            out.metrics["time/counterfactual_s"] = time.perf_counter() - t0
        return out

    async def _counterfactuals(self, batch: RolloutBatch, step: int) -> CounterfactualResult:
        cfg = self.cfg
        shaping = cfg.train.shaping
        run_fn = protocol_run_fn(protocol=cfg.protocol, agents=self.agents, prompts=self.prompts,
                                 sampling=sampling_params(cfg), scorer=self.scorer.outcome,
                                 base_seed=step_seed(cfg, step), run_id=self.run_id, config_hash=self.digest,
                                 timeout_s=cfg.generation.problem_timeout_s)
        cf = cfg.train.counterfactual
        shaping_roles: tuple[str, ...] | None = getattr(shaping, "roles", None)
        roles = list(shaping_roles) if shaping_roles else None
        seed = derive_seed(cfg.train.seed, "counterfactual", step)
        if "counterfactual_outcomes" in required_inputs(shaping):
            return await difference_counterfactuals(batch.transcripts, batch.problems, run_fn=run_fn, roles=roles,
                                                    k=cf.k, null=cf.null, reference=self.reference,
                                                    fraction=cf.fraction, seed=seed, max_concurrency=64)
        return await coma_baselines(batch.transcripts, batch.problems, run_fn=run_fn, roles=roles, m=cf.m,
                                    fraction=cf.fraction, seed=seed, max_concurrency=64)
