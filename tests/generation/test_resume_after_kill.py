"""Resume after ``kill -9``: rerunning the same ``parley generate`` command completes the run with every
(problem, sample) exactly once, no gaps and no duplicates.

The model is the scripted OpenAI-compatible server (latency per call, protocol-format replies) so the
run lasts several seconds; the child is SIGKILLed as soon as its first shard is committed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from parley.llm.scripted_server import ScriptedServer, ServerScript
from parley.store import TrajectoryStore
from tests.generation.support import (
    committed_keys_exactly_once,
    debate_reply,
    parley_command,
    parley_subprocess,
    remote_overrides,
    write_sums_dataset,
)

N_PROBLEMS = 30
SAMPLES = 2


@pytest.fixture
def slow_server() -> Iterator[ScriptedServer]:
    with ScriptedServer(ServerScript(latency_s=0.05, reply=debate_reply)) as server:
        yield server


def _wait_for_first_shard(proc: subprocess.Popen[bytes], out_dir: Path, deadline_s: float = 120.0) -> None:
    """Poll until a committed debates shard exists (bounded: fails if the child exits or time runs out)."""
    stop_at = time.monotonic() + deadline_s
    while time.monotonic() < stop_at:
        if any(out_dir.glob("debates-*.parquet")):
            return
        if proc.poll() is not None:
            output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            pytest.fail(f"parley generate exited ({proc.returncode}) before committing a shard:\n{output}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"no shard committed within {deadline_s:.0f} s")


def test_kill_9_then_rerun_leaves_every_key_exactly_once(slow_server: ScriptedServer, tmp_path: Path) -> None:
    dataset = write_sums_dataset(tmp_path / "sums.jsonl", N_PROBLEMS)
    out_dir = tmp_path / "store"
    args = ["generate", *remote_overrides(
        slow_server.base_url, out_dir,
        **{"dataset.name": str(dataset), "generation.concurrency": 2, "generation.flush_every": 2,
           "generation.samples_per_problem": SAMPLES, "generation.temperature": 0.0},
    )]
    expected = {(f"p{i:03d}", s) for i in range(N_PROBLEMS) for s in range(SAMPLES)}

    first = parley_subprocess(args)
    try:
        _wait_for_first_shard(first, out_dir)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(timeout=60)
        if first.stdout:
            first.stdout.close()
    assert first.returncode == -signal.SIGKILL
    before = committed_keys_exactly_once(out_dir)
    assert 0 < len(before) < len(expected), "the kill must land mid-run for this test to mean anything"
    assert not (out_dir / "summary.json").exists()
    run_id = TrajectoryStore.read(out_dir).run_id

    second = subprocess.run(parley_command(args), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr

    after = committed_keys_exactly_once(out_dir)
    assert set(after) == expected and len(after) == len(expected)  # no gaps, no duplicates
    store = TrajectoryStore.read(out_dir)
    assert store.run_id == run_id  # resumed the same run, not a new one
    transcripts = list(store.iter_transcripts())
    assert {t.debate_id for t in transcripts} == {t.debate_id for t in transcripts if t.run_id == run_id}
    assert len({t.debate_id for t in transcripts}) == len(expected)
    assert all(t.termination_reason == "verifier_pass" and t.correct for t in transcripts)
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["already_done"] >= len(before)
    assert summary["already_done"] + summary["completed"] == len(expected)
    assert summary["errors"] == {}
