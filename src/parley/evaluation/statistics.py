"""Statistics for accuracy evaluations: intervals and paired tests on per-problem results.

* :func:`wilson_interval` / :func:`proportion`: the Wilson score interval for a binomial proportion
  (Wilson 1927), accurate at small n and at accuracies near 0 or 1 where the normal interval fails.
* :func:`paired_bootstrap`: a paired percentile bootstrap (Efron 1979; Efron & Tibshirani 1993, ch. 13)
  of the accuracy difference between two arms run on the *same* problems: problems are resampled with
  replacement and both arms keep their outcome on each drawn problem, so the pairing is preserved.
* :func:`mcnemar_exact` / :func:`mcnemar_from_pairs`: the exact McNemar test (McNemar 1947) for paired
  binary outcomes: a two-sided exact binomial test of the discordant counts ``b`` and ``c`` against
  Binomial(b + c, 1/2).
* :func:`mean_ci`: mean with a Student-t confidence interval over independent seeds (for the bands
  around learning curves).

Comparisons must use per-problem results, paired (LESSONS.md): every paired function here takes two
aligned boolean sequences, never aggregate accuracies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats as _st

DEFAULT_ALPHA = 0.05
DEFAULT_RESAMPLES = 10_000
_CHUNK = 1_000


def _z(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return float(_st.norm.ppf(1.0 - alpha / 2.0))


@dataclass(frozen=True)
class Proportion:
    """``successes / n`` with its Wilson interval at level ``1 - alpha``."""

    successes: int
    n: int
    rate: float
    low: float
    high: float
    alpha: float = DEFAULT_ALPHA

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def wilson_interval(successes: int, n: int, alpha: float = DEFAULT_ALPHA) -> tuple[float, float]:
    """Wilson score interval (Wilson 1927) for ``successes`` out of ``n`` at level ``1 - alpha``.

    ``(p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)`` with ``z`` the ``1 - alpha/2`` normal
    quantile. The bounds are exactly 0 (1) when there are no successes (failures).

    Raises:
        ValueError: ``n <= 0``, ``successes`` outside ``[0, n]`` or ``alpha`` outside ``(0, 1)``.
    """
    if n <= 0:
        raise ValueError(f"wilson_interval: n must be positive, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"wilson_interval: successes={successes} outside [0, {n}]")
    z = _z(alpha)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def proportion(successes: int, n: int, alpha: float = DEFAULT_ALPHA) -> Proportion:
    """A :class:`Proportion` with its Wilson interval (raises on ``n <= 0``: no data is not a rate)."""
    low, high = wilson_interval(successes, n, alpha)
    return Proportion(successes=successes, n=n, rate=successes / n, low=low, high=high, alpha=alpha)


def _as_paired_arrays(x: Sequence[bool], y: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    if len(x) != len(y):
        raise ValueError(f"paired outcomes must have equal length, got {len(x)} and {len(y)}")
    if len(x) == 0:
        raise ValueError("paired outcomes are empty")
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


@dataclass(frozen=True)
class BootstrapResult:
    """Paired bootstrap of ``mean(x) - mean(y)``.

    ``p_value`` is a two-sided bootstrap p-value ``min(1, 2 min(k_le + 1, k_ge + 1) / (B + 1))``, with
    ``k_le`` / ``k_ge`` the number of the ``B`` resampled differences ``<= 0`` / ``>= 0`` (the add-one
    form of Davison & Hinkley 1997, so it is never exactly 0): a rough indication only; the interval
    is the result to report, and McNemar's test the paired test.
    """

    diff: float
    low: float
    high: float
    p_value: float
    n: int
    n_resamples: int
    seed: int
    alpha: float = DEFAULT_ALPHA

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_bootstrap(
    x: Sequence[bool],
    y: Sequence[bool],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    alpha: float = DEFAULT_ALPHA,
) -> BootstrapResult:
    """Paired percentile bootstrap CI (Efron 1979) of ``mean(x) - mean(y)``.

    ``x[i]`` and ``y[i]`` are the two arms' outcomes on problem ``i``. Each resample draws ``n`` problem
    indices with replacement (``numpy.random.default_rng(seed)``) and takes the difference of the two
    arms' accuracies on those problems; the interval is the ``alpha/2`` and ``1 - alpha/2`` quantiles of
    the ``n_resamples`` differences. Deterministic for a given ``seed``.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    _z(alpha)
    xa, ya = _as_paired_arrays(x, y)
    per_problem = xa - ya
    n = len(per_problem)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, _CHUNK):
        stop = min(start + _CHUNK, n_resamples)
        idx = rng.integers(0, n, size=(stop - start, n))
        diffs[start:stop] = per_problem[idx].mean(axis=1)
    low, high = np.quantile(diffs, [alpha / 2.0, 1.0 - alpha / 2.0])
    k_le, k_ge = int(np.sum(diffs <= 0)), int(np.sum(diffs >= 0))
    p = min(1.0, 2.0 * (min(k_le, k_ge) + 1) / (n_resamples + 1))
    return BootstrapResult(diff=float(per_problem.mean()), low=float(low), high=float(high), p_value=p,
                           n=n, n_resamples=n_resamples, seed=seed, alpha=alpha)


@dataclass(frozen=True)
class McNemarResult:
    """Exact McNemar test: ``b`` = pairs where only the first arm is right, ``c`` = only the second."""

    b: int
    c: int
    p_value: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mcnemar_exact(b: int, c: int) -> McNemarResult:
    """Exact McNemar test (McNemar 1947) on discordant counts ``b`` and ``c``.

    Under the null each discordant pair is equally likely to go either way, so ``b ~ Binomial(b + c,
    1/2)``; the two-sided p-value is ``min(1, 2 P(X <= min(b, c)))``, and 1 when ``b + c = 0``.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    if b + c == 0:
        return McNemarResult(b=b, c=c, p_value=1.0)
    p = min(1.0, 2.0 * float(_st.binom.cdf(min(b, c), b + c, 0.5)))
    return McNemarResult(b=b, c=c, p_value=p)


def mcnemar_from_pairs(x: Sequence[bool], y: Sequence[bool]) -> McNemarResult:
    """:func:`mcnemar_exact` with ``b = #(x right, y wrong)`` and ``c = #(x wrong, y right)``."""
    xa, ya = _as_paired_arrays(x, y)
    b = int(np.sum((xa == 1) & (ya == 0)))
    c = int(np.sum((xa == 0) & (ya == 1)))
    return mcnemar_exact(b, c)


@dataclass(frozen=True)
class MeanCI:
    """Mean of ``n`` values with a Student-t interval; the bounds are ``None`` when ``n < 2``."""

    mean: float
    low: float | None
    high: float | None
    n: int
    alpha: float = DEFAULT_ALPHA

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def mean_ci(values: Sequence[float], alpha: float = DEFAULT_ALPHA) -> MeanCI:
    """Mean and Student-t interval ``mean -+ t_{1-alpha/2, n-1} s / sqrt(n)`` (s: sample std, ddof 1).

    Meant for a metric measured over independent seeds. With one value there is no spread estimate,
    so the bounds are ``None`` (never a zero-width interval pretending to be certain).
    """
    _z(alpha)
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("mean_ci: no values")
    mean = float(arr.mean())
    if arr.size < 2:
        return MeanCI(mean=mean, low=None, high=None, n=int(arr.size), alpha=alpha)
    se = float(arr.std(ddof=1)) / math.sqrt(arr.size)
    half = float(_st.t.ppf(1.0 - alpha / 2.0, arr.size - 1)) * se
    return MeanCI(mean=mean, low=mean - half, high=mean + half, n=int(arr.size), alpha=alpha)
