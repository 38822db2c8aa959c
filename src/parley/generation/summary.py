"""Counts kept while a generation run progresses, the same counts over a whole store, and the summary.

A run's summary describes the *store* (every debate committed so far, whichever invocation wrote it):
after a resume or a ``--retry-errors`` rerun its accuracy, errors and token totals are those of the whole
run, not of the last invocation alone. What this invocation did (debates completed, retried, rates) is
reported beside it under ``this_run``.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from parley.debate.types import Transcript

if TYPE_CHECKING:
    from parley.store import TrajectoryStore


@dataclass
class GenerationStats:
    """Running totals over the transcripts produced in this invocation (resumed ones are counted apart).

    ``cost_usd`` is ``None`` as soon as one call's cost is unknown: a partial sum would understate it.
    """

    total: int = 0
    already_done: int = 0
    completed: int = 0
    scored: int = 0
    correct: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    turns: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    terminations: Counter[str] = field(default_factory=Counter)
    #: The first message seen for each error kind, so the user reads the provider's own words.
    error_examples: dict[str, str] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    wall_s: float = 0.0
    verifier_available: bool = False

    def add(self, transcript: Transcript) -> None:
        self.turns += len(transcript.turns)
        self.prompt_tokens += transcript.prompt_tokens
        self.completion_tokens += transcript.completion_tokens
        cost = transcript.cost_usd
        self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost
        self.add_outcome(transcript.problem_id, transcript.termination_reason, transcript.error,
                         transcript.reward_error, transcript.correct)

    def add_outcome(self, problem_id: str, termination: str, error: str | None, reward_error: str | None,
                    correct: bool | None) -> None:
        """Count one finished debate's outcome (tokens and cost are added by the caller)."""
        self.completed += 1
        self.terminations[termination] += 1
        if error:
            kind = error.split(":", 1)[0]
            self.errors[kind] += 1
            self.error_examples.setdefault(kind, f"{problem_id}: {error[:500]}")
        if reward_error:
            kind = f"reward:{reward_error.split(':', 1)[0]}"
            self.errors[kind] += 1
            self.error_examples.setdefault(kind, f"{problem_id}: {reward_error[:500]}")
        if correct is not None:
            self.scored += 1
            self.correct += int(correct)

    @property
    def errored(self) -> int:
        """Debates that ended because a model call failed (``--retry-errors`` runs them again)."""
        return self.terminations.get("error", 0)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None

    def as_dict(self) -> dict[str, Any]:
        elapsed = self.wall_s or self.elapsed_s
        return {
            "total": self.total,
            "already_done": self.already_done,
            "completed": self.completed,
            "turns": self.turns,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "errors": dict(self.errors),
            "error_examples": dict(self.error_examples),
            "terminations": dict(self.terminations),
            "scored": self.scored,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "verifier_available": self.verifier_available,
            "wall_s": round(elapsed, 3),
            "problems_per_hour": round(self.completed / elapsed * 3600, 1) if elapsed > 0 else None,
            "completion_tokens_per_s": round(self.completion_tokens / elapsed, 1) if elapsed > 0 else None,
        }


def summarize_store(store: TrajectoryStore) -> GenerationStats:
    """The counts of :class:`GenerationStats` over every debate committed to ``store``.

    Reads only the outcome columns of the debates and the token columns of the turns (streamed).
    ``total``, ``already_done``, timings and ``verifier_available`` are left for the caller.
    """
    import pyarrow.compute as pc

    stats = GenerationStats()
    columns = ["problem_id", "termination_reason", "error", "reward_error", "correct"]
    for batch in store.iter_debate_batches(columns=columns):
        rows = zip(*(batch.column(name).to_pylist() for name in columns), strict=True)
        for problem_id, termination, error, reward_error, correct in rows:
            stats.add_outcome(problem_id, termination, error, reward_error, correct)
    for batch in store.iter_turn_batches(columns=["prompt_tokens", "completion_tokens", "cost_usd"]):
        stats.turns += batch.num_rows
        stats.prompt_tokens += int(pc.sum(batch.column("prompt_tokens")).as_py() or 0)
        stats.completion_tokens += int(pc.sum(batch.column("completion_tokens")).as_py() or 0)
        cost = batch.column("cost_usd")
        if cost.null_count or stats.cost_usd is None:
            stats.cost_usd = None
        else:
            stats.cost_usd += float(pc.sum(cost).as_py() or 0.0)
    return stats
