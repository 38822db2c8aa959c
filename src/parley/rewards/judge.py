"""LLM-judge rewards for tasks without a checkable answer.

Variant: a single-answer rubric grader ("LLM-as-a-judge", pointwise scoring as in Zheng et al. 2023,
MT-Bench) through any :class:`parley.llm.base.ChatModel`. The judge must reply with one JSON object
``{"score": <number on the rubric's scale>, "rationale": "<text>"}``; the score is normalised to
[0, 1] as ``(raw - min) / (max - min)``. Invalid replies (no JSON, wrong fields, score off the
scale, a fraction on an integer scale) are re-asked at most ``max_reasks`` times, each time telling
the model what was wrong; then :class:`~parley.llm.errors.StructuredOutputError` is raised.

Identical (rubric, question, answer) calls are cached (bounded LRU) and concurrent identical calls
share one request. :func:`agreement` reports judge-vs-gold-label accuracy and Cohen's kappa.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import math
from collections import OrderedDict
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from parley.data.problem import Problem
from parley.llm.base import ChatModel
from parley.llm.errors import LLMError, StructuredOutputError
from parley.llm.types import Message, SamplingParams
from parley.rewards.registry import Verifier
from parley.rewards.types import STATUS_ERROR, STATUS_OK, RewardResult

logger = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_SYSTEM = (
    "You are a strict, fair grader. You grade one answer to one question against a rubric. "
    "You reply with a single JSON object and nothing else."
)
DEFAULT_TEMPLATE = """Rubric ({name}):
{criteria}

Question:
{question}

Answer to grade:
{answer}

Reply with JSON only, exactly this shape:
{{"score": <{kind} from {lo} to {hi}>, "rationale": "<one or two sentences>"}}"""


@dataclass(frozen=True)
class Rubric:
    """What the judge grades and on which scale.

    ``integer_scale``: scores must be whole numbers between ``scale_min`` and ``scale_max``
    (e.g. 1-10); otherwise any number in the range is accepted (e.g. 0-1).
    """

    name: str
    criteria: str
    scale_min: float = 0
    scale_max: float = 10
    integer_scale: bool = True
    system: str = DEFAULT_SYSTEM
    template: str = DEFAULT_TEMPLATE

    def __post_init__(self) -> None:
        if not self.scale_max > self.scale_min:
            raise ValueError(f"Rubric.scale_max ({self.scale_max}) must exceed scale_min ({self.scale_min})")

    @property
    def fingerprint(self) -> str:
        """A hash of everything that changes the judge's prompt or scale (the cache key's rubric part)."""
        text = json.dumps(
            [self.name, self.criteria, self.scale_min, self.scale_max, self.integer_scale, self.system,
             self.template]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def messages(self, question: str, answer: str) -> list[Message]:
        """The judge prompt for one (question, answer)."""
        kind = "an integer" if self.integer_scale else "a number"
        lo, hi = (int(self.scale_min), int(self.scale_max)) if self.integer_scale else (self.scale_min, self.scale_max)
        user = self.template.format(
            name=self.name, criteria=self.criteria, question=question, answer=answer, kind=kind, lo=lo, hi=hi
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


@dataclass(frozen=True)
class JudgeVerdict:
    """A validated judge reply. ``score`` is normalised to [0, 1]; ``raw_score`` is on the rubric scale."""

    score: float
    raw_score: float
    rationale: str
    attempts: int
    cached: bool = False


class InvalidJudgeReply(ValueError):
    """The judge's text did not hold a valid verdict; the message says what to fix."""


def _json_objects(text: str, limit: int = 64) -> list[Any]:
    decoder = json.JSONDecoder()
    found: list[Any] = []
    start = text.find("{")
    while start != -1 and len(found) < limit:
        try:
            obj, _end = decoder.raw_decode(text, start)
            found.append(obj)
        except json.JSONDecodeError:
            pass  # not JSON at this brace; try the next one
        start = text.find("{", start + 1)
    return found


def parse_verdict(text: str, rubric: Rubric) -> tuple[float, str]:
    """Extract and validate ``(raw_score, rationale)`` from the judge's text.

    Uses the last JSON object in the text that has a ``score`` key (models sometimes echo the
    requested shape before answering). Raises :class:`InvalidJudgeReply`.
    """
    candidates = [o for o in _json_objects(text) if isinstance(o, dict) and "score" in o]
    if not candidates:
        raise InvalidJudgeReply('no JSON object with a "score" field was found')
    obj = candidates[-1]
    score = obj["score"]
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise InvalidJudgeReply(f'"score" must be a number, got {score!r}')
    if not rubric.scale_min <= score <= rubric.scale_max:
        raise InvalidJudgeReply(f'"score" {score} is outside the scale {rubric.scale_min}..{rubric.scale_max}')
    if rubric.integer_scale and float(score) != int(score):
        raise InvalidJudgeReply(f'"score" must be a whole number on this scale, got {score}')
    rationale = obj.get("rationale")
    if not isinstance(rationale, str) or not rationale.strip():
        raise InvalidJudgeReply('"rationale" must be a non-empty string')
    return float(score), rationale.strip()


class LLMJudge:
    """Grades answers with ``model`` against ``rubric``; see the module docstring."""

    def __init__(
        self,
        model: ChatModel,
        rubric: Rubric,
        params: SamplingParams | None = None,
        max_reasks: int = 2,
        cache_size: int = 4096,
    ) -> None:
        if max_reasks < 0:
            raise ValueError(f"max_reasks must be >= 0, got {max_reasks}")
        self.model = model
        self.rubric = rubric
        self.params = params or SamplingParams(temperature=0.0, max_new_tokens=256)
        self.max_reasks = max_reasks
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str, str], JudgeVerdict] = OrderedDict()
        self._inflight: dict[tuple[str, str, str], asyncio.Future[JudgeVerdict]] = {}
        self.requests = 0

    async def judge(self, question: str, answer: str) -> JudgeVerdict:
        """Grade one answer (cached). Raises :class:`StructuredOutputError` or an :class:`LLMError`."""
        key = (self.rubric.fingerprint, question, answer)
        if key in self._cache:
            self._cache.move_to_end(key)
            verdict = self._cache[key]
            return JudgeVerdict(verdict.score, verdict.raw_score, verdict.rationale, verdict.attempts, True)
        inflight = self._inflight.get(key)
        if inflight is not None:
            return await asyncio.shield(inflight)
        future: asyncio.Future[JudgeVerdict] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            verdict = await self._ask(question, answer)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(verdict)
        if self.cache_size > 0:
            self._cache[key] = verdict
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return verdict

    async def _ask(self, question: str, answer: str) -> JudgeVerdict:
        messages = list(self.rubric.messages(question, answer))
        problems: list[str] = []
        for attempt in range(1, self.max_reasks + 2):
            self.requests += 1
            completion = await self.model.complete(messages, self.params)
            try:
                raw, rationale = parse_verdict(completion.text, self.rubric)
            except InvalidJudgeReply as exc:
                problems.append(str(exc))
                logger.info("judge reply %d was invalid (%s); re-asking", attempt, exc)
                messages.append({"role": "assistant", "content": completion.text})
                messages.append(
                    {
                        "role": "user",
                        "content": f"Your reply was invalid: {exc}. Reply again with only the JSON object "
                        '{"score": ..., "rationale": "..."} on the stated scale.',
                    }
                )
                continue
            span = self.rubric.scale_max - self.rubric.scale_min
            return JudgeVerdict((raw - self.rubric.scale_min) / span, raw, rationale, attempt)
        raise StructuredOutputError(
            f"judge {self.model.name!r} gave no valid verdict in {self.max_reasks + 1} attempts: "
            + "; ".join(problems)
        )

    async def judge_many(self, items: Sequence[tuple[str, str]]) -> list[JudgeVerdict | BaseException]:
        """Grade many (question, answer) pairs concurrently; failures are returned, not raised."""
        return list(await asyncio.gather(*(self.judge(q, a) for q, a in items), return_exceptions=True))


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, even when this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="parley-judge") as executor:
        return executor.submit(asyncio.run, coro).result()


class JudgeVerifier(Verifier):
    """The ``judge`` domain: an :class:`LLMJudge` score is the reward; ``correct`` iff
    ``score >= pass_threshold``. Register it explicitly: ``registry.register("judge", JudgeVerifier(j))``.
    """

    def __init__(self, judge: LLMJudge, pass_threshold: float = 0.5) -> None:
        self.judge = judge
        self.pass_threshold = pass_threshold

    def score_batch(self, items: Sequence[tuple[Problem, str | None]]) -> list[RewardResult]:
        todo = [(i, p.question, a) for i, (p, a) in enumerate(items) if a is not None and a.strip()]
        verdicts = _run_sync(self.judge.judge_many([(q, a) for _, q, a in todo])) if todo else []
        by_index = {i: v for (i, _, _), v in zip(todo, verdicts, strict=True)}
        results: list[RewardResult] = []
        for index, (_, answer) in enumerate(items):
            verdict = by_index.get(index)
            if verdict is None:
                results.append(RewardResult.no_answer("answer is empty" if answer is not None else "no answer"))
            elif isinstance(verdict, LLMError | StructuredOutputError):
                results.append(RewardResult(False, 0.0, answer, str(verdict), STATUS_ERROR, {}))
            elif isinstance(verdict, BaseException):
                raise verdict
            else:
                details = {
                    "raw_score": verdict.raw_score,
                    "rationale": verdict.rationale,
                    "attempts": verdict.attempts,
                    "cached": verdict.cached,
                    "rubric": self.judge.rubric.name,
                }
                correct = verdict.score >= self.pass_threshold
                results.append(RewardResult(correct, verdict.score, answer, None, STATUS_OK, details))
        return results


@dataclass
class AgreementReport:
    """Judge verdicts vs gold labels: ``n`` pairs, raw ``accuracy``, Cohen's ``kappa`` (``None``
    when undefined: both raters constant and identical), and the 2x2 ``confusion`` counts."""

    n: int
    accuracy: float
    kappa: float | None
    confusion: dict[str, int] = field(default_factory=dict)


def agreement(judge_labels: Sequence[bool], gold_labels: Sequence[bool | None]) -> AgreementReport:
    """Agreement of binary judge labels with gold labels; pairs whose gold is ``None`` are skipped.

    Cohen's kappa = (p_o - p_e) / (1 - p_e), with p_e from each rater's marginal positive rate.
    """
    if len(judge_labels) != len(gold_labels):
        raise ValueError(f"{len(judge_labels)} judge labels but {len(gold_labels)} gold labels")
    pairs = [(bool(j), bool(g)) for j, g in zip(judge_labels, gold_labels, strict=True) if g is not None]
    n = len(pairs)
    confusion = {
        "tp": sum(j and g for j, g in pairs),
        "tn": sum((not j) and (not g) for j, g in pairs),
        "fp": sum(j and not g for j, g in pairs),
        "fn": sum((not j) and g for j, g in pairs),
    }
    if n == 0:
        return AgreementReport(0, 0.0, None, confusion)
    p_o = (confusion["tp"] + confusion["tn"]) / n
    p_judge = (confusion["tp"] + confusion["fp"]) / n
    p_gold = (confusion["tp"] + confusion["fn"]) / n
    p_e = p_judge * p_gold + (1 - p_judge) * (1 - p_gold)
    kappa = None if p_e == 1.0 else (p_o - p_e) / (1 - p_e)
    return AgreementReport(n, p_o, kappa, confusion)
