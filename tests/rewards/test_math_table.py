"""Acceptance table: math answer pairs decided by the real extraction + math-verify in real workers."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.rewards.math import MathVerifier

# (gold, prediction, expected correct)
EQUIVALENT = [
    (r"\frac{1}{2}", "0.5", True),
    (r"\frac{1}{2}", r"\dfrac{1}{2}", True),
    (r"\frac{3}{4}", r"\tfrac34", True),
    ("1/2", r"\frac12", True),
    (r"-\frac{1}{2}", "-0.5", True),
    ("0.25", r"\frac{1}{4}", True),
    (r"50\%", "0.5", True),
    (r"25\%", r"\frac{1}{4}", True),
    (r"\sqrt{2}", r"2^{1/2}", True),
    (r"2\sqrt{2}", r"\sqrt{8}", True),
    (r"\frac{\sqrt{3}}{2}", r"\sin(\pi/3)", True),
    (r"\pi", r"\pi", True),
    (r"2\pi", r"\pi \cdot 2", True),
    (r"\frac{\pi}{2}", r"\pi/2", True),
    (r"\{1,2\}", r"\{2,1\}", True),
    (r"\{1,2,3\}", "1,2,3", True),
    ("(1,2]", "(1,2]", True),
    ("[0,1)", "[0,1)", True),
    (r"(-\infty, 3)", r"(-\infty,3)", True),
    ("(1,2)", "(1, 2)", True),
    ("(3, -4)", "(3,-4)", True),
    ("x=5", "5", True),
    ("5", "x = 5", True),
    ("y=2x+1", "y = 1 + 2x", True),
    ("1000", "1,000", True),
    ("12345678", "12,345,678", True),
    ("1,000,000", "1000000", True),
    (r"5\text{ cm}", "5", True),
    ("5", r"5 \text{ cm}", True),
    (r"10\text{ dollars}", "10", True),
    ("10", r"\$10", True),
    ("3", "3.0", True),
    ("3", "3.00", True),
    ("0.1", ".1", True),
    (r"x^2+2x+1", "(x+1)^2", True),
    (r"\frac{x}{2}", "x/2", True),
    (r"\infty", r"\infty", True),
    ("-7", "-7", True),
    ("42", "The answer is 42.", True),
    ("42", r"so we get \boxed{42}", True),
    ("42", "work...\n#### 42", True),
    ("42", "Final answer: 42", True),
    (r"\frac{7}{3}", r"\boxed{\frac{7}{3}}", True),
    (r"\frac{7}{3}", r"first \boxed{2}, corrected: \boxed{\frac{14}{6}}", True),
    ("2", "I think there are 2 apples", True),
]

NOT_EQUIVALENT = [
    ("2", "3", False),
    (r"\frac{1}{2}", "0.51", False),
    (r"\frac{1}{2}", r"\frac{1}{3}", False),
    ("100", "99.99", False),
    (r"\pi", "3.14159", False),
    (r"\sqrt{2}", "1.414", False),
    (r"\sqrt{2}", r"\sqrt{3}", False),
    ("(1,2)", "(2,1)", False),
    ("[0,1)", "(0,1]", False),
    ("[0,1]", "[0,1)", False),
    (r"\{1,2\}", r"\{1,3\}", False),
    ("x=5", "6", False),
    ("-7", "7", False),
    ("1000", "100", False),
    (r"x^2+2x+1", "(x-1)^2", False),
    ("42", r"\boxed{41}", False),
    ("42", "#### 43", False),
    ("5", "The answer is 6.", False),
    (r"2\pi", r"\pi", False),
    (r"\frac{7}{3}", r"\boxed{\frac{14}{6}} then \boxed{3}", False),
]

TABLE = EQUIVALENT + NOT_EQUIVALENT


def test_table_is_big_enough() -> None:
    assert len(TABLE) >= 60
    assert len({(g, p) for g, p, _ in TABLE}) == len(TABLE)


def test_every_pair_is_decided_correctly(math_verifier: MathVerifier) -> None:
    results = math_verifier.verify_many([(gold, pred) for gold, pred, _ in TABLE])
    wrong = [
        (gold, pred, expected, r.correct, r.status, r.extracted, r.error)
        for (gold, pred, expected), r in zip(TABLE, results, strict=True)
        if r.correct is not expected or r.status != "ok"
    ]
    assert wrong == []


def test_scores_are_binary_and_memoised(math_verifier: MathVerifier) -> None:
    first = math_verifier.verify(r"\frac{2}{3}", r"\boxed{\frac{4}{6}}")
    second = math_verifier.verify(r"\frac{2}{3}", r"\boxed{\frac{4}{6}}")
    assert (first.correct, first.score, first.status) == (True, 1.0, "ok")
    assert first.details["memo_hit"] is False
    assert second.details["memo_hit"] is True and second.correct is True


INJECTIONS = [
    "__import__('os').system('touch {marker}')",
    r"\boxed{__import__('os').system('touch {marker}')}",
    "The answer is __import__('os').system('touch {marker}')",
    "#### exec(\"open('{marker}','w').write('x')\")",
    r"\boxed{eval(compile('import os; os.system(\"touch {marker}\")', 'x', 'exec'))}",
    "Answer: (lambda: __import__('subprocess').call(['touch', '{marker}']))()",
]


@pytest.mark.parametrize("template", INJECTIONS)
def test_injection_strings_are_wrong_and_execute_nothing(
    math_verifier: MathVerifier, tmp_path: Path, template: str
) -> None:
    marker = tmp_path / "pwned"
    # The gold is a fraction no number of the temp path can equal: with gold "5", a run whose base temp
    # directory was pytest-5 extracted that 5 from the marker path and scored the injection correct.
    result = math_verifier.verify("7/11", template.replace("{marker}", str(marker)))
    assert result.correct is False
    assert result.score == 0.0
    assert not marker.exists()


def test_bad_inputs_give_error_results_not_crashes(math_verifier: MathVerifier) -> None:
    cases: list[tuple[str, str | bytes | None]] = [
        ("1", ""),  # empty
        ("1", "   \n"),  # whitespace only
        ("1", None),  # no answer at all
        ("1", b"\xff\xfe\xfa 1"),  # not UTF-8 (bytes)
        ("1", "caf\udce9 1"),  # not UTF-8 (surrogate-escaped str, as the CLI reads it)
        ("1", "1" * 1_048_576),  # 1 MB answer
        ("1", r"\boxed{" + "{" * 5000),  # unbalanced braces
        ("1", r"\boxed{\frac{1}{2"),  # unbalanced inside the box
        ("1", "".join(chr(c) for c in range(1, 256)) * 50),  # binary junk
        ("", "1"),  # empty gold
        (r"\frac{", "1"),  # unparseable gold
        ("1", r"\boxed{1}"),  # still works after all of the above
    ]
    results = math_verifier.verify_many(cases)
    statuses = [r.status for r in results]
    assert statuses[:3] == ["no_answer", "no_answer", "no_answer"]
    assert statuses[3] == "error" and "UTF-8" in (results[3].error or "")
    assert statuses[4] == "error" and "UTF-8" in (results[4].error or "")
    assert statuses[5] == "error" and "over the limit" in (results[5].error or "")
    for result in results[6:9]:
        assert result.correct is False and result.status in ("ok", "no_answer", "error")
    assert statuses[9] == "error" and "gold" in (results[9].error or "")
    assert results[10].correct is False  # math-verify keeps unparseable LaTeX as a string: no match
    assert (results[11].correct, results[11].status) == (True, "ok")
    assert all(r.correct in (True, False) for r in results)
