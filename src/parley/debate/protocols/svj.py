"""Solver -> verifier -> judge (docs/algorithms.md section 1, ``svj``).

Round k: the solver answers, seeing the problem, its own previous answers and every critique so far;
the verifier checks the latest attempt and gives a verdict (pass/fail) and a critique. The loop stops
on a pass (``verifier_pass``), after ``max_rounds`` (``max_rounds``), or when the solver's answer did
not change for ``stall_rounds`` consecutive rounds (``stalled``). The judge then reads the whole
debate and gives the final answer and a 0-1 confidence. An agent error ends the debate with ``error``
and keeps the last valid answer. An unparseable verdict counts as "not passed" (the debate goes on)
and is recorded as unparsed on its turn; an unparseable judge turn leaves the solver's last valid
answer as final, and the judge's parse error is on its turn.
"""

from __future__ import annotations

from typing import Any

from parley.config.models import ProtocolConfig
from parley.debate.context import AgentError, DebateContext
from parley.debate.parsing import normalize_for_vote, parse_judge, parse_solver, parse_verifier
from parley.debate.protocols.base import Outcome, protocol
from parley.debate.types import TerminationReason


def svj_roles(cfg: ProtocolConfig) -> list[str]:
    """``solver``, ``verifier`` and, unless ``use_judge`` is false, ``judge``."""
    return ["solver", "verifier"] if cfg.use_judge is False else ["solver", "verifier", "judge"]


@protocol("svj", roles=svj_roles)
async def svj(ctx: DebateContext, cfg: ProtocolConfig) -> Outcome:
    question = ctx.problem.question
    attempts: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    last_answer: str | None = None
    unchanged = 0
    reason: TerminationReason = "max_rounds"
    rounds_used = 0
    try:
        for round_index in range(cfg.max_rounds):
            rounds_used = round_index + 1
            solver = await ctx.call(
                "solver", ctx.messages("solver_system", "solver", question=question, attempts=attempts),
                parse_solver, round_index=round_index,
            )
            answer = solver.parsed.answer
            if answer is not None:
                if last_answer is not None and normalize_for_vote(answer) == normalize_for_vote(last_answer):
                    unchanged += 1
                else:
                    unchanged = 0
                last_answer = answer
            verifier = await ctx.call(
                "verifier",
                ctx.messages("verifier_system", "verifier", question=question, attempt=solver.text,
                             answer=answer),
                parse_verifier, round_index=round_index,
            )
            attempts.append({"answer": answer, "critique": verifier.parsed.critique})
            history.append({"round": round_index, "speaker": "solver", "answer": answer,
                            "verdict": verifier.parsed.verdict, "critique": verifier.parsed.critique})
            if verifier.parsed.verdict == "pass" and answer is not None:
                reason = "verifier_pass"
                break
            if unchanged >= cfg.stall_rounds:
                reason = "stalled"
                break
        final, confidence = last_answer, None
        use_judge = True if cfg.use_judge is None else cfg.use_judge
        if use_judge:
            judge = await ctx.call(
                "judge", ctx.messages("judge_system", "judge", question=question, rounds=history),
                parse_judge, round_index=rounds_used - 1,
            )
            if judge.parsed.answer is not None:
                final, confidence = judge.parsed.answer, judge.parsed.confidence
    except AgentError as exc:
        return Outcome(last_answer, "error", rounds_used, error=str(exc))
    return Outcome(final, reason, rounds_used, final_confidence=confidence)
