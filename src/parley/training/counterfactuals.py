"""Counterfactual rollouts: the inputs of ``difference`` and ``coma`` shaping (docs/algorithms.md section 6).

Both re-run a debate through the real protocol with an :data:`~parley.debate.context.Intervention`
that replaces some turns' sampling:

- :func:`difference_counterfactuals` (difference rewards, Wolpert & Tumer): every turn of ``role`` is
  replaced by a null contribution, ``null="empty"`` (an empty message) or ``null="reference"`` (a
  sample from a frozen reference :class:`AgentPool` at the same context); the other turns are sampled
  normally. Rollout 0 reuses the original debate's seeds (common random numbers: where the debate
  unfolds as before, the other roles' turns are the same samples), rollouts 1..K-1 use fresh seeds.
  ``outcomes[(debate_id, role)]`` = mean G over the K rollouts = G(z without role).
- :func:`coma_baselines` (COMA, Foerster et al. 2018, with a Monte-Carlo baseline instead of a critic):
  for turn t of ``role``, turns before t are replayed exactly from the transcript (same context), turn t
  is re-sampled from the current policy with a fresh seed and the rest of the debate is re-rolled;
  ``baselines[(debate_id, t)]`` = mean G over M such rollouts.

A ``fraction`` of the problem groups (seeded choice; every debate of a chosen problem, so GRPO groups
stay whole: a debate whose group-mates were dropped would be a singleton with advantage 0) gets
counterfactuals; ``debate_ids`` lists them, and the trainer passes only those debates to the shaping
strategy (a debate without its inputs makes
``difference`` / ``coma`` raise, never fall back to identity). ``cost`` counts the extra rollouts, the
turns actually sampled in them (replayed and empty turns are free) and their generated tokens.

``run_fn`` re-runs one problem with an intervention and scores it; :func:`protocol_run_fn` builds one
over :func:`parley.debate.run_protocol` and an async scorer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from parley.config.models import ProtocolConfig
from parley.data.problem import Problem
from parley.debate.context import AgentPool, TurnRequest, derive_seed
from parley.debate.engine import run_protocol
from parley.debate.prompts import PromptSet
from parley.debate.types import Reask, Transcript, Turn
from parley.errors import ParleyError
from parley.llm.types import Completion, SamplingParams, Usage

NullKind = Literal["empty", "reference"]


class CounterfactualError(ParleyError, RuntimeError):
    """A counterfactual rollout could not be made as specified."""


@dataclass(frozen=True)
class RolloutRequest:
    """One counterfactual re-run.

    ``seed_offset`` 0 asks for the original debate's seeds (``base_seed`` and ``sample_index``); k > 0
    for fresh seeds derived from k. ``tag`` makes the rollout's debate id unique.
    """

    problem: Problem
    original: Transcript
    intervention: Callable[[TurnRequest], Awaitable[Completion | None]]
    seed_offset: int
    tag: str


@dataclass(frozen=True)
class ScoredRollout:
    transcript: Transcript
    outcome: float


RunFn = Callable[[RolloutRequest], Awaitable[ScoredRollout]]
Scorer = Callable[[Transcript], Awaitable[float]]


def protocol_run_fn(
    *,
    protocol: ProtocolConfig,
    agents: AgentPool,
    prompts: PromptSet,
    sampling: SamplingParams,
    scorer: Scorer,
    base_seed: int,
    run_id: str,
    config_hash: str,
    timeout_s: float | None = None,
) -> RunFn:
    """A :data:`RunFn` over :func:`run_protocol` with the current policy ``agents`` and ``scorer`` (-> G).

    ``base_seed`` must be the one the original debates were run with, so ``seed_offset=0`` reproduces
    their per-turn seeds.
    """

    async def run(request: RolloutRequest) -> ScoredRollout:
        seed = base_seed if request.seed_offset == 0 else derive_seed(base_seed, "counterfactual",
                                                                        request.seed_offset)
        transcript = await run_protocol(
            request.problem, protocol=protocol, agents=agents, prompts=prompts, sampling=sampling,
            run_id=run_id, debate_id=f"{request.original.debate_id}:cf:{request.tag}",
            config_hash=config_hash, sample_index=request.original.sample_index, base_seed=seed,
            timeout_s=timeout_s, intervention=request.intervention,
        )
        return ScoredRollout(transcript, float(await scorer(transcript)))

    return run


@dataclass
class CounterfactualCost:
    """Extra work spent on counterfactuals (log as ``counterfactual/*``)."""

    rollouts: int = 0
    turns: int = 0
    tokens: int = 0

    def as_metrics(self) -> dict[str, float]:
        return {"counterfactual/rollouts": float(self.rollouts), "counterfactual/turns": float(self.turns),
                "counterfactual/tokens": float(self.tokens)}


@dataclass
class CounterfactualResult:
    """``outcomes`` (difference: (debate_id, role) -> mean G) or ``baselines`` (coma: (debate_id, turn
    index) -> mean G), the per-rollout G values behind each mean, the debates covered and the cost."""

    outcomes: dict[tuple[str, str], float] = field(default_factory=dict)
    baselines: dict[tuple[str, int], float] = field(default_factory=dict)
    rollout_outcomes: dict[tuple[str, str | int], list[float]] = field(default_factory=dict)
    debate_ids: list[str] = field(default_factory=list)
    cost: CounterfactualCost = field(default_factory=CounterfactualCost)


def select_debates(n: int, fraction: float, seed: int) -> list[int]:
    """Indices of the ``round(fraction * n)`` items (at least 1 when fraction > 0) chosen with ``seed``."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction={fraction}: must be in [0, 1]")
    if n == 0 or fraction == 0.0:
        return []
    count = min(n, max(1, round(fraction * n)))
    return sorted(random.Random(seed).sample(range(n), count))


def select_groups(transcripts: Sequence[Transcript], fraction: float, seed: int) -> list[int]:
    """Indices of every debate of ``round(fraction * problems)`` problem groups (at least one when
    fraction > 0), chosen with ``seed``: whole GRPO groups get counterfactuals, never part of one."""
    problems = list(dict.fromkeys(t.problem_id for t in transcripts))
    chosen = {problems[i] for i in select_debates(len(problems), fraction, seed)}
    return [i for i, t in enumerate(transcripts) if t.problem_id in chosen]


def _replay(turn: Turn) -> Completion:
    finish = turn.finish_reason if turn.finish_reason in ("stop", "length") else "stop"
    prompt, completion = turn.prompt_tokens, turn.completion_tokens
    if turn.reask is not None:  # the turn's counts include its re-ask, which is replayed on its own
        prompt, completion = prompt - turn.reask.prompt_tokens, completion - turn.reask.completion_tokens
    return Completion(
        text=turn.text, model="replay", finish_reason=finish,  # type: ignore[arg-type]
        usage=Usage(prompt, completion, 0.0), token_ids=turn.token_ids,
        logprobs=turn.logprobs, prompt_token_ids=turn.context_token_ids,
    )


def _replay_reask(reask: Reask) -> Completion:
    finish = reask.finish_reason if reask.finish_reason in ("stop", "length") else "stop"
    return Completion(
        text=reask.text, model="replay", finish_reason=finish,  # type: ignore[arg-type]
        usage=Usage(reask.prompt_tokens, reask.completion_tokens, 0.0), token_ids=reask.token_ids,
        logprobs=reask.logprobs, prompt_token_ids=reask.context_token_ids,
    )


class _Intervention:
    """Supplies replayed / null turns and remembers which turn indices cost nothing."""

    def __init__(self, original: Transcript, *, null_role: str | None = None, null: NullKind = "empty",
                 reference: AgentPool | None = None, replay_before: int = 0) -> None:
        self.original = original
        self.null_role = null_role
        self.null = null
        self.reference = reference
        self.replay_before = replay_before
        self.free: set[int] = set()

    async def __call__(self, request: TurnRequest) -> Completion | None:
        if request.index < self.replay_before:
            turn = self.original.turns[request.index]
            if turn.role != request.role:
                raise CounterfactualError(
                    f"replay of {self.original.debate_id!r} diverged at turn {request.index}: the protocol asked "
                    f"for {request.role!r} but the transcript has {turn.role!r}")
            self.free.add(request.index)
            if request.reask:  # the recorded follow-up of a structured re-ask
                if turn.reask is None:
                    raise CounterfactualError(
                        f"replay of {self.original.debate_id!r} diverged at turn {request.index}: the protocol "
                        f"re-asked but the transcript's turn has no re-ask")
                return _replay_reask(turn.reask)
            return _replay(turn)
        if self.null_role is not None and request.role == self.null_role:
            if self.null == "empty":
                self.free.add(request.index)
                return Completion(text="", model="null", usage=Usage(0, 0, 0.0), token_ids=[], logprobs=[])
            if self.reference is None:
                raise CounterfactualError("null='reference' needs a reference AgentPool")
            return await self.reference.for_role(request.role).model.complete(list(request.messages),
                                                                               request.params)
        return None


def _problem_for(transcript: Transcript, problems: Mapping[str, Problem] | Sequence[Problem], i: int) -> Problem:
    problem = problems.get(transcript.problem_id) if isinstance(problems, Mapping) else problems[i]
    if problem is None or problem.id != transcript.problem_id:
        raise CounterfactualError(f"no problem {transcript.problem_id!r} for debate {transcript.debate_id!r}")
    return problem


async def _run_all(jobs: list[tuple[tuple[str, str | int], RolloutRequest, _Intervention]], run_fn: RunFn,
                   max_concurrency: int, result: CounterfactualResult) -> None:
    semaphore = asyncio.Semaphore(max_concurrency)

    async def one(request: RolloutRequest) -> ScoredRollout:
        async with semaphore:
            return await run_fn(request)

    rollouts = await asyncio.gather(*(one(request) for _, request, _ in jobs))
    for (key, _, intervention), rollout in zip(jobs, rollouts, strict=True):
        result.rollout_outcomes.setdefault(key, []).append(rollout.outcome)
        result.cost.rollouts += 1
        for turn in rollout.transcript.turns:
            if turn.index not in intervention.free:
                result.cost.turns += 1
                result.cost.tokens += turn.completion_tokens


async def difference_counterfactuals(
    transcripts: Sequence[Transcript],
    problems: Mapping[str, Problem] | Sequence[Problem],
    *,
    run_fn: RunFn,
    roles: Sequence[str] | None = None,
    k: int = 1,
    null: NullKind = "empty",
    reference: AgentPool | None = None,
    fraction: float = 1.0,
    seed: int = 0,
    max_concurrency: int = 8,
) -> CounterfactualResult:
    """G(z without role) per (selected debate, role present in it), averaged over ``k`` rollouts.

    ``roles=None``: every role of each debate. ``problems``: by id, or aligned with ``transcripts``.
    """
    if k < 1:
        raise ValueError(f"k={k}: need at least one counterfactual rollout")
    if null == "reference" and reference is None:
        raise ValueError("null='reference' needs reference= (the frozen reference AgentPool)")
    result = CounterfactualResult()
    jobs: list[tuple[tuple[str, str | int], RolloutRequest, _Intervention]] = []
    for i in select_groups(transcripts, fraction, seed):
        transcript = transcripts[i]
        problem = _problem_for(transcript, problems, i)
        result.debate_ids.append(transcript.debate_id)
        present = list(dict.fromkeys(t.role for t in transcript.turns))
        for role in [r for r in present if roles is None or r in roles]:
            for rollout in range(k):
                intervention = _Intervention(transcript, null_role=role, null=null, reference=reference)
                request = RolloutRequest(problem, transcript, intervention, rollout, f"diff:{role}:{rollout}")
                jobs.append(((transcript.debate_id, role), request, intervention))
    await _run_all(jobs, run_fn, max_concurrency, result)
    for (debate, which), values in result.rollout_outcomes.items():
        result.outcomes[(debate, str(which))] = sum(values) / len(values)
    return result


async def coma_baselines(
    transcripts: Sequence[Transcript],
    problems: Mapping[str, Problem] | Sequence[Problem],
    *,
    run_fn: RunFn,
    roles: Sequence[str] | None = None,
    m: int = 2,
    fraction: float = 1.0,
    seed: int = 0,
    max_concurrency: int = 8,
) -> CounterfactualResult:
    """b per (selected debate, turn of a selected role): mean G over ``m`` re-samples of that turn."""
    if m < 1:
        raise ValueError(f"m={m}: need at least one alternative sample per turn")
    result = CounterfactualResult()
    jobs: list[tuple[tuple[str, str | int], RolloutRequest, _Intervention]] = []
    for i in select_groups(transcripts, fraction, seed):
        transcript = transcripts[i]
        problem = _problem_for(transcript, problems, i)
        result.debate_ids.append(transcript.debate_id)
        for turn in transcript.turns:
            if roles is not None and turn.role not in roles:
                continue
            for sample in range(m):
                intervention = _Intervention(transcript, replay_before=turn.index)
                request = RolloutRequest(problem, transcript, intervention, sample + 1,
                                         f"coma:{turn.index}:{sample}")
                jobs.append(((transcript.debate_id, turn.index), request, intervention))
    await _run_all(jobs, run_fn, max_concurrency, result)
    for (debate, which), values in result.rollout_outcomes.items():
        result.baselines[(debate, int(which))] = sum(values) / len(values)
    return result
