"""DebateSignals from real svj / mad debates of the scripted arithmetic agents."""

from __future__ import annotations

import pytest

from parley.config import ProtocolConfig
from parley.debate import ParsedTurn
from parley.rewards.signals import UnknownRoleError, debate_signals, exact_match_oracle
from tests.rewards.shaping.debates import debate, pool, signals_of, svj


def test_svj_all_correct() -> None:
    s = signals_of(debate(svj(), pool()))
    assert s.outcome == 1.0
    assert s.local == [1.0, 1.0, 1.0]
    assert s.answer_correct == [True, None, True]
    assert s.checked_correct == [None, True, None]
    assert s.latest_answer_correct == [False, True, True, True]


def test_svj_wrong_solver_right_verifier() -> None:
    t = debate(svj(stall_rounds=5), pool(solver=1.0))
    s = signals_of(t)
    assert [x.role for x in t.turns] == ["solver", "verifier"] * 3 + ["judge"]
    assert s.outcome == 0.0
    # Verifiers correctly failed wrong attempts; solvers and judge were wrong.
    assert s.local == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert s.latest_answer_correct == [False] * 8


def test_svj_right_solver_always_failing_verifier() -> None:
    s = signals_of(debate(svj(), pool(verifier=1.0)))
    assert s.outcome == 1.0
    assert s.local == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert s.checked_correct == [None, True, None, True, None, True, None]
    assert s.latest_answer_correct == [False, True, True, True, True, True, True, True]


def test_mad_agents_and_unparsed_turns() -> None:
    t = debate(ProtocolConfig(name="mad", num_agents=3, max_rounds=2), pool(agent=0.5))
    # This seed: answers -65, -52, -61 | -67, -61, -52; majority of the last round is a 3-way tie ->
    # the earliest (-67), wrong.
    assert [x.parsed.answer for x in t.turns] == ["-65", "-52", "-61", "-67", "-61", "-52"]
    s = signals_of(t)
    assert s.outcome == 0.0
    assert s.local == [0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    assert s.latest_answer_correct == [False, False, False, True, False, True, False]
    # An unparsed turn scores 0 on format and proposes nothing (the latest answer stays).
    broken = t.model_copy(update={"turns": [
        t.turns[0], t.turns[1].model_copy(update={"parsed": ParsedTurn(ok=False, error="no answer")}), t.turns[2]]})
    s2 = debate_signals(broken, exact_match_oracle("-61"))
    assert s2.format_ok == [1.0, 0.0, 1.0]
    assert s2.answer_correct == [False, None, True]
    assert s2.latest_answer_correct == [False, False, False, True]


def test_unknown_role_is_an_error() -> None:
    t = debate(svj(), pool())
    odd = t.model_copy(update={"turns": [t.turns[0].model_copy(update={"role": "critic"})]})
    with pytest.raises(UnknownRoleError, match="critic"):
        debate_signals(odd, exact_match_oracle("-61"))
