"""Fallback parsing rules, on replies SmolLM2-135M-Instruct actually wrote (recorded from its runs)."""

from __future__ import annotations

import pytest

from parley.debate.parsing import extract_answer, parse_judge, parse_solver, parse_verifier
from parley.debate.prompts import PACKAGED_SETS, PromptSet


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 + 4 = 7", "7"),  # SmolLM2's whole reply to 'Calculate 3 + 4.'
        ("47 - 37 = 11", "11"),
        ("Answer - 12", "12"),
        ("**Final Answer:**\n14", "14"),
        ("So the result is 14.", "14"),
        ("The answer is: **1,234**", "1,234"),  # primary rule ("the answer is") keeps its own cleaning
        ("x = 5\nthen we stop", None),  # '= N' counts only on the last line
        ("we get 5", None),
    ],
)
def test_fallback_answers(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected


@pytest.mark.parametrize("text", ["3 + 4 = 7", "Answer - 12", "**Final Answer:**\n14", "So the result is 14."])
def test_primary_rules_alone_do_not_parse_fallback_forms(text: str) -> None:
    assert extract_answer(text, fallbacks=False) is None
    assert not parse_solver(text, fallbacks=False).ok and parse_solver(text).ok


@pytest.mark.parametrize(
    "text", ["2 + 2 = 4\nAnswer: 4", "Answer: 3\nwait\nAnswer: 5 = 5", "Thus the answer is 42.\n6 = 6",
             "**Final Answer:** 12", "work\n#### 7"])
def test_text_the_primary_rules_parse_is_unchanged_by_fallbacks(text: str) -> None:
    assert extract_answer(text) == extract_answer(text, fallbacks=False) is not None


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("The answer 2 is correct.", "pass"),  # SmolLM2 verifier reply
        ("Verdict: The answer is incorrect", "fail"),
        ("Verdict: The proposed answer is not correct.", "fail"),
        ("PASS\nCritique: fine", "pass"),
        ("The solution is not correct because 7 - 2 is 5.", "fail"),
        ("The answer is indeed 14.\n\nThe reason is that ...", None),  # hedged: stays unparsed
        ("I think it's fine", None),
    ],
)
def test_fallback_verdicts(text: str, verdict: str | None) -> None:
    parsed = parse_verifier(text)
    assert parsed.verdict == verdict and parsed.ok == (verdict is not None)
    if verdict is not None:
        assert parse_verifier(text, fallbacks=False).verdict is None


def test_primary_verdict_wins_over_sentences() -> None:
    assert parse_verifier("The answer is correct.\nVerdict: FAIL").verdict == "fail"


def test_judge_without_confidence_keeps_its_answer_but_is_unparsed() -> None:
    parsed = parse_judge("Round 1: 81 + -78 = 19\nFinal answer: 19\n\nThe answer is 19.")
    assert parsed.answer == "19" and not parsed.ok and "confidence" in (parsed.error or "")


def test_the_instruct_prompt_set_is_packaged_and_named() -> None:
    assert "instruct" in PACKAGED_SETS
    prompts = PromptSet("instruct")
    assert all(src.startswith("package:instruct/") for src in prompts.sources.values())
    text = prompts.render("solver", question="Calculate 3 + 4.", attempts=[{"answer": "8", "critique": "off by one"}])
    assert "A previous answer was 8" in text and "Answer: <number>" in text
    assert PromptSet().sources["solver"] == "package:solver.jinja"  # the default set (tiny model) is untouched
    with pytest.raises(ValueError, match="packaged prompt set"):
        PromptSet("no-such-set")


@pytest.mark.parametrize(("text", "expected"), [
    # A number followed by prose keeps the number (SmolLM2's judge and re-ask replies).
    ("The final answer is -1, which is the confidence level.", "-1"),
    ('Final answer: 8" means that this answer is confirmed to be', "8"),
    ("Answer: 12 dollars per hour", "12"),
    ("Answer: 1,234 apples in the box", "1,234"),
    # ... unless the rest has numbers of its own, or is a single word (a unit).
    ("Answer: 3 and 4 respectively", "3 and 4 respectively"),
    ("Answer: 14 apples", "14 apples"),
    # A sentence is no answer; nor is an expression cut off before its value.
    ("Final answer: less than 6, it should be less than 9. This is because 6 is the smallest number", None),
    ("Final answer: correct because -1 is exactly 3 when you look at the numbers 1 and 3", None),
    ("the answer is 0 + 3 = ", None),
    ("Answer: 2^", None),
    # ... while ordinary answers are unchanged.
    ("Answer: x = 3", "x = 3"),
    ("Answer: 5 - 3", "5 - 3"),
    ("Answer: $5.50", "$5.50"),
    ("the result is 5 - 3 = 2", "2"),
    (r"Answer: \boxed{\frac{1}{2}}", r"\frac{1}{2}"),
])
def test_answer_values_drop_prose_and_dangling_expressions(text: str, expected: str | None) -> None:
    assert extract_answer(text) == expected
