"""``integer`` problems: exact comparison of integer answers, in process.

For procedurally generated tasks whose gold answers are canonical integers (the embedded tiny model's
:mod:`parley.data.arithmetic` family). The answer string is matched against a strict integer pattern
(optional sign, digits, optional ``,``/``_``/thin-space digit groups of three, an optional trailing
``.``; a ``\\boxed{}`` wrapper is removed) and compared as an ``int``: nothing is evaluated, so no
worker process is needed and scoring costs microseconds. Anything else (``8.5``, ``85 apples``,
``eighty-five``) is wrong with status ``ok`` and ``details.reason = "not an integer"`` - a malformed
answer is a wrong answer, not a verifier failure.
"""

from __future__ import annotations

import re

from parley.data.problem import Problem
from parley.rewards.extract import last_boxed
from parley.rewards.types import STATUS_ERROR, STATUS_OK, STATUS_UNVERIFIABLE, RewardResult

_INTEGER = re.compile(r"^[+-]?(?:\d{1,3}(?:[,_\u2009]\d{3})+|\d+)\.?$")


def parse_integer(text: str) -> int | None:
    """The integer ``text`` states, or ``None`` when it is not exactly an integer (see module docstring)."""
    boxed = last_boxed(text)
    candidate = (boxed if boxed is not None else text).strip().replace(" ", "")
    if len(candidate) > 64 or not _INTEGER.match(candidate):
        return None
    return int(re.sub(r"[,_\u2009.]", "", candidate))


def score_integer(problem: Problem, answer: str | None) -> RewardResult:
    """Score one ``integer``-domain answer against the problem's gold answer (see the module docstring)."""
    if problem.answer is None:
        return RewardResult(None, 0.0, None, f"problem {problem.id!r} has no gold answer", STATUS_UNVERIFIABLE, {})
    gold = parse_integer(problem.answer)
    if gold is None:
        return RewardResult.failed(STATUS_ERROR, f"problem {problem.id!r}: gold answer {problem.answer!r} is "
                                   "not an integer; use the math domain for it")
    if answer is None:
        return RewardResult.no_answer()
    value = parse_integer(answer)
    if value is None:
        return RewardResult(False, 0.0, answer.strip()[:200], None, STATUS_OK, {"reason": "not an integer"})
    correct = value == gold
    return RewardResult(correct, 1.0 if correct else 0.0, str(value), None, STATUS_OK, {})
