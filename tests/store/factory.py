"""Builders of realistic transcripts for the store tests (every field set, incl. None and unicode)."""

from __future__ import annotations

from parley.debate.types import ParsedTurn, Transcript, Turn
from parley.store import make_debate_id

CONFIG_HASH = "cfg0123456789abcdef"
CONFIG = {"protocol": {"name": "svj", "max_rounds": 2}, "model": {"name": "tiny"}}


def make_turns(n: int, seed: int = 0) -> list[Turn]:
    """``n`` turns alternating solver/verifier, with float32-exact log-probs and unicode text."""
    turns = []
    for i in range(n):
        solver = i % 2 == 0
        turns.append(
            Turn(
                index=i,
                role="solver" if solver else "verifier",
                agent_id="solver" if solver else "verifier",
                policy_id="shared",
                round=i // 2,
                context=[
                    {"role": "system", "content": "You are careful. ∑ résumé 数学"},
                    {"role": "user", "content": f"Problem {seed}: what is {seed} + {i}?"},
                ],
                context_token_ids=[1, 2, 3, seed % 1000, i] if solver else None,
                text=f"The answer is \\boxed{{{seed + i}}} ✓" if solver else "VERDICT: fail\nCRITIQUE: 🤔",
                token_ids=[10 + i, 20, 2**31 - 1, 0] if solver else [],
                logprobs=[-0.5, -0.25, -(2.0**-20), float("-inf")] if solver else None,
                parsed=(
                    ParsedTurn(answer=str(seed + i), confidence=0.75)
                    if solver
                    else ParsedTurn(ok=False, error="no verdict found", verdict=None, critique="hm")
                ),
                finish_reason="stop" if solver else "length",
                prompt_tokens=12 + i,
                completion_tokens=4,
                cost_usd=None if i == 1 else 0.001 * (i + 1),
                started_at=1700000000.5 + i,
                duration_s=0.125,
                error=None if i != 3 else "timeout after 30s",
            )
        )
    return turns


def make_transcript(
    run_id: str,
    problem_id: str,
    sample_index: int,
    *,
    n_turns: int = 4,
    config_hash: str = CONFIG_HASH,
) -> Transcript:
    """A transcript with every field set (some to None / empty) for ``(problem_id, sample_index)``."""
    seed = sample_index + 7 * len(problem_id)
    return Transcript(
        run_id=run_id,
        debate_id=make_debate_id(run_id, problem_id, sample_index),
        problem_id=problem_id,
        sample_index=sample_index,
        config_hash=config_hash,
        protocol="svj",
        question=f"What is {seed} + 1? (ünïcødé ∫)",
        gold_answer=None if sample_index % 3 == 2 else str(seed + 1),
        domain="math",
        turns=make_turns(n_turns, seed),
        final_answer=None if n_turns == 0 else str(seed),
        final_confidence=0.5 if n_turns else None,
        termination_reason="max_rounds" if n_turns else "error",
        rounds_used=n_turns // 2,
        error=None if n_turns else "solver crashed",
        correct=None if sample_index % 3 == 2 else sample_index % 2 == 0,
        reward=None if sample_index % 3 == 2 else float(sample_index % 2 == 0),
        reward_error="gold missing" if sample_index % 3 == 2 else None,
        created_at=1700000000.25,
        duration_s=3.5,
        metadata={"temperature": 0.7, "tags": ["a", "β"], "nested": {"k": None}, "seed": sample_index},
    )
