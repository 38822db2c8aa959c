"""Loaders: upstream logs layout, the shared records file, and bad input flagged per record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parley.cooperbench.loaders import load_logs_dir, load_records_file, load_runs

from .conftest import FIXTURES, RECORDS


def test_logs_layout_reads_agents_from_metadata() -> None:
    loaded = load_logs_dir(FIXTURES / "logs")
    by_id = {r.record_id: r for r in loaded.records}
    comm = by_id["demo-model/coop-comm/demo_task/1/f1_f2/s0"]
    # agent2 never sent a message, yet it is an agent of the run (from result.json).
    assert [a.agent_id for a in comm.agents] == ["agent1", "agent2"]
    assert {m.sender for m in comm.messages} == {"agent1"}
    assert comm.agents[1].status == "LimitsExceeded" and comm.agent_status == "LimitsExceeded"
    assert comm.outcome == "conflict" and comm.agents[0].patch and "float(a)" in comm.agents[0].patch
    assert comm.agents[0].trajectory[1].content == "THOUGHT: edit add"
    nocomm = by_id["demo-model/coop-nocomm/demo_task/1/f1_f3/s0"]
    assert nocomm.outcome == "clean" and nocomm.both_passed is True
    solo_err = by_id["demo-model/solo/demo_task/1/f1_f2/s0"]
    assert solo_err.outcome == "eval_error" and solo_err.usable


def test_missing_eval_json_is_flagged_and_excluded() -> None:
    loaded = load_logs_dir(FIXTURES / "logs")
    rec = next(r for r in loaded.records if r.features == (2, 3))
    assert [f.code for f in rec.flags] == ["missing_eval"]
    assert not rec.usable
    assert len(loaded.usable) == len(loaded.records) - 1


def test_records_file_matches_documented_counts() -> None:
    loaded = load_records_file(RECORDS)
    assert len(loaded.records) == 500 and not loaded.problems
    outcomes = [r.outcome for r in loaded.records if r.setting != "solo"]
    # The producer's merge_failed lumps 80 conflicts with 16 evaluation errors; parley keeps them apart.
    assert outcomes.count("conflict") == 80
    assert outcomes.count("eval_error") == 16
    solo = [r for r in loaded.records if r.setting == "solo"]
    assert all(r.agents[0].features == list(r.features) for r in solo)


def test_duplicates_and_malformed_records_are_flagged(tmp_path: Path) -> None:
    raw = json.loads(RECORDS.read_text())[:3]
    bad = [*raw, raw[0], {"repo": "x"}, "not a record", {**raw[1], "features": [1]}]
    path = tmp_path / "records.json"
    path.write_text(json.dumps(bad))
    loaded = load_runs(path)
    assert len(loaded.records) == 4
    assert [f.code for f in loaded.records[3].flags] == ["duplicate"] or "duplicate" in [
        f.code for f in loaded.records[3].flags
    ]
    assert len(loaded.usable) == 3
    assert len(loaded.problems) == 3 and any("missing field 'task_id'" in p for p in loaded.problems)


def test_empty_conversation_and_bad_messages_are_flagged(tmp_path: Path) -> None:
    raw = next(r for r in json.loads(RECORDS.read_text()) if r["setting"] == "coop-comm")
    empty = {**raw, "messages": [], "seed": 5}
    broken = {**raw, "messages": [{"from": "agent1"}, *raw["messages"]], "seed": 6}
    path = tmp_path / "r.json"
    path.write_text(json.dumps([empty, broken]))
    a, b = load_runs(path).records
    assert "empty_conversation" in [f.code for f in a.flags]
    assert "malformed_message" in [f.code for f in b.flags] and len(b.messages) == len(raw["messages"])


def test_unreadable_inputs_raise_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load_runs(tmp_path / "nope.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"x\.json"):
        load_runs(tmp_path / "x.json")


def test_binary_patch_file_is_decoded_with_a_flag(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "logs"
    shutil.copytree(FIXTURES / "logs" / "demo-solo", root / "demo-solo")
    (root / "demo-solo/solo/demo_task/1/f1_f3/solo.patch").write_bytes(b"\xff\xfe binary \x00 junk")
    rec = next(r for r in load_logs_dir(root).records if r.features == (1, 3))
    assert "patch_not_utf8" in [f.code for f in rec.flags]
