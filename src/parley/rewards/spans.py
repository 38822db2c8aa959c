"""Where a value sits in free text: math segments, relations and numbers (pure string work, linear time).

Used by the ``last_value`` fallback of :mod:`parley.rewards.extract`, which takes the candidate that
ends last (a candidate inside a longer one that ends at the same place loses to it):

- math segments: ``$...$`` (Pandoc's rule: the opening ``$`` is not followed by a space, the closing
  one is not preceded by a space nor followed by a digit, so ``costs $5 and $3`` is prose), ``$$...$$``,
  ``\\(...\\)``, ``\\[...\\]``, and matrix environments written outside them. A segment that is one
  bare letter (``$x$``, ``$\\mathbf{v}$``) names a variable, not a value, unless it ends the
  statement (``the limit is $e$.``); a segment holding prose words is skipped.
- relations in plain text: ``x > 3``, ``y = -x + 4``, ``x ≥ 0`` (a one-letter left side and a
  numeric or linear right side), so an inequality is not reduced to its last number.
- numbers: digits with thousands groups (``1,000``, ``12 345``, ``45\\u202f000``), decimals with a
  point or comma, fractions ``a/b`` and a trailing ``%``. A number glued to a letter on either side
  is part of a name (``AZYUK2A``, ``H2O``, ``x3``, ``E7``, ``v9``, ``5b``) and is not a candidate,
  except before a unit (``6km``, ``30min``); so is a number after ``#`` or ``§`` (a reference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from parley.rewards.normalise import GROUP_SEP


@dataclass(frozen=True)
class Span:
    """A candidate value: ``text[start:end]`` holds it; ``value`` is what to compare."""

    start: int
    end: int
    value: str


_DELIM_RE = re.compile(r"\\\$|\$\$|\$|\\\(|\\\)|\\\[|\\\]")
_CLOSER: Final = {"$": "$", "$$": "$$", "\\(": "\\)", "\\[": "\\]"}
_MAX_SEGMENT = 4_000
_MATRIX_RE = re.compile(r"\\(begin|end)\{([pbvBV]?matrix)\}")
_LATEX_CMD_RE = re.compile(r"\\[A-Za-z]+")
_TEXT_CMD_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox|operatorname)\s*\{[^{}]*\}")
_PROSE_WORD_RE = re.compile(r"[A-Za-z]{4,}")
_LONE_SYMBOL_RE = re.compile(
    r"^(?:\\math(?:bf|bb|cal|rm)\s*\{\s*[A-Za-z]\s*\}|\\vec\s*\{?[A-Za-z]\}?|[A-Za-z])(?:_\{?\w+\}?)?'?$"
)

_TERM = r"(?:\d+(?:\.\d+)?[a-zA-Z]?(?![a-zA-Z])|[a-zA-Z](?![a-zA-Z\d]))"
_RELATION_RE = re.compile(
    rf"(?<![\w\\])([a-zA-Z](?:_\w+|')?(?:\([a-z]\))?)\s*(<=|>=|!=|=|<|>|≤|≥|≠)\s*"
    rf"(-?\s*{_TERM}(?:\s*[-+*/^]\s*\(?-?{_TERM}\)?)*)"
)
_UNITS: Final = frozenset(
    ["cm", "mm", "km", "m", "kg", "g", "mg", "s", "ms", "h", "hr", "hrs", "min", "mins", "l", "ml", "mL", "L",
     "ft", "in", "yd", "mi", "lb", "lbs", "oz", "mph", "kmh"]
)
_NUMBER_RE = re.compile(
    rf"(?<![A-Za-z_\d.,#§])-?(?:\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?(?![\d,])|[1-9]\d{{0,2}}(?:{GROUP_SEP}\d{{3}})+(?:[.,]\d+)?(?!\d)"
    r"|\d+,\d+(?![\d,])|\d+(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+(?:\.\d+)?)?(?:\s*\\?%)?"
)
_WORD_AFTER_RE = re.compile(r"[A-Za-z_]+")
_ENDS_RE = re.compile(r"[\s.!*)]*$")


def looks_like_bare_answer(text: str) -> bool:
    """No prose words (four or more letters) outside LaTeX commands and ``\\text{}``."""
    stripped = _TEXT_CMD_RE.sub(" ", text)
    stripped = _LATEX_CMD_RE.sub(" ", stripped)
    return _PROSE_WORD_RE.search(stripped) is None


def math_segments(text: str) -> list[Span]:
    """The math segments of ``text`` in order (see the module docstring for the ``$`` rule)."""
    spans: list[Span] = []
    opener: re.Match[str] | None = None
    for match in _DELIM_RE.finditer(text):
        token = match.group(0)
        if token == "\\$":
            continue
        if opener is None:
            if token in _CLOSER and not (token == "$" and text[match.end() : match.end() + 1].isspace()):
                opener = match
            continue
        want = _CLOSER[opener.group(0)]
        content = text[opener.end() : match.start()]
        if token == want and want == "$":
            after = text[match.end() : match.end() + 1]
            if content[-1:].isspace() or after.isdigit() or not content:
                opener = match if not after.isspace() else None  # not a closer: maybe an opener
                continue
        elif token != want:
            continue
        if "\n\n" not in content and len(content) <= _MAX_SEGMENT and content.strip():
            spans.append(Span(opener.start(), match.end(), content.strip()))
        opener = None
    return spans


def matrices(text: str) -> list[Span]:
    """``\\begin{pmatrix} ... \\end{pmatrix}`` (and b/v/B/V matrix) environments, outermost only."""
    spans: list[Span] = []
    depth = 0
    start = 0
    for match in _MATRIX_RE.finditer(text):
        if match.group(1) == "begin":
            if depth == 0:
                start = match.start()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                spans.append(Span(start, match.end(), text[start : match.end()]))
    return spans


def relations(text: str) -> list[Span]:
    """Relations in plain text with a one-letter left side (``x > 3``, ``y = 2x + 1``)."""
    return [Span(m.start(), m.end(), m.group(0).strip()) for m in _RELATION_RE.finditer(text)]


def numbers(text: str) -> list[Span]:
    """Numbers that are not part of a name (a unit right after the digits is allowed)."""
    spans = []
    for match in _NUMBER_RE.finditer(text):
        word = _WORD_AFTER_RE.match(text, match.end())
        if word is not None and word.group(0) not in _UNITS:
            continue
        spans.append(Span(match.start(), match.end(), match.group(0).strip()))
    return spans


def last_value(text: str) -> Span | None:
    """The candidate value that ends last in ``text`` (the widest one on a tie), or ``None``."""
    candidates = [
        s for s in math_segments(text)
        if looks_like_bare_answer(s.value) and (not _LONE_SYMBOL_RE.match(s.value) or _ENDS_RE.match(text, s.end))
    ]
    candidates += matrices(text) + relations(text) + numbers(text)
    if not candidates:
        return None
    return max(candidates, key=lambda s: (s.end, -s.start))
