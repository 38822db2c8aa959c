"""Procedural integer arithmetic with digit-level structure (``dataset.name: arithmetic``).

The embedded tiny model's task family (see :mod:`parley.tiny`): column addition and subtraction of
``digits``-digit numbers, e.g. ``What is 47 + 38?`` -> ``85``. It is small enough that a sub-million
parameter model learns the digit facts, and structured enough that *how* a model answers matters: worked
column by column (ones, carry, tens) a tiny model gets most sums right; answered in one shot it tends to
drop carries. That is what makes a verifier useful at all (a careful check of a hasty answer catches
the dropped carry) and gives RL a behaviour to learn (work the columns), see docs/training.md.

Options (``dataset.options``): ``digits`` (default 2; operands have exactly this many digits),
``operators`` (default ``["+"]``; ``-`` draws ``a >= b`` so results are never negative),
``carry_fraction`` (default ``None``: operands uniform; a number in [0, 1] draws that share of problems
with at least one carry / borrow and the rest with none). ``size`` problems are drawn with ``seed``;
ids are ``arithmetic-<seed>-<index>``. Answers are canonical integers and the domain is ``integer``
(exact integer comparison, :mod:`parley.rewards.integer`). Metadata: ``a``, ``b``, ``op``, ``carries``
(columns that carry or borrow).
"""

from __future__ import annotations

import random
from typing import Any

from parley.config.models import DatasetConfig
from parley.data.errors import DatasetError
from parley.data.problem import Problem

OPERATORS = ("+", "-")


def column_carries(a: int, b: int, op: str) -> int:
    """How many columns of ``a op b`` carry (``+``) or borrow (``-``), working right to left."""
    carries, carry = 0, 0
    while a or b:
        da, db = a % 10, b % 10
        column = da + db + carry if op == "+" else da - db - carry
        carry = int(column >= 10) if op == "+" else int(column < 0)
        carries += carry
        a, b = a // 10, b // 10
    return carries


def _options(cfg: DatasetConfig) -> tuple[int, list[str], float | None]:
    known = {"digits", "operators", "carry_fraction", "domain"}
    unknown = set(cfg.options) - known
    if unknown:
        raise DatasetError(f"dataset.options: unknown option(s) {sorted(unknown)} for arithmetic; "
                           f"known: {', '.join(sorted(known - {'domain'}))}")
    digits = cfg.options.get("digits", 2)
    if not isinstance(digits, int) or not 1 <= digits <= 9:
        raise DatasetError(f"dataset.options.digits={digits!r}: give an integer from 1 to 9")
    operators = cfg.options.get("operators", ["+"])
    if not isinstance(operators, list) or not operators or any(op not in OPERATORS for op in operators):
        raise DatasetError(f"dataset.options.operators={operators!r}: give a non-empty list of '+' and/or '-'")
    fraction = cfg.options.get("carry_fraction")
    if fraction is not None and (not isinstance(fraction, int | float) or not 0.0 <= float(fraction) <= 1.0):
        raise DatasetError(f"dataset.options.carry_fraction={fraction!r}: give a number in [0, 1] or leave it unset")
    return digits, list(operators), None if fraction is None else float(fraction)


def _draw(rng: random.Random, digits: int, op: str, want_carry: bool | None) -> tuple[int, int]:
    low, high = 10 ** (digits - 1), 10 ** digits - 1
    for _ in range(10_000):
        a, b = rng.randint(low, high), rng.randint(low, high)
        if op == "-" and a < b:
            a, b = b, a
        if want_carry is None or (column_carries(a, b, op) > 0) == want_carry:
            return a, b
    raise DatasetError(f"arithmetic: cannot draw a {digits}-digit {op!r} problem with carry={want_carry}")


def arithmetic_problems(cfg: DatasetConfig) -> list[Problem]:
    """``cfg.size`` problems of the family configured by ``cfg.options`` (see the module docstring)."""
    digits, operators, fraction = _options(cfg)
    rng = random.Random(f"arithmetic:{cfg.seed}")
    problems = []
    for index in range(cfg.size):
        op = operators[index % len(operators)] if len(operators) > 1 else operators[0]
        want = None if fraction is None else rng.random() < fraction
        a, b = _draw(rng, digits, op, want)
        value = a + b if op == "+" else a - b
        metadata: dict[str, Any] = {"a": a, "b": b, "op": op, "carries": column_carries(a, b, op),
                                    "source_dataset": "arithmetic"}
        problems.append(Problem(id=f"arithmetic-{cfg.seed}-{index}", question=f"What is {a} {op} {b}?",
                                answer=str(value), domain="integer", metadata=metadata))
    return problems
