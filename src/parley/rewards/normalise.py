"""Normalising an extracted answer before math-verify sees it (pure string work; nothing is evaluated).

:func:`normalise_answer` rewrites notations math-verify misreads, keeping everything else as is:

- Unicode maths: ``≤ ≥ ≠ − × ÷ · ∞ π`` become their LaTeX commands.
- Digit groups: ``1 000``, ``1\\,000``, ``1\\ 000``, ``1~000``, ``1{,}000`` and thin / no-break
  spaces between groups of exactly three digits (after a first group other than ``0``) become
  ``1000`` (math-verify reads ``1 000`` as ``1*0``). Comma groups (``1,000``) are left to
  math-verify, which reads them as thousands.
- LaTeX decimal commas: ``0{,}25`` (``{,}`` before other than three digits) becomes ``0.25``.
- A ``\\text{}`` answer that starts with a number (``\\text{12 apples}``) becomes ``12 \\text{ apples}``;
  plain words after a number (``5000 dollars``) go into ``\\text{}`` the same way. Word answers
  (``\\text{Monday}``) are kept: math-verify compares them as text.

:func:`reading_for_gold` picks, for the two notations whose meaning depends on what was asked, the
reading that fits the gold answer's *form* (never its value):

- ``3,5`` is the decimal 3.5 when the gold answer is a single number, else the list ``3, 5``
  (a comma before exactly three digits always groups thousands);
- ``(D) 24`` / ``\\text{(D) } 24`` is the option letter when the gold answer is a lone letter,
  else the value after the label.
"""

from __future__ import annotations

import re
from typing import Final

_UNICODE: Final = {
    "≤": r"\leq ", "≥": r"\geq ", "≠": r"\neq ", "−": "-", "×": r"\times ", "÷": r"\div ",
    "·": r"\cdot ", "∞": r"\infty ", "π": r"\pi ",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))
# Separators between digit groups: LaTeX spaces, ties, {,} and Unicode spaces (U+00A0, U+2009, U+202F).
GROUP_SEP: Final = r"(?:\\,|\\ |\\;|\\:|~|\{,\}| |\u00a0|\u2009|\u202f)"
_GROUPED_RE = re.compile(rf"(?<![\d.,])([1-9]\d{{0,2}})((?:{GROUP_SEP}\d{{3}})+)(?!\d)")
_SEP_RE = re.compile(GROUP_SEP)
_BRACE_DECIMAL_RE = re.compile(r"(\d)\{,\}(\d+)")
_TEXT_NUMBER_RE = re.compile(r"^\\(?:text|textrm|textbf|mathrm|mbox)\s*\{\s*(-?\d+(?:\.\d+)?)\s+([^{}]+?)\s*\}$")
_NUMBER_WORDS_RE = re.compile(r"^(-?\d+(?:\.\d+)?)\s+([A-Za-z]+(?:\s+[A-Za-z]+)*)$")
_SPACES_RE = re.compile(r"\s+")

_GOLD_NUMBER_RE = re.compile(r"^-?(?:\d+(?:\.\d+)?|\.\d+)$")
_COMMA_DECIMAL_RE = re.compile(r"^(-?\d+),(\d{1,2}|\d{4,})$")
_GOLD_LETTER_RE = re.compile(r"^(?:\\text\s*\{\s*)?\(?([A-J])\)?(?:\s*\})?$")
_OPTION_RE = re.compile(r"^(?:\\text(?:bf)?\s*\{\s*)?\(([A-J])\)\s*(?:\}\s*)?(.*)$")


def _ungroup(match: re.Match[str]) -> str:
    return match.group(1) + _SEP_RE.sub("", match.group(2))


def normalise_answer(answer: str) -> str:
    """``answer`` with Unicode maths, digit groups, ``{,}`` decimals and unit words rewritten."""
    out = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], answer)
    out = _GROUPED_RE.sub(_ungroup, out)
    out = _BRACE_DECIMAL_RE.sub(r"\1.\2", out)
    out = _SPACES_RE.sub(" ", out).strip()
    text_number = _TEXT_NUMBER_RE.match(out)
    if text_number:
        out = rf"{text_number.group(1)} \text{{ {text_number.group(2)}}}"
    number_words = _NUMBER_WORDS_RE.match(out)
    if number_words:
        out = rf"{number_words.group(1)} \text{{ {number_words.group(2)}}}"
    return out


def _strip_math(text: str) -> str:
    out = text.strip()
    if len(out) >= 2 and out[0] == "$" and out[-1] == "$":
        out = out.strip("$").strip()
    return out


def reading_for_gold(gold: str, answer: str) -> str:
    """The reading of ``answer`` that fits the form of ``gold`` (see the module docstring)."""
    gold_bare = _strip_math(gold)
    decimal = _COMMA_DECIMAL_RE.match(answer)
    if decimal and _GOLD_NUMBER_RE.match(gold_bare):
        return f"{decimal.group(1)}.{decimal.group(2)}"
    option = _OPTION_RE.match(answer)
    if option:
        if _GOLD_LETTER_RE.match(gold_bare):
            return option.group(1)
        if option.group(2).strip():
            return option.group(2).strip()
    return answer
