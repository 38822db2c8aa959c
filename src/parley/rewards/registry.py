"""The reward registry: problem domain -> verifier. The one scoring path for generation summaries,
training rewards and evaluation alike.

Verifier kinds register by domain in :data:`VERIFIERS` (``@register_verifier("math")`` on a factory
``(pool, settings) -> Verifier | None``, ``None`` meaning "not available in this environment");
:func:`default_registry` builds one :class:`RewardRegistry` with a verifier for every registered
domain, so a domain registered by a user is scored like the built-ins. Built-in domains:

- ``math``: :class:`MathDomainVerifier` (final-answer extraction + math-verify, in the pool);
- ``reasoning``: :class:`ReasoningGymVerifier` (reasoning-gym's own scorer, made safe, in the pool;
  partial credit is the scorer's float, correct iff it is exactly 1.0);
- ``integer``: :class:`IntegerDomainVerifier` (:mod:`parley.rewards.integer` exact integer answers, in process);
- ``code``: :class:`CodeDomainVerifier` over ``parley.rewards.code`` and the sandbox pool (imported
  lazily; when that package is missing, ``has_verifier("code")`` is ``False``);
- ``judge``: needs a model, so it is registered explicitly with :meth:`RewardRegistry.register`
  (see :class:`parley.rewards.judge.JudgeVerifier`).

``answer=None`` always means "no parseable answer": wrong, score 0.0, status ``no_answer``.
"""

from __future__ import annotations

import abc
import importlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from parley.data.problem import Problem
from parley.registry import Registry
from parley.rewards.extract import ExtractionError, check_text, last_boxed
from parley.rewards.integer import score_integer
from parley.rewards.math import MathVerifier, MathVerifierConfig
from parley.rewards.pool import TaskOutcome, VerifierPool
from parley.rewards.types import (
    STATUS_ERROR,
    STATUS_OK,
    STATUS_TIMEOUT,
    STATUS_UNVERIFIABLE,
    RewardResult,
    UnknownDomainError,
)

logger = logging.getLogger(__name__)


class Verifier(abc.ABC):
    """Scores answers for one domain. ``score_batch`` must keep input order and never raise for a
    bad answer (that is a result with ``status="error"``)."""

    @abc.abstractmethod
    def score_batch(self, items: Sequence[tuple[Problem, str | None]]) -> list[RewardResult]:
        """Score (problem, answer) pairs; parallel where the verifier can be."""

    def score(self, problem: Problem, answer: str | None) -> RewardResult:
        """Score one answer."""
        return self.score_batch([(problem, answer)])[0]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources owned by this verifier (not the shared pool)."""


def _unverifiable(reason: str) -> RewardResult:
    return RewardResult(None, 0.0, None, reason, STATUS_UNVERIFIABLE, {})


class MathDomainVerifier(Verifier):
    """``math`` problems: the problem's gold ``answer`` against the model's answer via math-verify."""

    def __init__(self, verifier: MathVerifier) -> None:
        self.verifier = verifier

    def score_batch(self, items: Sequence[tuple[Problem, str | None]]) -> list[RewardResult]:
        prepared: list[Any] = []
        for problem, answer in items:
            if problem.answer is None:
                prepared.append(_unverifiable(f"problem {problem.id!r} has no gold answer"))
            else:
                prepared.append(self.verifier.prepare(problem.answer, answer))
        pending = [self.verifier.submit_prepared(item) for item in prepared]
        return [self.verifier.finish_prepared(i, p) for i, p in zip(prepared, pending, strict=True)]


class IntegerDomainVerifier(Verifier):
    """``integer`` problems: exact integer comparison in process (:func:`parley.rewards.integer.score_integer`)."""

    def score_batch(self, items: Sequence[tuple[Problem, str | None]]) -> list[RewardResult]:
        return [score_integer(problem, answer) for problem, answer in items]


class ReasoningGymVerifier(Verifier):
    """``reasoning`` problems: ``reasoning_gym.get_score_answer_fn(source_dataset)(answer, entry)``.

    Runs in the pool (not in-process) because several scorers hand the answer to ``eval`` /
    ``parse_expr`` (made safe in :mod:`parley.rewards.reasoning`) and sympy-based ones can hang.
    A ``\\boxed{...}`` wrapper around the answer is removed; otherwise the answer is passed as is.
    """

    def __init__(self, pool: VerifierPool, timeout_s: float = 10.0) -> None:
        self.pool = pool
        self.timeout_s = timeout_s

    def _prepare(self, problem: Problem, answer: str | None) -> RewardResult | tuple[str, str, dict[str, Any]]:
        if answer is None:
            return RewardResult.no_answer()
        dataset = problem.metadata.get("source_dataset")
        entry = problem.metadata.get("entry")
        if not isinstance(dataset, str) or not isinstance(entry, dict):
            return RewardResult.failed(
                STATUS_ERROR,
                f"problem {problem.id!r}: reasoning problems need metadata.source_dataset (str) and "
                "metadata.entry (the reasoning-gym entry dict)",
            )
        try:
            text = check_text(answer, "answer")
        except ExtractionError as exc:
            return RewardResult.failed(STATUS_ERROR, str(exc))
        boxed = last_boxed(text)
        text = (boxed if boxed is not None else text).strip()
        if not text:
            return RewardResult.no_answer("answer is empty")
        if len(text) > 100_000:
            return RewardResult.failed(STATUS_ERROR, f"answer is {len(text):,} characters (limit 100,000)")
        return (dataset, text, entry)

    def score_batch(self, items: Sequence[tuple[Problem, str | None]]) -> list[RewardResult]:
        prepared = [self._prepare(p, a) for p, a in items]
        futures: list[Future[TaskOutcome] | None] = [
            None if isinstance(item, RewardResult) else self.pool.submit("reasoning", item, self.timeout_s)
            for item in prepared
        ]
        results = []
        for item, future in zip(prepared, futures, strict=True):
            if isinstance(item, RewardResult):
                results.append(item)
                continue
            assert future is not None
            dataset, text, _ = item
            outcome = future.result()
            if outcome.status != "ok":
                status = STATUS_TIMEOUT if outcome.status == "timeout" else STATUS_ERROR
                results.append(RewardResult(False, 0.0, text, outcome.error, status, {"dataset": dataset}))
                continue
            score = float(outcome.value)
            details = {"dataset": dataset, "raw_score": score}
            results.append(RewardResult(score == 1.0, score, text, None, STATUS_OK, details))
        return results


class RewardRegistry:
    """Maps a problem's ``domain`` to a :class:`Verifier` and scores through it.

    ``score_batch`` groups items by domain and runs the domains concurrently (each verifier is
    itself parallel over the shared :class:`VerifierPool`), then restores input order.
    """

    def __init__(self, pool: VerifierPool | None = None) -> None:
        self.pool = pool
        self._verifiers: dict[str, Verifier] = {}

    def register(self, domain: str, verifier: Verifier) -> None:
        """Register (or replace) the verifier for ``domain``."""
        self._verifiers[domain] = verifier

    def has_verifier(self, domain: str) -> bool:
        """Whether ``domain`` has a verifier."""
        return domain in self._verifiers

    @property
    def domains(self) -> list[str]:
        """Domains with a verifier, sorted."""
        return sorted(self._verifiers)

    def verifier(self, domain: str) -> Verifier:
        """The verifier for ``domain``; :class:`UnknownDomainError` names the known domains."""
        try:
            return self._verifiers[domain]
        except KeyError:
            raise UnknownDomainError(
                f"no verifier registered for domain {domain!r}; registered: {self.domains}"
            ) from None

    def score(self, problem: Problem, answer: str | None) -> RewardResult:
        """Score one answer to ``problem``."""
        return self.score_batch([(problem, answer)])[0]

    def score_batch(self, items: Sequence[tuple[Problem, str | None]]) -> list[RewardResult]:
        """Score many (problem, answer) pairs, in input order, parallel over the pool."""
        by_domain: dict[str, list[int]] = {}
        for index, (problem, _) in enumerate(items):
            by_domain.setdefault(problem.domain, []).append(index)
        results: list[RewardResult | None] = [None] * len(items)
        for domain in by_domain:
            if domain not in self._verifiers:
                for index in by_domain[domain]:
                    results[index] = _unverifiable(
                        f"no verifier registered for domain {domain!r}; registered: {self.domains}"
                    )
        runnable = {d: idx for d, idx in by_domain.items() if d in self._verifiers}
        if len(runnable) == 1:
            (domain, indices), = runnable.items()
            self._fill(results, indices, self._verifiers[domain].score_batch([items[i] for i in indices]))
        elif runnable:
            with ThreadPoolExecutor(max_workers=len(runnable), thread_name_prefix="parley-reward") as ex:
                futures = {
                    d: ex.submit(self._verifiers[d].score_batch, [items[i] for i in idx])
                    for d, idx in runnable.items()
                }
                for domain, future in futures.items():
                    self._fill(results, runnable[domain], future.result())
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    @staticmethod
    def _fill(results: list[RewardResult | None], indices: list[int], scored: list[RewardResult]) -> None:
        if len(scored) != len(indices):
            raise RuntimeError(f"a verifier returned {len(scored)} results for {len(indices)} items")
        for index, result in zip(indices, scored, strict=True):
            results[index] = result

    def close(self) -> None:
        """Close every verifier, then the pool. Idempotent."""
        for verifier in self._verifiers.values():
            verifier.close()
        if self.pool is not None:
            self.pool.close()

    def __enter__(self) -> RewardRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CodeDomainVerifier(Verifier):
    """``code`` problems through :mod:`parley.rewards.code` in a :class:`parley.sandbox.SandboxPool`.

    The problem record is ``problem.metadata`` (HumanEval ``entry_point``/``test``/``task_id`` or
    stdio ``tests``) with ``prompt`` defaulting to the question. The sandbox pool starts on first use
    (it checks that bubblewrap/cgroups are available then) and is closed by :meth:`close`.
    """

    def __init__(self, sandbox_size: int | None = None, timeout_s: float | None = None) -> None:
        self.sandbox_size = sandbox_size
        self.timeout_s = timeout_s
        self._sandbox: Any = None

    def _runner(self) -> Any:
        if self._sandbox is None:
            from parley.sandbox import SandboxPool

            self._sandbox = SandboxPool(size=self.sandbox_size or 2)
        return self._sandbox

    def score_batch(self, items: Sequence[tuple[Problem, str | None]]) -> list[RewardResult]:
        from parley.rewards.code import score_batch

        todo = [(i, p, a) for i, (p, a) in enumerate(items) if a is not None]
        records = [({"prompt": p.question, **p.metadata}, a) for _, p, a in todo]
        scored = score_batch(records, self._runner(), timeout_s=self.timeout_s) if records else []
        by_index = {i: r.to_reward_result() for (i, _, _), r in zip(todo, scored, strict=True)}
        return [by_index.get(i, RewardResult.no_answer()) for i in range(len(items))]

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None


@dataclass(frozen=True)
class VerifierSettings:
    """What :func:`default_registry` passes every verifier factory besides the pool."""

    math: MathVerifierConfig | None = None
    reasoning_timeout_s: float = 10.0


VerifierFactory = Callable[[VerifierPool, VerifierSettings], "Verifier | None"]

VERIFIERS: Registry[VerifierFactory] = Registry(
    "verifier domain", field="problem.domain", error=UnknownDomainError,
    hint="register one with @parley.rewards.register_verifier(domain)")
"""Verifier factories by problem domain (``judge`` needs a model and is registered per registry)."""


def register_verifier(domain: str) -> Callable[[VerifierFactory], VerifierFactory]:
    """Register a factory ``(pool, settings) -> Verifier | None`` for problems of ``domain``.

    :func:`default_registry` calls it once per registry; returning ``None`` says the verifier cannot
    work here (e.g. a missing optional package), and the domain is then left without a verifier.
    """
    return VERIFIERS.register(domain)


@register_verifier("math")
def _math_verifier(pool: VerifierPool, settings: VerifierSettings) -> Verifier:
    return MathDomainVerifier(MathVerifier(pool, settings.math))


@register_verifier("reasoning")
def _reasoning_verifier(pool: VerifierPool, settings: VerifierSettings) -> Verifier:
    return ReasoningGymVerifier(pool, settings.reasoning_timeout_s)


@register_verifier("integer")
def _integer_verifier(pool: VerifierPool, settings: VerifierSettings) -> Verifier:
    return IntegerDomainVerifier()


@register_verifier("code")
def _code_verifier(pool: VerifierPool, settings: VerifierSettings) -> Verifier | None:
    """The code verifier when :mod:`parley.rewards.code` is importable, else ``None``."""
    try:
        importlib.import_module("parley.rewards.code")
    except ImportError as exc:
        logger.debug("parley.rewards.code is not available (%s); no code verifier", exc)
        return None
    return CodeDomainVerifier()


def default_registry(
    pool_size: int | None = None,
    math_config: MathVerifierConfig | None = None,
    reasoning_timeout_s: float = 10.0,
    memory_limit_mb: int | None = 4096,
) -> RewardRegistry:
    """A registry with a verifier for every domain in :data:`VERIFIERS` (built-in: ``math``,
    ``reasoning`` and, when available, ``code``) over one pool.

    The pool (``pool_size`` workers, default the CPU count) starts on the first call that needs it.
    """
    pool = VerifierPool(pool_size, memory_limit_mb=memory_limit_mb)
    registry = RewardRegistry(pool)
    settings = VerifierSettings(math_config, reasoning_timeout_s)
    for entry in VERIFIERS.entries():
        verifier = entry.obj(pool, settings)
        if verifier is not None:
            registry.register(entry.name, verifier)
    return registry
