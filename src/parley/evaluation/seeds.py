"""Accuracy and paired differences over problems *and* training seeds.

An arm trained with S seeds and evaluated on the same n problems gives an S x n table of 0/1 outcomes.
Its accuracy is the table's mean. Intervals come from a two-level (hierarchical) percentile bootstrap:
each resample draws S seeds with replacement and n problems with replacement (paired across arms: the
same problem draw for both arms of a comparison), so the interval reflects both the finite problem set
and seed-to-seed variation of training. With one seed it is the usual paired bootstrap over problems.

The p-value of a difference must carry the same uncertainty as its interval. With one seed on each side
it is a two-sided paired sign-flip permutation test on the per-problem differences (exact over every
flip pattern when at most 16 problems differ, otherwise 20,000 random flips; the null hypothesis is
that the two arms are exchangeable on every problem). With several seeds on either side a test over
problems alone would ignore seed-to-seed variation (measured: two runs of the demo's arms with the same
seeds differ by up to 2.7 points, since batched float32 sampling is not bit-reproducible across
batch compositions), so ``p`` is the two-sided bootstrap p-value of the same two-level resampling as
the interval, ``2 min(P(diff* <= 0), P(diff* >= 0))`` with the ``(1 + count) / (1 + resamples)``
correction: ``p < 0.05`` exactly when the 95% percentile interval excludes 0 (up to ties at 0). Both
use fixed seeds, so reports are reproducible.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from parley.evaluation.statistics import proportion

RESAMPLES = 4000
FLIPS = 20_000
ALPHA = 0.05


def _table(outcomes: Sequence[Sequence[bool]]) -> np.ndarray:
    table = np.asarray(outcomes, dtype=float)
    if table.ndim != 2 or table.size == 0:
        raise ValueError("outcomes: give a non-empty seeds x problems table")
    return table


def seeded_accuracy(outcomes: Sequence[Sequence[bool]], seed: int = 0) -> dict[str, Any]:
    """``{"value", "ci_low", "ci_high", "n", "seeds"}`` of a seeds x problems table of outcomes.

    One seed: the Wilson interval over problems. Several: the two-level bootstrap of the module docstring.
    """
    table = _table(outcomes)
    s, n = table.shape
    value = float(table.mean())
    if s == 1:
        p = proportion(int(table.sum()), n)
        return {"value": value, "ci_low": p.low, "ci_high": p.high, "n": n, "seeds": 1}
    rng = np.random.default_rng(seed)
    draws = np.empty(RESAMPLES)
    for k in range(RESAMPLES):
        rows = rng.integers(0, s, s)
        cols = rng.integers(0, n, n)
        draws[k] = table[np.ix_(rows, cols)].mean()
    low, high = np.percentile(draws, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return {"value": value, "ci_low": float(low), "ci_high": float(high), "n": n, "seeds": s}


def _sign_flip_p(d: np.ndarray, seed: int) -> float:
    nonzero = d[np.abs(d) > 1e-12]
    if nonzero.size == 0:
        return 1.0
    observed = abs(nonzero.sum())
    if nonzero.size <= 16:
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=nonzero.size)))
        sums = np.abs(signs @ nonzero)
        return float(np.mean(sums >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    signs = rng.choice((-1.0, 1.0), size=(FLIPS, nonzero.size))
    sums = np.abs(signs @ nonzero)
    return float((1 + np.sum(sums >= observed - 1e-12)) / (FLIPS + 1))


def seeded_difference(a: Sequence[Sequence[bool]], b: Sequence[Sequence[bool]], seed: int = 0) -> dict[str, Any]:
    """Paired difference ``accuracy(a) - accuracy(b)`` of two seeds x problems tables on the same problems.

    Returns ``{"diff", "ci_low", "ci_high", "p", "n", "seeds_a", "seeds_b", "wins", "losses"}``: the
    interval from the two-level bootstrap (problems drawn once per resample for both arms), ``p`` from the
    sign-flip test (one seed each) or the same bootstrap (several seeds), and ``wins`` / ``losses`` the
    problems where ``a``'s mean outcome is above / below b's.
    """
    ta, tb = _table(a), _table(b)
    if ta.shape[1] != tb.shape[1]:
        raise ValueError(f"a has {ta.shape[1]} problems but b has {tb.shape[1]}; align them on the same problems")
    sa, n = ta.shape
    sb = tb.shape[0]
    d = ta.mean(axis=0) - tb.mean(axis=0)
    rng = np.random.default_rng(seed)
    draws = np.empty(RESAMPLES)
    for k in range(RESAMPLES):
        cols = rng.integers(0, n, n)
        ra = ta[rng.integers(0, sa, sa)] if sa > 1 else ta
        rb = tb[rng.integers(0, sb, sb)] if sb > 1 else tb
        draws[k] = ra[:, cols].mean() - rb[:, cols].mean()
    low, high = np.percentile(draws, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    if sa == 1 and sb == 1:
        p = _sign_flip_p(d, seed)
    else:
        tail = min(np.sum(draws <= 0), np.sum(draws >= 0))
        p = min(1.0, 2 * (1 + float(tail)) / (1 + RESAMPLES))
    return {"diff": float(d.mean()), "ci_low": float(low), "ci_high": float(high), "p": p,
            "n": n, "seeds_a": sa, "seeds_b": sb, "wins": int(np.sum(d > 1e-12)), "losses": int(np.sum(d < -1e-12))}
