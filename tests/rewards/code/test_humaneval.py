"""HumanEval through the real sandbox: all canonical solutions pass, a broken variant of each fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from parley.rewards.code import (
    build_humaneval_program,
    extract_code,
    humaneval_problem,
    load_humaneval,
    score_batch,
    score_code,
)
from parley.sandbox import SandboxConfig, SandboxPool


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(SandboxConfig(timeout_s=15, cpu_time_s=15), size=2) as shared:
        yield shared


def test_bundled_humaneval_has_164_problems() -> None:
    problems = load_humaneval()
    assert len(problems) == 164
    assert problems[0]["task_id"] == "HumanEval/0"
    assert {"prompt", "entry_point", "canonical_solution", "test"} <= set(problems[0])


def test_all_canonical_solutions_pass(pool: SandboxPool) -> None:
    problems = load_humaneval()
    results = score_batch([(p, p["canonical_solution"]) for p in problems], pool)
    failures = [(p["task_id"], r.status, r.error) for p, r in zip(problems, results, strict=True) if not r.passed]
    assert failures == []
    assert all(r.details["isolation"] == "bwrap+cgroup+rlimit" for r in results)


def test_broken_variant_of_each_fails(pool: SandboxPool) -> None:
    problems = load_humaneval()
    results = score_batch([(p, "    return None\n") for p in problems], pool)
    wrongly_passing = [p["task_id"] for p, r in zip(problems, results, strict=True) if r.passed]
    assert wrongly_passing == []
    assert {r.status for r in results} <= {"failed", "timeout"}


def test_fenced_and_restated_completions(pool: SandboxPool) -> None:
    problem = humaneval_problem("HumanEval/2")  # truncate_number
    fenced_body = "Sure:\n```python\n    return number % 1.0\n```\nDone."
    restated = "```python\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n```"
    unindented = "return number % 1.0"
    wrong = "```py\ndef truncate_number(number):\n    return number\n```"
    for completion, expected in [(fenced_body, True), (restated, True), (unindented, True), (wrong, False)]:
        result = score_code(problem, completion, pool)
        assert result.passed is expected, (completion, result)
    # helpers defined in the prompt stay available when the function is restated (HumanEval/38)
    cyclic = humaneval_problem("HumanEval/38")
    solution = "def decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n"
    assert score_code(cyclic, solution, pool).passed


def test_program_layout() -> None:
    problem = humaneval_problem("HumanEval/0")
    program = build_humaneval_program(problem, "    return False\n")
    assert program.startswith(problem["prompt"])
    assert problem["test"] in program
    assert program.rstrip().endswith("check(has_close_elements)")
    restated = build_humaneval_program(problem, "def has_close_elements(numbers, threshold):\n    return 1\n")
    assert restated.index("from typing import List") < restated.index("return 1")
    assert extract_code("```\nprint(1)\n```") == "print(1)\n"
    assert extract_code("no fences") == "no fences"
    assert extract_code("```js\nx\n```\n```python\ny\n```") == "y\n"


def test_statuses_for_empty_invalid_and_hostile(pool: SandboxPool) -> None:
    problem = humaneval_problem("HumanEval/0")
    assert score_code(problem, "   \n", pool).status == "no_answer"
    assert score_code({"task_id": "HumanEval/999"}, "x", pool).status == "invalid"
    assert score_code({"prompt": "", "entry_point": "f"}, "x", pool).status == "invalid"
    spin = score_code(problem, "    while True:\n        pass\n", pool, timeout_s=1)
    assert spin.status == "timeout" and not spin.passed
    bare = score_code({"task_id": "HumanEval/0"}, problem["canonical_solution"], pool)
    assert bare.passed
    reward = spin.to_reward_result()
    assert (reward.correct, reward.status, reward.score) == (False, "timeout", 0.0)
    assert bare.to_reward_result().status == "ok" and bare.to_reward_result().correct is True
