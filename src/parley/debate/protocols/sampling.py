"""Single-agent baselines (docs/algorithms.md section 1).

``single``: one solver sample. ``self_consistency`` (Wang et al. 2023): ``protocol.num_samples``
independent solver samples and a majority vote; choose ``num_samples`` to match a debate's token budget
for the compute-matched baseline debate must beat.
"""

from __future__ import annotations

from parley.config.models import ProtocolConfig
from parley.debate.context import AgentError, DebateContext
from parley.debate.parsing import parse_solver
from parley.debate.protocols.base import Outcome, protocol
from parley.debate.protocols.voting import majority_vote


@protocol("single", roles=("solver",))
async def single(ctx: DebateContext, cfg: ProtocolConfig) -> Outcome:
    try:
        turn = await ctx.call(
            "solver", ctx.messages("solver_system", "solver", question=ctx.problem.question, attempts=[]),
            parse_solver, round_index=0,
        )
    except AgentError as exc:
        return Outcome(None, "error", 1, error=str(exc))
    return Outcome(turn.parsed.answer, "single", 1)


@protocol("self_consistency", roles=("solver",))
async def self_consistency(ctx: DebateContext, cfg: ProtocolConfig) -> Outcome:
    answers: list[str | None] = []
    try:
        for k in range(cfg.num_samples):
            turn = await ctx.call(
                "solver",
                ctx.messages("solver_system", "solver", question=ctx.problem.question, attempts=[]),
                parse_solver, round_index=0, agent_id=f"sample_{k}",
            )
            answers.append(turn.parsed.answer)
    except AgentError as exc:
        final, _ = majority_vote(answers)
        return Outcome(final, "error", 1, error=str(exc))
    final, share = majority_vote(answers)
    return Outcome(final, "majority_vote", 1, final_confidence=share if final else None)
