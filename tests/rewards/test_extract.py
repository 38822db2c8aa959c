"""Final-answer extraction: strategies, fallbacks, limits."""

from __future__ import annotations

import pytest

from parley.rewards.extract import ExtractionConfig, ExtractionError, extract_answer


@pytest.mark.parametrize(
    ("text", "expected", "method"),
    [
        (r"so \boxed{\frac{1}{2}} and finally \boxed{\frac{\sqrt{3}}{2}}.", r"\frac{\sqrt{3}}{2}", "boxed"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}", "boxed"),
        (r"\fbox{7}", "7", "boxed"),
        (r"good \boxed{3} then broken \boxed{4", "3", "boxed"),
        ("work\n#### 1,234\n", "1,234", "hash"),
        ("Thus the answer is $x = 5$. Done.", "x = 5", "answer_is"),
        ("The final answer is 3.5.", "3.5", "answer_is"),
        ("Reasoning.\n**Final Answer:** 42", "42", "answer_line"),
        ("Answer: (1, 2)", "(1, 2)", "answer_line"),
        (r"\frac{1}{2}", r"\frac{1}{2}", "whole"),
        (r"5 \text{ cm}", r"5 \text{ cm}", "whole"),
        ("I think there are 7 apples", "7", "last_value"),
        ("costs 1,250.50 dollars", "1,250.50", "last_value"),
    ],
)
def test_strategies(text: str, expected: str, method: str) -> None:
    found = extract_answer(text)
    assert found is not None
    assert (found.text, found.method) == (expected, method)


def test_nothing_to_extract() -> None:
    assert extract_answer("") is None
    assert extract_answer("no numbers in this sentence at all") is None
    assert extract_answer(r"\boxed{never closed") is None


def test_configurable_order_and_fallbacks() -> None:
    text = "#### 5\nThe answer is 6"
    assert extract_answer(text).text == "5"  # type: ignore[union-attr]
    only_answer_is = ExtractionConfig(strategies=("answer_is",), fallbacks=())
    assert extract_answer(text, only_answer_is).text == "6"  # type: ignore[union-attr]
    no_fallback = ExtractionConfig(fallbacks=())
    assert extract_answer("I think there are 7 apples", no_fallback) is None


def test_limits_and_encoding() -> None:
    with pytest.raises(ExtractionError, match="max_input_chars"):
        extract_answer("1" * 300_000)
    with pytest.raises(ExtractionError, match="max_answer_chars"):
        extract_answer(r"\boxed{" + "1" * 2_000 + "}")
    with pytest.raises(ExtractionError, match="UTF-8"):
        extract_answer(b"\xff 1")
    assert extract_answer(b"3").text == "3"  # type: ignore[union-attr]
