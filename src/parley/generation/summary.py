"""Counts kept while a generation run progresses, and the final summary."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from parley.debate.types import Transcript


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
        self.completed += 1
        self.turns += len(transcript.turns)
        self.prompt_tokens += transcript.prompt_tokens
        self.completion_tokens += transcript.completion_tokens
        cost = transcript.cost_usd
        self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost
        self.terminations[transcript.termination_reason] += 1
        if transcript.error:
            kind = transcript.error.split(":", 1)[0]
            self.errors[kind] += 1
            self.error_examples.setdefault(kind, f"{transcript.problem_id}: {transcript.error[:500]}")
        if transcript.reward_error:
            kind = f"reward:{transcript.reward_error.split(':', 1)[0]}"
            self.errors[kind] += 1
            self.error_examples.setdefault(kind, f"{transcript.problem_id}: {transcript.reward_error[:500]}")
        if transcript.correct is not None:
            self.scored += 1
            self.correct += int(transcript.correct)

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
            "accuracy": self.accuracy,
            "verifier_available": self.verifier_available,
            "wall_s": round(elapsed, 3),
            "problems_per_hour": round(self.completed / elapsed * 3600, 1) if elapsed > 0 else None,
            "completion_tokens_per_s": round(self.completion_tokens / elapsed, 1) if elapsed > 0 else None,
        }
