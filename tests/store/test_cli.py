"""``parley trajectories show/export/stats`` through Typer's CliRunner on a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.debate.types import Transcript
from parley.store import TrajectoryStore
from tests.store.factory import CONFIG, CONFIG_HASH, make_transcript

runner = CliRunner()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    with TrajectoryStore.open(tmp_path / "run", run_id="r", config_hash=CONFIG_HASH, config=CONFIG) as store:
        store.write([make_transcript("r", "alpha", i) for i in range(3)])
        store.write([make_transcript("r", "beta", 0, n_turns=0)])
    return tmp_path / "run"


def test_show_renders_header_turns_and_parse_errors(store_dir: Path) -> None:
    result = runner.invoke(app, ["trajectories", "show", str(store_dir), "--problem", "alpha", "--limit", "1"])
    assert result.exit_code == 0, result.output
    out = result.output
    for needle in (
        "alpha (sample 0)",
        "svj",
        "max_rounds",
        "gold answer",
        "turn 0 · solver",
        "turn 1 · verifier",
        "parse error: no verdict found",
        "answer=",
        "ünïcødé",
        "✓",
    ):
        assert needle in out, needle
    assert "sample 1" not in out  # --limit 1
    beta = runner.invoke(app, ["trajectories", "show", str(store_dir), "--problem", "beta"])
    assert beta.exit_code == 0 and "solver crashed" in beta.output and "error" in beta.output


def test_export_jsonl_round_trips(store_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["trajectories", "export", str(store_dir), "--format", "jsonl", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    got = [Transcript.model_validate_json(line) for line in lines]
    assert got == list(TrajectoryStore.read(store_dir).iter_transcripts())
    to_stdout = runner.invoke(app, ["trajectories", "export", str(store_dir), "--problem", "beta"])
    assert to_stdout.exit_code == 0
    records = [json.loads(line) for line in to_stdout.stdout.splitlines() if line.startswith("{")]
    assert [r["problem_id"] for r in records] == ["beta"]
    bad = runner.invoke(app, ["trajectories", "export", str(store_dir), "--format", "csv"])
    assert bad.exit_code == 2 and "jsonl" in bad.output


def test_stats(store_dir: Path) -> None:
    result = runner.invoke(app, ["trajectories", "stats", str(store_dir)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "debates" in out and "4" in out and "max_rounds" in out and "error" in out
    assert "2/3 = 0.667 (1 unscored)" in out  # alpha 0 right, alpha 1 wrong, alpha 2 unscored, beta 0 right
    assert "verifier" in out and "solver" in out


def test_missing_and_foreign_dirs_fail_clearly(tmp_path: Path) -> None:
    for cmd in ("show", "export", "stats"):
        missing = runner.invoke(app, ["trajectories", cmd, str(tmp_path / "nope")])
        assert missing.exit_code == 2 and "does not exist" in missing.output
        foreign = runner.invoke(app, ["trajectories", cmd, str(tmp_path)])
        assert foreign.exit_code == 2 and "not a parley trajectory store" in foreign.output


def test_show_renders_the_reask_exchange(tmp_path: Path) -> None:
    from parley.debate.types import ParsedTurn, Reask

    t = make_transcript("r", "gamma", 0)
    first = t.turns[0].model_copy(update={"reask": Reask(
        missing=["answer"], prompt="Reply with one line: Answer: <number>",
        original_parsed=ParsedTurn(ok=False, error="no final answer found"), text="Answer: 7",
        parsed=ParsedTurn(answer="7"), completion_tokens=3)})
    t = t.model_copy(update={"turns": [first, *t.turns[1:]]})
    with TrajectoryStore.open(tmp_path / "run", run_id="r", config_hash=CONFIG_HASH, config=CONFIG) as store:
        store.write([t])
    result = runner.invoke(app, ["trajectories", "show", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "re-ask (answer): Reply with one line: Answer: <number>" in result.output
    assert "reply: Answer: 7" in result.output and "3 tokens" in result.output
