"""Math answer verification: extract the final answer, then decide equivalence with math-verify.

Variant: HuggingFace ``math-verify`` (0.9), gold first, ``verify(parse(gold), parse(pred))``, with
both sides wrapped as inline LaTeX (``$...$``) unless they already carry ``$`` or ``\\boxed``. This
covers fractions/decimals/percent, radicals, pi, sets, intervals, tuples, ``x=5`` vs ``5``,
thousands separators and ``\\text{}`` units (see the acceptance table in the tests).

math-verify's own timeouts use ``signal.alarm`` (main thread only), so they are disabled
(``parsing_timeout=None``, ``timeout_seconds=None``) and every comparison runs in a
:class:`~parley.rewards.pool.VerifierPool` worker with a hard timeout enforced from outside.

Safety: nothing here evaluates model output as Python. math-verify hands LaTeX to an ANTLR grammar
(latex2sympy2), and only calls sympy's ``parse_expr`` on matches of its expression regex, which
admits digits, whitespace, ``.`` and ``+-*/^()×÷`` only, so identifiers, quotes and dots-on-names
can never reach it. The workers are hardened as well (:mod:`parley.rewards._worker`).

Word answers (``Monday``, ``\\text{no solution}``, an option letter in ``\\text{}``) are compared as
case-insensitive text rather than by math-verify, which reads a word as a product of symbols.

Identical (gold, extracted answer) comparisons are memoised in a bounded LRU in the caller's
process. Only definite outcomes are memoised; a timeout or a crashed worker is not, since it can
depend on machine load.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from parley.rewards.extract import ExtractionConfig, ExtractionError, check_text, extract_answer
from parley.rewards.normalise import reading_for_gold
from parley.rewards.pool import TaskOutcome, VerifierPool
from parley.rewards.types import STATUS_ERROR, STATUS_OK, STATUS_TIMEOUT, RewardResult

logger = logging.getLogger(__name__)


class GoldParseError(ValueError):
    """The gold answer could not be parsed: a data problem, not a wrong model answer."""


_DELIMITED = re.compile(r"(?<!\\)\$|\\boxed|\\\(|\\\[")


def _as_latex(text: str) -> str:
    """Wrap a bare answer as inline LaTeX; text that already has math delimiters goes as is."""
    return text if _DELIMITED.search(text) else f"${text}$"


_TEXT_WRAP = re.compile(r"\\(?:text|textbf|textrm|mathrm|mbox)\s*\{([^{}]*)\}")
_WORDS = re.compile(r"[A-Za-z]+(?:[ '-][A-Za-z]+)*")


def _as_words(text: str) -> tuple[str, bool] | None:
    """``(lower-case words, whether \\text{} wrapped them)`` for a word answer, else ``None``."""
    unwrapped = _TEXT_WRAP.sub(lambda m: m.group(1), text)
    wrapped = unwrapped != text
    bare = unwrapped.strip().strip("$").strip().rstrip(".").strip().strip("()").strip()
    if not _WORDS.fullmatch(bare):
        return None
    return " ".join(bare.lower().split()), wrapped


def _word_answers(gold: str, pred: str) -> tuple[str, str] | None:
    """Both answers as words when both are words and at least one is clearly text, else ``None``.

    Clearly text: wrapped in ``\\text{}`` or made of words of three or more letters. math-verify
    would read ``Monday`` as the product ``M*o*n*d*a*y`` (so any anagram would match) and ``true``
    as a symbol, while ``xy`` is left to it as algebra.
    """
    g, p = _as_words(gold), _as_words(pred)
    if g is None or p is None:
        return None
    long_words = all(len(w) >= 3 for w in (g[0] + " " + p[0]).replace("-", " ").replace("'", " ").split())
    if g[1] or p[1] or long_words:
        return g[0], p[0]
    return None


def compare_answers(gold: str, pred: str) -> dict[str, Any]:
    """Decide in *this* process whether ``pred`` is equivalent to ``gold`` (no timeout: call it in a
    pool worker). Returns ``{"correct", "gold_parsed", "pred_parsed"}`` with parsed forms as strings.
    """
    from math_verify import parse, verify

    words = _word_answers(gold, pred)
    if words is not None:
        return {"correct": words[0] == words[1], "gold_parsed": words[0], "pred_parsed": words[1]}
    gold_parsed = parse(_as_latex(gold), parsing_timeout=None)
    if not gold_parsed:
        raise GoldParseError(f"gold answer {gold[:200]!r} could not be parsed by math-verify")
    pred_parsed = parse(_as_latex(pred), parsing_timeout=None)
    correct = bool(pred_parsed) and bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))
    return {
        "correct": correct,
        "gold_parsed": str(gold_parsed[0])[:500],
        "pred_parsed": str(pred_parsed[0])[:500] if pred_parsed else None,
    }


@dataclass
class MathVerifierConfig:
    """Knobs of :class:`MathVerifier`.

    ``timeout_s``: hard limit per comparison (the worker is killed beyond it).
    ``memo_size``: entries in the (gold, answer) LRU; 0 disables memoisation.
    ``extraction``: how to find the final answer in the prediction.
    """

    timeout_s: float = 10.0
    memo_size: int = 65_536
    extraction: ExtractionConfig = field(default_factory=ExtractionConfig)


class _Memo:
    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: tuple[str, str], value: dict[str, Any]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class MathVerifier:
    """Scores math answers against gold answers through a :class:`VerifierPool`.

    Predictions go through :func:`~parley.rewards.extract.extract_answer` first, so raw model output
    and an already-parsed final answer (handled by the ``whole`` fallback) both work. Where a notation
    means different things for different questions (``3,5``: the decimal or a list; ``(D) 24``: the
    option or the value) :func:`~parley.rewards.normalise.reading_for_gold` picks the reading that
    fits the gold answer's form.
    """

    def __init__(self, pool: VerifierPool, config: MathVerifierConfig | None = None) -> None:
        self.pool = pool
        self.config = config or MathVerifierConfig()
        self.memo = _Memo(self.config.memo_size)

    def verify(self, gold: str, prediction: str | bytes | None) -> RewardResult:
        """Extract the final answer from ``prediction`` and compare it with ``gold``."""
        return self.verify_many([(gold, prediction)])[0]

    def verify_many(self, pairs: Sequence[tuple[str, str | bytes | None]]) -> list[RewardResult]:
        """Score many (gold, raw prediction) pairs in parallel over the pool, in input order."""
        return self._run([self.prepare(gold, pred) for gold, pred in pairs])

    def prepare(self, gold: str, prediction: str | bytes | None) -> RewardResult | tuple[str, str, str]:
        """Check inputs and extract: a finished result, or ``(gold, extracted answer, method)`` to run."""
        if prediction is None:
            return RewardResult.no_answer()
        try:
            gold = check_text(gold, "gold answer")
        except ExtractionError as exc:
            return RewardResult.failed(STATUS_ERROR, str(exc))
        if not gold.strip():
            return RewardResult.failed(STATUS_ERROR, "gold answer is empty")
        try:
            found = extract_answer(prediction, self.config.extraction)
        except ExtractionError as exc:
            return RewardResult.failed(STATUS_ERROR, str(exc))
        if found is None:
            empty = isinstance(prediction, str | bytes) and not prediction.strip()
            return RewardResult.no_answer("prediction is empty" if empty else "no answer found in prediction")
        return (gold, reading_for_gold(gold, found.text), found.method)

    def submit_prepared(
        self, item: RewardResult | tuple[str, str, str]
    ) -> Future[TaskOutcome] | dict[str, Any] | None:
        """Start the pool call for a prepared item: a future, a memoised outcome, or ``None`` (decided)."""
        if isinstance(item, RewardResult):
            return None
        gold, answer, _ = item
        memo = self.memo.get((gold, answer))
        if memo is not None:
            return memo
        return self.pool.submit("math", (gold, answer), self.config.timeout_s)

    def finish_prepared(
        self,
        item: RewardResult | tuple[str, str, str],
        pending: Future[TaskOutcome] | dict[str, Any] | None,
    ) -> RewardResult:
        """Turn a prepared item and its pool outcome into a :class:`RewardResult`."""
        if isinstance(item, RewardResult):
            return item
        gold, answer, method = item
        if isinstance(pending, dict):
            return self._result(pending, answer, method, memo_hit=True)
        if pending is None:
            raise ValueError("an undecided item needs the value returned by submit_prepared")
        future = pending
        outcome = future.result()
        if outcome.status == "ok":
            self.memo.put((gold, answer), outcome.value)
            return self._result(outcome.value, answer, method, memo_hit=False)
        if outcome.status == "error" and outcome.error and outcome.error.startswith("GoldParseError"):
            value = {"error": outcome.error}
            self.memo.put((gold, answer), value)
            return self._result(value, answer, method, memo_hit=False)
        status = STATUS_TIMEOUT if outcome.status == "timeout" else STATUS_ERROR
        return RewardResult(False, 0.0, answer, outcome.error, status, {"method": method})

    @staticmethod
    def _result(value: dict[str, Any], answer: str, method: str, memo_hit: bool) -> RewardResult:
        details: dict[str, Any] = {"method": method, "memo_hit": memo_hit}
        if "error" in value:
            return RewardResult(False, 0.0, answer, value["error"], STATUS_ERROR, details)
        details.update(gold_parsed=value["gold_parsed"], pred_parsed=value["pred_parsed"])
        correct = bool(value["correct"])
        return RewardResult(correct, 1.0 if correct else 0.0, answer, None, STATUS_OK, details)

    def _run(self, items: list[RewardResult | tuple[str, str, str]]) -> list[RewardResult]:
        futures = [self.submit_prepared(item) for item in items]
        return [self.finish_prepared(item, fut) for item, fut in zip(items, futures, strict=True)]
