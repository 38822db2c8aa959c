"""Numbers for people: the formats the issue asks for, missing values as n/a, never as zero."""

from __future__ import annotations

import math

import pytest

from parley.report import numbers

M = numbers.MINUS


def test_accuracy_with_interval_in_one_cell() -> None:
    assert numbers.percent_interval(0.23667, 0.19203, 0.28766) == "23.7% [19.2, 28.8]"
    assert numbers.percent_interval(0.5, None, None) == "50.0%"
    assert numbers.percent_interval(None, 0.1, 0.2) == "n/a"
    assert numbers.percent(float("nan")) == "n/a"


def test_differences_in_points_signed_with_true_minus() -> None:
    assert numbers.points_interval(0.0333, -0.01, 0.0771) == f"+3.3 [{M}1.0, +7.7]"
    assert numbers.points(-0.003333) == f"{M}0.3"
    assert numbers.points(0.0001) == "0.0"  # no "+0.0"
    assert numbers.points(-0.0001) == "0.0"


@pytest.mark.parametrize(("p", "text"), [
    (0.08399, "0.084"), (1.0, "1.0"), (0.5, "0.50"), (0.0999, "0.10"), (0.0012345, "0.0012"),
    (3.2e-05, f"3.2e{M}5"), (0.0, "0"), (None, "n/a"),
])
def test_p_values_two_significant_figures(p: float | None, text: str) -> None:
    assert numbers.p_value(p) == text


def test_counts_durations_money() -> None:
    assert numbers.count(12345.4) == "12,345"
    assert numbers.number(1234.5) == "1,234"
    assert numbers.number(0.012345) == "0.0123"
    assert [numbers.seconds(s) for s in (42.34, 300, 7300)] == ["42.3 s", "5.0 min", "2.0 h"]
    assert numbers.usd(0.0123) == "$0.0123" and numbers.usd(12.5) == "$12.50"
    assert numbers.usd(None) == "n/a" and numbers.count(math.nan) == "n/a"
