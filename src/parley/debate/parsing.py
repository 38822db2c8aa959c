"""Tolerant parsing of answers, verdicts, critiques and judge decisions.

Parsing never guesses silently: when the expected field is absent the :class:`ParsedTurn` has
``ok=False`` and an ``error`` saying what was missing, and the protocol records the turn as unparsed
(it is never scored as if an empty string were the agent's answer).

Real instruct models (measured on SmolLM2-135M-Instruct, ``docs/smollm2.md``) often ignore the
requested line formats. The *fallback* rules below run only when the primary rules find nothing, so
any text the primary rules parse parses exactly as before:

- answers: ``Answer - 14``, ``**Final Answer:** 14`` split over two lines, "the answer is **14**",
  "the result is 14", and a last line ending in ``= 14`` (``3 + 4 = 7``);
- verdicts: a ``Verdict:`` line whose first word is not a verdict word but which says
  "correct"/"incorrect" (``Verdict: The answer is correct``), a leading ``PASS``/``FAIL``, or a first
  sentence stating that the answer/solution "is (not) correct/right/wrong/incorrect".
  Hedged sentences ("is indeed 14") stay unparsed; a quoted ``"Verdict: FAIL"`` line, unless the
  line names both verdicts (the model restating the instruction ``"Verdict: PASS" or "Verdict: FAIL"``).

Structured re-asks (:mod:`parley.debate.context`) use :func:`expected_fields`, :func:`parse_reask`
and :func:`merge_reask`: a reply missing a field is asked once for exactly that field, and the
re-ask's reply may also be the bare value (``7``, ``FAIL``, ``0.9``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from parley.debate.types import ParsedTurn, Verdict

_ANSWER_LINE = re.compile(r"(?im)^\s*(?:\*\*)?(?:final\s+)?answer(?:\*\*)?\s*[:=]\s*(.+?)\s*$")
_ANSWER_IS = re.compile(r"(?i)\bthe\s+(?:final\s+)?answer\s+is\s*[:=]?\s*([^\n]+?)\s*(?:\.\s*)?$", re.M)
_HASHES = re.compile(r"(?m)^\s*####\s*(.+?)\s*$")
_VERDICT_LINE = re.compile(r"(?im)^\s*(?:\*\*)?verdict(?:\*\*)?\s*[:=]\s*\**\s*([A-Za-z]+)")
_CRITIQUE = re.compile(r"(?is)critique\s*[:=]\s*(.+)")
_CONFIDENCE = re.compile(r"(?im)confidence\s*[:=]\s*([0-9]*\.?[0-9]+)\s*(%?)")
# Fallbacks (used only when the rules above find nothing).
_ANSWER_NEXT_LINE = re.compile(r"(?im)^\s*(?:\*\*)?(?:final\s+)?answer(?:\*\*)?\s*[:=]?\s*(?:\*\*)?\s*\n\s*(.+?)\s*$")
_ANSWER_DASH = re.compile(r"(?im)^\s*(?:\*\*)?(?:final\s+)?answer(?:\*\*)?\s*[-\u2013\u2014]\s*(.+?)\s*$")
_RESULT_IS = re.compile(
    r"(?i)\b(?:the\s+)?(?:final\s+)?(?:answer|result|solution)\s+(?:is|=)\s*[:=]?\s*\**\s*(-?\$?[0-9][0-9,]*(?:\.[0-9]+)?)"
    r"(?![0-9])(?!\s*[-+*/^\u00d7\u00f7=])")
_EQUALS_END = re.compile(r"=\s*\**\s*(-?[0-9][0-9,]*(?:\.[0-9]+)?)\s*\**\s*\.?\s*$")
_VERDICT_ANY = re.compile(r"(?im)^\s*(?:\*\*)?verdict(?:\*\*)?\s*[:=]\s*(.+)$")
_QUOTED_VERDICT = re.compile(
    r"(?im)^\s*[\"'`\u201c\u2018]+\s*(?:\*\*)?verdict(?:\*\*)?\s*[:=]\s*\**\s*([A-Za-z]+)[^\n]*$")
_LEADING_WORD = re.compile(r"^\s*\**\s*(PASS|FAIL|PASSED|FAILED)\b")
_IS_CORRECT = re.compile(
    r"(?i)\b(?:answer|solution|result|it|this)\b[^.\n]{0,40}?\b(?:is|was)\s+(not\s+)?(?:entirely\s+|completely\s+)?"
    r"(correct|right|incorrect|wrong|valid|invalid)\b")
# An answer field that is a number followed by prose ("-1, which is the confidence level", '8" means
# that ...') keeps the number; one that is a sentence, or an expression cut off before its value
# ("0 + 3 ="), is no answer (measured on SmolLM2's judge and re-ask replies, docs/smollm2.md).
_LEADING_NUMBER = re.compile(
    r"^(-?\$?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?(?:/[0-9]+)?)"  # the number
    r"\s*[\"'`\u201d\u2019]?\s*[,;:]?\s+([^0-9]*)$", re.S)  # a closing quote or comma, then words only
_WORD = re.compile(r"[A-Za-z]{2,}")
_DANGLING = re.compile(r"(?:[=+*/^\u00d7\u00f7]|\s-)\s*$")
PROSE_WORDS = 8
"""An answer with this many words (two letters or more) and no leading number is a sentence, not an answer."""
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
    if not answer or len(answer) > MAX_ANSWER_CHARS or _DANGLING.search(answer):
        return None
    lead = _LEADING_NUMBER.match(answer)
    if lead and len(_WORD.findall(lead.group(2))) >= 2:
        return lead.group(1)
    if len(_WORD.findall(answer)) >= PROSE_WORDS:
        return None
    return answer


def extract_answer(text: str, *, fallbacks: bool = True) -> str | None:
    """The final answer stated in ``text``, or ``None``.

    Order: the last ``Answer:``/``Final answer:`` line, the last ``\\boxed{}``, ``#### x``,
    "the answer is x"; when none of these yields an answer, the fallbacks of the module docstring.
    Last occurrence wins because agents revise themselves mid-text.
    """
    primary = _primary_answer(text)
    return primary if primary is not None or not fallbacks else _fallback_answer(text)


def _primary_answer(text: str) -> str | None:
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


def _fallback_answer(text: str) -> str | None:
    """Looser answer forms, tried only when :func:`extract_answer`'s primary rules find nothing."""
    for pattern in (_ANSWER_DASH, _ANSWER_NEXT_LINE):
        matches = pattern.findall(text)
        if matches:
            return _clean(matches[-1])
    matches = _RESULT_IS.findall(text)
    if matches:
        return _clean(matches[-1].replace("$", "").replace(",", ""))
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if lines and (end := _EQUALS_END.search(lines[-1])):
        return _clean(end.group(1).replace(",", ""))
    return None


def parse_solver(text: str, *, fallbacks: bool = True) -> ParsedTurn:
    """A solver/agent turn: the proposed answer (``fallbacks=False``: primary rules only)."""
    answer = extract_answer(text, fallbacks=fallbacks)
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


def parse_verifier(text: str, *, fallbacks: bool = True) -> ParsedTurn:
    """A verifier turn: ``Verdict: PASS|FAIL`` (synonyms accepted) and an optional critique."""
    critique_match = _CRITIQUE.search(text)
    critique = critique_match.group(1).strip()[:MAX_ANSWER_CHARS] if critique_match else None
    matches = _VERDICT_LINE.findall(text)
    verdict = _verdict_word(matches[-1]) if matches else None
    if verdict is None and fallbacks:
        verdict = _fallback_verdict(text)
    if verdict is None:
        return ParsedTurn(ok=False, error="no verdict found (expected 'Verdict: PASS' or 'Verdict: FAIL')",
                          critique=critique)
    return ParsedTurn(verdict=verdict, critique=critique)


def _judgement(sentence: str) -> Verdict | None:
    """pass/fail from a sentence saying the answer "is (not) correct/wrong/..."; None if it says neither."""
    found = _IS_CORRECT.findall(sentence)
    if not found:
        return None
    negated, word = found[0]
    verdict = _verdict_word(word)
    if verdict is not None and negated:
        verdict = "fail" if verdict == "pass" else "pass"
    return verdict


def _fallback_verdict(text: str) -> Verdict | None:
    """Verdict forms tried only when no ``Verdict: PASS|FAIL`` line is found."""
    for match in reversed(list(_QUOTED_VERDICT.finditer(text))):
        line = match.group(0).lower()
        if not ("pass" in line and "fail" in line) and (v := _verdict_word(match.group(1))) is not None:
            return v
    lines = _VERDICT_ANY.findall(text)
    if lines:
        line = lines[-1]
        words = re.findall(r"[A-Za-z]+", line)
        for w in words[:3]:
            if w.isupper() and (v := _verdict_word(w)) is not None:
                return v
        if (v := _judgement(line)) is not None:
            return v
    lead = _LEADING_WORD.match(text)
    if lead:
        return _verdict_word(lead.group(1))
    first = re.split(r"(?<=[.!?])\s|\n", text.strip(), maxsplit=1)[0]
    return _judgement(first)


def parse_judge(text: str, *, fallbacks: bool = True) -> ParsedTurn:
    """A judge turn: ``Final answer: x`` and ``Confidence: c`` (0-1, or a percentage)."""
    answer = extract_answer(text, fallbacks=fallbacks)
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


# Structured re-asks ------------------------------------------------------------------------------

ReaskField = str
"""``answer``, ``verdict`` or ``confidence``."""

_BARE_NUMBER = re.compile(r"^\s*\**\s*(-?\$?[0-9][0-9,]*(?:\.[0-9]+)?)\s*(%?)\s*\**\s*\.?\s*$")


def expected_fields(parser: Callable[[str], ParsedTurn]) -> tuple[ReaskField, ...]:
    """The fields a built-in parser needs for ``ok``; ``()`` for any other parser (never re-asked)."""
    return _EXPECTED.get(parser, ())


def missing_fields(parser: Callable[[str], ParsedTurn], parsed: ParsedTurn) -> list[ReaskField]:
    """The expected fields of ``parser`` that ``parsed`` lacks (empty when it parsed)."""
    return [name for name in expected_fields(parser) if getattr(parsed, name) is None]


def _first_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _confidence(text: str, *, bare: bool) -> float | None:
    matches = _CONFIDENCE.findall(text)
    if matches:
        value, percent = matches[-1]
    elif bare and (m := _BARE_NUMBER.match(_first_line(text))):
        value, percent = m.group(1).replace("$", "").replace(",", ""), m.group(2)
    else:
        return None
    c = float(value) / (100.0 if percent or float(value) > 1.0 else 1.0)
    return c if 0.0 <= c <= 1.0 else None


def parse_reask(text: str, missing: Sequence[ReaskField]) -> ParsedTurn:
    """The ``missing`` fields from the reply to a re-ask (the bare value is accepted too).

    A bare number counts as the answer when only the answer was asked for, and as the confidence
    when only the confidence was.
    """
    fields: dict[str, object] = {}
    only = len(missing) == 1
    if "answer" in missing:
        answer = extract_answer(text)
        if answer is None and only and (m := _BARE_NUMBER.match(_first_line(text))) and not m.group(2):
            answer = _clean(m.group(1).replace("$", "").replace(",", ""))
        fields["answer"] = answer
    if "verdict" in missing:
        verifier = parse_verifier(text)
        fields["verdict"], fields["critique"] = verifier.verdict, verifier.critique
    if "confidence" in missing:
        fields["confidence"] = _confidence(text, bare=only)
    lacking = [name for name in missing if fields.get(name) is None]
    return ParsedTurn(ok=not lacking, error=f"re-ask reply lacks {', '.join(lacking)}" if lacking else None,
                      **fields)  # type: ignore[arg-type]


def merge_reask(original: ParsedTurn, reask: ParsedTurn, expected: Sequence[ReaskField]) -> ParsedTurn:
    """``original`` with its missing fields (and a missing critique) filled from the re-ask's reply."""
    merged = original.model_dump()
    for name in (*expected, "critique"):
        if merged.get(name) is None and getattr(reask, name) is not None:
            merged[name] = getattr(reask, name)
    lacking = [name for name in expected if merged.get(name) is None]
    merged["ok"] = not lacking
    merged["error"] = None if not lacking else f"{original.error} (after a re-ask: still no {', '.join(lacking)})"
    return ParsedTurn(**merged)


_EXPECTED: dict[Callable[[str], ParsedTurn], tuple[ReaskField, ...]] = {
    parse_solver: ("answer",), parse_verifier: ("verdict",), parse_judge: ("answer", "confidence"),
}
