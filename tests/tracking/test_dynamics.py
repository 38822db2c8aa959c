"""debate_dynamics_metrics on real scripted debates, against hand-counted values."""

from __future__ import annotations

import pytest

from parley.config import ProtocolConfig
from parley.tracking import debate_dynamics_metrics
from tests.rewards.shaping.debates import debate, pool, signals_of, svj


def test_svj_batch() -> None:
    # A: S(-61) V(pass) J(-61), verifier_pass. C: S(-61) V(fail) x3, stalled, J(-61).
    # B: S(-65) V(fail) S(-63) V(fail) S(-62) V(fail) J(-65), max_rounds.
    a = debate(svj(), pool())
    b = debate(svj(stall_rounds=5), pool(solver=1.0))
    c = debate(svj(), pool(verifier=1.0))
    assert [t.parsed.answer for t in b.turns if t.role == "solver"] == ["-65", "-63", "-62"]
    ts = [a, b, c]
    m = debate_dynamics_metrics(ts, [signals_of(t) for t in ts])
    assert m["debate/rounds_used"] == pytest.approx((1 + 3 + 3) / 3)
    assert m["debate/termination/verifier_pass"] == pytest.approx(1 / 3)
    assert m["debate/termination/stalled"] == pytest.approx(1 / 3)
    assert m["debate/termination/max_rounds"] == pytest.approx(1 / 3)
    assert m["debate/termination/error"] == 0.0
    # Solver answer changes: A 0, B 2 (-65 -> -63 -> -62), C 0; pairs: B 2 (wrong->wrong), C 2 (right->right).
    assert m["debate/answer_changes"] == pytest.approx(2 / 3)
    assert m["debate/flip_correct_to_wrong"] == 0.0 and m["debate/flip_wrong_to_correct"] == 0.0
    # Verifier turns: A pass (right), B 3 x fail (right), C 3 x fail (wrong).
    assert m["debate/verifier_pass_rate"] == pytest.approx(1 / 7)
    assert m["debate/verifier_accuracy"] == pytest.approx(4 / 7)
    assert m["debate/judge_accuracy"] == pytest.approx(2 / 3)
    assert "debate/agent_agreement" not in m


def test_mad_flips_and_agreement() -> None:
    # agents: round 0 -65, -52, -61; round 1 -67, -61, -52 (error rate 0.5, seed 0).
    t = debate(ProtocolConfig(name="mad", num_agents=3, max_rounds=2), pool(agent=0.5))
    m = debate_dynamics_metrics([t], [signals_of(t)])
    assert m["debate/answer_changes"] == 3.0
    # agent_1: wrong -> right; agent_2: right -> wrong; agent_0: wrong -> wrong.
    assert m["debate/flip_wrong_to_correct"] == pytest.approx(1 / 3)
    assert m["debate/flip_correct_to_wrong"] == pytest.approx(1 / 3)
    assert m["debate/agent_agreement"] == pytest.approx(1 / 3)  # 3-way tie: one agent agrees with the label
    assert m["debate/termination/majority_vote"] == 1.0
    assert "debate/verifier_pass_rate" not in m and "debate/judge_accuracy" not in m
