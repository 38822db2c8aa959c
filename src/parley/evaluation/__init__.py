"""Evaluation: held-out accuracy runs, paired comparisons, statistics and report building blocks.

Public API: :func:`evaluate` (run and score one arm), :func:`compare` (paired comparison of two arms),
:func:`load_eval`, :func:`matched_self_consistency_k`, the statistics in
:mod:`parley.evaluation.statistics` and the report helpers in :mod:`parley.evaluation.report`.
"""

from parley.evaluation.compare import Comparison, compare, paired_outcomes
from parley.evaluation.results import EvalResult, EvaluationError, ProblemResult, load_eval, summarize
from parley.evaluation.runner import evaluate, matched_self_consistency_k
from parley.evaluation.statistics import (
    BootstrapResult,
    McNemarResult,
    MeanCI,
    Proportion,
    mcnemar_exact,
    mcnemar_from_pairs,
    mean_ci,
    paired_bootstrap,
    proportion,
    wilson_interval,
)

__all__ = [
    "BootstrapResult", "Comparison", "EvalResult", "EvaluationError", "McNemarResult", "MeanCI",
    "ProblemResult", "Proportion", "compare", "evaluate", "load_eval", "matched_self_consistency_k",
    "mcnemar_exact", "mcnemar_from_pairs", "mean_ci", "paired_bootstrap", "paired_outcomes", "proportion",
    "summarize", "wilson_interval",
]
