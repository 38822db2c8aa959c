"""Code rewards: HumanEval (function + asserts), stdin/stdout test cases, pass@k; run in the sandbox."""

from parley.rewards.code.humaneval import (
    CodeProblemError,
    build_humaneval_program,
    extract_code,
    humaneval_problem,
    load_humaneval,
)
from parley.rewards.code.passk import mean_pass_at_k, pass_at_k
from parley.rewards.code.scoring import CODE_STATUSES, CodeResult, CodeRunner, resolve_record, score_batch, score_code
from parley.rewards.code.stdio import StdioCase, outputs_match, parse_cases

__all__ = [
    "CODE_STATUSES",
    "CodeProblemError",
    "CodeResult",
    "CodeRunner",
    "StdioCase",
    "build_humaneval_program",
    "extract_code",
    "humaneval_problem",
    "load_humaneval",
    "mean_pass_at_k",
    "outputs_match",
    "parse_cases",
    "pass_at_k",
    "resolve_record",
    "score_batch",
    "score_code",
]
