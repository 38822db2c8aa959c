"""Reasoning-gym scoring through the registry, including answers that used to reach eval/parse_expr."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import reasoning_gym

from parley.data.problem import Problem
from parley.rewards.pool import VerifierPool
from parley.rewards.reasoning import UnsafeExpressionError, check_arithmetic
from parley.rewards.registry import ReasoningGymVerifier, RewardRegistry


def _problem(dataset: str, index: int = 0, seed: int = 7) -> tuple[Problem, dict[str, Any]]:
    entry = reasoning_gym.create_dataset(dataset, size=index + 1, seed=seed)[index]
    problem = Problem(
        id=f"{dataset}-{index}",
        question=entry["question"],
        answer=str(entry["answer"]),
        domain="reasoning",
        metadata={"source_dataset": dataset, "entry": entry},
    )
    return problem, entry


@pytest.fixture(scope="module")
def registry(pool: VerifierPool) -> Iterator[RewardRegistry]:
    reg = RewardRegistry()  # shares the session pool; closing it must not close the pool
    reg.register("reasoning", ReasoningGymVerifier(pool, timeout_s=120))
    yield reg


def test_gold_answers_score_one_and_wrong_answers_zero(registry: RewardRegistry) -> None:
    items = []
    for dataset in ("basic_arithmetic", "chain_sum", "gsm_symbolic"):
        problem, entry = _problem(dataset)
        items += [(problem, str(entry["answer"])), (problem, "definitely wrong 123456789")]
    results = registry.score_batch(items)
    assert [r.correct for r in results] == [True, False] * 3
    assert [r.score for r in results[::2]] == [1.0] * 3
    assert all(r.score < 1.0 for r in results[1::2])  # gsm_symbolic gives 0.01 for a well-formed number
    assert all(r.status == "ok" for r in results)


def test_example_entry_from_the_spec(registry: RewardRegistry) -> None:
    entry = {"question": "Calculate 5 - 3 - 6.", "answer": "-4", "metadata": {"source_dataset": "basic_arithmetic"}}
    problem = Problem(id="ex", question=entry["question"], answer="-4", domain="reasoning",
                      metadata={"source_dataset": "basic_arithmetic", "entry": entry})
    assert registry.score(problem, "-4").correct is True
    assert registry.score(problem, r"\boxed{-4}").correct is True
    assert registry.score(problem, "4").correct is False
    none = registry.score(problem, None)
    assert (none.correct, none.score, none.status) == (False, 0.0, "no_answer")


def test_partial_credit_through_literal_lists_still_works(registry: RewardRegistry) -> None:
    problem, entry = _problem("spiral_matrix")
    as_list = str([int(x) for x in str(entry["answer"]).split()])  # "[1, 2, 3]": the eval path
    result = registry.score(problem, as_list)
    assert result.status == "ok" and result.correct is False
    assert result.score == pytest.approx(0.1)  # reasoning-gym's partial credit, via ast.literal_eval


@pytest.mark.parametrize(
    "dataset", ["spiral_matrix", "string_insertion", "binary_matrix", "n_queens", "countdown", "puzzle24",
                "polynomial_multiplication", "simple_integration"]
)
def test_code_in_answers_is_never_executed(registry: RewardRegistry, tmp_path: Path, dataset: str) -> None:
    marker = tmp_path / f"pwned-{dataset}"
    problem, _ = _problem(dataset)
    payloads = [
        f"__import__('os').system('touch {marker}')",
        f"[__import__('os').system('touch {marker}')]",
        f"open('{marker}', 'w')",
    ]
    results = registry.score_batch([(problem, p) for p in payloads])
    assert all(r.correct is False for r in results), [r.to_dict() for r in results]
    assert not marker.exists()


def test_arithmetic_gate() -> None:
    check_arithmetic("(3 + 4) * 5 - 2")
    check_arithmetic("x**2/2 + sin(x) + C")
    for bad in ("__import__('os')", "x.__class__", "open('f')", "lambda: 1", "[1, 2]", "os"):
        with pytest.raises(UnsafeExpressionError):
            check_arithmetic(bad)


def test_missing_metadata_is_a_clear_error(registry: RewardRegistry) -> None:
    problem = Problem(id="p1", question="q", answer="1", domain="reasoning", metadata={})
    result = registry.score(problem, "1")
    assert result.status == "error" and "metadata.source_dataset" in (result.error or "")
    unknown = Problem(id="p2", question="q", answer="1", domain="reasoning",
                      metadata={"source_dataset": "no_such_dataset", "entry": {"answer": "1"}})
    result = registry.score(unknown, "1")
    assert result.status == "error" and "no_such_dataset" in (result.error or "")
