"""The class-balanced verifier signal on real scripted debates (the class-imbalance trap)."""

from __future__ import annotations

import pytest

from parley.debate import Transcript
from parley.rewards.shaping import ShapingBatch, shape
from parley.rewards.signals import class_balanced_local
from tests.rewards.shaping.debates import debate, pool, signals_of, svj


def _batch(solver_error: float, verifier_error: float, n: int) -> tuple[list[Transcript], ShapingBatch]:
    ts = [debate(svj(max_rounds=1, use_judge=False), pool(solver=solver_error, verifier=verifier_error),
                 sample_index=i, seed=i) for i in range(n)]
    return ts, ShapingBatch(ts, [signals_of(t) for t in ts])


def _verifier_values(batch: ShapingBatch, rows: list[list[float]]) -> list[float]:
    return [r for t, row in zip(batch.transcripts, rows, strict=True) for turn, r in zip(t.turns, row, strict=True)
            if turn.role == "verifier"]


def test_a_constant_verdict_earns_chance_whatever_the_class_mix() -> None:
    # Mostly wrong attempts (solver wrong 80%), and a verifier that always says FAIL (error rate 0 means it
    # checks; 1.0 means it always flips: we use a verifier that checks perfectly, then one that is constant).
    _, batch = _batch(solver_error=0.8, verifier_error=0.0, n=40)
    truths = [c for s in batch.signals for c in s.checked_correct if c is not None]
    share_wrong = truths.count(False) / len(truths)
    assert 0.6 < share_wrong < 1.0  # imbalanced
    balanced = _verifier_values(batch, class_balanced_local(batch.signals, batch.transcripts))
    # A perfect verifier earns 1 on average (its expected reward is the balanced accuracy, 1.0)...
    assert sum(balanced) / len(balanced) == pytest.approx(1.0)
    # ... and a correct FAIL (the majority class) is worth 1 / (2 * share) < 1, a correct PASS more than 1.
    assert min(balanced) == pytest.approx(1 / (2 * share_wrong))
    assert max(balanced) == pytest.approx(1 / (2 * (1 - share_wrong)))


def test_always_fail_verifier_earns_one_half_under_mixing() -> None:
    # A verifier that always fails: right on the wrong attempts only. Plain agreement rewards it by the
    # share of wrong attempts (the trap); the balanced signal gives exactly 0.5. The FAIL-only debates come
    # from a checking verifier (FAIL on wrong attempts) and a flipping one (FAIL on right attempts).
    ts = [debate(svj(max_rounds=1, use_judge=False), pool(solver=0.8, verifier=v), sample_index=i, seed=i)
          for v in (0.0, 1.0) for i in range(40)]
    always_fail = [t for t in ts if all(turn.parsed.verdict == "fail" for turn in t.turns if turn.role == "verifier")]
    batch = ShapingBatch(always_fail, [signals_of(t) for t in always_fail])
    plain = _verifier_values(batch, shape({"name": "mixing", "alpha": 0.0, "verifier_signal": "plain"}, batch).rewards)
    balanced = _verifier_values(batch, shape({"name": "mixing", "alpha": 0.0}, batch).rewards)
    truths = [c for s in batch.signals for c in s.checked_correct if c is not None]
    if truths.count(True) == 0:
        pytest.skip("no correct attempt drawn; the balanced signal needs both classes")
    assert sum(plain) / len(plain) == pytest.approx(truths.count(False) / len(truths))
    assert sum(balanced) / len(balanced) == pytest.approx(0.5)
