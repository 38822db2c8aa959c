"""stdin/stdout test cases, pass@k, and ``parley verify code``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import combinations
from math import comb
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.rewards.code import CodeProblemError, mean_pass_at_k, outputs_match, parse_cases, pass_at_k, score_code
from parley.sandbox import SandboxConfig, SandboxPool

SUM_PROBLEM = {
    "task_id": "sum-two",
    "tests": [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "10 -4\n", "output": "6"},
        {"input": "1000000000 1000000000\n", "output": "2000000000\n"},
    ],
}


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(SandboxConfig(timeout_s=5, cpu_time_s=5), size=2) as shared:
        yield shared


def test_stdio_cases_pass_fail_and_partial(pool: SandboxPool) -> None:
    good = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    result = score_code(SUM_PROBLEM, good, pool)
    assert result.passed and result.status == "passed" and result.score == 1.0
    assert [c["passed"] for c in result.details["cases"]] == [True, True, True]

    capped = "a, b = map(int, input().split())\nprint(min(a + b, 10))"
    partial = score_code(SUM_PROBLEM, capped, pool)
    assert not partial.passed and partial.status == "failed"
    assert partial.error == "wrong answer on test 2"
    assert partial.score == pytest.approx(2 / 3)

    crash = score_code(SUM_PROBLEM, "raise SystemExit(4)", pool)
    assert crash.status == "failed" and crash.score == 0.0

    apps_style = {"input_output": json.dumps({"inputs": ["5\n"], "outputs": ["25\n"]})}
    assert score_code(apps_style, "n = int(input())\nprint(n * n)", pool).passed


def test_stdio_case_parsing_errors_name_the_field() -> None:
    with pytest.raises(CodeProblemError, match=r"tests\[1\]"):
        parse_cases({"tests": [{"input": "", "output": ""}, {"input": 3}]})
    with pytest.raises(CodeProblemError, match="equal length"):
        parse_cases({"inputs": ["1"], "outputs": []})
    assert outputs_match("1 2\n3\n", "1  2\n3")
    assert not outputs_match("1 2", "1 2 3")


def test_pass_at_k_matches_its_definition() -> None:
    # The estimator equals the exact probability that a random k-subset contains a correct sample.
    for n in range(1, 8):
        for c in range(n + 1):
            samples = [1] * c + [0] * (n - c)
            for k in range(1, n + 1):
                subsets = list(combinations(range(n), k))
                exact = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(exact)
                assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))
    assert pass_at_k(200, 0, 10) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert mean_pass_at_k([4, 4], [1, 4], 1) == pytest.approx((0.25 + 1.0) / 2)
    with pytest.raises(ValueError, match="k must be"):
        pass_at_k(3, 1, 4)


def test_cli_verify_code(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    lines = [
        {"task_id": "HumanEval/0", "completion": "    return False\n"},
        {"task_id": "HumanEval/2", "completion": "```python\n    return number % 1.0\n```"},
        {**SUM_PROBLEM, "completion": "a, b = map(int, input().split())\nprint(a + b)"},
        {"task_id": "HumanEval/4", "completion": None},
    ]
    src.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "out.jsonl"
    runner = CliRunner()
    result = runner.invoke(app, ["verify", "code", str(src), "--out", str(out), "--timeout", "10"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["passed"], r["status"]) for r in rows] == [
        (False, "failed"),
        (True, "passed"),
        (True, "passed"),
        (False, "no_answer"),
    ]
    assert rows[0]["error"] == "AssertionError" and rows[1]["error"] is None
    assert rows[0]["task_id"] == "HumanEval/0"

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(lines[0]) + "\n{not json\n")
    failed = runner.invoke(app, ["verify", "code", str(bad)])
    assert failed.exit_code == 2
    assert f"{bad}:2" in failed.output and "invalid JSON" in failed.output
