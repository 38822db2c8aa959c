"""Provider faults at the ``parley generate`` level, against the scripted OpenAI-compatible server.

Retryable faults (429 with Retry-After, 500, timeouts, dropped connections, malformed bodies) are
retried until every problem completes exactly once; a 400 is not retried and its message reaches the
user; a 401 makes the backend re-read ``model.secrets_file`` and carry on with the rotated key; a
missing key fails before any call.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from parley.cli.app import app
from parley.llm.scripted_server import Fault, ScriptedServer, ServerScript
from parley.store import TrajectoryStore
from tests.generation.support import committed_keys_exactly_once, debate_reply, remote_overrides, write_sums_dataset

runner = CliRunner()
N = 10
CALLS_PER_DEBATE = 3  # svj with a passing verifier: solver, verifier, judge


def _question(i: int) -> str:
    return f"Calculate {i} + {100 + i}."


@pytest.fixture
def servers() -> Iterator[list[ScriptedServer]]:
    started: list[ScriptedServer] = []
    yield started
    for server in started:
        server.stop()


def _start(servers: list[ScriptedServer], script: ServerScript) -> ScriptedServer:
    server = ScriptedServer(script).start()
    servers.append(server)
    return server


def _generate(base_url: str, tmp_path: Path, **extra: Any) -> tuple[Any, Path]:
    dataset = write_sums_dataset(tmp_path / "sums.jsonl", N)
    out_dir = tmp_path / "store"
    settings = {"dataset.name": str(dataset), "generation.concurrency": 4, "generation.flush_every": 3,
                "generation.temperature": 0.0, **extra}
    result = runner.invoke(app, ["generate", *remote_overrides(base_url, out_dir, **settings)])
    return result, out_dir


def test_retryable_faults_every_problem_completes_exactly_once(servers: list[ScriptedServer], tmp_path: Path
                                                               ) -> None:
    # Each problem gets one kind of fault on the first attempt(s) of each of its three requests.
    plan = {
        0: Fault("rate_limit", first_n=2, retry_after_s=0.05, match=_question(0)),
        1: Fault("rate_limit", first_n=1, match=_question(1)),  # 429 without Retry-After: backoff
        2: Fault("server_error", first_n=2, match=_question(2)),
        3: Fault("server_error", first_n=1, status=503, match=_question(3)),
        4: Fault("slow", first_n=1, delay_s=3.0, match=_question(4)),  # past the 0.5 s request timeout
        5: Fault("drop", first_n=1, match=_question(5)),
        6: Fault("malformed", first_n=1, match=_question(6)),
    }
    server = _start(servers, ServerScript(reply=debate_reply, faults=list(plan.values())))
    result, out_dir = _generate(server.base_url, tmp_path, **{"model.request_timeout_s": 0.5})
    assert result.exit_code == 0, result.output

    keys = committed_keys_exactly_once(out_dir)
    assert sorted(keys) == [(f"p{i:03d}", 0) for i in range(N)]
    transcripts = list(TrajectoryStore.read(out_dir).iter_transcripts())
    assert all(t.error is None and t.termination_reason == "verifier_pass" and t.correct for t in transcripts)
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["completed"] == N and summary["errors"] == {} and summary["accuracy"] == 1.0

    outcomes = server.outcome_counts()
    assert outcomes["ok"] == N * CALLS_PER_DEBATE  # each call succeeded once: nothing done twice
    assert outcomes["rate_limit"] == CALLS_PER_DEBATE * (2 + 1)
    assert outcomes["server_error"] == CALLS_PER_DEBATE * (2 + 1)
    assert outcomes["slow"] == outcomes["drop"] == outcomes["malformed"] == CALLS_PER_DEBATE


def test_bad_request_is_not_retried_and_its_message_reaches_the_user(servers: list[ScriptedServer],
                                                                      tmp_path: Path) -> None:
    message = "Invalid request: this prompt was refused by the scripted content policy (ref 7731)."
    server = _start(servers, ServerScript(reply=debate_reply, faults=[
        Fault("bad_request", first_n=100, match=_question(3), message=message)]))
    result, out_dir = _generate(server.base_url, tmp_path)
    assert result.exit_code == 1, result.output  # a debate errored: the work did not all happen
    assert "1 of 10 stored debates ended with an error" in result.output

    assert server.outcome_counts().get("bad_request") == 1  # the solver's call, sent once, never retried
    assert "ref 7731" in result.output and "ProviderError" in result.output  # the CLI shows the message
    by_problem = {t.problem_id: t for t in TrajectoryStore.read(out_dir).iter_transcripts()}
    assert len(by_problem) == N
    failed = by_problem["p003"]
    assert failed.termination_reason == "error" and failed.error is not None and message in failed.error
    assert failed.turns[0].role == "solver" and failed.turns[0].error is not None
    assert all(t.error is None for pid, t in by_problem.items() if pid != "p003")
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["errors"] == {"ProviderError": 1} and "ref 7731" in summary["error_examples"]["ProviderError"]
    show = runner.invoke(app, ["trajectories", "show", str(out_dir), "--problem", "p003"])
    assert show.exit_code == 0 and "ref 7731" in show.output


OLD_KEY = "sk-test-OLD-0123456789abcdef"
NEW_KEY = "sk-test-NEW-fedcba9876543210"


def test_401_picks_up_a_rotated_key_from_the_secrets_file(servers: list[ScriptedServer], tmp_path: Path) -> None:
    server_key = tmp_path / "server.key"
    client_secrets = tmp_path / "client.env"
    server_key.write_text(OLD_KEY)
    client_secrets.write_text(f"PARLEY_TEST_KEY={OLD_KEY}\n")
    served = 0
    lock = threading.Lock()

    def rotating_reply(messages: list[dict[str, Any]]) -> str:
        # After the 6th answer the provider rotates the key and ops update the secrets file.
        nonlocal served
        with lock:
            served += 1
            if served == 6:
                server_key.write_text(NEW_KEY)
                client_secrets.write_text(f"PARLEY_TEST_KEY={NEW_KEY}\n")
        return debate_reply(messages)

    server = _start(servers, ServerScript(reply=rotating_reply, key_file=str(server_key)))
    result, out_dir = _generate(server.base_url, tmp_path, **{
        "model.secrets_file": str(client_secrets), "model.api_key_env": "PARLEY_TEST_KEY"})
    assert result.exit_code == 0, result.output
    assert OLD_KEY not in result.output and NEW_KEY not in result.output

    assert len(committed_keys_exactly_once(out_dir)) == N
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["errors"] == {} and summary["completed"] == N
    outcomes = server.outcome_counts()
    assert outcomes.get("unauthorized", 0) >= 1  # requests in flight at the rotation were refused...
    assert outcomes["ok"] == N * CALLS_PER_DEBATE  # ...and each succeeded once with the new key


def test_missing_api_key_fails_before_any_call(servers: list[ScriptedServer], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARLEY_TEST_ABSENT_KEY", raising=False)
    server = _start(servers, ServerScript(reply=debate_reply))
    result, out_dir = _generate(server.base_url, tmp_path, **{"model.api_key_env": "PARLEY_TEST_ABSENT_KEY"})
    assert result.exit_code != 0
    assert result.exit_code == 2 and "error: no API key found" in result.output  # bad input: a clean message
    assert "PARLEY_TEST_ABSENT_KEY" in result.output and "Traceback" not in result.output
    assert server.calls() == []
    assert not any(out_dir.glob("debates-*.parquet"))
