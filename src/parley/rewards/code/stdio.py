"""Competitive-programming test cases: the program reads stdin and must print the expected stdout.

Record formats accepted: ``{"tests": [{"input": str, "output": str}, ...]}`` or the APPS-style
``{"inputs": [str, ...], "outputs": [str, ...]}`` (optionally nested under ``input_output``, itself
possibly a JSON string). Outputs are compared token by token on whitespace (the usual judge rule:
spacing and trailing newlines do not matter, every token must match exactly; no float tolerance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from parley.rewards.code.humaneval import CodeProblemError

MAX_CASES = 1000


@dataclass(frozen=True)
class StdioCase:
    """One test: feed ``input`` on stdin, expect ``output`` on stdout."""

    input: str
    output: str


def is_stdio_record(record: dict[str, Any]) -> bool:
    """Whether ``record`` carries stdin/stdout test cases."""
    return "tests" in record or "inputs" in record or "input_output" in record


def parse_cases(record: dict[str, Any]) -> list[StdioCase]:
    """The test cases of ``record``; :class:`CodeProblemError` names the malformed field."""
    if "tests" in record:
        tests = record["tests"]
        if not isinstance(tests, list) or not tests:
            raise CodeProblemError("stdio record: field 'tests' must be a non-empty list")
        cases = []
        for i, test in enumerate(tests):
            if not isinstance(test, dict) or not isinstance(test.get("input"), str) or not isinstance(
                test.get("output"), str
            ):
                raise CodeProblemError(f"stdio record: tests[{i}] must be {{'input': str, 'output': str}}")
            cases.append(StdioCase(test["input"], test["output"]))
    else:
        source: Any = record.get("input_output", record)
        if isinstance(source, str):
            try:
                source = json.loads(source)
            except json.JSONDecodeError as exc:
                raise CodeProblemError(f"stdio record: field 'input_output' is not valid JSON: {exc}") from exc
        inputs, outputs = source.get("inputs"), source.get("outputs")
        if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
            raise CodeProblemError("stdio record: 'inputs' and 'outputs' must be lists of equal length")
        if not inputs:
            raise CodeProblemError("stdio record: 'inputs' is empty")
        cases = []
        for i, (given, expected) in enumerate(zip(inputs, outputs, strict=True)):
            if not isinstance(given, str) or not isinstance(expected, str):
                raise CodeProblemError(f"stdio record: inputs[{i}] and outputs[{i}] must be strings")
            cases.append(StdioCase(given, expected))
    if len(cases) > MAX_CASES:
        raise CodeProblemError(f"stdio record: {len(cases)} test cases (at most {MAX_CASES})")
    return cases


def outputs_match(expected: str, actual: str) -> bool:
    """Token-wise comparison on whitespace."""
    return expected.split() == actual.split()
