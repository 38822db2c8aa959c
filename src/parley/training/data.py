"""The order in which training problems are visited, with a resumable position."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from parley.data.problem import Problem


class ProblemSampler:
    """Epochs over ``problems`` in a seeded shuffled order; ``state()``/``restore()`` resume exactly."""

    def __init__(self, problems: Sequence[Problem], seed: int) -> None:
        if not problems:
            raise ValueError("no training problems")
        self.problems = list(problems)
        self.seed = seed
        self.epoch = 0
        self.position = 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        order = list(range(len(self.problems)))
        random.Random(self.seed * 1_000_003 + epoch).shuffle(order)
        return order

    def next(self, n: int) -> list[Problem]:
        """The next ``n`` problems (wrapping into a new shuffled epoch; no repeats within one call)."""
        out: list[Problem] = []
        while len(out) < n:
            if self.position >= len(self._order):
                self.epoch += 1
                self.position = 0
                self._order = self._permutation(self.epoch)
            candidate = self.problems[self._order[self.position]]
            self.position += 1
            if all(p.id != candidate.id for p in out) or len(self.problems) < n:
                out.append(candidate)
        return out

    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "n": len(self.problems)}

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("n") != len(self.problems) or state.get("seed") != self.seed:
            raise ValueError(f"data position {state} does not match this dataset ({len(self.problems)} problems, "
                             f"seed {self.seed}); was the dataset config changed?")
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = self._permutation(self.epoch)
