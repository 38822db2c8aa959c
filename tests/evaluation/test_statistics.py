"""Statistics against hand-computed values (computed once by hand / from tables, pasted as literals)."""

from __future__ import annotations

import pytest

from parley.evaluation.statistics import (
    mcnemar_exact,
    mcnemar_from_pairs,
    mean_ci,
    paired_bootstrap,
    proportion,
    wilson_interval,
)


def test_wilson_7_of_10_matches_the_published_interval() -> None:
    # p=0.7, z=1.95996: centre 0.89207/1.38415, half-width 0.24772 -> [0.3968, 0.8922]
    low, high = wilson_interval(7, 10)
    assert low == pytest.approx(0.396778, abs=1e-4)
    assert high == pytest.approx(0.892209, abs=1e-4)


def test_wilson_other_alpha_and_edges() -> None:
    low, high = wilson_interval(7, 10, alpha=0.10)  # z=1.64485
    assert (low, high) == (pytest.approx(0.441700, abs=1e-4), pytest.approx(0.873123, abs=1e-4))
    low, high = wilson_interval(0, 10)  # upper bound z^2/(n+z^2) = 3.84146/13.84146
    assert low == 0.0
    assert high == pytest.approx(0.277533, abs=1e-4)
    assert wilson_interval(10, 10)[1] == 1.0


def test_proportion_and_bad_inputs() -> None:
    prop = proportion(7, 10)
    assert (prop.successes, prop.n, prop.rate) == (7, 10, 0.7)
    with pytest.raises(ValueError, match="n must be positive"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="outside"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="alpha"):
        wilson_interval(1, 10, alpha=0.0)


def test_mcnemar_exact_hand_values() -> None:
    # b=1, c=6: 2 * (C(7,0) + C(7,1)) / 2^7 = 2 * 8 / 128
    assert mcnemar_exact(1, 6).p_value == pytest.approx(0.125, abs=1e-12)
    assert mcnemar_exact(6, 1).p_value == pytest.approx(0.125, abs=1e-12)
    assert mcnemar_exact(0, 5).p_value == pytest.approx(0.0625, abs=1e-12)  # 2 / 2^5
    assert mcnemar_exact(0, 0).p_value == 1.0
    assert mcnemar_exact(3, 3).p_value == 1.0  # 2 * 42/64 > 1, capped


def test_mcnemar_from_pairs_counts_discordant_pairs() -> None:
    x = [True, True, False, False, True, False, False, False]
    y = [True, False, True, True, True, True, True, True]
    result = mcnemar_from_pairs(x, y)
    assert (result.b, result.c) == (1, 5)
    assert result.p_value == pytest.approx(0.21875, abs=1e-12)  # 2 * (1 + 6) / 64
    with pytest.raises(ValueError, match="equal length"):
        mcnemar_from_pairs([True], [True, False])


def test_bootstrap_identical_arms_is_degenerate_at_zero() -> None:
    x = [True, False, True, True, False]
    result = paired_bootstrap(x, list(x), n_resamples=500, seed=3)
    assert (result.diff, result.low, result.high, result.p_value) == (0.0, 0.0, 0.0, 1.0)


def test_bootstrap_dominating_arm() -> None:
    result = paired_bootstrap([True] * 5, [False] * 5, n_resamples=999, seed=0)
    assert (result.diff, result.low, result.high) == (1.0, 1.0, 1.0)
    assert result.p_value == pytest.approx(2 * 1 / 1000)  # no resample <= 0: add-one p


def test_bootstrap_two_problem_case_and_determinism() -> None:
    # per-problem differences [1, 0]: a resample's mean is 0, 0.5 or 1 with prob 1/4, 1/2, 1/4
    result = paired_bootstrap([True, False], [False, False], n_resamples=20_000, seed=11)
    assert result.diff == 0.5
    assert (result.low, result.high) == (0.0, 1.0)
    assert result.p_value == pytest.approx(0.5, abs=0.02)  # 2 * P(d <= 0) = 2 * 1/4
    again = paired_bootstrap([True, False], [False, False], n_resamples=20_000, seed=11)
    assert again == result
    x = [True, False, True, True, False, True, False, True, True, False]
    y = [False, False, True, False, False, True, True, False, True, False]
    a, b = paired_bootstrap(x, y, n_resamples=200, seed=1), paired_bootstrap(x, y, n_resamples=200, seed=2)
    assert a.diff == b.diff == pytest.approx(0.2)
    assert a.p_value != b.p_value or (a.low, a.high) != (b.low, b.high)


def test_mean_ci_t_interval() -> None:
    # mean 2, s=1, t_{0.975,2}=4.302653 -> 2 -+ 4.302653/sqrt(3)
    result = mean_ci([1.0, 2.0, 3.0])
    assert result.mean == 2.0
    assert result.low == pytest.approx(-0.484138, abs=1e-4)
    assert result.high == pytest.approx(4.484138, abs=1e-4)
    single = mean_ci([0.4])
    assert (single.mean, single.low, single.high, single.n) == (0.4, None, None, 1)
    with pytest.raises(ValueError, match="no values"):
        mean_ci([])
