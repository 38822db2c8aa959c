"""Debate tables: rows from transcripts (explicit rewards or the trainer's metadata), the local table sink
and its resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.debate.types import ParsedTurn, Transcript, Turn
from parley.tracking import LocalTracker, debate_table_rows, read_table
from parley.tracking.tables import pick_evenly


def _transcript(i: int, metadata: dict[str, object] | None = None) -> Transcript:
    turns = [Turn(index=0, role="solver", agent_id="solver", policy_id="shared", round=0, context=[],
                  text=f"Answer: {i}", parsed=ParsedTurn(answer=str(i))),
             Turn(index=1, role="verifier", agent_id="verifier", policy_id="shared", round=0, context=[],
                  text="Verdict: PASS", parsed=ParsedTurn(verdict="pass"))]
    return Transcript(run_id="r", debate_id=f"d{i}", problem_id=f"p{i // 2}", sample_index=i % 2, config_hash="h",
                      protocol="svj", question="1+1?", turns=turns, final_answer=str(i),
                      termination_reason="verifier_pass", reward=float(i % 2), metadata=metadata or {})


def test_rows_carry_role_text_verdict_reward_shaped_reward_and_advantage() -> None:
    ts = [_transcript(i) for i in range(4)]
    rows = debate_table_rows(ts, step=3, limit=2, shaped_rewards=[[0.1 * i, 0.2 * i] for i in range(4)],
                             advantages={("d0", 0): -0.5, ("d3", 1): 0.7})
    assert [(r["debate_id"], r["turn"], r["role"]) for r in rows] == [
        ("d0", 0, "solver"), ("d0", 1, "verifier"), ("d3", 0, "solver"), ("d3", 1, "verifier")]
    assert rows[1]["verdict"] == "pass" and rows[2]["answer"] == "3" and rows[2]["text"] == "Answer: 3"
    assert [r["reward"] for r in rows] == [0.0, 0.0, 1.0, 1.0]
    assert rows[3]["shaped_reward"] == pytest.approx(0.6) and rows[3]["advantage"] == 0.7
    assert rows[1]["advantage"] is None and {r["step"] for r in rows} == {3}


def test_rows_read_the_trainers_metadata_when_no_explicit_values() -> None:
    meta = {"training": {"step": 1, "outcome": 1.0, "kept": True,
                         "turns": [{"index": 0, "role": "solver", "shaped_reward": 0.9, "advantage": 0.4},
                                   {"index": 1, "role": "verifier", "shaped_reward": 0.8, "advantage": None}]}}
    rows = debate_table_rows([_transcript(0, meta)], step=1, limit=8)
    assert [(r["reward"], r["shaped_reward"], r["advantage"]) for r in rows] == [(1.0, 0.9, 0.4), (1.0, 0.8, None)]


def test_pick_evenly_spreads_over_the_batch() -> None:
    assert pick_evenly(10, 3) == [0, 4, 9] or pick_evenly(10, 3) == [0, 5, 9]
    assert pick_evenly(3, 8) == [0, 1, 2] and pick_evenly(5, 0) == [] and pick_evenly(5, 1) == [0]


def test_local_tables_append_and_resume_drops_later_steps(tmp_path: Path) -> None:
    rows = debate_table_rows([_transcript(0)], step=1, limit=1)
    with LocalTracker(tmp_path) as t:
        for step in (1, 2, 3):
            t.log_metrics(step, {"reward/mean": 0.5})
            t.log_table(step, "debates", [dict(r, step=step) for r in rows])
        with pytest.raises(ValueError, match="< last logged step 3"):
            t.log_table(1, "debates", rows)
    assert [r["step"] for r in read_table(tmp_path, "debates")] == [1, 1, 2, 2, 3, 3]
    with LocalTracker(tmp_path, resume_step=2) as t:
        t.log_metrics(3, {"reward/mean": 0.6})
    assert [r["step"] for r in read_table(tmp_path, "debates")] == [1, 1, 2, 2]


def test_a_table_needs_one_schema(tmp_path: Path) -> None:
    with LocalTracker(tmp_path) as t, pytest.raises(ValueError, match="row 1 has columns"):
        t.log_table(0, "debates", [{"a": 1}, {"b": 2}])
