"""The reward registry: domain dispatch, order, no_answer semantics, unknown domains."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import reasoning_gym

from parley.data.problem import Problem
from parley.rewards import default_registry
from parley.rewards.registry import RewardRegistry
from parley.rewards.types import UnknownDomainError


@pytest.fixture(scope="module")
def registry() -> Iterator[RewardRegistry]:
    from parley.rewards.math import MathVerifierConfig

    with default_registry(pool_size=2, math_config=MathVerifierConfig(timeout_s=60), reasoning_timeout_s=60) as reg:
        yield reg


def test_default_domains(registry: RewardRegistry) -> None:
    assert registry.has_verifier("math") and registry.has_verifier("reasoning")
    assert not registry.has_verifier("judge")  # needs a model: registered explicitly
    with pytest.raises(UnknownDomainError, match="registered"):
        registry.verifier("judge")


def test_mixed_batch_keeps_order_and_semantics(registry: RewardRegistry) -> None:
    entry = reasoning_gym.create_dataset("basic_arithmetic", size=1, seed=3)[0]
    reasoning = Problem(id="r", question=entry["question"], answer=entry["answer"], domain="reasoning",
                        metadata={"source_dataset": "basic_arithmetic", "entry": entry})
    half = Problem(id="m1", question="What is 1/2?", answer=r"\frac{1}{2}", domain="math")
    no_gold = Problem(id="m2", question="Open question", answer=None, domain="math")
    judged = Problem(id="j", question="Write a haiku", domain="judge")
    items: list[tuple[Problem, str | None]] = [
        (half, "0.5"),
        (reasoning, str(entry["answer"])),
        (half, None),
        (judged, "a haiku"),
        (half, ""),
        (no_gold, "5"),
        (reasoning, "not it"),
        (half, r"The answer is \boxed{\frac{2}{4}}"),
    ]
    results = registry.score_batch(items)
    assert [r.correct for r in results] == [True, True, False, None, False, None, False, True]
    assert [r.status for r in results] == [
        "ok", "ok", "no_answer", "unverifiable", "no_answer", "unverifiable", "ok", "ok"
    ]
    none_result = results[2]
    assert (none_result.score, none_result.extracted, none_result.error) == (0.0, None, None)
    assert results[0].extracted == "0.5" and results[7].extracted == r"\frac{2}{4}"
    assert registry.score(half, "0.5").to_dict()["correct"] is True


def test_code_domain_runs_in_the_sandbox(registry: RewardRegistry) -> None:
    assert registry.has_verifier("code")
    from parley.sandbox import SandboxUnavailableError

    problem = Problem(id="c", question="def add(a, b):\n", domain="code",
                      metadata={"entry_point": "add", "test": "def check(f):\n    assert f(2, 3) == 5\n"})
    try:
        results = registry.score_batch([(problem, "    return a + b\n"), (problem, "    return a - b\n"),
                                        (problem, None)])
    except SandboxUnavailableError as exc:
        pytest.skip(f"sandbox unavailable here: {exc}")
    assert [r.correct for r in results] == [True, False, False]
    assert results[2].status == "no_answer"
