"""Final-answer extraction from free-form model output (pure string work; nothing is evaluated).

Strategies, tried in the configured order; the first that finds something wins, and within a
strategy the *last* occurrence wins (models restate the final answer at the end):

- ``boxed``: the last ``\\boxed{...}`` / ``\\fbox{...}`` with balanced nested braces (an unbalanced
  last box falls back to the previous balanced one). Boxes joined only by separators (``,``, ``and``,
  ``or``, ``\\quad``, math delimiters, a ``x =`` before each box) are one answer listing several
  values: ``x = \\boxed{2}`` or ``x = \\boxed{3}`` gives ``x = 2, x = 3``, so a multi-part answer
  is not cut to its last part; a box after other words (``first \\boxed{2}, corrected: \\boxed{3}``)
  is a revision and stands alone.
- ``hash``: a ``#### x`` line (GSM8K style).
- ``answer_is``: "... the answer is x" / "final answer is x" (rest of the sentence).
- ``answer_line``: a line ``Answer: x`` / ``Final answer: x`` (markdown bold allowed).

When what ``hash``, ``answer_is`` or ``answer_line`` found holds prose ("the answer is all x with
x > 5"), the value stated last inside it is taken (as ``last_value`` below), if there is one.

Fallbacks (only when no strategy matched), also ordered:

- ``whole``: the whole stripped text when it is short and looks like a bare answer (no prose words
  of four or more letters outside LaTeX commands and ``\\text{}``): a debate's parsed final answer
  such as ``\\frac{1}{2}`` or ``x = 5`` goes through unchanged.
- ``last_value``: the value stated last (:func:`parley.rewards.spans.last_value`): a math segment
  (``$\\frac{1}{4}$``, ``$x > 3$``, a matrix), a relation in plain text (``x > 3``) or a number
  that is not part of a name (``H2O`` and ``AZYUK2A`` hold no number).

Every extracted answer then goes through :func:`parley.rewards.normalise.normalise_answer` (digit
groups such as ``1 000``, ``0{,}25``, Unicode relations, units after a number).

Every regex here is linear in the input; inputs longer than ``max_input_chars`` are rejected with
:class:`ExtractionError` before any scan, and so are extracted answers longer than
``max_answer_chars`` (a 1 MB "answer" is junk, and would only make the parser slow).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from parley.rewards.normalise import normalise_answer
from parley.rewards.spans import last_value, looks_like_bare_answer

Strategy = Literal["boxed", "hash", "answer_is", "answer_line"]
Fallback = Literal["whole", "last_value"]

DEFAULT_STRATEGIES: Final[tuple[Strategy, ...]] = ("boxed", "hash", "answer_is", "answer_line")
DEFAULT_FALLBACKS: Final[tuple[Fallback, ...]] = ("whole", "last_value")


class ExtractionError(ValueError):
    """The model output cannot be used as input (too long, invalid UTF-8)."""


@dataclass(frozen=True)
class ExtractionConfig:
    """How to find the final answer. Fields are documented in the module docstring."""

    strategies: tuple[Strategy, ...] = DEFAULT_STRATEGIES
    fallbacks: tuple[Fallback, ...] = DEFAULT_FALLBACKS
    max_input_chars: int = 200_000
    max_answer_chars: int = 1_000
    whole_max_chars: int = 120


@dataclass(frozen=True)
class Extraction:
    """An extracted answer and the strategy that found it."""

    text: str
    method: str


_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASH_RE = re.compile(r"^[ \t]*####[ \t]*(.+?)[ \t]*$", re.MULTILINE)
_ANSWER_IS_RE = re.compile(r"(?i)\b(?:final\s+answer|the\s+answer)\s+is\s*:?\s*([^\n]+)")
_ANSWER_LINE_RE = re.compile(
    r"(?im)^[ \t>#*_-]*(?:final\s+answer|answer)[ \t]*[*_]*[ \t]*:[ \t]*[*_]*[ \t]*(.+?)[ \t]*$"
)
_SENTENCE_END_RE = re.compile(r"\.(?:\s|$)|[!?;](?:\s|$)")
# What may sit between two boxes of one answer: separators, spacing, math delimiters, "x =".
_JOINER_RE = re.compile(
    r"(?:\s|\$|,|;|&|~|\\[,;: !]|\\q?quad|\\(?:text|mathrm)\s*\{\s*(?:and|or|,)?\s*\}|\b(?:and|or)\b"
    r"|(?<![A-Za-z\\])[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?\s*=)*"
)
_LABEL_RE = re.compile(r"(?<![A-Za-z\\])([A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?)\s*=\s*\$?\s*$")
_LABEL_WINDOW = 24
_MAX_JOINED = 32  # boxes listed as one answer, at most


def check_text(text: str | bytes, what: str = "prediction") -> str:
    """Return ``text`` as a valid Unicode string, or raise :class:`ExtractionError`.

    Bytes must be UTF-8; strings must encode to UTF-8 (no lone surrogates, which is what a
    non-UTF-8 byte sequence decoded with ``surrogateescape`` looks like).
    """
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExtractionError(f"{what} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not isinstance(text, str):
        raise ExtractionError(f"{what} must be a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ExtractionError(f"{what} is not valid UTF-8 (undecodable character at index {exc.start})") from None
    return text


def _closing_braces(text: str) -> dict[int, int]:
    """For every ``{`` that is closed, the index of its ``}`` (one linear pass; ``\\{ \\}`` skipped)."""
    closing: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "{}":
            i += 2
            continue
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            closing[stack.pop()] = i
        i += 1
    return closing


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """Every balanced box as ``(start of \\boxed, index after its }, contents)``, in order."""
    starts = list(_BOX_RE.finditer(text))
    if not starts:
        return []
    closing = _closing_braces(text)
    boxes: list[tuple[int, int, str]] = []
    for match in starts:
        end = closing.get(match.end() - 1)
        if end is not None and (not boxes or match.start() >= boxes[-1][1]):
            boxes.append((match.start(), end + 1, text[match.end() : end]))
    return boxes


def last_boxed(text: str) -> str | None:
    """The contents of the last balanced ``\\boxed{}`` / ``\\fbox{}``, or ``None``."""
    starts = [m.end() - 1 for m in _BOX_RE.finditer(text)]
    closing = _closing_braces(text) if starts else {}
    for start in reversed(starts):
        if start in closing:
            return text[start + 1 : closing[start]]
    return None


def boxed_answer(text: str) -> str | None:
    """The last box, together with the boxes before it that list further values of one answer.

    Boxes belong together when only separators lie between them (module docstring); each keeps
    the ``x =`` written before it when every box has one; repeated values are listed once.
    """
    boxes = [b for b in _boxes(text) if clean_answer(b[2])]
    if not boxes:
        return None
    group = [boxes[-1]]
    for prev in reversed(boxes[:-1]):
        gap = text[prev[1] : group[0][0]]
        if len(group) >= _MAX_JOINED or len(gap) > 80 or _JOINER_RE.fullmatch(gap) is None:
            break
        group.insert(0, prev)
    if len(group) == 1:
        return group[0][2]
    labels = []
    for start, _, _ in group:
        found = _LABEL_RE.search(text[max(0, start - _LABEL_WINDOW) : start])
        labels.append(found.group(1) if found else None)
    parts: list[str] = []
    for (_, _, inner), label in zip(group, labels, strict=True):
        value = clean_answer(inner)
        part = f"{label} = {value}" if all(labels) else value
        if part not in parts:
            parts.append(part)
    return ", ".join(parts)


def _last_group(pattern: re.Pattern[str], text: str) -> str | None:
    last = None
    for match in pattern.finditer(text):
        last = match.group(1)
    return last


def _first_sentence(text: str) -> str:
    match = _SENTENCE_END_RE.search(text)
    return text[: match.start()] if match else text


def clean_answer(text: str) -> str:
    """Strip wrappers that are presentation, not content: whitespace, ``$``, ``\\(\\)``, bold, final dot."""
    out = text.strip()
    for _ in range(3):  # wrappers can nest, e.g. **$x$**
        before = out
        out = out.strip().strip("*").strip()
        if (out.startswith("\\(") and out.endswith("\\)")) or (out.startswith("\\[") and out.endswith("\\]")):
            out = out[2:-2]
        elif len(out) >= 2 and out.startswith("$") and out.endswith("$") and out.count("$") % 2 == 0:
            out = out.strip("$")
        out = out.strip()
        if out.endswith("."):
            out = out[:-1].rstrip()
        if out == before:
            break
    return out


def extract_answer(text: str | bytes, config: ExtractionConfig | None = None) -> Extraction | None:
    """Find the final answer in ``text``; ``None`` when nothing answer-like is there.

    Raises :class:`ExtractionError` for input that must be reported as an error rather than as a
    missing answer (invalid UTF-8, over ``max_input_chars``, extracted answer over ``max_answer_chars``).
    """
    cfg = config or ExtractionConfig()
    text = check_text(text)
    if len(text) > cfg.max_input_chars:
        raise ExtractionError(
            f"prediction is {len(text):,} characters, over the limit of {cfg.max_input_chars:,} "
            "(ExtractionConfig.max_input_chars)"
        )
    found: Extraction | None = None
    for strategy in cfg.strategies:
        raw: str | None
        if strategy == "boxed":
            raw = boxed_answer(text)
        elif strategy == "hash":
            raw = _last_group(_HASH_RE, text)
        elif strategy == "answer_is":
            raw = _last_group(_ANSWER_IS_RE, text)
            raw = _first_sentence(raw) if raw is not None else None
        elif strategy == "answer_line":
            raw = _last_group(_ANSWER_LINE_RE, text)
        else:
            raise ValueError(f"unknown extraction strategy {strategy!r}; known: {DEFAULT_STRATEGIES}")
        raw = clean_answer(raw) if raw is not None else None
        if raw and strategy != "boxed" and not looks_like_bare_answer(raw):
            # "the answer is all x with x ≥ 5": the value inside the sentence, when there is one
            span = last_value(raw)
            raw = clean_answer(span.value) if span is not None and clean_answer(span.value) else raw
        if raw:
            found = Extraction(normalise_answer(raw), strategy)
            break
    if found is None:
        for fallback in cfg.fallbacks:
            if fallback == "whole":
                whole = clean_answer(text)
                if whole and len(whole) <= cfg.whole_max_chars and looks_like_bare_answer(whole):
                    found = Extraction(normalise_answer(whole), "whole")
            elif fallback == "last_value":
                span = last_value(text)
                value = clean_answer(span.value) if span is not None else ""
                if value:
                    found = Extraction(normalise_answer(value), "last_value")
            else:
                raise ValueError(f"unknown extraction fallback {fallback!r}; known: {DEFAULT_FALLBACKS}")
            if found is not None:
                break
    if found is not None and len(found.text) > cfg.max_answer_chars:
        raise ExtractionError(
            f"extracted answer is {len(found.text):,} characters, over the limit of "
            f"{cfg.max_answer_chars:,} (ExtractionConfig.max_answer_chars)"
        )
    return found
