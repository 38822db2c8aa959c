"""Tolerant parsing of answers, verdicts, critiques and judge decisions.

Parsing never guesses silently: when the expected field is absent the :class:`ParsedTurn` has
``ok=False`` and an ``error`` saying what was missing, and the protocol records the turn as unparsed
(it is never scored as if an empty string were the agent's answer).
"""

from __future__ import annotations

import re

from parley.debate.types import ParsedTurn, Verdict

_ANSWER_LINE = re.compile(r"(?im)^\s*(?:\*\*)?(?:final\s+)?answer(?:\*\*)?\s*[:=]\s*(.+?)\s*$")
_ANSWER_IS = re.compile(r"(?i)\bthe\s+(?:final\s+)?answer\s+is\s*[:=]?\s*([^\n]+?)\s*(?:\.\s*)?$", re.M)
_HASHES = re.compile(r"(?m)^\s*####\s*(.+?)\s*$")
_VERDICT_LINE = re.compile(r"(?im)^\s*(?:\*\*)?verdict(?:\*\*)?\s*[:=]\s*\**\s*([A-Za-z]+)")
_CRITIQUE = re.compile(r"(?is)critique\s*[:=]\s*(.+)")
_CONFIDENCE = re.compile(r"(?im)confidence\s*[:=]\s*([0-9]*\.?[0-9]+)\s*(%?)")
_PASS_WORDS = {"pass", "passed", "correct", "yes", "true", "accept", "accepted", "valid", "right"}
_FAIL_WORDS = {"fail", "failed", "incorrect", "no", "false", "reject", "rejected", "invalid", "wrong"}
MAX_ANSWER_CHARS = 2000


def last_boxed(text: str) -> str | None:
    r"""Content of the last ``\boxed{...}`` (or ``\fbox{...}``), honouring nested braces."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j].strip()
    return None  # unbalanced


def _clean(answer: str) -> str | None:
    answer = answer.strip().strip("*").strip()
    if answer.endswith(".") and not re.search(r"\d\.$", answer[:-1] + "x"):
        answer = answer[:-1].rstrip()
    if answer.startswith("$") and answer.endswith("$") and len(answer) > 1:
        answer = answer.strip("$").strip()
    if not answer or len(answer) > MAX_ANSWER_CHARS:
        return None
    return answer


def extract_answer(text: str) -> str | None:
    """The final answer stated in ``text``, or ``None``.

    Order: the last ``Answer:``/``Final answer:`` line, the last ``\\boxed{}``, ``#### x``,
    "the answer is x". Last occurrence wins because agents revise themselves mid-text.
    """
    for pattern in (_ANSWER_LINE, _HASHES):
        matches = pattern.findall(text)
        if matches:
            boxed = last_boxed(matches[-1])
            return _clean(boxed if boxed is not None else matches[-1])
    boxed = last_boxed(text)
    if boxed is not None:
        return _clean(boxed)
    matches = _ANSWER_IS.findall(text)
    if matches:
        return _clean(matches[-1])
    return None


def parse_solver(text: str) -> ParsedTurn:
    """A solver/agent turn: the proposed answer."""
    answer = extract_answer(text)
    if answer is None:
        return ParsedTurn(ok=False, error="no final answer found (expected 'Answer: ...')")
    return ParsedTurn(answer=answer)


def _verdict_word(word: str) -> Verdict | None:
    w = word.lower()
    if w in _PASS_WORDS:
        return "pass"
    if w in _FAIL_WORDS:
        return "fail"
    return None


def parse_verifier(text: str) -> ParsedTurn:
    """A verifier turn: ``Verdict: PASS|FAIL`` (synonyms accepted) and an optional critique."""
    critique_match = _CRITIQUE.search(text)
    critique = critique_match.group(1).strip()[:MAX_ANSWER_CHARS] if critique_match else None
    matches = _VERDICT_LINE.findall(text)
    verdict = _verdict_word(matches[-1]) if matches else None
    if verdict is None:
        return ParsedTurn(ok=False, error="no verdict found (expected 'Verdict: PASS' or 'Verdict: FAIL')",
                          critique=critique)
    return ParsedTurn(verdict=verdict, critique=critique)


def parse_judge(text: str) -> ParsedTurn:
    """A judge turn: ``Final answer: x`` and ``Confidence: c`` (0-1, or a percentage)."""
    answer = extract_answer(text)
    confidence: float | None = None
    errors = []
    conf_matches = _CONFIDENCE.findall(text)
    if conf_matches:
        value, percent = conf_matches[-1]
        c = float(value) / (100.0 if percent or float(value) > 1.0 else 1.0)
        if 0.0 <= c <= 1.0:
            confidence = c
        else:
            errors.append(f"confidence {value}{percent} outside [0, 1]")
    else:
        errors.append("no confidence found")
    if answer is None:
        errors.insert(0, "no final answer found (expected 'Final answer: ...')")
    return ParsedTurn(ok=answer is not None and confidence is not None,
                      error="; ".join(errors) or None, answer=answer, confidence=confidence)


def normalize_for_vote(answer: str) -> str:
    """Key used to group equal answers in majority votes: case, spaces, ``$`` and ``\\boxed`` ignored."""
    boxed = last_boxed(answer)
    a = boxed if boxed is not None else answer
    a = a.replace("$", "").replace("\\!", "").replace("\\,", "")
    a = re.sub(r"\s+", "", a).lower().rstrip(".")
    if re.fullmatch(r"-?\d+\.0+", a):
        a = a.split(".")[0]
    return a
