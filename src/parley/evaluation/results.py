"""Per-problem evaluation records and their aggregation into a summary.

One :class:`ProblemResult` per problem holds the outcome of every sample (``generation.
samples_per_problem``) of the evaluated protocol on it. An arm's headline accuracy uses the
**first sample** (``sample_index`` 0) of each problem, so ``n`` is the number of problems and paired
tests pair problems; ``majority`` (a majority vote over the samples' final answers) and
``mean`` (fraction of correct samples) are reported alongside when there are several samples.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from parley.debate.parsing import normalize_for_vote
from parley.debate.protocols.voting import majority_vote
from parley.errors import UserError
from parley.evaluation.statistics import DEFAULT_ALPHA, proportion

Metric = Literal["first", "majority"]
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
BREAKDOWN_KEYS = ("level", "category", "subject")


class EvaluationError(UserError, RuntimeError):
    """An evaluation could not produce a trustworthy score (missing model, dataset, verifier, data)."""


@dataclass(frozen=True)
class ProblemResult:
    """Everything an evaluation keeps about one problem (all lists are ordered by sample index)."""

    problem_id: str
    correct: list[bool]
    answers: list[str | None]
    terminations: list[str]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def first_correct(self) -> bool:
        return self.correct[0]

    @property
    def majority_correct(self) -> bool:
        """Whether the majority-voted final answer (ties: earliest) is one the verifier marked correct."""
        winner, _ = majority_vote(self.answers)
        if winner is None:
            return False
        key = normalize_for_vote(winner)
        return next(ok for a, ok in zip(self.answers, self.correct, strict=True)
                    if a is not None and normalize_for_vote(a) == key)

    @property
    def mean_correct(self) -> float:
        return sum(self.correct) / len(self.correct)

    def outcome(self, metric: Metric = "first") -> bool:
        """The problem's binary outcome under ``metric`` (``first`` sample or ``majority`` vote)."""
        if metric == "first":
            return self.first_correct
        if metric == "majority":
            return self.majority_correct
        raise ValueError(f"metric must be 'first' or 'majority', got {metric!r}")

    def to_dict(self) -> dict[str, Any]:
        record = asdict(self)
        record.update(first_correct=self.first_correct, majority_correct=self.majority_correct,
                      total_tokens=self.prompt_tokens + self.completion_tokens)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> ProblemResult:
        return cls(problem_id=record["problem_id"], correct=[bool(c) for c in record["correct"]],
                   answers=list(record["answers"]), terminations=list(record["terminations"]),
                   prompt_tokens=int(record["prompt_tokens"]), completion_tokens=int(record["completion_tokens"]),
                   cost_usd=record["cost_usd"], metadata=dict(record.get("metadata") or {}))


@dataclass
class EvalResult:
    """One evaluated arm: its per-problem results (sorted by problem id) and its summary."""

    label: str
    directory: Path
    problems: list[ProblemResult]
    summary: dict[str, Any]

    @property
    def accuracy(self) -> float:
        """First-sample accuracy, computed from the per-problem results."""
        return sum(p.first_correct for p in self.problems) / len(self.problems)

    def outcomes(self, metric: Metric = "first") -> dict[str, bool]:
        """problem id -> binary outcome under ``metric``."""
        return {p.problem_id: p.outcome(metric) for p in self.problems}


def _accuracy_block(outcomes: Sequence[bool], alpha: float) -> dict[str, Any]:
    prop = proportion(sum(outcomes), len(outcomes), alpha)
    return {"n": prop.n, "correct": prop.successes, "accuracy": prop.rate, "ci_low": prop.low,
            "ci_high": prop.high}


def summarize(problems: Sequence[ProblemResult], *, breakdown_keys: Sequence[str] = BREAKDOWN_KEYS,
              alpha: float = DEFAULT_ALPHA, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The summary of an arm: accuracy with its Wilson interval, breakdowns, tokens, cost.

    ``accuracy`` uses the first sample of each problem; ``breakdown`` has, for each key in
    ``breakdown_keys`` that some problem's metadata carries, the same block per value.
    ``cost_usd`` is ``None`` when any call's cost is unknown.
    """
    if not problems:
        raise EvaluationError("no problem results to summarize")
    n = len(problems)
    samples = len(problems[0].correct)
    first = [p.first_correct for p in problems]
    summary: dict[str, Any] = dict(extra or {})
    summary.update(metric="first", ci_method="wilson", ci_level=1.0 - alpha, samples_per_problem=samples,
                   **_accuracy_block(first, alpha))
    if samples > 1:
        maj = _accuracy_block([p.majority_correct for p in problems], alpha)
        summary["majority"] = maj
        summary["mean_sample_accuracy"] = sum(p.mean_correct for p in problems) / n
    breakdown: dict[str, dict[str, Any]] = {}
    for key in breakdown_keys:
        groups: dict[str, list[bool]] = {}
        for p in problems:
            if key in p.metadata and p.metadata[key] is not None:
                groups.setdefault(str(p.metadata[key]), []).append(p.first_correct)
        if groups:
            breakdown[key] = {value: _accuracy_block(groups[value], alpha) for value in sorted(groups)}
    summary["breakdown"] = breakdown
    prompt = sum(p.prompt_tokens for p in problems)
    completion = sum(p.completion_tokens for p in problems)
    summary["tokens"] = {
        "prompt": prompt, "completion": completion,
        "per_problem": (prompt + completion) / n,
        "per_sample": (prompt + completion) / (n * samples),
        "completion_per_sample": completion / (n * samples),
    }
    costs = [p.cost_usd for p in problems]
    total_cost = None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None))
    summary["cost_usd"] = total_cost
    summary["cost_per_problem_usd"] = None if total_cost is None else total_cost / n
    terminations = Counter(t for p in problems for t in p.terminations)
    summary["terminations"] = dict(sorted(terminations.items()))
    summary["agent_errors"] = terminations.get("error", 0)
    return summary


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_eval(result: EvalResult) -> None:
    """Write ``results.jsonl`` (one problem per line) and ``summary.json`` into ``result.directory``."""
    result.directory.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(p.to_dict(), sort_keys=True) + "\n" for p in result.problems)
    _write_atomic(result.directory / RESULTS_FILE, lines)
    _write_atomic(result.directory / SUMMARY_FILE, json.dumps(result.summary, indent=2, sort_keys=True))


def load_eval(path: str | Path) -> EvalResult:
    """Read an evaluation written by :func:`parley.evaluation.evaluate` (its directory or results file).

    Raises:
        EvaluationError: the directory has no ``results.jsonl``/``summary.json`` or they are malformed.
    """
    root = Path(path)
    if root.is_file():
        root = root.parent
    results, summary = root / RESULTS_FILE, root / SUMMARY_FILE
    for required in (results, summary):
        if not required.is_file():
            raise EvaluationError(f"{root}: no {required.name}; is this an evaluation directory written "
                                  "by 'parley eval run' (out/<label>)?")
    try:
        problems = [ProblemResult.from_dict(json.loads(line))
                    for line in results.read_text().splitlines() if line.strip()]
        meta = json.loads(summary.read_text())
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EvaluationError(f"{root}: malformed evaluation files ({exc})") from exc
    if not problems:
        raise EvaluationError(f"{results}: no problem results")
    return EvalResult(label=str(meta.get("label", root.name)), directory=root, problems=problems, summary=meta)
