"""Multi-agent debate (Du et al. 2023, "Improving Factuality and Reasoning in Language Models through
Multiagent Debate"), docs/algorithms.md section 1 ``mad``.

N agents, R rounds (``protocol.max_rounds``). Round 0: independent answers. Round r > 0: each agent sees
its own previous answer and the other agents' answers from round r-1 and answers again. The final answer
is the majority vote over the last round (ties: earliest agent), or a judge turn when
``protocol.use_judge`` is true. Du et al. show agents full responses; we show the extracted answers to
keep contexts short for small models (the full texts stay in the transcript).
"""

from __future__ import annotations

from parley.config.models import ProtocolConfig
from parley.debate.context import AgentError, DebateContext
from parley.debate.parsing import parse_judge, parse_solver
from parley.debate.protocols.base import Outcome, protocol
from parley.debate.protocols.voting import majority_vote


def mad_roles(cfg: ProtocolConfig) -> list[str]:
    """``agent_0`` .. ``agent_{N-1}`` and ``judge`` when ``use_judge`` is true."""
    agents = [f"agent_{k}" for k in range(cfg.num_agents)]
    return [*agents, "judge"] if cfg.use_judge else agents


@protocol("mad", roles=mad_roles)
async def mad(ctx: DebateContext, cfg: ProtocolConfig) -> Outcome:
    question = ctx.problem.question
    n = cfg.num_agents
    previous: list[str | None] = [None] * n
    rounds_used = 0
    try:
        for round_index in range(cfg.max_rounds):
            rounds_used = round_index + 1
            current: list[str | None] = []
            # Agents of one round are sampled one after another in a fixed order so turn indices (and
            # hence seeds) are deterministic; concurrency comes from many debates running at once.
            for k in range(n):
                others = [
                    {"agent": f"Agent {j + 1}", "answer": previous[j]}
                    for j in range(n) if j != k
                ] if round_index > 0 else []
                own = previous[k] if round_index > 0 else None
                turn = await ctx.call(
                    f"agent_{k}",
                    ctx.messages("agent_system", "agent", question=question, own_answer=own, others=others),
                    parse_solver, round_index=round_index, agent_id=f"agent_{k}",
                )
                current.append(turn.parsed.answer)
            previous = current
        final, share = majority_vote(previous)
        if cfg.use_judge:
            history = [
                {"round": t.round, "speaker": t.agent_id, "answer": t.parsed.answer, "verdict": None,
                 "critique": None}
                for t in ctx.turns
            ]
            judge = await ctx.call(
                "judge", ctx.messages("judge_system", "judge", question=question, rounds=history),
                parse_judge, round_index=rounds_used - 1,
            )
            if judge.parsed.answer is not None:
                return Outcome(judge.parsed.answer, "judge", rounds_used,
                               final_confidence=judge.parsed.confidence)
        return Outcome(final, "majority_vote", rounds_used, final_confidence=share if final else None)
    except AgentError as exc:
        valid = [t.parsed.answer for t in ctx.turns if t.parsed.answer is not None]
        return Outcome(valid[-1] if valid else None, "error", rounds_used, error=str(exc))
