"""Paired comparison of evaluated arms, and per-problem outcomes under the two metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.evaluation import EvalResult, EvaluationError, ProblemResult, compare


def _problem(pid: str, correct: list[bool], answers: list[str | None]) -> ProblemResult:
    return ProblemResult(problem_id=pid, correct=correct, answers=answers, terminations=["single"] * len(correct),
                         prompt_tokens=10, completion_tokens=5, cost_usd=None)


def test_majority_outcome_follows_the_voted_answer() -> None:
    assert _problem("a", [True, False, True], ["7", "5", "7"]).majority_correct is True
    assert _problem("b", [False, True, False], ["5", "7", "5"]).majority_correct is False
    assert _problem("c", [False, False, True], [None, None, "7"]).majority_correct is True
    assert _problem("d", [False, False], [None, None]).majority_correct is False
    tie = _problem("e", [False, True], ["5", "7"])  # tie: the earliest answer wins
    assert (tie.outcome("first"), tie.outcome("majority")) == (False, False)
    with pytest.raises(ValueError, match="metric"):
        tie.outcome("best")  # type: ignore[arg-type]


def test_compare_real_arms(arms: tuple[Path, EvalResult, EvalResult]) -> None:
    out, debate, single = arms
    c = compare(out / "debate", out / "single", n_resamples=2000, seed=0)
    assert (c.label_a, c.label_b, c.n) == ("debate", "single", 30)
    assert c.accuracy_a.successes == debate.summary["correct"]
    assert c.accuracy_b.successes == single.summary["correct"]
    assert c.diff == pytest.approx(debate.accuracy - single.accuracy)
    assert c.diff > 0 and c.bootstrap.low > 0
    assert c.mcnemar.b > c.mcnemar.c
    assert c.mcnemar.b - c.mcnemar.c == c.accuracy_a.successes - c.accuracy_b.successes
    flipped = compare(single, debate, n_resamples=2000, seed=0)
    assert flipped.diff == -c.diff
    assert (flipped.mcnemar.b, flipped.mcnemar.c) == (c.mcnemar.c, c.mcnemar.b)
    assert flipped.mcnemar.p_value == c.mcnemar.p_value
    assert compare(debate, debate, n_resamples=200).as_dict()["bootstrap"]["p_value"] == 1.0


def test_compare_hand_built_arms() -> None:
    # a right on 4 of 5, b on 1 of 5; discordant: a-only on p1, p2, p3 -> b=3, c=0, p = 2/8
    a = EvalResult("a", Path("a"), [_problem(f"p{i}", [ok == 1], ["1"]) for i, ok in enumerate([1, 1, 1, 1, 0])], {})
    b = EvalResult("b", Path("b"), [_problem(f"p{i}", [ok == 1], ["1"]) for i, ok in enumerate([1, 0, 0, 0, 0])], {})
    c = compare(a, b, n_resamples=500)
    assert c.diff == pytest.approx(0.6)
    assert (c.mcnemar.b, c.mcnemar.c) == (3, 0)
    assert c.mcnemar.p_value == pytest.approx(0.25)


def test_compare_refuses_different_problem_sets(arms: tuple[Path, EvalResult, EvalResult]) -> None:
    _, debate, single = arms
    fewer = EvalResult("fewer", single.directory, single.problems[:20], single.summary)
    with pytest.raises(EvaluationError, match=r"'debate' \(30 problems\) and 'fewer' \(20 problems\).*10 only in"):
        compare(debate, fewer)
