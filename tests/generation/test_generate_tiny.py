"""``parley generate`` end to end with svj on reasoning-gym arithmetic and the tiny local hf model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.store import TrajectoryStore
from tests.generation.support import ARITHMETIC_OPTIONS, committed_keys_exactly_once
from tests.tiny_model_support import tiny_model_dir

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[str]]:
    """Run ``parley generate`` once for the module: 12 problems, 2 rounds, 24 new tokens per turn."""
    model_dir = tiny_model_dir(tmp_path_factory)
    out_dir = tmp_path_factory.mktemp("generate-tiny") / "store"
    args = [
        "generate",
        "--set", "model.backend=hf", "--set", f"model.name={model_dir}",
        "--set", "protocol.name=svj", "--set", "protocol.max_rounds=2",
        "--set", "dataset.name=reasoning_gym:basic_arithmetic", "--set", "dataset.size=12",
        "--set", "dataset.limit=12", "--set", f"dataset.options={json.dumps(ARITHMETIC_OPTIONS)}",
        "--set", "generation.max_new_tokens=24", "--set", "generation.concurrency=4",
        "--set", "generation.flush_every=4", "--set", f"output.dir={out_dir}",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out_dir, result.output, args


def test_generate_writes_a_store_with_roles_rounds_and_terminations(tiny_store: tuple[Path, str, list[str]]) -> None:
    out_dir, output, _ = tiny_store
    assert "generation summary" in output and "completed" in output
    keys = committed_keys_exactly_once(out_dir)
    assert len(keys) == 12 and {s for _, s in keys} == {0}
    transcripts = list(TrajectoryStore.read(out_dir).iter_transcripts())
    for t in transcripts:
        assert t.protocol == "svj" and t.question.startswith("Calculate")
        assert t.termination_reason in {"verifier_pass", "max_rounds", "stalled"}
        assert 1 <= t.rounds_used <= 2
        roles = [turn.role for turn in t.turns]
        # svj: solver then verifier each round, and a judge at the end.
        assert roles[-1] == "judge" and roles[:-1] == ["solver", "verifier"] * t.rounds_used
        assert [turn.round for turn in t.turns[:-1]] == [r for r in range(t.rounds_used) for _ in (0, 1)]
        for turn in t.turns:
            assert turn.token_ids is not None and 0 < len(turn.token_ids) <= 24
            assert turn.logprobs is not None and len(turn.logprobs) == len(turn.token_ids)
            assert turn.completion_tokens == len(turn.token_ids)
            # A random-init model rarely writes the protocol format: such turns are recorded as unparsed.
            assert turn.parsed.ok or turn.parsed.error
        assert t.correct is not None  # reasoning-gym answers are scored through the reward registry
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["completed"] == 12 and summary["total"] == 12 and summary["errors"] == {}
    assert sum(summary["terminations"].values()) == 12


def test_trajectories_show_renders_the_store(tiny_store: tuple[Path, str, list[str]]) -> None:
    out_dir, _, _ = tiny_store
    first = next(TrajectoryStore.read(out_dir).iter_transcripts())
    result = runner.invoke(app, ["trajectories", "show", str(out_dir), "--problem", first.problem_id])
    assert result.exit_code == 0, result.output
    for needle in (f"{first.problem_id} (sample 0)", "svj", "turn 0 · solver", "turn 1 · verifier", "judge",
                   "round 0", "termination", first.termination_reason, "rounds used"):
        assert needle in result.output, needle
    stats = runner.invoke(app, ["trajectories", "stats", str(out_dir)])
    assert stats.exit_code == 0 and "12" in stats.output


def test_rerun_of_a_finished_run_does_nothing(tiny_store: tuple[Path, str, list[str]]) -> None:
    out_dir, _, args = tiny_store
    shards = sorted(p.name for p in out_dir.glob("debates-*.parquet"))
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["already_done"] == 12 and summary["completed"] == 0
    assert sorted(p.name for p in out_dir.glob("debates-*.parquet")) == shards

