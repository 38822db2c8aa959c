from __future__ import annotations

import pytest

from parley.debate.parsing import (
    extract_answer,
    last_boxed,
    normalize_for_vote,
    parse_judge,
    parse_solver,
    parse_verifier,
)
from parley.debate.protocols.voting import majority_vote


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 + 2 = 4\nAnswer: 4", "4"),
        ("Answer: 3\nwait, recheck\nAnswer: 5", "5"),
        ("**Final Answer:** 12", "12"),
        ("so the result is \\boxed{\\frac{1}{2}}.", "\\frac{1}{2}"),
        ("\\boxed{a_{1}+\\sqrt{2}}", "a_{1}+\\sqrt{2}"),
        ("work...\n#### 1,234", "1,234"),
        ("Thus the answer is 42.", "42"),
        ("Answer: $x=5$", "x=5"),
        ("Answer: 3.5", "3.5"),
        ("no answer here", None),
        ("unbalanced \\boxed{1 + {2}", None),
    ],
)
def test_extract_answer(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


def test_last_boxed_nested() -> None:
    assert last_boxed("\\boxed{1} then \\boxed{\\{1,2\\}}") == "\\{1,2\\}"


def test_solver_unparsed_is_recorded_not_empty() -> None:
    parsed = parse_solver("I am not sure.")
    assert not parsed.ok and parsed.answer is None and "Answer" in (parsed.error or "")


@pytest.mark.parametrize(
    ("text", "verdict"),
    [("Verdict: PASS\nCritique: fine", "pass"), ("verdict: fail", "fail"), ("Verdict: incorrect", "fail"),
     ("**Verdict:** Correct", "pass"), ("I think it's fine", None), ("Verdict: maybe", None)],
)
def test_parse_verifier(text: str, verdict: str | None) -> None:
    parsed = parse_verifier(text)
    assert parsed.verdict == verdict
    assert parsed.ok == (verdict is not None)


def test_parse_verifier_critique() -> None:
    assert parse_verifier("Verdict: FAIL\nCritique: sign error in step 2").critique == "sign error in step 2"


def test_parse_judge() -> None:
    assert parse_judge("Final answer: 7\nConfidence: 0.25").confidence == 0.25
    assert parse_judge("Final answer: 7\nConfidence: 90%").confidence == pytest.approx(0.9)
    missing = parse_judge("Final answer: 7")
    assert not missing.ok and missing.answer == "7" and "confidence" in (missing.error or "")
    bad = parse_judge("Confidence: 0.3")
    assert not bad.ok and bad.answer is None


def test_majority_vote_ties_go_to_earliest() -> None:
    assert majority_vote(["3", "4", "4", "3"]) == ("3", 0.5)
    assert majority_vote([None, "4", " 4 ", "5"]) == ("4", pytest.approx(2 / 3))
    assert majority_vote([None, None]) == (None, 0.0)
    assert normalize_for_vote("\\boxed{ 2.0 }") == normalize_for_vote("$2$")
