"""Debate samples as a table, one row per turn (what W&B / MLflow show for a training step).

Columns: ``step``, ``debate_id``, ``problem_id``, ``turn``, ``role``, ``text``, ``answer`` (parsed),
``verdict``, ``reward`` (the debate's outcome G), ``shaped_reward`` and ``advantage`` of the turn
(``None`` where the turn was not trained: frozen role, debate left out of the update).

Shaped rewards and advantages come from the caller's explicit arguments when given, else from the
transcript's ``metadata["training"]`` record written by the trainer (its ``turns`` list, see the
rollout log format in ``docs/viewer.md``). Texts are cut at ``max_chars`` so a table stays small.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from parley.debate.types import Transcript

TABLE_COLUMNS = ("step", "debate_id", "problem_id", "turn", "role", "text", "answer", "verdict", "reward",
                 "shaped_reward", "advantage")


def pick_evenly(n: int, limit: int) -> list[int]:
    """``limit`` indices spread evenly over ``range(n)`` (all of them when ``limit >= n``)."""
    if limit <= 0 or n == 0:
        return []
    if limit >= n:
        return list(range(n))
    return sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)} if limit > 1 else {0})


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def debate_table_rows(
    transcripts: Sequence[Transcript],
    *,
    step: int,
    limit: int,
    shaped_rewards: Sequence[Sequence[float]] | None = None,
    advantages: Mapping[tuple[str, int], float] | None = None,
    max_chars: int = 2000,
) -> list[dict[str, Any]]:
    """Rows for up to ``limit`` debates of ``transcripts`` (spread evenly), one row per turn.

    Args:
        transcripts: the step's debates.
        step: the training step (a column, so tables of several steps can be concatenated).
        limit: most debates to include.
        shaped_rewards: per transcript, per turn shaped reward (``ShapingResult.rewards``), aligned
            with ``transcripts``.
        advantages: ``(debate_id, turn_index) -> advantage`` of the trained turns.
        max_chars: longest turn text kept.
    """
    if shaped_rewards is not None and len(shaped_rewards) != len(transcripts):
        raise ValueError(f"{len(transcripts)} transcripts but {len(shaped_rewards)} shaped reward lists")
    rows: list[dict[str, Any]] = []
    for i in pick_evenly(len(transcripts), limit):
        t = transcripts[i]
        meta = t.metadata.get("training") if isinstance(t.metadata.get("training"), Mapping) else None
        per_turn = {int(x["index"]): x for x in meta.get("turns", [])} if meta else {}
        outcome = meta.get("outcome", t.reward) if meta else t.reward
        for turn in t.turns:
            recorded = per_turn.get(turn.index, {})
            shaped = (shaped_rewards[i][turn.index] if shaped_rewards is not None
                      else recorded.get("shaped_reward"))
            if advantages is not None:
                advantage = advantages.get((t.debate_id, turn.index))
            else:
                advantage = recorded.get("advantage")
            rows.append({"step": int(step), "debate_id": t.debate_id, "problem_id": t.problem_id,
                         "turn": turn.index, "role": turn.role, "text": turn.text[:max_chars],
                         "answer": turn.parsed.answer, "verdict": turn.parsed.verdict,
                         "reward": _opt_float(outcome), "shaped_reward": _opt_float(shaped),
                         "advantage": _opt_float(advantage)})
    return rows
