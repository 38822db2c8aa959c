"""Final-answer extraction from free-form model output (pure string work; nothing is evaluated).

Strategies, tried in the configured order; the first that finds something wins, and within a
strategy the *last* occurrence wins (models restate the final answer at the end):

- ``boxed``: the last ``\\boxed{...}`` / ``\\fbox{...}`` with balanced nested braces (an unbalanced
  last box falls back to the previous balanced one).
- ``hash``: a ``#### x`` line (GSM8K style).
- ``answer_is``: "... the answer is x" / "final answer is x" (rest of the sentence).
- ``answer_line``: a line ``Answer: x`` / ``Final answer: x`` (markdown bold allowed).

Fallbacks (only when no strategy matched), also ordered:

- ``whole``: the whole stripped text when it is short and looks like a bare answer (no prose words
  of four or more letters outside LaTeX commands and ``\\text{}``): a debate's parsed final answer
  such as ``\\frac{1}{2}`` or ``x = 5`` goes through unchanged.
- ``last_number``: the last number in the text (thousands separators, decimals, fractions ``a/b``,
  a trailing percent sign).

Every regex here is linear in the input; inputs longer than ``max_input_chars`` are rejected with
:class:`ExtractionError` before any scan, and so are extracted answers longer than
``max_answer_chars`` (a 1 MB "answer" is junk, and would only make the parser slow).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

Strategy = Literal["boxed", "hash", "answer_is", "answer_line"]
Fallback = Literal["whole", "last_number"]

DEFAULT_STRATEGIES: Final[tuple[Strategy, ...]] = ("boxed", "hash", "answer_is", "answer_line")
DEFAULT_FALLBACKS: Final[tuple[Fallback, ...]] = ("whole", "last_number")


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
_NUMBER_RE = re.compile(
    r"-?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:\s*/\s*\d+(?:\.\d+)?)?(?:\s*\\?%)?"
)
_SENTENCE_END_RE = re.compile(r"\.(?:\s|$)|[!?;](?:\s|$)")
_LATEX_CMD_RE = re.compile(r"\\[A-Za-z]+")
_TEXT_CMD_RE = re.compile(r"\\(?:text|mathrm|textbf|mbox|operatorname)\s*\{[^{}]*\}")
_PROSE_WORD_RE = re.compile(r"[A-Za-z]{4,}")


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


def _balanced_group(text: str, open_index: int) -> str | None:
    """The contents of the brace group whose ``{`` is at ``open_index``; ``None`` if unbalanced."""
    depth = 0
    i = open_index
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "{}":
            i += 2  # escaped brace: \{ \} are set delimiters, not grouping
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_index + 1 : i]
        i += 1
    return None


def last_boxed(text: str) -> str | None:
    """The contents of the last balanced ``\\boxed{}`` / ``\\fbox{}``, or ``None``."""
    starts = [m.end() - 1 for m in _BOX_RE.finditer(text)]
    for start in reversed(starts):
        inner = _balanced_group(text, start)
        if inner is not None:
            return inner
    return None


def _last_group(pattern: re.Pattern[str], text: str) -> str | None:
    last = None
    for match in pattern.finditer(text):
        last = match.group(1)
    return last


def _first_sentence(text: str) -> str:
    match = _SENTENCE_END_RE.search(text)
    return text[: match.start()] if match else text


def _looks_like_bare_answer(text: str) -> bool:
    stripped = _TEXT_CMD_RE.sub(" ", text)
    stripped = _LATEX_CMD_RE.sub(" ", stripped)
    return _PROSE_WORD_RE.search(stripped) is None


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
            raw = last_boxed(text)
        elif strategy == "hash":
            raw = _last_group(_HASH_RE, text)
        elif strategy == "answer_is":
            raw = _last_group(_ANSWER_IS_RE, text)
            raw = _first_sentence(raw) if raw is not None else None
        elif strategy == "answer_line":
            raw = _last_group(_ANSWER_LINE_RE, text)
        else:
            raise ValueError(f"unknown extraction strategy {strategy!r}; known: {DEFAULT_STRATEGIES}")
        if raw is not None and clean_answer(raw):
            found = Extraction(clean_answer(raw), strategy)
            break
    if found is None:
        for fallback in cfg.fallbacks:
            if fallback == "whole":
                whole = clean_answer(text)
                if whole and len(whole) <= cfg.whole_max_chars and _looks_like_bare_answer(whole):
                    found = Extraction(whole, "whole")
            elif fallback == "last_number":
                number = None
                for match in _NUMBER_RE.finditer(text):
                    number = match.group(0)
                if number is not None:
                    found = Extraction(number.strip(), "last_number")
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
