"""Rollouts for one training step: G debates per problem from the current policies, scored.

Every debate runs through :func:`parley.debate.run_protocol` (the same code as inference), with the
policies' samplers as agents so turns carry exact token ids and sampling log-probs. Final answers and
every proposed answer are scored through the reward registry (one code path with evaluation), which
gives G and the per-role local signals of docs/algorithms.md section 2. With ``selection: majority_label``
(TTRL) the group's majority answer replaces the gold answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from parley.data.problem import Problem
from parley.debate.context import AgentPool, derive_seed
from parley.debate.engine import run_protocol
from parley.debate.parsing import normalize_for_vote
from parley.debate.prompts import PromptSet
from parley.debate.types import Transcript
from parley.llm.types import SamplingParams
from parley.rewards.selection import majority_label
from parley.rewards.signals import DebateSignals, debate_signals
from parley.training.config import TrainRunConfig


class ScoringError(ValueError):
    """Training problems that cannot be scored (no verifier for their domain, or no gold answer)."""


class AnswerScorer:
    """Correctness of (problem, answer) pairs through the reward registry, memoised.

    A result whose status is not ``ok``/``no_answer`` (a verifier ``error``, ``timeout`` or an
    ``unverifiable`` problem) counts as a wrong answer for the reward, and is counted apart in
    :attr:`failures` (logged per step as ``errors/verifier_rate``), so a broken verifier is visible
    instead of looking like a model that is always wrong.
    """

    def __init__(self, registry: Any, problems: dict[str, Problem]) -> None:
        self.registry = registry
        self.problems = problems
        self.cache: dict[tuple[str, str], bool] = {}
        self.scored = 0
        self.failures = 0

    def check(self, problems: Sequence[Problem], *, need_gold: bool = True) -> None:
        """Refuse, before any rollout, problems whose rewards would all be zero by construction.

        Raises:
            ScoringError: a domain without a verifier, or (``need_gold``) problems without a gold answer.
        """
        domains = sorted({p.domain for p in problems if not self.registry.has_verifier(p.domain)})
        if domains:
            raise ScoringError(f"no verifier for domain(s) {domains} of the training problems: every reward would "
                               f"be 0; register a verifier for them or train on a dataset whose domains have one "
                               f"({', '.join(self.registry.domains)})")
        if need_gold:
            missing = [p.id for p in problems if p.answer is None]
            if missing:
                raise ScoringError(f"{len(missing)} training problems have no gold answer (e.g. {missing[:3]}): every "
                                   "reward would be 0; use a dataset with answers or train.selection=majority_label")

    def score_all(self, pairs: Sequence[tuple[str, str | None]]) -> None:
        todo = sorted({(pid, a) for pid, a in pairs if a is not None and (pid, a) not in self.cache})
        if not todo:
            return
        results = self.registry.score_batch([(self.problems[pid], a) for pid, a in todo])
        for key, result in zip(todo, results, strict=True):
            self.cache[key] = bool(result.correct)
            self.scored += 1
            self.failures += result.status not in ("ok", "no_answer")

    def correct(self, problem_id: str, answer: str | None) -> bool:
        if answer is None:
            return False
        if (problem_id, answer) not in self.cache:
            self.score_all([(problem_id, answer)])
        return self.cache[(problem_id, answer)]

    async def outcome(self, transcript: Transcript) -> float:
        """G of a transcript (used by counterfactual rollouts)."""
        await asyncio.to_thread(self.score_all, [(transcript.problem_id, transcript.final_answer)])
        return float(self.correct(transcript.problem_id, transcript.final_answer))


@dataclass
class RolloutBatch:
    """A step's debates with their outcomes and signals, aligned by index."""

    transcripts: list[Transcript]
    outcomes: list[float]
    signals: list[DebateSignals]
    problems: dict[str, Problem]
    timing: dict[str, float] = field(default_factory=dict)
    extra_metrics: dict[str, float] = field(default_factory=dict)


def step_seed(cfg: TrainRunConfig, step: int) -> int:
    """The base seed of step ``step``'s rollouts (distinct per step, reproducible on resume)."""
    return derive_seed(cfg.train.seed, "rollouts", step)


def sampling_params(cfg: TrainRunConfig) -> SamplingParams:
    return SamplingParams(temperature=cfg.train.temperature, top_p=cfg.generation.top_p,
                          max_new_tokens=cfg.generation.max_new_tokens)


async def collect_rollouts(
    problems: Sequence[Problem],
    *,
    agents: AgentPool,
    cfg: TrainRunConfig,
    scorer: AnswerScorer,
    step: int,
    run_id: str,
    config_hash: str,
    prompts: PromptSet,
) -> RolloutBatch:
    """Run ``cfg.train.group_size`` debates per problem and score them."""
    t0 = time.perf_counter()
    base_seed = step_seed(cfg, step)
    coros = [
        run_protocol(p, protocol=cfg.protocol, agents=agents, prompts=prompts, sampling=sampling_params(cfg),
                     run_id=run_id, debate_id=f"{run_id}:step{step}:{p.id}:{g}", config_hash=config_hash,
                     sample_index=g, base_seed=base_seed, timeout_s=cfg.generation.problem_timeout_s)
        for p in problems for g in range(cfg.train.group_size)
    ]
    transcripts = list(await asyncio.gather(*coros))
    t1 = time.perf_counter()
    pairs = [(t.problem_id, t.final_answer) for t in transcripts]
    pairs += [(t.problem_id, turn.parsed.answer) for t in transcripts for turn in t.turns]
    extra: dict[str, float] = {}
    if cfg.train.selection == "majority_label":
        labels = majority_label(transcripts)
        extra["selection/majority_agreement"] = float(labels.mean_agreement)
        label_of = labels.labels

        def oracle_for(t: Transcript) -> Any:
            label = label_of.get(t.problem_id)
            return lambda a: a is not None and label is not None and normalize_for_vote(a) == normalize_for_vote(
                label)
    else:
        scored, failures = scorer.scored, scorer.failures
        await asyncio.to_thread(scorer.score_all, pairs)
        new = scorer.scored - scored
        extra["errors/verifier_rate"] = (scorer.failures - failures) / new if new else 0.0

        def oracle_for(t: Transcript) -> Any:
            return lambda a: scorer.correct(t.problem_id, a)

    signals = [debate_signals(t, oracle_for(t)) for t in transcripts]
    outcomes = [s.outcome for s in signals]
    for t, g in zip(transcripts, outcomes, strict=True):
        t.reward = g
        t.correct = bool(g >= 1.0)
    t2 = time.perf_counter()
    return RolloutBatch(transcripts, outcomes, signals, {p.id: p for p in problems},
                        timing={"time/generation_s": t1 - t0, "time/verification_s": t2 - t1},
                        extra_metrics=extra)
