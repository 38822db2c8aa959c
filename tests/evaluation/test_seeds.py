"""Accuracy and paired differences over problems and seeds: the p-value carries the interval's uncertainty."""

from __future__ import annotations

import numpy as np

from parley.evaluation.seeds import seeded_accuracy, seeded_difference


def test_one_seed_uses_the_exact_sign_flip_test() -> None:
    a = [[True, True, True, False, True, True]]
    b = [[False, False, True, False, False, True]]
    d = seeded_difference(a, b)
    # 3 problems differ, all in a's favour: 2 of the 2^3 sign patterns reach |sum| = 3.
    assert d["diff"] == 0.5 and d["wins"] == 3 and d["losses"] == 0
    assert d["p"] == 2 / 8


def test_seed_to_seed_variation_is_not_mistaken_for_a_difference() -> None:
    # Arm a: one seed right on every problem, the other wrong on every problem (mean 0.5 per problem);
    # arm b: right on 40% of the problems with both seeds. Every per-problem mean difference is +0.5 or
    # -0.5, so a test over problems alone finds a "significant" +0.1; over seeds it is one coin flip.
    n = 200
    a = [[True] * n, [False] * n]
    b_row = [i % 5 < 2 for i in range(n)]
    d = seeded_difference(a, [b_row, b_row])
    assert abs(d["diff"] - 0.1) < 1e-12
    assert d["ci_low"] < 0 < d["ci_high"]
    assert d["p"] > 0.5


def test_with_seeds_p_below_005_exactly_when_the_interval_excludes_zero() -> None:
    rng = np.random.default_rng(3)
    for shift in (0.0, 0.05, 0.1, 0.2):
        a = (rng.random((2, 150)) < 0.5 + shift).tolist()
        b = (rng.random((2, 150)) < 0.5).tolist()
        d = seeded_difference(a, b)
        excludes = d["ci_low"] > 0 or d["ci_high"] < 0
        assert excludes == (d["p"] < 0.05), d


def test_accuracy_interval_widens_with_seed_disagreement() -> None:
    agree = seeded_accuracy([[i % 2 == 0 for i in range(100)]] * 2)
    disagree = seeded_accuracy([[True] * 100, [False] * 100])
    assert agree["value"] == disagree["value"] == 0.5
    assert disagree["ci_high"] - disagree["ci_low"] > 2 * (agree["ci_high"] - agree["ci_low"])
