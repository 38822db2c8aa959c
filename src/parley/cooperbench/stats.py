"""Small, self-contained statistics for the CooperBench analysis (arXiv 2601.13295, Sec. 4-5).

* :func:`wilson_interval`: Wilson score interval for a binomial proportion (better than the normal
  interval at the small counts and extreme rates CooperBench produces, e.g. 3 successes in 300).
* :func:`mcnemar_exact`: exact McNemar test for *paired* binary outcomes (the same feature pair run
  with and without communication), a two-sided binomial test on the discordant pairs.
* :func:`fisher_exact_2x2`: Fisher's exact test for a 2x2 table of independent records (e.g. first-turn
  planning vs merge conflict).
* :func:`mann_whitney`: two-sided Mann-Whitney U test for a continuous feature between two groups.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats as _st

from parley.evaluation.statistics import mcnemar_exact as _mcnemar
from parley.evaluation.statistics import wilson_interval as _wilson


@dataclass(frozen=True)
class Proportion:
    """``successes / n`` with its Wilson interval; ``rate`` and the bounds are ``None`` when n == 0."""

    successes: int
    n: int
    rate: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(successes: int, n: int) -> tuple[float, float]:
    """95% Wilson score interval (Wilson 1927); delegates to :func:`parley.evaluation.statistics.wilson_interval`."""
    return _wilson(successes, n)


def proportion(successes: int, n: int) -> Proportion:
    """A :class:`Proportion` with its 95% Wilson interval (all ``None`` for an empty sample)."""
    if n == 0:
        return Proportion(successes=0, n=0, rate=None, low=None, high=None)
    low, high = wilson_interval(successes, n)
    return Proportion(successes=successes, n=n, rate=successes / n, low=low, high=high)


@dataclass(frozen=True)
class TestResult:
    """Outcome of a significance test: its name, statistic, two-sided p-value and sample sizes."""

    test: str
    statistic: float | None
    p_value: float | None
    n: int
    detail: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(pairs: Sequence[tuple[bool, bool]]) -> TestResult:
    """Exact McNemar test on paired outcomes ``(a, b)``.

    Only discordant pairs carry information: ``b01`` (a false, b true) and ``b10``. Under the null each
    discordant pair is a fair coin, so p is a two-sided binomial test of ``b10`` in ``b01 + b10``.
    With no discordant pairs the test is uninformative and p = 1.
    """
    b01 = sum(1 for a, b in pairs if not a and b)
    b10 = sum(1 for a, b in pairs if a and not b)
    discordant = b01 + b10
    p = _mcnemar(b10, b01).p_value
    return TestResult(
        test="mcnemar_exact",
        statistic=float(b10),
        p_value=p,
        n=len(pairs),
        detail={"a_only": b10, "b_only": b01, "discordant": discordant},
    )


def fisher_exact_2x2(table: tuple[tuple[int, int], tuple[int, int]]) -> TestResult:
    """Two-sided Fisher exact test; ``table`` rows are groups, columns are (event, no event)."""
    (a, b), (c, d) = table
    n = a + b + c + d
    if min(a + b, c + d) == 0:
        return TestResult("fisher_exact", None, None, n, {"table": [[a, b], [c, d]], "reason": "empty group"})
    res = _st.fisher_exact([[a, b], [c, d]])
    odds = float(res.statistic)
    return TestResult(
        test="fisher_exact",
        statistic=odds if math.isfinite(odds) else None,
        p_value=float(res.pvalue),
        n=n,
        detail={"table": [[a, b], [c, d]], "odds_ratio_infinite": not math.isfinite(odds)},
    )


def mann_whitney(x: Sequence[float], y: Sequence[float]) -> TestResult:
    """Two-sided Mann-Whitney U test; ``None`` statistic and p when either group is empty."""
    if not x or not y:
        return TestResult("mann_whitney_u", None, None, len(x) + len(y), {"reason": "empty group"})
    if len(set(x) | set(y)) == 1:
        return TestResult("mann_whitney_u", None, 1.0, len(x) + len(y), {"reason": "all values equal"})
    res = _st.mannwhitneyu(x, y, alternative="two-sided")
    return TestResult(
        "mann_whitney_u", float(res.statistic), float(res.pvalue), len(x) + len(y), {"n_x": len(x), "n_y": len(y)}
    )
