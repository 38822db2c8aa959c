"""Paired comparison of two evaluated arms on the same problems.

The arms are paired on ``problem_id`` (the problem sets must be identical); the difference of
accuracies ``a - b`` gets a paired percentile bootstrap interval (Efron 1979) and the discordant
pairs an exact McNemar test (McNemar 1947). Never an unpaired test on paired data (LESSONS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.evaluation.results import EvalResult, EvaluationError, Metric, load_eval
from parley.evaluation.statistics import (
    DEFAULT_ALPHA,
    DEFAULT_RESAMPLES,
    BootstrapResult,
    McNemarResult,
    Proportion,
    mcnemar_from_pairs,
    paired_bootstrap,
    proportion,
)


@dataclass(frozen=True)
class Comparison:
    """Arm ``a`` against arm ``b`` on ``n`` shared problems; ``bootstrap.diff`` = acc(a) - acc(b).

    ``mcnemar.b`` counts problems only ``a`` got right, ``mcnemar.c`` those only ``b`` got right.
    """

    label_a: str
    label_b: str
    metric: str
    n: int
    accuracy_a: Proportion
    accuracy_b: Proportion
    bootstrap: BootstrapResult
    mcnemar: McNemarResult

    @property
    def diff(self) -> float:
        return self.bootstrap.diff

    def as_dict(self) -> dict[str, Any]:
        return {"label_a": self.label_a, "label_b": self.label_b, "metric": self.metric, "n": self.n,
                "accuracy_a": self.accuracy_a.as_dict(), "accuracy_b": self.accuracy_b.as_dict(),
                "diff": self.diff, "bootstrap": self.bootstrap.as_dict(), "mcnemar": self.mcnemar.as_dict()}


def _as_result(arm: EvalResult | str | Path) -> EvalResult:
    return arm if isinstance(arm, EvalResult) else load_eval(arm)


def paired_outcomes(a: EvalResult, b: EvalResult, metric: Metric = "first") -> tuple[list[str], list[bool],
                                                                                    list[bool]]:
    """Problem ids (sorted) and each arm's outcome on them.

    Raises:
        EvaluationError: the arms were not run on the same problems.
    """
    oa, ob = a.outcomes(metric), b.outcomes(metric)
    if oa.keys() != ob.keys():
        only_a, only_b = sorted(oa.keys() - ob.keys()), sorted(ob.keys() - oa.keys())
        example = (only_a or only_b)[0]
        raise EvaluationError(
            f"arms {a.label!r} ({len(oa)} problems) and {b.label!r} ({len(ob)} problems) were not run on the "
            f"same problems: {len(only_a)} only in {a.label!r}, {len(only_b)} only in {b.label!r} "
            f"(e.g. {example!r}); evaluate both with the same dataset settings")
    ids = sorted(oa)
    return ids, [oa[i] for i in ids], [ob[i] for i in ids]


def compare(
    a: EvalResult | str | Path,
    b: EvalResult | str | Path,
    *,
    metric: Metric = "first",
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
) -> Comparison:
    """Compare arm ``a`` with arm ``b`` (results or their directories), paired on problem id.

    Raises:
        EvaluationError: an arm cannot be loaded or the problem sets differ.
    """
    ra, rb = _as_result(a), _as_result(b)
    ids, xa, xb = paired_outcomes(ra, rb, metric)
    n = len(ids)
    return Comparison(
        label_a=ra.label, label_b=rb.label, metric=metric, n=n,
        accuracy_a=proportion(sum(xa), n, alpha), accuracy_b=proportion(sum(xb), n, alpha),
        bootstrap=paired_bootstrap(xa, xb, n_resamples=n_resamples, seed=seed, alpha=alpha),
        mcnemar=mcnemar_from_pairs(xa, xb),
    )
