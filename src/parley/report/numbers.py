"""Numbers written for people: percentages with their interval in one cell, differences in points,
p-values to two significant figures, counts with thousands separators.

Every function takes the raw value (a proportion in [0, 1], a difference of proportions, a p-value)
and returns text; ``None`` (a value that does not exist, e.g. an empty group) becomes ``n/a``, never
a zero. Negative numbers use the typographic minus sign (U+2212) so columns of signed numbers line up.
The raw, full-precision values belong in JSON and CSV files beside the report, not here.
"""

from __future__ import annotations

import math

MISSING = "n/a"
MINUS = "\u2212"


def _signed(text: str) -> str:
    return MINUS + text[1:] if text.startswith("-") else text


def _missing(*values: float | None) -> bool:
    return any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values)


def percent(rate: float | None, digits: int = 1) -> str:
    """``0.23667`` -> ``23.7%``."""
    if _missing(rate):
        return MISSING
    return _signed(f"{100 * float(rate):.{digits}f}%")  # type: ignore[arg-type]


def percent_interval(rate: float | None, low: float | None, high: float | None, digits: int = 1) -> str:
    """``(0.2367, 0.192, 0.288)`` -> ``23.7% [19.2, 28.8]`` (the interval in the same unit, no % signs).

    A missing interval (e.g. ``n = 0``) gives the value alone; a missing value gives ``n/a``.
    """
    if _missing(rate):
        return MISSING
    head = percent(rate, digits)
    if _missing(low, high):
        return head
    return f"{head} [{_signed(f'{100 * float(low):.{digits}f}')}, {_signed(f'{100 * float(high):.{digits}f}')}]"  # type: ignore[arg-type]


def points(diff: float | None, digits: int = 1) -> str:
    """A difference of proportions in percentage points, signed: ``0.033`` -> ``+3.3``."""
    if _missing(diff):
        return MISSING
    value = 100 * float(diff)  # type: ignore[arg-type]
    text = f"{value:+.{digits}f}"
    if float(text) == 0:
        text = f"{0:.{digits}f}"  # no "-0.0" / "+0.0"
    return _signed(text)


def points_interval(diff: float | None, low: float | None, high: float | None, digits: int = 1) -> str:
    """``(0.033, -0.01, 0.077)`` -> ``+3.3 [−1.0, +7.7]`` (percentage points)."""
    if _missing(diff):
        return MISSING
    if _missing(low, high):
        return points(diff, digits)
    return f"{points(diff, digits)} [{points(low, digits)}, {points(high, digits)}]"


def significant(value: float | None, figures: int = 2) -> str:
    """``value`` rounded to ``figures`` significant figures, in plain notation down to 0.001 and
    scientific below (``0.08399`` -> ``0.084``, ``0.5`` -> ``0.50``, ``3.2e-05`` -> ``3.2e−5``)."""
    if _missing(value):
        return MISSING
    x = float(value)  # type: ignore[arg-type]
    if x == 0:
        return "0"
    rounded = float(f"{x:.{figures}g}")
    if abs(rounded) < 1e-3:
        mantissa, exponent = f"{rounded:.{figures - 1}e}".split("e")
        return _signed(f"{mantissa}e{_signed(str(int(exponent)))}")
    decimals = max(0, figures - 1 - math.floor(math.log10(abs(rounded))))
    return _signed(f"{rounded:.{decimals}f}")


def p_value(p: float | None) -> str:
    """A p-value to two significant figures (``0.08399`` -> ``0.084``, ``1.0`` -> ``1.0``)."""
    return significant(p, 2)


def count(n: int | float | None) -> str:
    """An integer count with thousands separators (``12345`` -> ``12,345``)."""
    if _missing(n):
        return MISSING
    return _signed(f"{round(float(n)):,}")  # type: ignore[arg-type]


def number(value: float | None, figures: int = 3) -> str:
    """A real number for reading: three significant figures, thousands separators above 1,000."""
    if _missing(value):
        return MISSING
    x = float(value)  # type: ignore[arg-type]
    if abs(x) >= 1000:
        return count(x)
    return significant(x, figures)


def seconds(value: float | None) -> str:
    """A duration: ``42.3 s``, ``3.5 min``, ``1.2 h``."""
    if _missing(value):
        return MISSING
    s = float(value)  # type: ignore[arg-type]
    if abs(s) < 120:
        return f"{s:.1f} s"
    if abs(s) < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def usd(value: float | None) -> str:
    """A cost in US dollars: four decimals below one dollar, two above."""
    if _missing(value):
        return MISSING
    x = float(value)  # type: ignore[arg-type]
    return _signed(f"${x:,.2f}" if abs(x) >= 1 else f"${x:.4f}")
