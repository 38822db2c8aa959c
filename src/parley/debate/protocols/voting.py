"""Majority vote over answers (ties go to the earliest answer)."""

from __future__ import annotations

from collections.abc import Sequence

from parley.debate.parsing import normalize_for_vote


def majority_vote(answers: Sequence[str | None]) -> tuple[str | None, float]:
    """The most common answer (``None`` entries ignored) and its vote share among valid answers.

    Ties are broken by the earliest answer in ``answers`` (Du et al. 2023 use a plain majority; the
    earliest-agent tie rule makes the outcome deterministic).
    """
    counts: dict[str, int] = {}
    first: dict[str, tuple[int, str]] = {}
    for position, answer in enumerate(answers):
        if answer is None:
            continue
        key = normalize_for_vote(answer)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, (position, answer))
    if not counts:
        return None, 0.0
    best = max(counts, key=lambda k: (counts[k], -first[k][0]))
    return first[best][1], counts[best] / sum(counts.values())
