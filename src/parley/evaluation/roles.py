"""Per-role metrics of a set of debates, with 95% intervals: what each role of the team did.

Computed from the structured turns and a correctness oracle (the reward registry's verdicts on every
proposed answer), through :func:`parley.rewards.signals.debate_signals`, so roles come from the turns,
never from the text. Each debate first becomes a :class:`RoleRow` (what its roles did; stored as
``roles.jsonl`` beside an evaluation's results, so metrics can be pooled over seeds later without
re-scoring), then rows become metrics. Definitions (``n`` is what each rate is a share of):

- ``debate_accuracy``: the final answer is correct.
- ``solver_first_accuracy``: the solver's first attempt is correct (no parsed answer counts as wrong).
- ``verifier_balanced_accuracy``: (TPR + TNR) / 2 over verifier turns that checked an attempt, with
  TPR = P(pass | the attempt was correct), TNR = P(fail | it was wrong). An unparsed verdict counts as
  not passing, as the protocol treats it. Reported beside ``verifier_accuracy`` (plain agreement) and
  ``verifier_pass_rate``, because a verifier that always fails wrong-heavy batches has high accuracy and
  no skill (the class-imbalance trap, docs/algorithms.md section 2). Its interval is a percentile
  bootstrap over debates (turns of one debate move together); ``n`` is the number of verifier turns.
  Absent when the checked attempts were all right or all wrong (it is undefined then).
- ``verifier_majority_verdict_share``: the share of verifier turns that gave the more common verdict
  (above 0.95 the verifier is effectively constant: a degenerate comparison).
- ``judge_accuracy``: the judge's own parsed answer is correct.
- ``flip_wrong_to_right``: among debates whose first attempt was wrong, the share whose final answer is
  right (what the debate repaired); ``flip_right_to_wrong``: among debates whose first attempt was right,
  the share whose final answer is wrong (what it broke).
- ``rounds_used``: mean rounds (a mean with a t interval).

Every value is a :class:`RoleStat` ``{"value", "ci_low", "ci_high", "n"}``; a metric with no applicable
turn is omitted (never reported as 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from parley.debate.types import Transcript
from parley.evaluation.statistics import mean_ci, proportion
from parley.rewards.signals import CorrectnessOracle, debate_signals

BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class RoleStat:
    """A rate or mean with its 95% interval and the count it is over."""

    value: float
    ci_low: float
    ci_high: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


@dataclass(frozen=True)
class RoleRow:
    """What the roles of one debate did (see the module docstring).

    ``verifier`` counts ``(passed_right, right, failed_wrong, wrong)``: passes among checks of correct
    attempts, checks of correct attempts, fails among checks of wrong attempts, checks of wrong attempts.
    ``first_correct`` / ``judge_correct`` are ``None`` when the debate had no solver / judge turn.
    """

    problem_id: str
    final_correct: bool
    first_correct: bool | None
    judge_correct: bool | None
    verifier: tuple[int, int, int, int]
    passes: int
    rounds: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoleRow:
        return cls(problem_id=str(data["problem_id"]), final_correct=bool(data["final_correct"]),
                   first_correct=data["first_correct"], judge_correct=data["judge_correct"],
                   verifier=tuple(int(v) for v in data["verifier"]),  # type: ignore[arg-type]
                   passes=int(data["passes"]), rounds=int(data["rounds"]))


def role_row(transcript: Transcript, oracle: CorrectnessOracle) -> RoleRow:
    """The :class:`RoleRow` of one debate under ``oracle`` (correctness of an answer to its problem)."""
    signals = debate_signals(transcript, oracle)
    solver = [turn for turn in transcript.turns if turn.role == "solver"]
    judge: bool | None = None
    pr = r = fw = w = passes = 0
    for turn, local, truth in zip(transcript.turns, signals.local, signals.checked_correct, strict=True):
        if turn.role == "judge":
            judge = local >= 1.0
        elif turn.role == "verifier" and truth is not None:
            passed = turn.parsed.verdict == "pass"
            passes += passed
            if truth:
                r += 1
                pr += passed
            else:
                w += 1
                fw += not passed
    return RoleRow(transcript.problem_id, signals.outcome >= 1.0,
                   oracle(solver[0].parsed.answer) if solver else None, judge, (pr, r, fw, w), passes,
                   transcript.rounds_used)


def role_rows(transcripts: Sequence[Transcript], oracle_for: Callable[[Transcript], CorrectnessOracle]
              ) -> list[RoleRow]:
    """One :class:`RoleRow` per transcript; ``oracle_for(t)`` is the correctness oracle of t's problem."""
    return [role_row(t, oracle_for(t)) for t in transcripts]


def _rate(flags: Sequence[bool]) -> RoleStat | None:
    if not flags:
        return None
    p = proportion(int(sum(flags)), len(flags))
    return RoleStat(p.rate, p.low, p.high, p.n)


def balanced_accuracy_stat(counts: Sequence[tuple[int, int, int, int]], seed: int = 0) -> RoleStat | None:
    """Balanced accuracy of per-debate verifier counts with a percentile bootstrap over debates."""
    table = np.array(counts, dtype=float).reshape(-1, 4)
    total = table.sum(axis=0)
    if total[1] == 0 or total[3] == 0:
        return None
    value = float(0.5 * (total[0] / total[1] + total[2] / total[3]))
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        s = table[rng.integers(0, len(table), len(table))].sum(axis=0)
        if s[1] > 0 and s[3] > 0:
            draws.append(0.5 * (s[0] / s[1] + s[2] / s[3]))
    low, high = (float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))) if draws else (value, value)
    return RoleStat(value, low, high, int(total[1] + total[3]))


def role_stats(rows: Sequence[RoleRow], seed: int = 0) -> dict[str, RoleStat]:
    """The per-role metrics of ``rows`` (see the module docstring); pool rows of several seeds freely."""
    out: dict[str, RoleStat | None] = {"debate_accuracy": _rate([r.final_correct for r in rows])}
    first = [r for r in rows if r.first_correct is not None]
    out["solver_first_accuracy"] = _rate([bool(r.first_correct) for r in first])
    with_verifier = [r for r in rows if r.verifier[1] + r.verifier[3] > 0]
    if with_verifier:
        out["verifier_balanced_accuracy"] = balanced_accuracy_stat([r.verifier for r in with_verifier], seed)
        checks = sum(r.verifier[1] + r.verifier[3] for r in with_verifier)
        agree = sum(r.verifier[0] + r.verifier[2] for r in with_verifier)
        passes = sum(r.passes for r in with_verifier)
        out["verifier_accuracy"] = _rate([True] * agree + [False] * (checks - agree))
        out["verifier_pass_rate"] = _rate([True] * passes + [False] * (checks - passes))
        majority = max(passes, checks - passes)
        out["verifier_majority_verdict_share"] = _rate([True] * majority + [False] * (checks - majority))
    out["judge_accuracy"] = _rate([bool(r.judge_correct) for r in rows if r.judge_correct is not None])
    out["flip_wrong_to_right"] = _rate([r.final_correct for r in first if not r.first_correct])
    out["flip_right_to_wrong"] = _rate([not r.final_correct for r in first if r.first_correct])
    if rows:
        m = mean_ci([float(r.rounds) for r in rows])
        out["rounds_used"] = RoleStat(m.mean, m.mean if m.low is None else m.low,
                                      m.mean if m.high is None else m.high, m.n)
    return {k: v for k, v in out.items() if v is not None}


def role_metrics(transcripts: Sequence[Transcript], oracle_for: Callable[[Transcript], CorrectnessOracle],
                 seed: int = 0) -> dict[str, RoleStat]:
    """The per-role metrics of ``transcripts``: :func:`role_stats` of their :func:`role_rows`."""
    return role_stats(role_rows(transcripts, oracle_for), seed)
