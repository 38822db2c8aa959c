"""Score a code completion in the sandbox: HumanEval-style (function + asserts) or stdin/stdout cases.

:func:`score_code` is what the reward registry calls; :func:`score_batch` fans a batch out over a
:class:`~parley.sandbox.SandboxPool` with threads (each job blocks on one warm worker). Statuses:
``passed``; ``failed`` (ran, a test failed or it crashed); ``timeout``, ``memory``, ``killed`` (the
sandbox's limits); ``no_answer`` (empty completion, never run); ``invalid`` (the problem record is
malformed: a broken verifier input, not a wrong answer).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from parley.rewards.code.humaneval import (
    CodeProblemError,
    build_humaneval_program,
    extract_code,
    humaneval_problem,
)
from parley.rewards.code.stdio import is_stdio_record, outputs_match, parse_cases
from parley.rewards.types import STATUS_ERROR, STATUS_OK, STATUS_TIMEOUT, RewardResult
from parley.sandbox import SandboxResult

logger = logging.getLogger(__name__)

CODE_STATUSES = ("passed", "failed", "timeout", "memory", "killed", "no_answer", "invalid")
MAX_ERROR_CHARS = 500


class CodeRunner(Protocol):
    """Anything that runs a Python program in a sandbox: :class:`Sandbox` or :class:`SandboxPool`."""

    def run_python(
        self,
        code: str,
        stdin: bytes | None = None,
        files: Mapping[str, bytes] | None = None,
        timeout_s: float | None = None,
    ) -> SandboxResult: ...


@dataclass
class CodeResult:
    """The verdict on one completion. ``score`` is the fraction of test cases passed (HumanEval: 0 or 1)."""

    passed: bool
    status: str
    error: str | None
    score: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_reward_result(self) -> RewardResult:
        """The registry's :class:`RewardResult`: a wrong or crashing program is a verdict (``ok``)."""
        if self.status == "no_answer":
            return RewardResult.no_answer(self.error or "empty completion")
        status = {"timeout": STATUS_TIMEOUT, "invalid": STATUS_ERROR}.get(self.status, STATUS_OK)
        details = {"code_status": self.status, **self.details}
        return RewardResult(self.passed, self.score, None, self.error, status, details)


def resolve_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A full problem record: a bare ``{"task_id": "HumanEval/N"}`` is looked up in bundled HumanEval."""
    full = dict(record)
    has_problem = "test" in full or is_stdio_record(full)
    if not has_problem:
        task_id = full.get("task_id")
        if not isinstance(task_id, str):
            raise CodeProblemError(
                "record has neither a HumanEval 'test' nor stdio 'tests'/'inputs', and no 'task_id' to look up"
            )
        full = {**humaneval_problem(task_id), **full}
    return full


def _error_line(result: SandboxResult) -> str | None:
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    if result.status != "error":
        return result.detail
    return (lines[-1] if lines else result.detail or "failed")[:MAX_ERROR_CHARS]


def _from_sandbox(result: SandboxResult) -> CodeResult:
    details = {"sandbox_status": result.status, "exit_code": result.exit_code, "duration_s": result.duration_s,
               "isolation": result.isolation}
    if result.status == "ok":
        return CodeResult(True, "passed", None, 1.0, details)
    status = "failed" if result.status == "error" else result.status
    return CodeResult(False, status, _error_line(result), 0.0, details)


def score_code(
    problem_record: Mapping[str, Any],
    completion: str,
    runner: CodeRunner,
    *,
    timeout_s: float | None = None,
    stop_on_first_failure: bool = False,
) -> CodeResult:
    """Run ``completion`` against the problem's tests in ``runner`` and return the verdict.

    ``problem_record``: a HumanEval record (``prompt``, ``entry_point``, ``test``), a bare
    ``{"task_id": "HumanEval/N"}``, or a stdio record (see :mod:`parley.rewards.code.stdio`).
    """
    try:
        record = resolve_record(problem_record)
    except CodeProblemError as exc:
        return CodeResult(False, "invalid", str(exc))
    if not isinstance(completion, str) or not completion.strip():
        return CodeResult(False, "no_answer", "the completion is empty")
    try:
        if not is_stdio_record(record):
            return _from_sandbox(runner.run_python(build_humaneval_program(record, completion), timeout_s=timeout_s))
        cases = parse_cases(record)
    except CodeProblemError as exc:
        return CodeResult(False, "invalid", str(exc))
    program = extract_code(completion)
    results: list[dict[str, Any]] = []
    first_failure: CodeResult | None = None
    for index, case in enumerate(cases):
        run = runner.run_python(program, stdin=case.input.encode("utf-8"), timeout_s=timeout_s)
        verdict = _from_sandbox(run)
        if verdict.passed and not outputs_match(case.output, run.stdout):
            verdict = CodeResult(False, "failed", f"wrong answer on test {index}", 0.0, verdict.details)
        results.append({"index": index, "passed": verdict.passed, "status": verdict.status,
                        "error": verdict.error, "duration_s": run.duration_s})
        if not verdict.passed and first_failure is None:
            first_failure = verdict
            if stop_on_first_failure:
                break
    passed_count = sum(r["passed"] for r in results)
    details = {"cases": results, "passed_cases": passed_count, "total_cases": len(cases)}
    score = passed_count / len(cases)
    if first_failure is None:
        return CodeResult(True, "passed", None, score, details)
    return CodeResult(False, first_failure.status, first_failure.error, score, details)


def score_batch(
    items: Sequence[tuple[Mapping[str, Any], str]],
    runner: CodeRunner,
    *,
    max_workers: int | None = None,
    timeout_s: float | None = None,
) -> list[CodeResult]:
    """Score ``(problem_record, completion)`` pairs concurrently; results keep the input order.

    ``max_workers`` defaults to the pool's size (more threads would only queue on its workers).
    """
    if not items:
        return []
    workers = max_workers or getattr(runner, "size", 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="parley-code") as executor:
        return list(executor.map(lambda item: score_code(item[0], item[1], runner, timeout_s=timeout_s), items))
