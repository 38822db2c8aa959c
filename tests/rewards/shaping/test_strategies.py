"""Every shaping strategy on real scripted debates, against hand-computed per-turn rewards."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from parley.debate import Transcript
from parley.rewards.shaping import (
    MissingShapingInputError,
    ShapingBatch,
    ShapingConfig,
    UnknownShapingStrategyError,
    known_strategies,
    parse_shaping_config,
    shape,
)
from parley.rewards.signals import DebateSignals
from tests.rewards.shaping.debates import debate, pool, signals_of, svj


def case_c() -> tuple[Transcript, DebateSignals]:
    """Right solver, verifier that always fails: S V S V S V J, stalled, judge right; G = 1,
    local = [1, 0, 1, 0, 1, 0, 1], latest answer correct from turn 1 on."""
    t = debate(svj(), pool(verifier=1.0))
    return t, signals_of(t)


def batch(**kw: object) -> ShapingBatch:
    t, s = case_c()
    return ShapingBatch([t], [s], **kw)  # type: ignore[arg-type]


def test_registry_and_config_validation() -> None:
    assert known_strategies() == ["coma", "difference", "identity", "margin", "mixing", "potential", "quality"]
    with pytest.raises(UnknownShapingStrategyError, match="known: coma, difference, identity"):
        parse_shaping_config({"name": "shapely"})
    with pytest.raises(ValidationError, match="alpha"):
        parse_shaping_config({"name": "mixing", "alpha": 1.5})
    with pytest.raises(ValidationError, match="length_penalty"):
        parse_shaping_config({"name": "potential", "phi": "length"})
    with pytest.raises(ValidationError, match="gamma_typo"):
        parse_shaping_config({"name": "potential", "gamma_typo": 0.9})
    union = TypeAdapter(ShapingConfig)
    assert union.validate_python({"name": "quality", "beta": 0.5}).name == "quality"
    with pytest.raises(ValidationError, match="identity"):
        union.validate_python({"name": "nope"})


def test_identity_and_mixing() -> None:
    ident = shape({"name": "identity"}, batch())
    assert ident.rewards == [[1.0] * 7]
    assert ident.diagnostics["changed_turns"] == 0.0
    mixed = shape({"name": "mixing", "alpha": 0.5}, batch())
    assert mixed.rewards == [[1.0, 0.5, 1.0, 0.5, 1.0, 0.5, 1.0]]
    assert mixed.diagnostics["changed_turns"] == 3.0
    # format_weight 1: every turn parsed, so L = 1 everywhere.
    assert shape({"name": "mixing", "alpha": 0.25, "format_weight": 1.0}, batch()).rewards == [[1.0] * 7]
    assert shape({"name": "mixing", "alpha": 0.0}, batch()).rewards == [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]]


def test_difference_needs_counterfactuals_and_uses_them() -> None:
    t, _ = case_c()
    with pytest.raises(MissingShapingInputError, match=r"run:p1:0.*'solver'"):
        shape({"name": "difference"}, batch())
    cf = {(t.debate_id, "solver"): 0.0, (t.debate_id, "verifier"): 1.0, (t.debate_id, "judge"): 0.5}
    out = shape({"name": "difference"}, batch(counterfactual_outcomes=cf))
    assert out.rewards == [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.5]]
    assert out.diagnostics["changed_turns"] == 4.0
    # Only the verifier shaped; the others keep G explicitly.
    only = shape({"name": "difference", "roles": ["verifier"]},
                 batch(counterfactual_outcomes={(t.debate_id, "verifier"): 0.75}))
    assert only.rewards == [[1.0, 0.25, 1.0, 0.25, 1.0, 0.25, 1.0]]


def test_coma_needs_per_turn_baselines() -> None:
    t, _ = case_c()
    partial = {(t.debate_id, i): 0.5 for i in range(6)}
    with pytest.raises(MissingShapingInputError, match=r"role 'judge', turn 6"):
        shape({"name": "coma"}, batch(baselines=partial))
    full = {**partial, (t.debate_id, 6): 1.0, (t.debate_id, 0): 0.25}
    assert shape({"name": "coma"}, batch(baselines=full)).rewards == [[0.75, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0]]


def test_potential_answer_correct_and_telescoping() -> None:
    # r = [0]*6 + [G=1]; Phi = [0, 1, 1, 1, 1, 1, 1, 1].
    out = shape({"name": "potential", "gamma": 1.0, "target": "step"}, batch())
    assert out.rewards == [[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]
    half = shape({"name": "potential", "gamma": 0.5, "target": "step"}, batch()).rewards[0]
    assert half == [0.5, -0.5, -0.5, -0.5, -0.5, -0.5, 0.5]
    # Telescoping: sum_t g^t r'_t = sum_t g^t r_t + g^T Phi(s_T) - Phi(s_0) = 0.5^6 + 0.5^7 - 0.
    assert sum(0.5**t * r for t, r in enumerate(half)) == pytest.approx(0.015625 + 0.0078125, abs=1e-12)
    rtg = shape({"name": "potential", "gamma": 0.5}, batch()).rewards[0]  # the default target
    # R'_t = 0.5^(6-t) * G + 0.5^(7-t) * Phi(s_7) - Phi(s_t)
    assert rtg == pytest.approx([0.0234375, -0.953125, -0.90625, -0.8125, -0.625, -0.25, 0.5])


def test_potential_length_and_callable() -> None:
    out = shape({"name": "potential", "phi": "length", "length_penalty": 0.1, "gamma": 1.0, "target": "step"}, batch())
    assert out.rewards[0] == pytest.approx([-0.1] * 6 + [0.9])
    assert sum(out.rewards[0]) == pytest.approx(1.0 - 0.7)  # G + Phi(s_7) - Phi(s_0)
    with pytest.raises(MissingShapingInputError, match="potential_fn"):
        shape({"name": "potential", "phi": "callable"}, batch())

    def turns_by_solver(t: Transcript, s: DebateSignals, k: int) -> float:
        return float(sum(1 for x in t.turns[:k] if x.role == "solver"))

    cb = shape({"name": "potential", "phi": "callable", "target": "step"}, batch(potential_fn=turns_by_solver))
    assert cb.rewards == [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]]


def test_margin_and_quality() -> None:
    # solver R = 1,1,1 with Q = .5,1,1; verifier R = 0,0,0 with Q = .5,0,0; judge R = 1 with Q = .5.
    assert shape({"name": "margin"}, batch()).rewards == [[1.5, -0.5, 1.0, 0.0, 1.0, 0.0, 1.5]]
    assert shape({"name": "quality"}, batch()).rewards == [[1.5, -0.5, 2.0, -1.0, 2.0, -1.0, 1.5]]
    assert shape({"name": "quality", "alpha": 0.5, "beta": 0.5}, batch()).rewards == [
        [1.75, 0.25, 2.0, 0.0, 2.0, 0.0, 1.75]]
    assert shape({"name": "margin", "first_turn_q": 1.0}, batch()).rewards == [
        [1.0, -1.0, 1.0, 0.0, 1.0, 0.0, 1.0]]


def test_batch_rejects_mismatched_signals() -> None:
    t, _ = case_c()
    other = signals_of(debate(svj(), pool()))
    with pytest.raises(ValueError, match="do not match"):
        ShapingBatch([t], [other])
