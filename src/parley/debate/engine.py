"""Run one protocol on one problem sample and return its typed :class:`Transcript`.

This is the plain function call the trainer, the evaluator and ``parley generate`` all use: the
debate engine knows nothing about training or storage.
"""

from __future__ import annotations

import asyncio
import time

from parley.config.models import ProtocolConfig
from parley.data.problem import Problem
from parley.debate.context import AgentPool, DebateContext, Intervention
from parley.debate.prompts import PromptSet
from parley.debate.protocols import get_protocol
from parley.debate.protocols.base import Outcome
from parley.debate.types import Transcript
from parley.llm.types import SamplingParams


def resolve_reask(protocol: ProtocolConfig) -> int:
    """Re-asks per turn: ``protocol.reask``, or when unset the prompt set's default (1 for ``instruct``)."""
    return protocol.effective_reask


async def run_protocol(
    problem: Problem,
    *,
    protocol: ProtocolConfig,
    agents: AgentPool,
    prompts: PromptSet,
    sampling: SamplingParams,
    run_id: str,
    debate_id: str,
    config_hash: str,
    sample_index: int = 0,
    base_seed: int = 0,
    timeout_s: float | None = None,
    intervention: Intervention | None = None,
) -> Transcript:
    """Run ``protocol.name`` on ``problem`` and return the transcript.

    A run that exceeds ``timeout_s`` ends with termination reason ``timeout``; the turns finished so
    far are kept and the last valid answer (if any) is final. Agent errors end it with ``error``.
    Per-turn seeds derive from ``(base_seed, problem.id, sample_index, turn index)``. Structured
    re-asks follow :func:`resolve_reask` (:mod:`parley.debate.context`).
    """
    fn = get_protocol(protocol.name)
    ctx = DebateContext(problem, agents=agents, prompts=prompts, sampling=sampling,
                        sample_index=sample_index, base_seed=base_seed, intervention=intervention,
                        reask=resolve_reask(protocol))
    created = time.time()
    t0 = time.perf_counter()
    try:
        outcome = await asyncio.wait_for(fn(ctx, protocol), timeout=timeout_s)
    except TimeoutError:
        answers = [t.parsed.answer for t in ctx.turns if t.parsed.answer is not None and t.role != "verifier"]
        rounds = max((t.round for t in ctx.turns), default=-1) + 1
        outcome = Outcome(answers[-1] if answers else None, "timeout", rounds,
                          error=f"protocol exceeded {timeout_s:.1f}s")
    return Transcript(
        run_id=run_id, debate_id=debate_id, problem_id=problem.id, sample_index=sample_index,
        config_hash=config_hash, protocol=protocol.name, question=problem.question,
        gold_answer=problem.answer, domain=problem.domain, turns=list(ctx.turns),
        final_answer=outcome.final_answer, final_confidence=outcome.final_confidence,
        termination_reason=outcome.termination_reason, rounds_used=outcome.rounds_used,
        error=outcome.error, created_at=created, duration_s=time.perf_counter() - t0,
        metadata={k: v for k, v in problem.metadata.items() if k in ("level", "category", "subject",
                                                                      "source_dataset")},
    )
