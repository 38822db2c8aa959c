"""``parley generate`` against an endpoint that is down, and ``--retry-errors`` (issue 12, point 2).

A refused connection is not a timeout: the run stops at the first call with one message naming the
endpoint and the fix, stores nothing and exits non-zero (before: ~1,200 "request timed out" retries,
200 debates stored as errors, exit 0). Debates that end with an error make the command exit 1; a rerun
with ``--retry-errors`` runs exactly those again, leaving every (problem, sample) in the store once, and
the summary (CLI and ``result.summary``) describes the whole store after a rerun.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.config import load_config
from parley.generation import run_generation
from parley.llm.scripted_server import Fault, ScriptedServer, ServerScript
from parley.store import TrajectoryStore
from tests.generation.support import committed_keys_exactly_once, debate_reply, remote_overrides, write_sums_dataset

runner = CliRunner()
N = 8


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed: connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    # Every call about p002 and p005 gets a 400 (not retried), so those two debates end with an error,
    # until a test clears ``server.script.faults`` (the provider stops refusing).
    faults = [Fault("bad_request", first_n=1000, match=f"Calculate {i} + {100 + i}.") for i in (2, 5)]
    with ScriptedServer(ServerScript(reply=debate_reply, faults=faults)) as scripted:
        yield scripted


def _scored_and_correct(out_dir: Path) -> tuple[int, int]:
    """(scored, correct) over every debate of the store, read back independently of any summary."""
    transcripts = list(TrajectoryStore.read(out_dir).iter_transcripts())
    return sum(t.correct is not None for t in transcripts), sum(bool(t.correct) for t in transcripts)


def _whole_store(summary: dict[str, object], out_dir: Path) -> bool:
    scored, correct = _scored_and_correct(out_dir)
    return (summary["scored"], summary["correct"], summary["accuracy"]) == (scored, correct, correct / scored)


def _args(base_url: str, tmp_path: Path, **extra: object) -> list[str]:
    dataset = write_sums_dataset(tmp_path / "sums.jsonl", N)
    settings = {"dataset.name": str(dataset), "generation.concurrency": 4, "generation.flush_every": 2,
                "generation.temperature": 0.0, "model.max_retries": 6, **extra}
    return ["generate", *remote_overrides(base_url, tmp_path / "store", **settings)]


def test_refused_connection_fails_fast_with_one_message(tmp_path: Path) -> None:
    port = _closed_port()
    result = runner.invoke(app, _args(f"http://127.0.0.1:{port}/v1", tmp_path))
    assert result.exit_code == 1, result.output
    message = f"cannot reach http://127.0.0.1:{port}/v1 (connection refused)"
    assert result.output.count(message) == 1, result.output
    assert "model.api_base" in result.output  # the fix is named
    assert "retrying" not in result.output and "timed out" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert TrajectoryStore.read(tmp_path / "store").count() == (0, 0)  # no debate stored as an error


def test_errored_debates_exit_1_and_retry_errors_runs_each_again_exactly_once(server: ScriptedServer,
                                                                             tmp_path: Path) -> None:
    args = _args(server.base_url, tmp_path)
    out_dir = tmp_path / "store"
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output
    assert "2 of 8 stored debates ended with an error" in first.output and "--retry-errors" in first.output
    assert len(committed_keys_exactly_once(out_dir)) == N

    again = runner.invoke(app, args)  # a plain rerun does nothing new and still reports the errors
    assert again.exit_code == 1, again.output
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["already_done"] == N and summary["completed"] == 0
    assert summary["errored"] == 2 and summary["errors"]["ProviderError"] == 2
    # The whole store, not this invocation (which scored nothing); an errored debate has no answer.
    assert summary["scored"] == N and _whole_store(summary, out_dir)
    assert summary["correct"] <= N - 2

    server.script.faults.clear()
    retried = runner.invoke(app, [*args, "--retry-errors"])
    assert retried.exit_code == 0, retried.output
    keys = committed_keys_exactly_once(out_dir)
    assert len(keys) == N and set(keys) == {(f"p{i:03d}", 0) for i in range(N)}
    transcripts = list(TrajectoryStore.read(out_dir).iter_transcripts())
    assert all(t.termination_reason == "verifier_pass" for t in transcripts)
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["retried"] == 2 and summary["completed"] == 2 and summary["already_done"] == N - 2
    assert "ProviderError" not in summary["errors"] and summary["errored"] == 0 and summary["stored"] == N
    assert _whole_store(summary, out_dir)
    assert server.outcome_counts()["bad_request"] == 2  # each faulty call was sent once, never retried


def test_python_summary_reports_the_whole_store_after_a_rerun(server: ScriptedServer, tmp_path: Path) -> None:
    dataset = write_sums_dataset(tmp_path / "sums.jsonl", N)
    overrides = [a for a in remote_overrides(server.base_url, tmp_path / "store", **{
        "dataset.name": str(dataset), "generation.concurrency": 4, "generation.temperature": 0.0}) if a != "--set"]
    cfg = load_config(None, overrides)
    out_dir = tmp_path / "store"
    first = run_generation(cfg)
    assert first.errored == 2 and _whole_store(first.summary, out_dir)

    rerun = run_generation(cfg)  # nothing left to do: the summary is still the store's (it was None before)
    assert rerun.summary["completed"] == 0 and rerun.summary["already_done"] == N
    assert rerun.summary["scored"] == N and rerun.summary["accuracy"] is not None
    assert _whole_store(rerun.summary, out_dir) and rerun.summary == {**first.summary, **{
        k: rerun.summary[k] for k in ("already_done", "completed", "wall_s", "problems_per_hour",
                                      "completion_tokens_per_s", "this_run")}}
    assert rerun.summary["this_run"]["completed"] == 0

    server.script.faults.clear()
    fixed = run_generation(cfg, retry_errors=True)
    assert fixed.retried == 2 and fixed.errored == 0
    assert fixed.summary["scored"] == N and fixed.summary["stored"] == N and _whole_store(fixed.summary, out_dir)
    assert fixed.summary["turns"] == 3 * N  # solver, verifier, judge per debate, nothing left over
